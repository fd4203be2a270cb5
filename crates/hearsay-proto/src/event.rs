//! Events a node reports to its runtime.

use crate::{Change, Entry, Generation, MemberStatus, NodeId};

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
    /// A member's status changed ([`crate::Config::membership`] on). Emitted in the order the
    /// transitions happen: for one member, Suspect always precedes Down.
    Member {
        /// The member.
        id: NodeId,
        /// Its generation the status is about.
        generation: Generation,
        /// Its new status.
        status: MemberStatus,
    },
    /// An entry was dropped without being overwritten: a tombstone garbage-collected under its
    /// origin's GC horizon, or (on a reset of a peer that fell behind that horizon) an entry
    /// held at or below it, which may have been deleted since; the live ones arrive again as
    /// [`Event::Changed`].
    Purged {
        /// Whose entry.
        origin: NodeId,
        /// The origin's generation.
        generation: Generation,
        /// The key.
        key: String,
        /// The entry dropped.
        entry: Entry,
    },
}
