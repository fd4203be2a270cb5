//! The member table as SWIM's anti-entropy sends it (memberlist's push-pull): the entries of an
//! id range, and digests that let two nodes skip the ranges they already agree on.
//!
//! A pull names id ranges with the digest of what the puller holds in each; the peer answers
//! the ranges whose digest differs with their entries, and vouches for the others in one
//! message. Between nodes that agree (a cluster without churn) a pull costs two datagrams
//! whatever the table's size, so the pulls' bytes stay flat as the cluster grows.

use super::Membership;
use crate::fd::{Incarnation, Liveness, MemberUpdate};
use crate::{Generation, MemberStatus, NodeId};

/// An id range of the table, inclusive, with the digest of its entries.
pub(crate) type DigestRange = (NodeId, NodeId, u64);

impl Membership {
    /// The members with ids in `lo..=hi` as updates, for a table pull: this node Alive at
    /// `incarnation`, the rest as held but for the unconfirmed (Joining) ones (the puller
    /// probes the suspects it learns of first, so that a live one refutes to it).
    pub(crate) fn table(
        &self,
        incarnation: Incarnation,
        lo: NodeId,
        hi: NodeId,
    ) -> Vec<MemberUpdate> {
        self.listed(lo, hi)
            .filter_map(|(id, _)| self.update_about(id))
            .map(|mut u| {
                if u.id == self.me {
                    u.incarnation = incarnation;
                    u.status = Liveness::Alive;
                }
                u
            })
            .collect()
    }

    /// The digest of what [`Membership::table`] lists in `lo..=hi`, witnesses aside (two
    /// nodes may hold one suspicion with different witnesses): equal digests mean the same
    /// `(generation, incarnation, status)` for every member of the range.
    pub(crate) fn table_digest(&self, incarnation: Incarnation, lo: NodeId, hi: NodeId) -> u64 {
        self.listed(lo, hi)
            .map(|(id, entry)| self.entry_hash(id, entry, incarnation))
            .fold(0, u64::wrapping_add)
    }

    /// The whole id space cut into at most `parts` ranges listing about as many members each,
    /// with their digests: what a pull names.
    pub(crate) fn table_ranges(&self, incarnation: Incarnation, parts: usize) -> Vec<DigestRange> {
        let listed = self.listed(NodeId(0), NodeId(u64::MAX)).count();
        let per = listed.div_ceil(parts.max(1)).max(1);
        let mut ranges = Vec::new();
        let (mut lo, mut digest, mut count) = (NodeId(0), 0u64, 0);
        let mut entries = self.listed(NodeId(0), NodeId(u64::MAX)).peekable();
        while let Some((id, entry)) = entries.next() {
            digest = digest.wrapping_add(self.entry_hash(id, entry, incarnation));
            count += 1;
            // A range ends after `per` entries, unless it is the last (it runs to the end).
            if count == per && entries.peek().is_some() {
                ranges.push((lo, id, digest));
                (lo, digest, count) = (NodeId(id.0 + 1), 0, 0);
            }
        }
        ranges.push((lo, NodeId(u64::MAX), digest));
        ranges
    }

    /// The members a table lists in `lo..=hi`, with what it says of each. Members heard of
    /// only through data (Joining) are left out: the data of a crashed member outlives its
    /// Down, and a table saying Alive would bring it back Up.
    fn listed(
        &self,
        lo: NodeId,
        hi: NodeId,
    ) -> impl Iterator<Item = (NodeId, (Generation, Incarnation, Liveness))> + '_ {
        self.members.range(lo..=hi).filter_map(|(&id, t)| {
            let status = match t.status {
                _ if id == self.me => Liveness::Alive,
                MemberStatus::Up => Liveness::Alive,
                MemberStatus::Suspect => Liveness::Suspect,
                MemberStatus::Down => Liveness::Down,
                MemberStatus::Left => Liveness::Left,
                MemberStatus::Joining | MemberStatus::Removed => return None,
            };
            Some((id, (t.generation, t.incarnation, status)))
        })
    }

    /// One entry's share of a digest (this node's own at `incarnation`).
    fn entry_hash(
        &self,
        id: NodeId,
        (generation, incarnation, status): (Generation, Incarnation, Liveness),
        own: Incarnation,
    ) -> u64 {
        let incarnation = if id == self.me { own } else { incarnation };
        let status = match status {
            Liveness::Alive => 1,
            Liveness::Suspect => 2,
            Liveness::Down => 3,
            Liveness::Left => 4,
        };
        let h = mix(id.0);
        let h = mix(h ^ generation.0);
        mix(h ^ ((u64::from(incarnation) << 8) | status))
    }
}

/// SplitMix64's finalizer: a fixed, portable 64-bit mix (digests compare across machines).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
