//! Deltas: the entries that travel between nodes, grouped by origin.

use crate::{Generation, NodeId, Value, Version};
use serde::{Deserialize, Serialize};

/// One versioned entry of one origin, as it travels on the wire.
///
/// `value: None` is a tombstone: the key was deleted at `version`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    /// The entry's key.
    pub key: String,
    /// The version the origin gave this write.
    pub version: Version,
    /// The written value, or `None` for a delete.
    pub value: Option<Value>,
}

/// The deltas of one origin in one message, with the range they are complete for.
///
/// The sender vouches that, for `generation` of `origin`, the entries it holds with a version in
/// `(from, to]` are exactly the ones in `deltas` that fall in that range (entries it has since seen
/// overwritten by a newer version are left out). A receiver whose watermark for the origin is at
/// least `from` may therefore raise its watermark to `to` after applying them. Deltas above `to`
/// may be included too; they are applied but vouch for nothing. `from == to` vouches for nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginDelta {
    /// The node whose entries these are.
    pub origin: NodeId,
    /// The origin's incarnation the entries belong to.
    pub generation: Generation,
    /// The origin's heartbeat as known to the sender.
    pub heartbeat: u64,
    /// Exclusive lower end of the range vouched for.
    pub from: Version,
    /// Inclusive upper end of the range vouched for.
    pub to: Version,
    /// The entries: in ascending version when the group vouches for a range (Scuttlebutt, rumor
    /// chains); in any order otherwise (precise reconciliation).
    pub deltas: Vec<Delta>,
}
