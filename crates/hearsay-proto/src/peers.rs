//! The peers a node gossips with, and how it picks them.

use crate::NodeId;
use rand::{Rng, RngExt};
use smallvec::SmallVec;
use std::sync::Arc;

/// Picked peers: a round's few targets, inline (no allocation up to four).
pub(crate) type Picked = SmallVec<[NodeId; 4]>;

/// The set of peers a node may contact.
///
/// A set the node maintains itself, or a static membership shared by many nodes: a list (one
/// allocation for a 100,000-node in-process cluster instead of one list per node), or the ids
/// `0..n` as a count. Both shared kinds come from [`Peers::shared`], and become the node's own
/// list at its first [`Peers::insert`] or [`Peers::remove`].
#[derive(Clone, Debug)]
pub enum Peers {
    /// Peers known to this node, sorted, without duplicates.
    Own(Vec<NodeId>),
    /// A membership list shared with other nodes, sorted, without duplicates; may include the
    /// node itself. [`Peers::shared`] builds it for any list but the ids `0..n`.
    Shared(Arc<[NodeId]>),
    /// The ids `0..n`, as [`Peers::shared`] keeps a list that is exactly those (an in-process
    /// cluster numbered densely): no list at all, where 100,000 nodes picking from an 800 KB
    /// list read a cache line of it at random every round. Picks draw the same numbers and get
    /// the same ids as from the list. Only [`Peers::shared`] builds one.
    Dense(DenseIds),
}

/// The ids `0..count` of a [`Peers::Dense`] (built by [`Peers::shared`] from a list of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseIds {
    count: usize,
}

impl DenseIds {
    /// How many ids: they are `0..count`.
    pub fn count(self) -> usize {
        self.count
    }
}

impl Default for Peers {
    fn default() -> Peers {
        Peers::Own(Vec::new())
    }
}

/// The ids of a [`Peers`], in order.
enum Ids<'a> {
    List(std::slice::Iter<'a, NodeId>),
    Dense(std::ops::Range<u64>),
}

impl Iterator for Ids<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        match self {
            Ids::List(list) => list.next().copied(),
            Ids::Dense(range) => range.next().map(NodeId),
        }
    }
}

impl Peers {
    /// A shared membership list (sorted and deduplicated here, once for all its users); the ids
    /// `0..n` exactly are kept as their count ([`Peers::Dense`]).
    ///
    /// ```
    /// use hearsay_proto::{NodeId, Peers};
    /// let peers = Peers::shared(vec![NodeId(3), NodeId(1), NodeId(3)]);
    /// assert_eq!(peers.len(), 2);
    /// assert!(peers.contains(NodeId(1)));
    /// let dense = Peers::shared(vec![NodeId(1), NodeId(0)]);
    /// assert!(matches!(dense, Peers::Dense(ids) if ids.count() == 2));
    /// assert!(dense.iter().eq([NodeId(0), NodeId(1)]));
    /// ```
    pub fn shared(mut list: Vec<NodeId>) -> Peers {
        list.sort_unstable();
        list.dedup();
        if !list.is_empty() && list.iter().enumerate().all(|(at, id)| id.0 == at as u64) {
            return Peers::Dense(DenseIds { count: list.len() });
        }
        Peers::Shared(list.into())
    }

    /// The `at`-th id in order (`at` below [`Peers::len`]).
    fn nth(&self, at: usize) -> NodeId {
        match self {
            Peers::Own(list) => list[at],
            Peers::Shared(list) => list[at],
            Peers::Dense(_) => NodeId(at as u64),
        }
    }

    /// Number of listed peers (a shared list may include the node itself).
    pub fn len(&self) -> usize {
        match self {
            Peers::Own(list) => list.len(),
            Peers::Shared(list) => list.len(),
            Peers::Dense(ids) => ids.count,
        }
    }

    /// Whether none is listed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The listed peers, in id order.
    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        match self {
            Peers::Own(list) => Ids::List(list.iter()),
            Peers::Shared(list) => Ids::List(list.iter()),
            Peers::Dense(ids) => Ids::Dense(0..ids.count as u64),
        }
    }

    /// Whether `id` is listed.
    pub fn contains(&self, id: NodeId) -> bool {
        match self {
            Peers::Own(list) => list.binary_search(&id).is_ok(),
            Peers::Shared(list) => list.binary_search(&id).is_ok(),
            Peers::Dense(ids) => id.0 < ids.count as u64,
        }
    }

    /// Adds a peer (a shared list becomes the node's own copy).
    pub fn insert(&mut self, id: NodeId) {
        self.edit(|list| {
            if let Err(at) = list.binary_search(&id) {
                list.insert(at, id);
            }
        });
    }

    /// Removes a peer (a shared list becomes the node's own copy).
    pub fn remove(&mut self, id: NodeId) {
        self.edit(|list| {
            if let Ok(at) = list.binary_search(&id) {
                list.remove(at);
            }
        });
    }

    /// Applies `change` to the node's own sorted copy of the list.
    fn edit(&mut self, change: impl FnOnce(&mut Vec<NodeId>)) {
        let mut list = match std::mem::take(self) {
            Peers::Own(list) => list,
            shared => {
                let mut own: Vec<NodeId> = shared.iter().collect();
                own.sort_unstable();
                own.dedup();
                own
            }
        };
        change(&mut list);
        *self = Peers::Own(list);
    }

    /// Picks up to `count` distinct peers other than `me`, uniformly at random.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R, count: usize, me: NodeId) -> Vec<NodeId> {
        self.pick(rng, count, me).into_vec()
    }

    /// [`Peers::sample`], kept inline: a round picks its `fanout` targets without allocating.
    pub(crate) fn pick<R: Rng + ?Sized>(&self, rng: &mut R, count: usize, me: NodeId) -> Picked {
        let len = self.len();
        // More than the list holds is the whole list (`usize::MAX` for "every peer").
        let count = count.min(len);
        // Only a list barely longer than `count` needs the exact number of others.
        if len <= count.saturating_add(1) && len - usize::from(self.contains(me)) <= count {
            return self.iter().filter(|&id| id != me).collect();
        }
        let mut picked = Picked::with_capacity(count);
        while picked.len() < count {
            let id = self.nth(rng.random_range(0..len));
            if id != me && !picked.contains(&id) {
                picked.push(id);
            }
        }
        picked
    }

    /// Picks up to `count` distinct peers other than `me` that `accept` takes, uniformly at
    /// random among them: a few random draws first (cheap when most are accepted, as in a
    /// large cluster), the whole list filtered only when the draws fall short.
    pub fn sample_where<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        count: usize,
        me: NodeId,
        accept: impl Fn(NodeId) -> bool,
    ) -> Vec<NodeId> {
        self.pick_where(rng, count, me, accept).into_vec()
    }

    /// [`Peers::sample_where`], kept inline.
    pub(crate) fn pick_where<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        count: usize,
        me: NodeId,
        accept: impl Fn(NodeId) -> bool,
    ) -> Picked {
        let len = self.len();
        let count = count.min(len);
        let mut picked = Picked::with_capacity(count);
        let draws = count.saturating_mul(4).saturating_add(8);
        if len > draws {
            for _ in 0..draws {
                if picked.len() == count {
                    return picked;
                }
                let id = self.nth(rng.random_range(0..len));
                if id != me && !picked.contains(&id) && accept(id) {
                    picked.push(id);
                }
            }
        }
        let rest: Vec<NodeId> = self
            .iter()
            .filter(|&id| id != me && !picked.contains(&id) && accept(id))
            .collect();
        let more = Peers::Own(rest).pick(rng, count - picked.len(), me);
        picked.extend(more);
        picked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::NodeRng;
    use rand::SeedableRng;

    /// The ids `0..n` kept as a count pick what the list of them picks, draw for draw: the
    /// same ids for the same seed, whatever the count, the node and the filter.
    #[test]
    fn dense_ids_pick_what_their_list_picks() {
        for n in [1u64, 2, 3, 5, 17, 100] {
            let list = Peers::Shared((0..n).map(NodeId).collect());
            let dense = Peers::shared((0..n).rev().map(NodeId).collect());
            assert!(matches!(dense, Peers::Dense(ids) if ids.count() as u64 == n));
            assert_eq!(dense.len(), list.len());
            assert!(dense.iter().eq(list.iter()));
            assert!(dense.contains(NodeId(n - 1)) && !dense.contains(NodeId(n)));
            for seed in 0..20 {
                for count in [0, 1, 2, 3, 8, usize::MAX] {
                    let me = NodeId(seed % (n + 1));
                    let (mut a, mut b) =
                        (NodeRng::seed_from_u64(seed), NodeRng::seed_from_u64(seed));
                    assert_eq!(list.pick(&mut a, count, me), dense.pick(&mut b, count, me));
                    let odd = |id: NodeId| id.0 % 2 == 1;
                    assert_eq!(
                        list.pick_where(&mut a, count, me, odd),
                        dense.pick_where(&mut b, count, me, odd)
                    );
                }
            }
        }
        let mut edited = Peers::shared(vec![NodeId(1), NodeId(0)]);
        edited.insert(NodeId(5));
        edited.remove(NodeId(0));
        assert!(edited.iter().eq([NodeId(1), NodeId(5)]));
        assert!(matches!(
            Peers::shared(vec![NodeId(1), NodeId(2)]),
            Peers::Shared(_)
        ));
        assert!(matches!(Peers::shared(Vec::new()), Peers::Shared(_)));
    }
}
