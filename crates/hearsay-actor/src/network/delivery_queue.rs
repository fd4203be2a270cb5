//! [`DeliveryQueue`]: the simulated network's datagrams in flight, handed out in delivery order.
//!
//! A datagram sent later mostly arrives later: with a fixed latency, always. Those go to a FIFO;
//! only one that overtakes the last one queued (a shorter random latency, a faster link) goes to
//! a heap. The smaller of the two fronts is the next to deliver, so the order is exactly a single
//! heap's, while the common case costs a push and a pop at the ends of a ring buffer instead of
//! two logarithmic sifts through a heap of 100,000 entries.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// A priority queue, smallest first, for items pushed mostly in order.
#[derive(Debug)]
pub(crate) struct DeliveryQueue<T: Ord> {
    /// Pushed in order (each at least the one before): sorted.
    fifo: VecDeque<T>,
    /// Pushed below the FIFO's last item.
    overtaking: BinaryHeap<Reverse<T>>,
}

impl<T: Ord> Default for DeliveryQueue<T> {
    fn default() -> Self {
        DeliveryQueue {
            fifo: VecDeque::new(),
            overtaking: BinaryHeap::new(),
        }
    }
}

impl<T: Ord> DeliveryQueue<T> {
    pub(crate) fn push(&mut self, item: T) {
        match self.fifo.back() {
            Some(last) if item < *last => self.overtaking.push(Reverse(item)),
            _ => self.fifo.push_back(item),
        }
    }

    /// Whether the FIFO's front is the smallest item (`None`: the queue is empty).
    fn fifo_first(&self) -> Option<bool> {
        match (self.fifo.front(), self.overtaking.peek()) {
            (None, None) => None,
            (Some(_), None) => Some(true),
            (None, Some(_)) => Some(false),
            (Some(front), Some(Reverse(top))) => Some(front <= top),
        }
    }

    /// The smallest item.
    pub(crate) fn peek(&self) -> Option<&T> {
        if self.fifo_first()? {
            self.fifo.front()
        } else {
            self.overtaking.peek().map(|Reverse(top)| top)
        }
    }

    /// Takes the smallest item.
    pub(crate) fn pop(&mut self) -> Option<T> {
        if self.fifo_first()? {
            self.fifo.pop_front()
        } else {
            self.overtaking.pop().map(|Reverse(top)| top)
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.fifo.len() + self.overtaking.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any interleaving of pushes (mostly in order, some not) and pops hands out what a
        /// single heap hands out, in the same order.
        #[test]
        fn pops_as_one_heap_does(ops in prop::collection::vec((any::<bool>(), 0u32..40, any::<bool>()), 0..400)) {
            let mut ours = DeliveryQueue::default();
            let mut heap = BinaryHeap::new();
            let mut clock = 0u32;
            for (seq, (pop, jump, late)) in ops.into_iter().enumerate() {
                if pop {
                    prop_assert_eq!(ours.pop(), heap.pop().map(|Reverse(item)| item));
                } else {
                    // A send time that moves on, a latency that is usually the same.
                    clock += jump % 3;
                    let at = if late { clock + jump } else { clock + 10 };
                    ours.push((at, seq));
                    heap.push(Reverse((at, seq)));
                }
                prop_assert_eq!(ours.len(), heap.len());
                prop_assert_eq!(ours.peek(), heap.peek().map(|Reverse(item)| item));
            }
            while let Some(Reverse(item)) = heap.pop() {
                prop_assert_eq!(ours.pop(), Some(item));
            }
            prop_assert_eq!(ours.pop(), None);
        }
    }
}
