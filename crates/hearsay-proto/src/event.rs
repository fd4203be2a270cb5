//! Events a node reports to its runtime.

use crate::member_status::MemberStatus;
use crate::{Change, Entry, Generation, NodeId};

/// How a change reached this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Via {
    /// A local write.
    Local,
    /// An anti-entropy exchange with this peer.
    AntiEntropy(NodeId),
    /// A rumor from this peer.
    Rumor(NodeId),
}

impl Via {
    /// The peer the change came from (`None`: a local write).
    pub fn peer(self) -> Option<NodeId> {
        match self {
            Via::Local => None,
            Via::AntiEntropy(peer) | Via::Rumor(peer) => Some(peer),
        }
    }
}

/// Why an entry was dropped without being overwritten ([`Event::Purged`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PurgeReason {
    /// Under its origin's GC horizon: a tombstone collected, or (on a re-sync of a node that
    /// fell behind that horizon) an entry held at or below it, which may have been deleted since;
    /// the live ones arrive again as [`Event::Changed`].
    Horizon,
    /// The origin moved to a newer generation ([`Event::OriginReset`], reported first), or this
    /// node restarted ([`crate::Node::restart`]): the entry belonged to the older generation.
    Reset,
    /// The origin was removed from the member table ([`crate::MemberStatus::Removed`], reported
    /// first) and its state dropped.
    Removed,
}

/// Something the runtime may want to act on, drained with [`crate::Node::poll_event`].
///
/// Together, [`Event::Changed`] and [`Event::Purged`] report every change of the store's
/// entries, in the order they happen: a runtime that applies them to a copy keeps an exact
/// replica of [`crate::Node::store`]'s entries.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An entry changed.
    Changed {
        /// The change.
        change: Change,
        /// How it arrived.
        via: Via,
    },
    /// A newer generation of an origin replaced everything held of its older one (each entry
    /// dropped follows as [`Event::Purged`] with [`PurgeReason::Reset`]).
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
    /// An entry was dropped without being overwritten; `reason` says why.
    Purged {
        /// Whose entry.
        origin: NodeId,
        /// The generation the entry belonged to.
        generation: Generation,
        /// The key.
        key: String,
        /// The entry dropped.
        entry: Entry,
        /// Why it was dropped.
        reason: PurgeReason,
    },
}
