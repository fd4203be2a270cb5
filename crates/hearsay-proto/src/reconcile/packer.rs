//! Fills a message with deltas grouped by origin, never beyond its budget.

use crate::size::ARRAY_GROWTH;
use crate::wire::codec::Encode;
use crate::{Budget, Delta, Entry, Generation, NodeId, OriginDelta, Version};

/// Collects deltas into [`OriginDelta`] groups while charging their exact encoded size.
#[derive(Debug)]
pub struct Packer<'b> {
    budget: &'b mut Budget,
    groups: Vec<OriginDelta>,
}

impl<'b> Packer<'b> {
    /// A packer that charges `budget`. The caller has already charged the message around it.
    pub fn new(budget: &'b mut Budget) -> Packer<'b> {
        Packer {
            budget,
            groups: Vec::new(),
        }
    }

    /// Opens a group for `origin` if its header, and its `first` delta if one is given, fit
    /// together; returns the group's index.
    pub fn open(
        &mut self,
        origin: NodeId,
        generation: Generation,
        heartbeat: u64,
        from: Version,
        first: Option<(&str, &Entry)>,
    ) -> Option<usize> {
        let header = OriginDelta {
            origin,
            generation,
            heartbeat,
            from,
            to: Version(u64::MAX),
            deltas: Vec::new(),
        };
        let first = first.map(|(key, entry)| to_delta(key, entry));
        let cost =
            header.encoded_len() + ARRAY_GROWTH + first.as_ref().map_or(0, Encode::encoded_len);
        if !self.budget.take(cost, first.as_ref().map_or(0, counted)) {
            return None;
        }
        self.groups.push(OriginDelta {
            to: from,
            deltas: first.into_iter().collect(),
            ..header
        });
        Some(self.groups.len() - 1)
    }

    /// Adds one entry to group `group` if it fits; returns whether it did.
    pub fn push(&mut self, group: usize, key: &str, entry: &Entry) -> bool {
        let delta = to_delta(key, entry);
        let Some(target) = self.groups.get_mut(group) else {
            return false;
        };
        if !self.budget.take(delta.encoded_len(), counted(&delta)) {
            return false;
        }
        target.deltas.push(delta);
        true
    }

    /// Charges `bytes` for something else the message carries; returns whether they fit.
    pub fn charge(&mut self, bytes: usize) -> bool {
        self.budget.take(bytes, 0)
    }

    /// Bytes still free.
    pub fn remaining_bytes(&self) -> usize {
        self.budget.bytes
    }

    /// Sets the version up to which group `group` vouches for completeness.
    pub fn vouch(&mut self, group: usize, to: Version) {
        if let Some(target) = self.groups.get_mut(group) {
            target.to = to.max(target.from);
        }
    }

    /// Whether nothing more can be added.
    pub fn exhausted(&self) -> bool {
        self.budget.exhausted()
    }

    /// The filled groups.
    pub fn finish(self) -> Vec<OriginDelta> {
        self.groups
    }
}

/// How much a delta counts against `max_deltas`: the protocol's own entries (a GC horizon, a
/// leave) ride free, so that a re-sync, which must open with the GC entry, still carries data
/// when a message may hold a single delta.
fn counted(delta: &Delta) -> usize {
    usize::from(!crate::membership::is_reserved(&delta.key))
}

/// An entry as it travels.
pub(crate) fn to_delta(key: &str, entry: &Entry) -> Delta {
    Delta {
        key: key.to_owned(),
        version: entry.version,
        value: entry.value.clone(),
    }
}
