//! What a node keeps across a restart: its state as a value that can be written to disk and
//! read back ([`Node::snapshot`](crate::Node::snapshot), [`Node::restore`](crate::Node::restore)).
//!
//! A process that saves its node's snapshot now and then (and at shutdown) and restores it at
//! start comes back as a new incarnation that still holds its own entries, deletes included —
//! written again under the new generation at the versions they had, so they supersede the old
//! one's everywhere and keep their order with every other node's writes — and what it knew of
//! every other origin, the members' address entries among them: it can reach the cluster without
//! a seed, and anti-entropy fetches only what changed while it was away (Serf's snapshots do the
//! first; Cassandra's system tables both).

use crate::{ClusterId, Error, Generation, Incarnation, NodeId, OriginDelta};
use serde::{Deserialize, Serialize};

/// The most members a snapshot may list (a table of a million members is ten times the largest
/// cluster measured); more is an invalid snapshot, not memory spent on a file's say-so.
pub const MAX_SAVED_MEMBERS: usize = 1_000_000;

/// The format [`Snapshot::encode`] writes. [`Snapshot::decode`] reads it and format 1 (session
/// 29's: no cluster, no members), and refuses any other.
pub const SNAPSHOT_FORMAT: u32 = 2;

/// A node's state at one instant, as [`Node::snapshot`](crate::Node::snapshot) takes it.
///
/// Each origin is one [`OriginDelta`] that vouches for everything up to the watermark held, as
/// anti-entropy would send it: restoring merges it by the same rules as gossip (a generation
/// replaces an older one, a GC horizon drops what it collected). Members removed, Down or Left
/// are not in it. What it cannot know is what the cluster decided while it sat on disk: a
/// snapshot older than [`crate::MembershipConfig::removed_ttl`] (a day) can hold a member removed
/// since, whose state then comes back until the restored node's detector removes it again.
///
/// ```
/// use hearsay_proto::{Config, Generation, Node, NodeId, Snapshot, Value};
/// use std::time::Instant;
/// let now = Instant::now();
/// let mut node = Node::new(NodeId(1), Generation(1), Config::default(), 7)?;
/// node.set(now, "color", Value::from("blue"))?;
/// let bytes = node.snapshot().encode()?;
/// // … the process exits, and a new one starts with the bytes it saved:
/// let restored = Node::restore(Snapshot::decode(&bytes)?, Generation(2), Config::default(), 8, now)?;
/// assert_eq!(restored.generation(), Generation(2));
/// assert_eq!(restored.get("color"), Some(&Value::from("blue")));
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Snapshot {
    /// The node's id.
    pub id: NodeId,
    /// The incarnation that took the snapshot; a restore runs a higher one.
    pub generation: Generation,
    /// Every origin held (the node's own first), in id order otherwise.
    pub origins: Vec<OriginDelta>,
    /// The cluster it was taken in ([`crate::Config::cluster`]); a restore into another is
    /// refused. `None` in a format-1 snapshot.
    #[serde(default)]
    pub cluster: Option<ClusterId>,
    /// The members reachable when it was taken (SWIM membership keeps their addresses in its
    /// table, not in the store), the node itself left out: a restored node can reach them
    /// without a seed. Empty without membership, and in a format-1 snapshot.
    #[serde(default)]
    pub members: Vec<SavedMember>,
}

/// A member as a [`Snapshot`] keeps it: enough to reach it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SavedMember {
    /// The member.
    pub id: NodeId,
    /// Its generation as known then.
    pub generation: Generation,
    /// Its incarnation within the generation (SWIM; 0 otherwise).
    pub incarnation: Incarnation,
    /// Where it said it is reached, if it did.
    pub address: Option<String>,
}

impl SavedMember {
    /// A member `id` at `generation` and `incarnation`, reached at `address`.
    pub fn new(
        id: NodeId,
        generation: Generation,
        incarnation: Incarnation,
        address: Option<String>,
    ) -> SavedMember {
        SavedMember {
            id,
            generation,
            incarnation,
            address,
        }
    }
}

/// The encoded form: the format first, so that a later one can be told apart.
#[derive(Serialize, Deserialize)]
struct Encoded {
    format: u32,
    snapshot: Snapshot,
}

impl Snapshot {
    /// A snapshot of `id` at `generation` holding `origins`, of no cluster in particular and
    /// with no members (see [`Snapshot::cluster`], [`Snapshot::members`]).
    pub fn new(id: NodeId, generation: Generation, origins: Vec<OriginDelta>) -> Snapshot {
        Snapshot {
            id,
            generation,
            origins,
            cluster: None,
            members: Vec::new(),
        }
    }

    /// The snapshot as MessagePack bytes, to be saved.
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        #[derive(Serialize)]
        struct EncodedRef<'a> {
            format: u32,
            snapshot: &'a Snapshot,
        }
        rmp_serde::to_vec(&EncodedRef {
            format: SNAPSHOT_FORMAT,
            snapshot: self,
        })
        .map_err(|e| Error::Encode(e.to_string()))
    }

    /// Reads saved bytes back. Bytes that are not a snapshot of this format — truncated,
    /// corrupted, another format, trailing garbage — are an [`Error::InvalidSnapshot`], never a
    /// panic; memory is bounded by the bytes given.
    pub fn decode(bytes: &[u8]) -> Result<Snapshot, Error> {
        // The structural check first: no declared length beyond the bytes given reaches serde.
        let used = crate::wire::validate(bytes)
            .map_err(|e| Error::InvalidSnapshot(format!("not a snapshot: {e}")))?;
        if used < bytes.len() {
            return Err(Error::InvalidSnapshot(format!(
                "{} bytes after the snapshot",
                bytes.len() - used
            )));
        }
        let encoded: Encoded = rmp_serde::from_slice(bytes)
            .map_err(|e| Error::InvalidSnapshot(format!("not a snapshot: {e}")))?;
        if !(1..=SNAPSHOT_FORMAT).contains(&encoded.format) {
            return Err(Error::InvalidSnapshot(format!(
                "format {} (this build reads 1 to {SNAPSHOT_FORMAT})",
                encoded.format
            )));
        }
        if encoded.snapshot.members.len() > MAX_SAVED_MEMBERS {
            return Err(Error::InvalidSnapshot(format!(
                "{} members (at most {MAX_SAVED_MEMBERS})",
                encoded.snapshot.members.len()
            )));
        }
        Ok(encoded.snapshot)
    }
}
