//! The queue of membership updates to piggyback, after memberlist's `TransmitLimitedQueue`:
//! one entry per member (newer news replaces older), the least-sent first, each sent a bounded
//! number of times.
//!
//! An entry holds only the member and its transmit count: what is sent is what the node holds
//! of the member when the message is built (the caller's `about`), so the newest news goes out
//! and the queue keeps no second copy of the table (a simulated cluster of 10,000 nodes, each
//! queueing every member as the cluster forms, holds 10⁸ entries).

use super::message::MemberUpdate;
use crate::NodeId;
use crate::size::{ARRAY_GROWTH, encoded_len};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

/// A member's place in the queue.
#[derive(Clone, Copy, Debug)]
struct Queued {
    transmits: u32,
    stamp: u64,
}

/// `(transmits, newest first, member)`: a place in the order updates are taken in.
type OrderKey = (u32, Reverse<u64>, NodeId);

/// Members with news waiting to be sent.
#[derive(Clone, Debug, Default)]
pub(crate) struct UpdateQueue {
    entries: BTreeMap<NodeId, Queued>,
    /// The order updates are taken in.
    order: BTreeSet<OrderKey>,
    stamp: u64,
}

impl UpdateQueue {
    /// Queues news about `id`, replacing any queued about it. With `keep_count` (the same news,
    /// more witnesses) the entry's transmit count carries over.
    pub(crate) fn push(&mut self, id: NodeId, keep_count: bool) {
        let transmits = match self.entries.remove(&id) {
            Some(old) => {
                self.order.remove(&(old.transmits, Reverse(old.stamp), id));
                if keep_count { old.transmits } else { 0 }
            }
            None => 0,
        };
        self.stamp += 1;
        self.order.insert((transmits, Reverse(self.stamp), id));
        self.entries.insert(
            id,
            Queued {
                transmits,
                stamp: self.stamp,
            },
        );
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Members queued.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes the updates that fit in `bytes` (their encoded size, array growth included), the
    /// one about `first` (the destination) before the rest, least-sent first; `about` says what
    /// the node holds of a member now (`None`: nothing left to say, the entry leaves). Each one
    /// taken counts a transmission; one sent `limit` times leaves the queue.
    pub(crate) fn take(
        &mut self,
        mut bytes: usize,
        limit: u32,
        first: Option<NodeId>,
        mut about: impl FnMut(NodeId) -> Option<MemberUpdate>,
    ) -> Vec<MemberUpdate> {
        bytes = bytes.saturating_sub(ARRAY_GROWTH);
        let mut picked: Vec<(OrderKey, MemberUpdate)> = Vec::new();
        let mut gone = Vec::new();
        let first = first.and_then(|id| Some((id, *self.entries.get(&id)?)));
        let keys = first
            .map(|(id, q)| (q.transmits, Reverse(q.stamp), id))
            .into_iter()
            .chain(
                self.order
                    .iter()
                    .copied()
                    .filter(|key| Some(key.2) != first.map(|(id, _)| id)),
            );
        let mut misses = 0;
        for key in keys {
            if bytes < MIN_UPDATE || misses > MAX_MISSES {
                break;
            }
            let Some(update) = about(key.2) else {
                gone.push(key);
                continue;
            };
            let size = encoded_len(&update);
            if size <= bytes {
                bytes -= size;
                picked.push((key, update));
            } else {
                misses += 1;
            }
        }
        for key in gone {
            self.order.remove(&key);
            self.entries.remove(&key.2);
        }
        let mut out = Vec::with_capacity(picked.len());
        for (key, update) in picked {
            self.order.remove(&key);
            out.push(update);
            let transmits = key.0 + 1;
            if transmits >= limit {
                self.entries.remove(&key.2);
            } else if let Some(q) = self.entries.get_mut(&key.2) {
                q.transmits = transmits;
                self.order.insert((transmits, key.1, key.2));
            }
        }
        out
    }
}

/// The smallest encoded update: below this, nothing more fits.
const MIN_UPDATE: usize = 8;

/// Updates too large for the room left that are skipped before the message is deemed full
/// (a long queue is not scanned to its end for a small one).
const MAX_MISSES: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Generation;
    use crate::fd::Liveness;

    fn alive(id: NodeId) -> Option<MemberUpdate> {
        Some(MemberUpdate {
            id,
            generation: Generation(1),
            incarnation: 0,
            status: Liveness::Alive,
            witnesses: Vec::new(),
            addr: None,
        })
    }

    fn ids(updates: &[MemberUpdate]) -> Vec<u64> {
        updates.iter().map(|u| u.id.0).collect()
    }

    #[test]
    fn the_least_sent_go_first_newest_first_and_leave_after_the_limit() {
        let mut q = UpdateQueue::default();
        for id in [1, 2, 3] {
            q.push(NodeId(id), false);
        }
        assert_eq!(ids(&q.take(1_000, 2, None, alive)), [3, 2, 1]);
        q.push(NodeId(4), false);
        // 4 has not been sent; the others have once.
        assert_eq!(ids(&q.take(1_000, 2, None, alive)), [4, 3, 2, 1]);
        // 1..3 reached the limit and left; 4 goes once more.
        assert_eq!(ids(&q.take(1_000, 2, None, alive)), [4]);
        assert!(q.is_empty());
    }

    #[test]
    fn the_destination_goes_first_and_what_does_not_fit_waits() {
        let mut q = UpdateQueue::default();
        for id in 1001..=1040 {
            q.push(NodeId(id), false);
        }
        let one = encoded_len(&alive(NodeId(1001)));
        assert!(one >= MIN_UPDATE);
        let taken = q.take(ARRAY_GROWTH + 3 * one, 5, Some(NodeId(1007)), alive);
        assert_eq!(ids(&taken), [1007, 1040, 1039]);
        assert_eq!(q.len(), 40, "nothing reached the limit");
    }

    #[test]
    fn news_replaces_older_and_keep_count_keeps_its_place() {
        let mut q = UpdateQueue::default();
        q.push(NodeId(1), false);
        q.push(NodeId(2), false);
        assert_eq!(ids(&q.take(1_000, 3, None, alive)), [2, 1]);
        // More witnesses for 1: the same news, sent once already.
        q.push(NodeId(1), true);
        // New news about 2: sent zero times again.
        q.push(NodeId(2), false);
        assert_eq!(ids(&q.take(1_000, 3, None, alive)), [2, 1]);
        // 1 reached the limit first (3 sends in all), 2 has been sent twice since its news.
        assert_eq!(ids(&q.take(1_000, 3, None, alive)), [2, 1]);
        assert_eq!(q.len(), 1);
        assert_eq!(ids(&q.take(1_000, 3, None, alive)), [2]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_member_with_nothing_left_to_say_leaves_the_queue() {
        let mut q = UpdateQueue::default();
        q.push(NodeId(1), false);
        q.push(NodeId(2), false);
        let taken = q.take(1_000, 5, Some(NodeId(1)), |id| {
            if id == NodeId(1) { None } else { alive(id) }
        });
        assert_eq!(ids(&taken), [2]);
        assert_eq!(q.len(), 1);
    }
}
