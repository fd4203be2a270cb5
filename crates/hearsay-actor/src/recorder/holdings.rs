//! The model of who holds what: slots (interned keys), per-key holder counts, live nodes,
//! convergence.

use super::{Held, KeyState, Recorder, SlotId, Stamp};
use hearsay_proto::{NodeId, Version};
use std::collections::BTreeMap;

impl Recorder {
    pub(super) fn slot_id(&mut self, origin: NodeId, key: &str) -> SlotId {
        let slot = (origin, key.to_owned());
        if let Some(id) = self.slot_ids.get(&slot) {
            return *id;
        }
        let id = self.slots.len() as SlotId;
        self.slot_ids.insert(slot.clone(), id);
        self.slots.push(slot);
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
        if self.held.contains_key(&node) {
            return;
        }
        self.held.insert(node, BTreeMap::new());
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
            .held
            .iter()
            .filter(|(_, held)| !held.contains_key(&slot))
            .map(|(node, _)| *node)
            .collect();
        for node in empty {
            if self.live_node(node) {
                if let Some(key) = self.key_mut(slot) {
                    key.holders += 1;
                }
            }
            self.set_since(node, slot, None);
        }
    }

    /// The slots of `origin`'s keys.
    pub(super) fn slots_of(&self, origin: NodeId) -> Vec<SlotId> {
        self.slot_ids
            .range((origin, String::new())..)
            .take_while(|((o, _), _)| *o == origin)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Adds (or removes) `node` to (from) the holder counts of the keys it is up to date on.
    pub(super) fn count_holders(&mut self, node: NodeId, add: bool) {
        let Some(held) = self.held.get(&node) else {
            return;
        };
        for (slot, key) in self.keys.iter_mut().enumerate() {
            if key.current(held.get(&(slot as SlotId)).copied()) {
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
        let mut live = self
            .held
            .iter()
            .filter(|(node, _)| self.live_node(**node))
            .map(|(_, held)| held);
        match live.next() {
            Some(first) => live.all(|held| held == first),
            None => true,
        }
    }

    /// How many live nodes hold the write `(origin, key)` at `version` or newer.
    pub fn holding(&self, origin: NodeId, key: &str, version: Version) -> usize {
        let Some(slot) = self.slot_ids.get(&(origin, key.to_owned())) else {
            return 0;
        };
        self.held
            .iter()
            .filter(|(node, held)| {
                self.live_node(**node) && held.get(slot).is_some_and(|(_, v)| *v >= version)
            })
            .count()
    }

    /// The entries the recorder believes `node` holds.
    pub fn held(&self, node: NodeId) -> Option<Held> {
        let held = self.held.get(&node)?;
        Some(
            held.iter()
                .filter_map(|(slot, stamp)| Some((self.slots.get(*slot as usize)?.clone(), *stamp)))
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
            .filter(|node| self.held.contains_key(node))
            .count();
        self.held.len() - down
    }
}
