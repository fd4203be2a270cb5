//! The nodes' own events fed into the model: changes, resets, purges, member removals,
//! crashes, restarts and refutations.

use super::{Recorder, SlotId, Stamp, UpdateRecord};
use hearsay_proto::{Change, Generation, NodeId, Version, Via};
use std::collections::BTreeMap;
use tokio::time::Instant;

impl Recorder {
    /// `node` applied a change.
    pub fn changed(&mut self, now: Instant, node: NodeId, change: &Change, via: Via) {
        let at = self.elapsed(now);
        let slot = self.slot_id(change.origin, &change.key);
        let stamp = (change.generation, change.entry.version);
        let live = self.live_node(node);
        self.add_node(node);
        let before = self.held.insert((node, slot), stamp);
        let id = (change.origin, change.generation, change.entry.version);
        if via == Via::Local {
            // A new newest write: only its writer holds it; every other node that was up to date
            // on this key is stale from now on.
            if let Some(key) = self.key_mut(slot) {
                key.latest = Some(stamp);
                key.tombstone = change.entry.value.is_none();
                key.gone = false;
                key.holders = usize::from(live);
                key.history.insert(stamp, at);
            }
            self.updates.insert(
                id,
                UpdateRecord {
                    key: change.key.clone(),
                    written_at: at,
                    learned: BTreeMap::from([(node, at)]),
                },
            );
            let others: Vec<NodeId> = self.nodes.iter().copied().filter(|n| *n != node).collect();
            for other in others {
                if !self.stale_since.contains_key(&(other, slot)) {
                    self.set_since(other, slot, Some(at));
                }
            }
            self.set_since(node, slot, None);
            match &change.entry.value {
                Some(value) => self.line(
                    now,
                    format_args!(
                        "write {node} {} {:?} {} value {}",
                        change.generation.0,
                        change.key,
                        change.entry.version.0,
                        value.len()
                    ),
                ),
                None => self.line(
                    now,
                    format_args!(
                        "write {node} {} {:?} {} tombstone",
                        change.generation.0, change.key, change.entry.version.0
                    ),
                ),
            }
        } else {
            if live {
                self.move_holder(slot, before, Some(stamp));
            }
            if let Some(update) = self.updates.get_mut(&id) {
                update.learned.entry(node).or_insert(at);
            }
            let since = self.since(slot, Some(stamp));
            self.set_since(node, slot, since);
            self.line(
                now,
                format_args!(
                    "learn {node} {} {:?} {}",
                    change.origin, change.key, change.entry.version.0
                ),
            );
        }
    }

    /// `node` dropped everything it held of `origin`'s generations below `generation`.
    pub fn reset(&mut self, now: Instant, node: NodeId, origin: NodeId, generation: Generation) {
        let live = self.live_node(node);
        let dropped = self.drop_holdings(node, Some((origin, generation)));
        if live {
            for (slot, stamp) in dropped {
                self.move_holder(slot, Some(stamp), None);
            }
        }
        self.recompute_since(node);
        self.line(now, format_args!("reset {node} {origin} {}", generation.0));
    }

    /// `node` dropped its entry of `origin`'s `key` (at `generation` and `version`) without
    /// overwriting it ([`hearsay_proto::Event::Purged`]): a tombstone collected under the origin's
    /// GC horizon, or an entry dropped by a re-sync behind that horizon.
    ///
    /// When the entry is the key's newest write and a delete, the delete is complete: from then
    /// on a node that holds nothing of the key is up to date on it (and one that still holds an
    /// older value is not).
    pub fn purged(
        &mut self,
        now: Instant,
        node: NodeId,
        origin: NodeId,
        generation: Generation,
        key: &str,
        version: Version,
    ) {
        let slot = self.slot_id(origin, key);
        self.add_node(node);
        let before = self.held.remove(&(node, slot));
        if self.live_node(node) {
            self.move_holder(slot, before, None);
        }
        let collected = self
            .key(slot)
            .is_some_and(|k| k.tombstone && k.latest == Some((generation, version)));
        if collected {
            self.mark_gone(slot);
        }
        let since = self.since(slot, None);
        self.set_since(node, slot, since);
        self.line(
            now,
            format_args!(
                "purge {node} {origin} {} {key:?} {}",
                generation.0, version.0
            ),
        );
    }

    /// `node` removed the member `origin` at `generation` (its status became
    /// [`hearsay_proto::MemberStatus::Removed`]) and dropped everything it held of it.
    ///
    /// The removed incarnation's writes (those of `generation` and older) have left the cluster
    /// for good: from then on a node that holds nothing of those keys is up to date on them, as is
    /// one that still holds the newest write until it removes the member too.
    pub fn removed(&mut self, now: Instant, node: NodeId, origin: NodeId, generation: Generation) {
        let live = self.live_node(node);
        let slots = self.slots_of(origin);
        let dropped: Vec<(SlotId, Stamp)> = slots
            .iter()
            .filter_map(|slot| Some((*slot, self.held.remove(&(node, *slot))?)))
            .collect();
        if live {
            for (slot, stamp) in &dropped {
                self.move_holder(*slot, Some(*stamp), None);
            }
        }
        for slot in &slots {
            let removed = self
                .key(*slot)
                .and_then(|k| k.latest)
                .is_some_and(|(g, _)| g <= generation);
            if removed {
                self.mark_gone(*slot);
            }
        }
        for (slot, _) in dropped {
            let since = self.since(slot, None);
            self.set_since(node, slot, since);
        }
        self.line(now, format_args!("remove {node} {origin} {}", generation.0));
    }

    /// `node` crashed.
    pub fn crashed(&mut self, now: Instant, node: NodeId) {
        self.add_node(node);
        if self.down.insert(node) {
            self.count_holders(node, false);
        }
        self.line(now, format_args!("crash {node}"));
    }

    /// `node` runs again after a pause, with its state and generation.
    pub fn resumed(&mut self, now: Instant, node: NodeId) {
        self.add_node(node);
        if self.down.remove(&node) {
            self.count_holders(node, true);
        }
        self.line(now, format_args!("resume {node}"));
    }

    /// `node` restarted as `generation`, with or without its state.
    pub fn restarted(&mut self, now: Instant, node: NodeId, generation: Generation, kept: bool) {
        self.incarnate(node, generation, kept);
        self.line(now, format_args!("restart {node} {} {kept}", generation.0));
    }

    /// `node` moved to `generation` by itself, keeping its state: it heard of another incarnation
    /// of its id, at a newer generation or further advanced, and refuted it
    /// ([`hearsay_proto::Stats::refutations`]). As after a restart that keeps its state, its own
    /// entries of older generations are gone (the live ones are written again under the new
    /// generation, as local changes reported next).
    pub fn refuted(&mut self, now: Instant, node: NodeId, generation: Generation) {
        self.incarnate(node, generation, true);
        self.line(now, format_args!("refute {node} {}", generation.0));
    }

    /// `node` runs as `generation` now, with or without its state.
    fn incarnate(&mut self, node: NodeId, generation: Generation, kept: bool) {
        self.add_node(node);
        if !self.down.remove(&node) {
            self.count_holders(node, false);
        }
        self.drop_holdings(node, kept.then_some((node, generation)));
        // The old incarnation's writes are superseded: those keys have no newest write now.
        let mut gone = Vec::new();
        for (id, (slot, key)) in self.slots.iter().zip(self.keys.iter_mut()).enumerate() {
            if slot.0 == node && key.latest.is_some_and(|(g, _)| g < generation) {
                key.retire();
                gone.push(id as SlotId);
            }
        }
        let nodes: Vec<NodeId> = self.nodes.iter().copied().collect();
        for slot in gone {
            for other in &nodes {
                self.set_since(*other, slot, None);
            }
        }
        self.count_holders(node, true);
        self.recompute_since(node);
    }
}
