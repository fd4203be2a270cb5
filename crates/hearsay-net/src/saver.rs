//! The periodic saves of a running node's state to its [`StateFile`].

use crate::{Error, StateFile};
use actix::WeakAddr;
use hearsay_actor::{GossipNode, TakeSnapshot};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A running node's saves: every [`StateFile::every`] and on demand, one at a time and in
/// order — a save takes the snapshot and writes it under one lock, so an older snapshot never
/// overwrites a newer one — until stopped or the node is gone.
pub(crate) struct Saver {
    state: StateFile,
    /// Weak: the saves do not keep a node alive that everything else let go.
    node: WeakAddr<GossipNode>,
    /// Held from the snapshot to the rename.
    saving: tokio::sync::Mutex<()>,
    stopped: AtomicBool,
}

impl Saver {
    /// Starts saving `node`'s state to `state` every `state.every` (the first periodic save
    /// one interval after the start).
    pub(crate) fn start(state: StateFile, node: &actix::Addr<GossipNode>) -> Arc<Saver> {
        let saver = Arc::new(Saver {
            state,
            node: node.downgrade(),
            saving: tokio::sync::Mutex::new(()),
            stopped: AtomicBool::new(false),
        });
        let every = saver.state.every;
        let periodic = saver.clone();
        actix::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if periodic.stopped.load(Ordering::Relaxed) || periodic.node.upgrade().is_none() {
                    return;
                }
                if let Err(error) = periodic.save().await {
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
        let node = self
            .node
            .upgrade()
            .ok_or(Error::Mailbox(actix::MailboxError::Closed))?;
        let snapshot = node.send(TakeSnapshot).await?;
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.save(&snapshot))
            .await
            .map_err(|e| Error::io("saving the node's state", std::io::Error::other(e)))?
    }

    /// No periodic save from now on.
    pub(crate) fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}
