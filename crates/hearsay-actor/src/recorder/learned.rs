//! Learn times: when each node first held each update.

use super::Recorder;
use hearsay_proto::{Generation, NodeId, Version};
use std::collections::BTreeMap;
use std::time::Duration;

/// When each node learned one update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateRecord {
    /// The key written.
    pub key: String,
    /// When it was written (since the simulation's start).
    pub written_at: Duration,
    /// When each node first held it (the writer at `written_at`).
    pub learned: BTreeMap<NodeId, Duration>,
}

impl UpdateRecord {
    /// The round (gossip intervals after the write, rounded up) in which `node` learned it.
    pub fn round_of(&self, node: NodeId, interval: Duration) -> Option<u64> {
        let at = *self.learned.get(&node)?;
        let after = at.saturating_sub(self.written_at).as_nanos();
        Some(after.div_ceil(interval.as_nanos().max(1)) as u64)
    }
}

impl Recorder {
    /// Every update written, by `(origin, generation, version)`.
    pub fn updates(&self) -> &BTreeMap<(NodeId, Generation, Version), UpdateRecord> {
        &self.updates
    }
}
