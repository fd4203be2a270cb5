//! Identifiers and counters: who a node is, which incarnation of it, and how new an entry is.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Identifies one member of a cluster.
///
/// Ids are small integers on the wire; a runtime maps them to addresses (actor mailboxes, sockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u64);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// The incarnation of a node: bumped every time the node restarts.
///
/// State gossiped by a newer generation of an origin supersedes all state of its older generations,
/// so that a restarted node's fresh versions are never mistaken for old ones.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Generation(pub u64);

/// The version of an entry. Versions are assigned by the entry's origin, strictly increase per
/// origin, and follow a Lamport clock across the cluster, so that "older" and "newer" between
/// entries of different origins are meaningful too (precise reconciliation orders by them).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Version(pub u64);

impl Version {
    /// The version before any write: nothing is known.
    pub const ZERO: Version = Version(0);
}

/// A cluster's identity, carried by every message so that two clusters never mix.
///
/// ```
/// use hearsay_proto::ClusterId;
/// assert_eq!(ClusterId::from_name("prod"), ClusterId::from_name("prod"));
/// assert_ne!(ClusterId::from_name("prod"), ClusterId::from_name("test"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClusterId(pub u64);

impl ClusterId {
    /// Derives a cluster id from a human-readable cluster name (64-bit FNV-1a of its UTF-8 bytes).
    pub fn from_name(name: &str) -> ClusterId {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        ClusterId(hash)
    }
}

impl fmt::Display for ClusterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
