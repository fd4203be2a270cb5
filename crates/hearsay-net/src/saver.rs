//! The saves of a running node's state to its [`StateFile`]: periodic, soon after the node's own
//! writes, and on demand.

use crate::{Error, StateFile};
use actix::WeakAddr;
use hearsay_actor::{GetMetrics, GossipNode, TakeSnapshot};
use hearsay_proto::Version;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A running node's saves: every [`StateFile::every`], within [`StateFile::after_write`] of
/// its own writes, and on demand; one at a time and in order — a save takes the snapshot and
/// writes it under one lock, so an older snapshot never overwrites a newer one — until stopped
/// or the node is gone.
pub(crate) struct Saver {
    state: StateFile,
    /// Weak: the saves do not keep a node alive that everything else let go.
    node: WeakAddr<GossipNode>,
    /// Held from the snapshot to the rename.
    saving: tokio::sync::Mutex<()>,
    /// The highest version of the node's own entries in the last snapshot written.
    saved_own: AtomicU64,
    stopped: AtomicBool,
}

impl Saver {
    /// Starts saving `node`'s state to `state` every `state.every` (the first periodic save
    /// one interval after the start) and, with `state.after_write`, whenever the node has
    /// written since the last save, checked that often.
    pub(crate) fn start(state: StateFile, node: &actix::Addr<GossipNode>) -> Arc<Saver> {
        let saver = Arc::new(Saver {
            state,
            node: node.downgrade(),
            saving: tokio::sync::Mutex::new(()),
            saved_own: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        let every = saver.state.every;
        let periodic = saver.clone();
        actix::spawn(async move {
            let mut ticks = interval(every);
            let mut writes = periodic.state.after_write.map(interval);
            loop {
                let due = tokio::select! {
                    _ = ticks.tick() => true,
                    _ = tick(&mut writes) => periodic.wrote_since_saved().await,
                };
                if periodic.stopped.load(Ordering::Relaxed) || periodic.node.upgrade().is_none() {
                    return;
                }
                if due && let Err(error) = periodic.save().await {
                    tracing::warn!(%error, "saving the node's state failed");
                }
            }
        });
        saver
    }

    /// Whether the node's own entries moved past the last snapshot written.
    async fn wrote_since_saved(&self) -> bool {
        let Some(node) = self.node.upgrade() else {
            return false;
        };
        node.send(GetMetrics)
            .await
            .is_ok_and(|m| m.own_version.0 > self.saved_own.load(Ordering::Relaxed))
    }

    /// Takes the node's snapshot and writes it (on a blocking thread), after any save in
    /// flight.
    pub(crate) async fn save(&self) -> Result<(), Error> {
        let _one = self.saving.lock().await;
        let node = (self.node.upgrade()).ok_or(Error::Mailbox(actix::MailboxError::Closed))?;
        let snapshot = node.send(TakeSnapshot).await?;
        let own = (snapshot.origins.first())
            .filter(|group| group.origin == snapshot.id)
            .map_or(Version::ZERO, |group| group.to);
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.save(&snapshot))
            .await
            .map_err(|e| Error::io("saving the node's state", std::io::Error::other(e)))??;
        self.saved_own.store(own.0, Ordering::Relaxed);
        Ok(())
    }

    /// No periodic save from now on.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

/// An interval whose first tick is one `period` (at most a day: validated) from now, and which
/// skips the ticks a slow save made it miss.
fn interval(period: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// The next tick of `ticks`; never without one.
async fn tick(ticks: &mut Option<tokio::time::Interval>) {
    match ticks {
        Some(ticks) => {
            ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}
