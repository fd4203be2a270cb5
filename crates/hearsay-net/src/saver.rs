//! The saves of a running node's state to its [`StateFile`]: periodic, soon after the node's own
//! writes, and on demand.

use crate::{Error, StateFile, StateLock};
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
    saved_own: Arc<AtomicU64>,
    /// The generation of the last snapshot written: a refutation moves the node to another
    /// without a version above `saved_own` (its entries are carried at their versions).
    saved_generation: Arc<AtomicU64>,
    stopped: AtomicBool,
    /// The state file's lock: held by the saver, and by each write in flight, so that it is
    /// released once the `NetNode` is gone and no save writes any more.
    lock: Option<Arc<StateLock>>,
}

impl Saver {
    /// Starts saving `node`'s state to `state` every `state.every` (the first periodic save
    /// one interval after the start) and, with `state.after_write`, whenever the node has
    /// written since the last save, checked that often. The saves hold the saver weakly: it goes
    /// (and the state file's lock with it) when its `NetNode` does.
    pub(crate) fn start(
        state: StateFile,
        lock: Option<StateLock>,
        node: &actix::Addr<GossipNode>,
    ) -> Arc<Saver> {
        let saver = Arc::new(Saver {
            state,
            node: node.downgrade(),
            saving: tokio::sync::Mutex::new(()),
            saved_own: Arc::default(),
            saved_generation: Arc::default(),
            stopped: AtomicBool::new(false),
            lock: lock.map(Arc::new),
        });
        let every = saver.state.every;
        let after_write = saver.state.after_write;
        // Between saves the task holds the saver weakly, and checks for writes without it: a
        // `NetNode` dropped between two saves releases the lock at once.
        let periodic = Arc::downgrade(&saver);
        let (node, saved_own) = (saver.node.clone(), saver.saved_own.clone());
        let saved_generation = saver.saved_generation.clone();
        actix::spawn(async move {
            let mut ticks = interval(every);
            let mut writes = after_write.map(interval);
            loop {
                let wrote = tokio::select! {
                    _ = ticks.tick() => false,
                    _ = tick(&mut writes) => true,
                };
                if wrote && !wrote_since_saved(&node, &saved_own, &saved_generation).await {
                    continue;
                }
                let Some(saver) = periodic.upgrade() else {
                    return;
                };
                if saver.stopped.load(Ordering::Relaxed) || saver.node.upgrade().is_none() {
                    return;
                }
                if let Err(error) = saver.save().await {
                    tracing::warn!(%error, "saving the node's state failed");
                }
            }
        });
        saver
    }

    /// Takes the node's snapshot and writes it (on a blocking thread), after any save in
    /// flight.
    pub(crate) async fn save(&self) -> Result<(), Error> {
        let _one = self.saving.lock().await;
        let node = (self.node.upgrade()).ok_or(Error::Mailbox(actix::MailboxError::Closed))?;
        let snapshot = node.send(TakeSnapshot).await?;
        let generation = snapshot.generation.0;
        let own = (snapshot.origins.first())
            .filter(|group| group.origin == snapshot.id)
            .map_or(Version::ZERO, |group| group.to);
        let (state, lock) = (self.state.clone(), self.lock.clone());
        tokio::task::spawn_blocking(move || {
            // Held until the file is written, even if the caller stopped waiting.
            let _lock = lock;
            state.save(&snapshot)
        })
        .await
        .map_err(|e| Error::io("saving the node's state", std::io::Error::other(e)))??;
        self.saved_own.store(own.0, Ordering::Relaxed);
        (self.saved_generation).store(generation, Ordering::Relaxed);
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

/// Whether `node`'s own entries moved past `saved_own`, or its generation from
/// `saved_generation`, since the last snapshot written.
async fn wrote_since_saved(
    node: &WeakAddr<GossipNode>,
    saved_own: &AtomicU64,
    saved_generation: &AtomicU64,
) -> bool {
    let Some(node) = node.upgrade() else {
        return false;
    };
    node.send(GetMetrics).await.is_ok_and(|m| {
        m.own_version.0 > saved_own.load(Ordering::Relaxed)
            || m.generation.0 != saved_generation.load(Ordering::Relaxed)
    })
}
