//! The actix messages a [`crate::GossipNode`] understands and sends.

use crate::Error;
use actix::{Message, Recipient};
use hearsay_proto::{
    Generation, Member, MemberStatus, NodeId, PurgeReason, Snapshot, Stats, Store, Value, Version,
    Via,
};

/// A datagram from a peer: encoded bytes, decoded and checked by the node.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Datagram {
    /// The encoded message.
    pub payload: Vec<u8>,
    /// The peer the transport authenticated, when it does (a network adapter's link or sealed
    /// datagram): a message claiming another `from` is rejected. `None` in-process.
    pub sender: Option<NodeId>,
}

/// Writes `value` under `key` at this node; answers the version the write got.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Version, Error>")]
pub struct Set {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
}

/// Writes `value` under `key` at this node, to be deleted by it once `ttl` has passed
/// ([`hearsay_proto::Node::set_with_ttl`]: checked each gossip round; a later [`Set`] or
/// [`Delete`] of the key ends the deadline); answers the version the write got.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Version, Error>")]
pub struct SetWithTtl {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
    /// How long the entry lives.
    pub ttl: std::time::Duration,
}

/// Writes `value` under `key` if the node's flow control allows a write now; answers the version,
/// or `None` when the write was refused (retry later).
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Option<Version>, Error>")]
pub struct TrySet {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Value,
}

#[cfg(feature = "sim")]
/// Changes the largest number of deltas per message (experiments cut it mid-run).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<(), Error>")]
pub struct SetMaxDeltas(pub Option<usize>);

/// Deletes `key` at this node (writes a tombstone); answers the version of the delete.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Version, Error>")]
pub struct Delete {
    /// The key.
    pub key: String,
}

/// Reads the value `origin` wrote under `key`, as this node knows it (`origin: None`: this node).
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Option<Value>, Error>")]
pub struct Get {
    /// Whose entry; `None` for the node's own.
    pub origin: Option<NodeId>,
    /// The key.
    pub key: String,
}

/// One entry a node stores ([`GetEntries`]): not to be confused with a partial view
/// ([`hearsay_proto::View`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct StoredEntry {
    /// Whose entry.
    pub origin: NodeId,
    /// The origin's generation.
    pub generation: Generation,
    /// The key.
    pub key: String,
    /// The version.
    pub version: Version,
    /// The value, `None` for a tombstone.
    pub value: Option<Value>,
}

/// Reads everything a node holds, in (origin, key) order.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<Vec<StoredEntry>, Error>")]
pub struct GetEntries;

/// A change of one entry a node stores, sent to its subscribers ([`Subscribe`]).
///
/// Applying every `KeyChanged` in order to a map from `(origin, key)` to value — insert on
/// `Some`, remove on `None` — keeps an exact copy of the node's live entries that match the
/// subscription (its [`GetEntries`] without the tombstones), whatever happens to them: writes,
/// resets of an origin to a new generation, removals of members, re-syncs behind a GC horizon.
/// The copy starts with what the node held when the subscription began ([`Cause::Existing`]).
#[derive(Message, Clone, Debug, PartialEq, Eq)]
#[rtype(result = "()")]
#[non_exhaustive]
pub struct KeyChanged {
    /// The node that saw the change.
    pub node: NodeId,
    /// Whose entry changed.
    pub origin: NodeId,
    /// The origin's generation the change belongs to: the new entry's for a write, the dropped
    /// entry's otherwise.
    pub generation: Generation,
    /// The key.
    pub key: String,
    /// The new version for a write; for a dropped entry, the version dropped.
    pub version: Version,
    /// The new value; `None` for a delete, or an entry dropped.
    pub value: Option<Value>,
    /// Why the entry changed.
    pub cause: Cause,
}

impl KeyChanged {
    /// A change as node `node` reports it: for subscribers' own tests, and runtimes that relay
    /// changes (the node actor builds its own).
    ///
    /// ```
    /// use hearsay_actor::{Cause, KeyChanged};
    /// use hearsay_proto::{Generation, NodeId, Version, Via};
    /// let change = KeyChanged::new(
    ///     NodeId(1),
    ///     NodeId(2),
    ///     Generation(1),
    ///     "color".into(),
    ///     Version(3),
    ///     Some("blue".into()),
    ///     Cause::Write(Via::Rumor(NodeId(2))),
    /// );
    /// assert_eq!(change.origin, NodeId(2));
    /// ```
    pub fn new(
        node: NodeId,
        origin: NodeId,
        generation: Generation,
        key: String,
        version: Version,
        value: Option<Value>,
        cause: Cause,
    ) -> KeyChanged {
        KeyChanged {
            node,
            origin,
            generation,
            key,
            version,
            value,
            cause,
        }
    }
}

/// Why a subscribed entry changed ([`KeyChanged::cause`]).
///
/// Every cause but [`Cause::Write`] drops a live entry (`value: None`) without a delete being
/// written. A tombstone dropped (collected under its origin's GC horizon, or with its origin)
/// sends nothing: the subscriber already saw the delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// A write (`value: None` for a delete), and how it arrived.
    Write(Via),
    /// The origin restarted under a newer generation, which replaces everything of its older
    /// one (or this node itself restarted without its state).
    Reset,
    /// The origin was removed from the member table ([`MemberStatus::Removed`]), and its state
    /// dropped.
    Removed,
    /// Dropped at the origin's GC horizon, which this node had fallen behind: the entry may
    /// have been deleted since; if it is live, it arrives again as a [`Cause::Write`].
    Purged,
    /// Not a change: the entry was live when the subscription began ([`Subscribe`] first tells
    /// a subscriber everything it matches that the node holds).
    Existing,
}

impl Cause {
    /// The cause of an entry dropped for `reason`.
    pub(crate) fn dropped(reason: PurgeReason) -> Cause {
        match reason {
            PurgeReason::Reset => Cause::Reset,
            PurgeReason::Removed => Cause::Removed,
            _ => Cause::Purged,
        }
    }
}

/// Subscribes `recipient` to changes of keys starting with `prefix` (empty: every key).
///
/// This is hearsay's pub/sub: the subscriber first hears every live matching entry the node
/// holds ([`Cause::Existing`]: a node restored with its state, or subscribed to late, holds
/// some), then each change once, in the order the node applied the changes; together they keep
/// a subscriber's copy exact ([`KeyChanged`]).
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Subscribe {
    /// Key prefix to match; empty matches every key.
    pub prefix: String,
    /// Who is told.
    pub recipient: Recipient<KeyChanged>,
}

/// Ends `recipient`'s subscriptions ([`Subscribe`], every prefix): no change is sent to it
/// after this is handled (those sent before may still be in its mailbox). Answers whether it was
/// subscribed. A recipient whose actor stopped is dropped without it.
#[derive(Message, Clone, Debug)]
#[rtype(result = "bool")]
pub struct Unsubscribe {
    /// The recipient given to [`Subscribe`].
    pub recipient: Recipient<KeyChanged>,
}

/// A node's counters.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NodeMetrics {
    /// The node.
    pub id: NodeId,
    /// Its generation.
    pub generation: Generation,
    /// Rounds run.
    pub round: u64,
    /// Traffic counters.
    pub stats: Stats,
    /// Hot rumors.
    pub hot_rumors: usize,
    /// Entries held, tombstones included.
    pub entries: usize,
    /// Whether the node is crashed.
    pub down: bool,
    /// The write rate flow control allows, if on.
    pub allowed_rate: Option<f64>,
    /// The highest version of the node's own entries in its generation: each write, delete or
    /// leave raises it (a runtime that saves the node's state watches it).
    pub own_version: Version,
}

/// Asks a node for a copy of its whole protocol state: for debugging (watermarks, GC horizons,
/// members), and for tests and the fault search, which read real state with it rather than the
/// recorder's model. Answered even while the node is crashed.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "NodeSnapshot")]
pub struct Inspect;

/// Asks a node for its state as a [`Snapshot`] to save: a process that saves one now and then
/// (and at shutdown) starts its next incarnation from it with
/// [`Node::restore`](hearsay_proto::Node::restore) — its own entries, and what it knew of the
/// others, the members' addresses among them, so that it reaches the cluster without a seed.
///
/// ```
/// use actix::Actor;
/// use hearsay_actor::{GossipNode, Router, Set, TakeSnapshot};
/// use hearsay_proto::{Config, Generation, Node, NodeId, Snapshot, Value};
///
/// actix_rt::System::new().block_on(async {
///     let node = Node::new(NodeId(1), Generation(1), Config::default(), 7)?;
///     let addr = GossipNode::new(node, Router::new()).start();
///     addr.send(Set { key: "color".into(), value: Value::from("blue") }).await??;
///     let bytes = addr.send(TakeSnapshot).await?.encode()?;
///     // The next process, from the bytes it saved:
///     let snapshot = Snapshot::decode(&bytes)?;
///     let now = std::time::Instant::now();
///     let node = Node::restore(snapshot, Generation(2), Config::default(), 8, now)?;
///     assert_eq!(node.get("color"), Some(&Value::from("blue")));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// .expect("restored");
/// ```
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Snapshot")]
pub struct TakeSnapshot;

/// A copy of one node's protocol state ([`Inspect`]).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct NodeSnapshot {
    /// The node.
    pub id: NodeId,
    /// Its current generation.
    pub generation: Generation,
    /// Whether it is crashed.
    pub down: bool,
    /// Everything it holds: per origin the generation, entries, watermark and GC horizon.
    pub store: Store,
    /// Its member table (empty without membership).
    pub members: Vec<Member>,
    /// Its traffic counters.
    pub stats: Stats,
    /// Its active view, with partial views on ([`hearsay_proto::Config::view`]).
    pub active_view: Option<Vec<NodeId>>,
    /// The nodes its view joined through, latest last (empty without partial views): what it
    /// turns to when it knows nobody outside its views ([`hearsay_proto::View::contacts`]).
    pub contacts: Vec<NodeId>,
}

/// Adds a peer the node may gossip with (a runtime does this when a link to it comes up).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct AddPeer(pub NodeId);

/// Joins the cluster through a contact ([`hearsay_proto::Node::join`]): with partial views
/// ([`hearsay_proto::Config::view`]) the view protocol's join, otherwise the contact becomes a peer.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Join(pub NodeId);

/// Removes a peer from the ones the node picks (its state is kept: gossip can still bring it).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct RemovePeer(pub NodeId);

/// The runtime saw the link to a peer fail (a connection closed, a peer gone silent)
/// ([`hearsay_proto::Node::peer_failed`]): with partial views the peer leaves the active view and
/// is replaced from the passive one at once; without, nothing happens.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct PeerFailed(pub NodeId);

/// Reads the peers the node currently picks from.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Vec<NodeId>")]
pub struct GetPeers;

/// Reads a node's counters.
#[derive(Message, Clone, Debug)]
#[rtype(result = "NodeMetrics")]
pub struct GetMetrics;

#[cfg(feature = "sim")]
/// Simulated crash (or the start of a pause): the node stops ticking and ignores every message
/// until [`Restart`], [`Reincarnate`] or [`Resume`].
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Crash;

#[cfg(feature = "sim")]
/// Ends a simulated pause: a node stopped by [`Crash`] runs again with everything it held, under
/// the same generation, as a process that was stopped (`SIGSTOP`, a suspended VM, a long GC
/// pause) and continued. What reached it meanwhile is lost and its timers fire late; its peers
/// may have declared it Down, or removed it, meanwhile. No effect on a running node.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Resume;

#[cfg(feature = "sim")]
/// Brings a crashed (or running) node back as a new generation, with or without its state.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<(), Error>")]
pub struct Restart {
    /// The new generation; must be higher than the current one.
    pub generation: Generation,
    /// Whether the node keeps what it held (a process restart) or starts empty (a lost disk).
    pub keep_state: bool,
}

#[cfg(feature = "sim")]
/// Brings a node back as a fresh process that lost its disk and starts under a generation of
/// the caller's choosing, which may be one it used before or a lower one (a reused
/// `--generation`, a wall clock stepped back) or a higher one (the usual restart of a process
/// without a disk). The protocol value is built anew with `seed`, knowing `peers` (a fresh
/// process knows the peers it is configured with, not those membership found). The protocol's
/// refutation then moves it above any incarnation its peers still know.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<(), Error>")]
pub struct Reincarnate {
    /// The generation it starts under.
    pub generation: Generation,
    /// The seed of the new protocol value's RNG.
    pub seed: u64,
    /// The peers the new process starts with.
    pub peers: hearsay_proto::Peers,
    /// Where the new process is reached, announced as a networked node announces its address
    /// at start ([`hearsay_proto::Node::advertise`]); `None` in-process.
    pub addr: Option<String>,
}

/// A membership change seen by a node ([`hearsay_proto::Event::Member`]), sent to its
/// membership subscribers.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
#[rtype(result = "()")]
#[non_exhaustive]
pub struct MemberChanged {
    /// The node that saw the change.
    pub node: NodeId,
    /// The member whose status changed.
    pub member: NodeId,
    /// The member's generation the status is about.
    pub generation: Generation,
    /// Its new status.
    pub status: MemberStatus,
    /// Not a change: the member's status when the subscription began
    /// ([`SubscribeMembership`] first tells the table as it is — a Down then comes without the
    /// Suspect before it).
    pub existing: bool,
}

impl MemberChanged {
    /// A change as node `node` reports it: for subscribers' own tests, and runtimes that relay
    /// changes (the node actor builds its own).
    pub fn new(
        node: NodeId,
        member: NodeId,
        generation: Generation,
        status: MemberStatus,
    ) -> MemberChanged {
        MemberChanged {
            node,
            member,
            generation,
            status,
            existing: false,
        }
    }
}

/// Subscribes `recipient` to the node's membership: first every member's status as the node
/// holds it now (its own included; nothing without membership; [`MemberChanged::existing`]),
/// then each change once, in the order the node saw them (for one member, Suspect always before
/// Down). Needs [`hearsay_proto::Config::membership`].
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct SubscribeMembership {
    /// Who is told.
    pub recipient: Recipient<MemberChanged>,
}

/// Ends `recipient`'s [`SubscribeMembership`]: no change is sent to it after this is handled
/// (those sent before may still be in its mailbox). Answers whether it was subscribed.
#[derive(Message, Clone, Debug)]
#[rtype(result = "bool")]
pub struct UnsubscribeMembership {
    /// The recipient given to [`SubscribeMembership`].
    pub recipient: Recipient<MemberChanged>,
}

/// Reads the node's member table, in id order, the node itself included (empty when membership
/// is off).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<Vec<Member>, Error>")]
pub struct GetMembers;

/// Reads what an operator watches of a node, without copying its entries (unlike [`Inspect`]):
/// its counters, member table, the failure detectors' suspicion and one summary per origin held.
/// For admin endpoints and dashboards that poll every second or so. Read-only.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Observation")]
pub struct Observe;

/// What [`Observe`] answers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Observation {
    /// The counters [`GetMetrics`] answers.
    pub metrics: NodeMetrics,
    /// The member table in id order, the node itself included (empty without membership).
    pub members: Vec<Member>,
    /// phi of each other member the heartbeat detector watches, at the time of the reading
    /// (empty under SWIM or without membership): [`hearsay_proto::Node::detector`].
    pub phi: Vec<(NodeId, f64)>,
    /// SWIM's local health score (Lifeguard; 0 when healthy), `None` when SWIM does not run:
    /// [`hearsay_proto::Node::local_health`].
    pub local_health: Option<u32>,
    /// SWIM's membership updates waiting to be gossiped, `None` when SWIM does not run.
    pub queued_updates: Option<usize>,
    /// One summary per origin in the store, in id order.
    pub origins: Vec<OriginSummary>,
    /// The partial views, with [`hearsay_proto::Config::view`] on.
    pub views: Option<Views>,
}

/// A node's partial views, as [`Observe`] reports them: each in id order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Views {
    /// The active view: the peers the node gossips with and keeps linked.
    pub active: Vec<NodeId>,
    /// The passive view: the backups an active peer that fails is replaced from.
    pub passive: Vec<NodeId>,
}

/// One origin of a node's store, as [`Observe`] reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginSummary {
    /// The origin.
    pub origin: NodeId,
    /// Its generation the entries belong to.
    pub generation: Generation,
    /// The highest heartbeat seen for that generation.
    pub heartbeat: u64,
    /// Entries held, tombstones included.
    pub entries: usize,
    /// The highest version held.
    pub max_version: Version,
}

/// Another incarnation of this node's id, at the generation given, left the cluster or was
/// removed, and this node runs an older one (a transport learnt it: `hearsay-net`'s superseded
/// notices): the node moves above it, keeping its state, as it does when it hears of a newer
/// incarnation through gossip (its live entries written again under the new generation, and a
/// WARN). Ignored when the node already runs above it. Answers the generation the node runs.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Generation")]
pub struct MoveAbove(pub Generation);

/// Leaves the cluster gracefully ([`hearsay_proto::Node::leave`]): peers mark the node Left at
/// once. Answers the version of the leave entry.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "Result<Version, Error>")]
pub struct Leave;
