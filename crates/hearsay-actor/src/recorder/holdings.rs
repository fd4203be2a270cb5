//! The model of who holds what: slots (interned keys), per-key holder counts, live nodes,
//! convergence.

use super::{Held, KeyState, Recorder, SlotId, Stamp};
use crate::transport::DENSE_IDS;
use hearsay_proto::{Generation, NodeId, Version};

impl Recorder {
    pub(super) fn slot_id(&mut self, origin: NodeId, key: &str) -> SlotId {
        if let Some(id) = self.slot_ids.get(&origin).and_then(|keys| keys.get(key)) {
            return *id;
        }
        let id = self.slots.len() as SlotId;
        self.slot_ids
            .entry(origin)
            .or_default()
            .insert(key.to_owned(), id);
        self.slots.push((origin, key.to_owned()));
        self.keys.push(KeyState::default());
        id
    }

    pub(super) fn key(&self, id: SlotId) -> Option<&KeyState> {
        self.keys.get(id as usize)
    }

    pub(super) fn key_mut(&mut self, id: SlotId) -> Option<&mut KeyState> {
        self.keys.get_mut(id as usize)
    }

    pub(super) fn live_node(&self, node: NodeId) -> bool {
        !self.down.contains(&node)
    }

    /// Registers a node (so that an empty node counts in convergence). Every other method
    /// registers the nodes it hears of.
    pub fn add_node(&mut self, node: NodeId) {
        if node.0 < DENSE_IDS {
            let (word, bit) = ((node.0 / 64) as usize, 1u64 << (node.0 % 64));
            if self.known.get(word).is_some_and(|w| w & bit != 0) {
                return;
            }
            if self.known.len() <= word {
                self.known.resize(word + 1, 0);
            }
            if let Some(w) = self.known.get_mut(word) {
                *w |= bit;
            }
        }
        if !self.nodes.insert(node) {
            return;
        }
        // Holding nothing, it is up to date on the keys whose newest write is gone.
        if self.live_node(node) {
            self.count_holders(node, true);
        }
    }

    /// Updates the holder count of `slot` for a live node whose stamp went from `before` to
    /// `after`.
    pub(super) fn move_holder(
        &mut self,
        slot: SlotId,
        before: Option<Stamp>,
        after: Option<Stamp>,
    ) {
        if let Some(key) = self.key_mut(slot) {
            if key.current(before) {
                key.holders = key.holders.saturating_sub(1);
            }
            if key.current(after) {
                key.holders += 1;
            }
        }
    }

    /// The newest write of `slot` has left the cluster for good: every node that holds nothing
    /// of the key is up to date on it from now on.
    pub(super) fn mark_gone(&mut self, slot: SlotId) {
        match self.key_mut(slot) {
            Some(key) if key.latest.is_some() && !key.gone => key.gone = true,
            _ => return,
        }
        let empty: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|node| !self.held.contains_key(&(**node, slot)))
            .copied()
            .collect();
        for node in empty {
            if self.live_node(node)
                && let Some(key) = self.key_mut(slot)
            {
                key.holders += 1;
            }
            self.set_since(node, slot, None);
        }
    }

    /// The slots of `origin`'s keys.
    pub(super) fn slots_of(&self, origin: NodeId) -> Vec<SlotId> {
        self.slot_ids
            .get(&origin)
            .map(|keys| keys.values().copied().collect())
            .unwrap_or_default()
    }

    /// The stamp `node` holds of `slot`.
    pub(super) fn stamp(&self, node: NodeId, slot: SlotId) -> Option<Stamp> {
        self.held.get(&(node, slot)).copied()
    }

    /// What `node` holds, by slot, in slot order.
    pub(super) fn holdings(&self, node: NodeId) -> impl Iterator<Item = (SlotId, Stamp)> + '_ {
        self.held
            .range((node, 0)..=(node, SlotId::MAX))
            .map(|((_, slot), stamp)| (*slot, *stamp))
    }

    /// Drops `node`'s holdings of `origin`'s keys written under a generation below `generation`
    /// (every holding, when `below` is `None`); returns what it dropped.
    pub(super) fn drop_holdings(
        &mut self,
        node: NodeId,
        below: Option<(NodeId, Generation)>,
    ) -> Vec<(SlotId, Stamp)> {
        let dropped: Vec<(SlotId, Stamp)> = self
            .holdings(node)
            .filter(|(slot, stamp)| match below {
                None => true,
                Some((origin, generation)) => {
                    self.slots
                        .get(*slot as usize)
                        .is_some_and(|s| s.0 == origin)
                        && stamp.0 < generation
                }
            })
            .collect();
        for (slot, _) in &dropped {
            self.held.remove(&(node, *slot));
        }
        dropped
    }

    /// Adds (or removes) `node` to (from) the holder counts of the keys it is up to date on.
    pub(super) fn count_holders(&mut self, node: NodeId, add: bool) {
        if !self.nodes.contains(&node) {
            return;
        }
        for (slot, key) in self.keys.iter_mut().enumerate() {
            if key.current(self.held.get(&(node, slot as SlotId)).copied()) {
                key.holders = if add {
                    key.holders + 1
                } else {
                    key.holders.saturating_sub(1)
                };
            }
        }
    }

    /// Whether every live node holds the same entries.
    pub fn converged(&self) -> bool {
        let mut live = self.nodes.iter().filter(|node| self.live_node(**node));
        match live.next() {
            Some(first) => live.all(|node| self.holdings(*node).eq(self.holdings(*first))),
            None => true,
        }
    }

    /// How many live nodes hold the write `(origin, key)` at `version` or newer.
    pub fn holding(&self, origin: NodeId, key: &str, version: Version) -> usize {
        let Some(slot) = self.slot_ids.get(&origin).and_then(|keys| keys.get(key)) else {
            return 0;
        };
        self.nodes
            .iter()
            .filter(|node| {
                self.live_node(**node)
                    && self.stamp(**node, *slot).is_some_and(|(_, v)| v >= version)
            })
            .count()
    }

    /// The entries the recorder believes `node` holds.
    pub fn held(&self, node: NodeId) -> Option<Held> {
        if !self.nodes.contains(&node) {
            return None;
        }
        Some(
            self.holdings(node)
                .filter_map(|(slot, stamp)| Some((self.slots.get(slot as usize)?.clone(), stamp)))
                .collect(),
        )
    }

    /// Live nodes.
    pub fn live(&self) -> usize {
        // Counted from the down ones (few), not by walking every node: the harness asks at every
        // check of a run (100,000 nodes, ten checks a virtual second).
        let down = self
            .down
            .iter()
            .filter(|node| self.nodes.contains(node))
            .count();
        self.nodes.len() - down
    }
}
