//! Incarnations: restarts, refuting another incarnation that used this node's id and generation
//! (forks, foreign and dead writes), and telling removed ids that they were removed.

use super::Node;
use crate::membership;
use crate::reconcile::DigestCursor;
use crate::rumor::{RumorId, Rumors};
use crate::{Error, Generation, NodeId, OriginDelta, PurgeReason, Value, Version};
use std::time::Instant;

impl Node {
    /// Restarts the node at `now` as a new incarnation (`generation` must be higher than the
    /// current one).
    ///
    /// With `keep_state`, the node keeps what it knew of other origins and writes its own entries
    /// again under the new generation (so they supersede the old incarnation's) — at the versions
    /// they had, deletes included, so that a restart changes no write's order with respect to
    /// the other nodes' (session 31: written again at fresh versions, an old value outranked a
    /// newer write of another node, and a delete was lost, cluster-wide); without, it starts
    /// empty, as after a crash that lost its disk. Hot rumors, the digest cursor and the round
    /// schedule start afresh either way.
    pub fn restart(
        &mut self,
        now: Instant,
        generation: Generation,
        keep_state: bool,
    ) -> Result<(), Error> {
        if generation <= self.generation {
            return Err(Error::StaleGeneration {
                current: self.generation,
                requested: generation,
            });
        }
        self.generation = generation;
        // Own entries to write again: carried at their versions, or (the address) afresh.
        let mut own = Vec::new();
        for (origin, state) in self.store.restart(self.id, generation, keep_state) {
            let old = state.generation();
            let mut gone = Vec::new();
            for (key, entry) in state.into_entries() {
                // With `keep_state`, the own entries, deletes included, are carried below (the
                // reserved ones, a leave and a GC horizon, belonged to the old incarnation). The
                // address is the runtime's, not the incarnation's: it is written again, afresh,
                // in any case.
                let mine = origin == self.id;
                if mine && key == membership::ADDR_KEY && entry.value.is_some() {
                    own.push((key, entry.value, None));
                } else if mine && keep_state && !membership::is_reserved(&key) {
                    own.push((key, entry.value, Some(entry.version)));
                } else {
                    gone.push((key, entry));
                }
            }
            self.purged(origin, old, gone, PurgeReason::Reset);
        }
        // In version order, the fresh address last: the watermark rises as a writer's does.
        own.sort_by_key(|(_, _, version)| version.map_or(Version(u64::MAX), |v| v));
        self.rumors = Rumors::default();
        self.cursor = DigestCursor::default();
        self.next_round = None;
        // The carried tombstones keep the instants their grace periods started at.
        let stamps: std::collections::BTreeMap<Version, Instant> = (self.tombstones.drain(..))
            .filter_map(|(version, seen)| Some((version, seen?)))
            .collect();
        if !keep_state {
            self.expiring = None;
        }
        if let Some(members) = &mut self.members {
            members.restart_self(generation, &mut self.events);
        }
        if let Some(fd) = &mut self.fd {
            fd.reset();
        }
        for (key, value, version) in own {
            self.write_as(now, &key, value, version)?;
        }
        for (version, seen) in &mut self.tombstones {
            if let Some(stamp) = stamps.get(version) {
                *seen = Some(*stamp);
            }
        }
        Ok(())
    }

    /// A group of this node's own origin came back from a peer: its deltas are no news (feedback
    /// says so, through `redundant`), and it may show another incarnation ([`Node::refute`]).
    /// Returns what else it asks of this node: whether the peer holds an older incarnation of
    /// it, to be told the current one (this node is the one authority on its own generation),
    /// and the keys to delete anew ([`Node::dead_write`]).
    pub(super) fn own_group(
        &mut self,
        now: Instant,
        group: &OriginDelta,
        redundant: &mut Vec<RumorId>,
    ) -> (bool, Vec<String>) {
        let stale = group.generation < self.generation;
        let mut dead = Vec::new();
        if group.generation == self.generation {
            dead.extend(
                group
                    .deltas
                    .iter()
                    .filter(|d| d.value.is_some() && self.dead_write(&d.key, d.version))
                    .map(|d| d.key.clone()),
            );
        }
        redundant.extend(group.deltas.iter().map(|d| (self.id, d.version)));
        let top = group.deltas.iter().map(|d| d.version).max();
        let foreign = group.generation == self.generation
            && group
                .deltas
                .iter()
                .any(|d| self.foreign_write(&d.key, d.version, Some(d.value.as_ref())));
        self.refute(
            now,
            group.generation,
            group.heartbeat,
            top.unwrap_or_default().max(group.to),
            foreign,
        );
        (stale, dead)
    }

    /// A peer speaks of this node's id at `generation`, with `heartbeat` and versions up to
    /// `top`. If that is a newer generation, or this generation with a heartbeat or versions this
    /// node never reached, another incarnation of the id used it (a restart that reused or
    /// lowered its generation, a clock stepped back): its entries would win over ours, or ours
    /// would be dropped as stale, for good. As SWIM refutes a suspicion with a higher
    /// incarnation, the node moves at once to a generation above it, keeping its state: its
    /// live entries are written again under the new generation, and everything of the other
    /// incarnation is dropped everywhere.
    ///
    /// `foreign` says whether the peer showed a write of ours that we never made
    /// ([`Node::foreign_write`]): with heartbeats off and a new incarnation that wrote before it
    /// heard of the old one, versions and heartbeats alone may not tell.
    pub(super) fn refute(
        &mut self,
        now: Instant,
        generation: Generation,
        heartbeat: u64,
        top: Version,
        foreign: bool,
    ) {
        let ours = self.store.origin(self.id);
        let (own_heartbeat, own_top) = ours.map_or((0, Version::ZERO), |o| {
            (o.heartbeat(), o.max_version().max(o.watermark()))
        });
        let forked = generation > self.generation
            || (generation == self.generation
                && (heartbeat > own_heartbeat || top > own_top || foreign));
        if !forked {
            return;
        }
        let Some(next) = generation.0.checked_add(1) else {
            return;
        };
        self.stats.refutations += 1;
        // `tell_removed`'s notice: this generation, the highest heartbeat.
        if generation == self.generation && heartbeat == REMOVED_HEARTBEAT {
            self.stats.removed_restarts += 1;
        }
        // The restart keeps our state, so it fails only if our own versions are exhausted.
        let _ = self.restart(now, Generation(next), true);
    }

    /// Whether `key` at `version` (with `value`, when known) is a write of this node's current
    /// generation that this node never made ([`crate::store::OriginState::contradicts`]).
    pub(super) fn foreign_write(
        &self,
        key: &str,
        version: Version,
        value: Option<Option<&Value>>,
    ) -> bool {
        self.store
            .origin(self.id)
            .is_some_and(|own| own.contradicts(key, version, value))
    }

    /// Whether a live `key` at `version` of this node's current generation, shown by a peer, is
    /// dead here although it is not a [`Node::foreign_write`]: this node holds no entry for the
    /// key and the version is at or below its GC horizon. Either the peer holds a stale copy of
    /// a write whose delete was since collected, or another incarnation that used this
    /// generation wrote it and the GC erased what would have told the two apart. The origin is
    /// the authority on its own entries, and in both cases the key is not live here: it deletes
    /// the key anew, and the new tombstone supersedes the peer's copy everywhere.
    pub(super) fn dead_write(&self, key: &str, version: Version) -> bool {
        let Some(own) = self.store.origin(self.id) else {
            return false;
        };
        !membership::is_reserved(key) && own.get(key).is_none() && version <= own.horizon()
    }

    /// A message came from `from`, which this node remembers as Removed (or a round's probe of
    /// Down peers picked it, [`Node::probe`]): its gossip at that generation or older is
    /// ignored here, and digests no longer name it, so a node that came back under a reused or
    /// lower generation (or a removed member that was alive after all, behind a partition)
    /// would never hear of its old incarnation and never be heard. Tell it, with an empty group
    /// of its own origin at the removed generation and the highest heartbeat: it refutes
    /// ([`Node::refute`]) and comes back above, as a new incarnation. A node already above that
    /// generation ignores it. Returns whether `from` was told (it is remembered as Removed).
    pub(super) fn tell_removed(&mut self, from: NodeId) -> bool {
        let Some(generation) = self
            .members
            .as_ref()
            .and_then(|m| m.removed_generation(from))
        else {
            return false;
        };
        self.send_header(from, from, generation, REMOVED_HEARTBEAT);
        true
    }

    /// Sends `peer` an empty group of `origin` (vouching nothing) that carries a generation and
    /// a heartbeat alone.
    pub(super) fn send_header(
        &mut self,
        peer: NodeId,
        origin: NodeId,
        generation: Generation,
        heartbeat: u64,
    ) {
        self.send_ack(peer, vec![header_group(origin, generation, heartbeat)]);
    }

    /// This node's own generation and heartbeat, whether or not it holds entries of its own.
    pub(super) fn own_header(&self) -> (Generation, u64) {
        let heartbeat = self
            .store
            .origin(self.id)
            .filter(|state| state.generation() == self.generation)
            .map_or(0, |state| state.heartbeat());
        (self.generation, heartbeat)
    }

    /// The generation and heartbeat held here for `origin` (this node's own even before it
    /// wrote anything).
    pub(super) fn header(&self, origin: NodeId) -> Option<(Generation, u64)> {
        if origin == self.id {
            return Some(self.own_header());
        }
        let state = self.store.origin(origin)?;
        Some((state.generation(), state.heartbeat()))
    }
}

/// The heartbeat of [`Node::tell_removed`]'s notice: above any a node reaches, so that the node
/// told refutes (and counts it as a removal, [`crate::Stats::removed_restarts`]).
const REMOVED_HEARTBEAT: u64 = u64::MAX;

/// An empty group of `origin` (vouching nothing, from and to version zero) that carries a
/// generation and a heartbeat alone.
pub(super) fn header_group(origin: NodeId, generation: Generation, heartbeat: u64) -> OriginDelta {
    OriginDelta {
        origin,
        generation,
        heartbeat,
        from: Version::ZERO,
        to: Version::ZERO,
        deltas: Vec::new(),
    }
}
