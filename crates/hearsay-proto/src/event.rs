//! Events a node reports to its runtime.

use crate::{Change, Generation, NodeId};

/// How a change reached this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Via {
    /// A local write.
    Local,
    /// An anti-entropy exchange with this peer.
    AntiEntropy(NodeId),
    /// A rumor from this peer.
    Rumor(NodeId),
}

/// Something the runtime may want to act on, drained with [`crate::Node::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An entry changed.
    Changed {
        /// The change.
        change: Change,
        /// How it arrived.
        via: Via,
    },
    /// A newer generation of an origin replaced everything held of its older one.
    OriginReset {
        /// The restarted origin.
        origin: NodeId,
        /// Its new generation.
        generation: Generation,
    },
}
