//! The queue of membership updates to piggyback, after memberlist's `TransmitLimitedQueue`:
//! one entry per member (newer news replaces older), the least-sent first, each sent a bounded
//! number of times.

use super::message::MemberUpdate;
use crate::NodeId;
use crate::size::{ARRAY_GROWTH, encoded_len};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug)]
struct Queued {
    update: MemberUpdate,
    transmits: u32,
    stamp: u64,
    size: usize,
}

/// Updates waiting to be sent.
#[derive(Clone, Debug, Default)]
pub(crate) struct UpdateQueue {
    entries: BTreeMap<NodeId, Queued>,
    /// `(transmits, newest first, member)`: the order updates are taken in.
    order: BTreeSet<(u32, std::cmp::Reverse<u64>, NodeId)>,
    stamp: u64,
}

impl UpdateQueue {
    /// Queues `update`, replacing any about the same member. With `keep_count` (the same news,
    /// more witnesses) the replaced entry's transmit count carries over.
    pub(crate) fn push(&mut self, update: MemberUpdate, keep_count: bool) {
        let id = update.id;
        let transmits = match self.entries.remove(&id) {
            Some(old) => {
                self.order
                    .remove(&(old.transmits, std::cmp::Reverse(old.stamp), id));
                if keep_count { old.transmits } else { 0 }
            }
            None => 0,
        };
        self.stamp += 1;
        let size = encoded_len(&update);
        self.order
            .insert((transmits, std::cmp::Reverse(self.stamp), id));
        self.entries.insert(
            id,
            Queued {
                update,
                transmits,
                stamp: self.stamp,
                size,
            },
        );
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Updates queued.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Takes the updates that fit in `bytes` (their encoded size, array growth included), the
    /// one about `first` (the destination) before the rest, least-sent first. Each one taken
    /// counts a transmission; one sent `limit` times leaves the queue.
    pub(crate) fn take(
        &mut self,
        mut bytes: usize,
        limit: u32,
        first: Option<NodeId>,
    ) -> Vec<MemberUpdate> {
        bytes = bytes.saturating_sub(ARRAY_GROWTH);
        let mut picked: Vec<(u32, std::cmp::Reverse<u64>, NodeId)> = Vec::new();
        if let Some(q) = first.and_then(|id| self.entries.get(&id)) {
            if q.size <= bytes {
                bytes -= q.size;
                picked.push((q.transmits, std::cmp::Reverse(q.stamp), q.update.id));
            }
        }
        let mut misses = 0;
        for &key in &self.order {
            if bytes < MIN_UPDATE || misses > MAX_MISSES {
                break;
            }
            if Some(key.2) == first {
                continue;
            }
            let Some(q) = self.entries.get(&key.2) else {
                continue;
            };
            if q.size <= bytes {
                bytes -= q.size;
                picked.push(key);
            } else {
                misses += 1;
            }
        }
        let mut out = Vec::with_capacity(picked.len());
        for key in picked {
            self.order.remove(&key);
            let Some(q) = self.entries.get_mut(&key.2) else {
                continue;
            };
            out.push(q.update.clone());
            q.transmits += 1;
            if q.transmits >= limit {
                self.entries.remove(&key.2);
            } else {
                self.order.insert((q.transmits, key.1, key.2));
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
