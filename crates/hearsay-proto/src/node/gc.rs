//! Tombstone garbage collection: collecting own tombstones past their grace period, publishing
//! the GC horizon, and teaching peers the horizons they have not heard of.

use super::Node;
use crate::membership::GC_KEY;
use crate::reconcile::packer::Packer;
use crate::{Body, Entry, Event, Generation, NodeId, OriginState, PurgeReason, Value, Version};
use std::time::Instant;

impl Node {
    /// Collects own tombstones older than the grace period and publishes the new GC horizon
    /// under the reserved key [`GC_KEY`] (a normal write: it spreads as a rumor and by
    /// anti-entropy, and peers collect the origin's tombstones up to it).
    pub(super) fn collect_garbage(&mut self, now: Instant) {
        let Some(grace) = self.config.tombstone_grace else {
            return;
        };
        for (_, seen) in self.tombstones.iter_mut().rev() {
            if seen.is_some() {
                break;
            }
            *seen = Some(now);
        }
        let mut upto = None;
        while let Some(&(version, Some(seen))) = self.tombstones.front() {
            if now.saturating_duration_since(seen) < grace {
                break;
            }
            upto = Some(version);
            self.tombstones.pop_front();
        }
        let Some(upto) = upto else {
            return;
        };
        let purged = self.store.collect_own(self.id, upto);
        let Some(horizon) = self.store.origin(self.id).map(|o| o.horizon()) else {
            return;
        };
        if purged.is_empty() {
            return;
        }
        self.purged(self.id, self.generation, purged, PurgeReason::Horizon);
        let value = Value::new(horizon.0.to_be_bytes().to_vec());
        // The GC entry is small and its key short: it always fits.
        let _ = self.write(now, GC_KEY, Some(value));
    }

    /// Reports the entries of `(origin, generation)` just dropped, one [`Event::Purged`] each.
    pub(super) fn purged(
        &mut self,
        origin: NodeId,
        generation: Generation,
        purged: impl IntoIterator<Item = (String, Entry)>,
        reason: PurgeReason,
    ) {
        for (key, entry) in purged {
            self.events.push_back(Event::Purged {
                origin,
                generation,
                key,
                entry,
                reason,
            });
        }
    }

    /// Reports every entry of a dropped origin state, one [`Event::Purged`] each.
    pub(super) fn dropped(&mut self, origin: NodeId, state: OriginState, reason: PurgeReason) {
        let generation = state.generation();
        self.purged(origin, generation, state.into_entries(), reason);
    }

    /// `peer` sent deltas at or below the GC horizons of `origins` without showing them: it has
    /// not heard of them, and would offer the same refused deltas at every exchange (with a
    /// deterministic order and one delta per message, for ever, starving everything else). Tell
    /// it, with each origin's GC entry alone (vouching nothing), as far as one message holds.
    pub(super) fn teach_horizons(&mut self, peer: NodeId, origins: &[NodeId]) {
        if origins.is_empty() {
            return;
        }
        let mut budget = self.budget(&Body::Ack { deltas: Vec::new() });
        let mut packer = Packer::new(&mut budget);
        for &origin in origins {
            let Some(state) = self.store.origin(origin) else {
                continue;
            };
            let Some(entry) = state.get(GC_KEY) else {
                continue;
            };
            let from = Version::ZERO;
            let first = Some((GC_KEY, entry));
            if packer
                .open(origin, state.generation(), state.heartbeat(), from, first)
                .is_none()
            {
                break;
            }
        }
        let deltas = packer.finish();
        self.send_ack(peer, deltas);
    }
}
