//! The failure detector's wire types: probes (ping, ack, ping-request, nack, gossip) and the
//! membership updates every one of them carries.

use crate::{Generation, NodeId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The longest address a member update carries (longer ones are ignored on receipt).
pub const MAX_ADDRESS_LEN: usize = 64;

/// A member's incarnation within one generation: raised by the member itself to refute a
/// suspicion, reset to 0 by a restart (a new generation).
pub type Incarnation = u32;

/// What one update says of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Liveness {
    /// Running (a join, or a refutation at a higher incarnation).
    #[serde(rename = "a")]
    Alive,
    /// Some members' probes failed; Down unless it refutes in time.
    #[serde(rename = "s")]
    Suspect,
    /// Declared dead by its witnesses.
    #[serde(rename = "d")]
    Down,
    /// Left gracefully.
    #[serde(rename = "l")]
    Left,
}

/// One piece of membership news, piggybacked on failure-detection messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberUpdate {
    /// The member.
    pub id: NodeId,
    /// Its generation.
    pub generation: Generation,
    /// Its incarnation within the generation.
    pub incarnation: Incarnation,
    /// What is said of it.
    pub status: Liveness,
    /// For `Suspect` and `Down`: the members whose probes (or relayed probes) found it silent.
    pub witnesses: Vec<NodeId>,
    /// For `Alive` and `Suspect`, when known: where the member's runtime is reached (what it
    /// announced with [`crate::Node::advertise`]), so that a node can probe every member it
    /// hears of, as memberlist's alive messages carry the address. Absent on the wire when
    /// `None` (in-process clusters need none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<Arc<str>>,
}

/// A failure-detection message: a probe step and the updates it carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdMessage {
    /// The probe step.
    pub probe: Probe,
    /// Membership news.
    pub updates: Vec<MemberUpdate>,
}

/// One step of a probe. On the wire a one-entry map from a one-letter tag to its fields
/// (`Gossip`, fieldless, is the bare tag).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Probe {
    /// Are you alive? Answered with `Ack` of the same `seq`.
    #[serde(rename = "p")]
    Ping {
        /// The prober's sequence number.
        seq: u32,
    },
    /// Alive: the answer to `Ping`, or a relay forwarding the target's answer.
    #[serde(rename = "k")]
    Ack {
        /// The sequence number of the ping answered.
        seq: u32,
    },
    /// Please ping `target` for me, and forward its ack (or nack).
    #[serde(rename = "q")]
    PingReq {
        /// The prober's sequence number.
        seq: u32,
        /// The member to ping.
        target: NodeId,
    },
    /// A relay got no answer from the target in time (Lifeguard): the relay itself is fine.
    #[serde(rename = "n")]
    Nack {
        /// The prober's sequence number.
        seq: u32,
    },
    /// Only the updates.
    #[serde(rename = "g")]
    Gossip,
    /// A node asks one peer for its member table (memberlist's push-pull: on start, and
    /// periodically), answered with `Table` pages; it asks the same peer again for the ranges
    /// that did not arrive (another peer if that one is no longer Up) until it holds all of one
    /// answer.
    #[serde(rename = "y")]
    Sync {
        /// The id ranges wanted, inclusive, each with the digest of what the requester holds
        /// in it: the peer sends the entries of the ranges whose digest differs from its own
        /// and vouches for the others. Empty: the whole table, entries and all.
        ranges: Vec<(NodeId, NodeId, u64)>,
    },
    /// A page of the member table, answering `Sync`: the updates are every member of the
    /// sender's table with an id in the ranges (one range for a page of entries; the ranges
    /// whose digests agreed, without entries).
    #[serde(rename = "t")]
    Table {
        /// The inclusive id ranges the page vouches for.
        ranges: Vec<(NodeId, NodeId)>,
    },
}
