//! Merging groups of deltas received from a peer into the store, with the events, rumors and
//! answers they cause.

use super::Node;
use crate::membership::{LEFT, STATUS_KEY};
use crate::rumor::RumorId;
use crate::{Event, OriginDelta, PurgeReason, Version, Via};
use std::collections::BTreeMap;
use std::time::Instant;

impl Node {
    /// Merges deltas from a peer; returns the rumors among them that were not news.
    pub(super) fn apply(&mut self, now: Instant, groups: &[OriginDelta], via: Via) -> Vec<RumorId> {
        let mut redundant = Vec::new();
        let mut behind = Vec::new();
        let mut stale_own = false;
        let mut redelete = Vec::new();
        for group in groups {
            if group.origin == self.id {
                let (stale, dead) = self.own_group(now, group, &mut redundant);
                stale_own |= stale;
                redelete.extend(dead);
                continue;
            }
            if self
                .members
                .as_ref()
                .is_some_and(|m| m.is_removed(group.origin, group.generation))
            {
                // A removed incarnation: its state must not come back.
                redundant.extend(group.deltas.iter().map(|d| (group.origin, d.version)));
                continue;
            }
            let original = group;
            let max_key = self.config.max_key_len();
            let trimmed;
            let group = if group.deltas.iter().any(|d| d.key.len() > max_key) {
                let mut kept = group.clone();
                kept.deltas.retain(|d| d.key.len() <= max_key);
                self.stats.deltas_refused += (group.deltas.len() - kept.deltas.len()) as u64;
                // The group still vouches for its range: a refused delta counts as received
                // (this node will never hold it), so the watermark can pass it instead of
                // asking for it again at every exchange.
                trimmed = kept;
                &trimmed
            } else {
                group
            };
            let report = self.store.merge(group);
            if report.behind_horizon {
                behind.push(group.origin);
            }
            if let Some(replaced) = report.replaced {
                self.events.push_back(Event::OriginReset {
                    origin: group.origin,
                    generation: group.generation,
                });
                self.dropped(group.origin, replaced, PurgeReason::Reset);
            }
            if !report.stale_generation {
                self.heard(now, group.origin, via.peer());
            }
            let purged = report.purged;
            self.purged(group.origin, group.generation, purged, PurgeReason::Horizon);
            self.stats.deltas_applied += report.changes.len() as u64;
            self.stats.deltas_redundant += report.redundant.len() as u64;
            redundant.extend(
                report
                    .redundant
                    .into_iter()
                    .map(|(_, version)| (group.origin, version)),
            );
            // Only a rumor chain says which writes a range holds: an anti-entropy range says
            // what its sender holds, which leaves out writes the sender saw overwritten, so it
            // must not be forwarded as a chain.
            let prevs = match via {
                Via::Rumor(_) => chain(original),
                _ => BTreeMap::new(),
            };
            for change in report.changes {
                if self.config.mode.rumors() {
                    let version = change.entry.version;
                    let prev = prevs.get(&version).copied().unwrap_or(version);
                    self.rumors.heat(
                        change.origin,
                        &change.key,
                        group.generation,
                        (prev, version),
                        self.round,
                    );
                }
                let left = change.key == STATUS_KEY
                    && change
                        .entry
                        .value
                        .as_ref()
                        .is_some_and(|v| v.as_bytes() == LEFT);
                let (origin, generation) = (change.origin, change.generation);
                self.events.push_back(Event::Changed { change, via });
                if left && let Some(members) = &mut self.members {
                    members.left(origin, generation, now, &mut self.events);
                }
            }
        }
        for key in redelete {
            // Only a key too long for this configuration fails, and such a key was never ours.
            let _ = self.write(now, &key, None);
        }
        if let Via::AntiEntropy(peer) | Via::Rumor(peer) = via {
            self.teach_horizons(peer, &behind);
            if stale_own {
                let (generation, heartbeat) = self.own_header();
                self.send_header(peer, self.id, generation, heartbeat);
            }
        }
        redundant
    }
}

/// For each delta of a rumor chain, the origin's version just before it: `(prev, version]` holds
/// only that write, which lets a receiver of the rumor advance its watermark.
///
/// The chain links the group's deltas in version order from `from` up to `to`, and stops at
/// anything that breaks it (two deltas at one version).
fn chain(group: &OriginDelta) -> BTreeMap<Version, Version> {
    let mut versions: Vec<Version> = group
        .deltas
        .iter()
        .map(|d| d.version)
        .filter(|v| *v > group.from && *v <= group.to)
        .collect();
    versions.sort_unstable();
    let mut prevs = BTreeMap::new();
    let mut prev = group.from;
    for version in versions {
        if version <= prev {
            break;
        }
        prevs.insert(version, prev);
        prev = version;
    }
    prevs
}
