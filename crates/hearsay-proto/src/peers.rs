//! The peers a node gossips with, and how it picks them.

use crate::NodeId;
use rand::{Rng, RngExt};
use smallvec::SmallVec;
use std::sync::Arc;

/// Picked peers: a round's few targets, inline (no allocation up to four).
pub(crate) type Picked = SmallVec<[NodeId; 4]>;

/// The set of peers a node may contact.
///
/// Either a set the node maintains itself, or a static membership shared by many nodes (one
/// allocation for a 100,000-node in-process cluster instead of one list per node).
#[derive(Clone, Debug)]
pub enum Peers {
    /// Peers known to this node, sorted, without duplicates.
    Own(Vec<NodeId>),
    /// A membership list shared with other nodes, sorted, without duplicates; may include the
    /// node itself. Build it with [`Peers::shared`].
    Shared(Arc<[NodeId]>),
}

impl Default for Peers {
    fn default() -> Peers {
        Peers::Own(Vec::new())
    }
}

impl Peers {
    /// A shared membership list (sorted and deduplicated here, once for all its users).
    ///
    /// ```
    /// use hearsay_proto::{NodeId, Peers};
    /// let peers = Peers::shared(vec![NodeId(3), NodeId(1), NodeId(3)]);
    /// assert_eq!(peers.len(), 2);
    /// assert!(peers.contains(NodeId(1)));
    /// ```
    pub fn shared(mut list: Vec<NodeId>) -> Peers {
        list.sort_unstable();
        list.dedup();
        Peers::Shared(list.into())
    }

    fn list(&self) -> &[NodeId] {
        match self {
            Peers::Own(list) => list,
            Peers::Shared(list) => list,
        }
    }

    /// Number of listed peers (a shared list may include the node itself).
    pub fn len(&self) -> usize {
        self.list().len()
    }

    /// Whether none is listed.
    pub fn is_empty(&self) -> bool {
        self.list().is_empty()
    }

    /// The listed peers, in id order.
    pub fn iter(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.list().iter().copied()
    }

    /// Whether `id` is listed.
    pub fn contains(&self, id: NodeId) -> bool {
        self.list().binary_search(&id).is_ok()
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
            Peers::Shared(shared) => {
                let mut own = shared.to_vec();
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
        let list = self.list();
        // More than the list holds is the whole list (`usize::MAX` for "every peer").
        let count = count.min(list.len());
        // Only a list barely longer than `count` needs the exact number of others.
        if list.len() <= count + 1 && list.len() - usize::from(self.contains(me)) <= count {
            return list.iter().copied().filter(|&id| id != me).collect();
        }
        let mut picked = Picked::with_capacity(count);
        while picked.len() < count {
            let id = list[rng.random_range(0..list.len())];
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
        let list = self.list();
        let count = count.min(list.len());
        let mut picked = Picked::with_capacity(count);
        if list.len() > 4 * count + 8 {
            for _ in 0..4 * count + 8 {
                if picked.len() == count {
                    return picked;
                }
                let id = list[rng.random_range(0..list.len())];
                if id != me && !picked.contains(&id) && accept(id) {
                    picked.push(id);
                }
            }
        }
        let rest: Vec<NodeId> = list
            .iter()
            .copied()
            .filter(|&id| id != me && !picked.contains(&id) && accept(id))
            .collect();
        let more = Peers::Own(rest).pick(rng, count - picked.len(), me);
        picked.extend(more);
        picked
    }
}
