//! Membership glue: leaving gracefully, picking gossip targets (and Cassandra's probe of a Down
//! peer), and feeding the member table what gossip reveals of each origin.

use super::Node;
use crate::membership::Membership;
use crate::membership::{ADDR_KEY, LEFT, STATUS_KEY};
use crate::peers::Picked;
use crate::{
    Body, Delta, Digest, Error, MemberStatus, NodeId, OriginDelta, Peers, PurgeReason,
    RumorMessage, Value, Version,
};
use rand::RngExt;
use std::time::Instant;

impl Node {
    /// Announces at `now` where this node's runtime is reached (a network adapter calls it with
    /// the address peers should send to, at most [`crate::MAX_ADDRESS_LEN`] bytes):
    ///
    /// - with SWIM membership, in every update and table entry that says the node is alive
    ///   (memberlist's rule), so that a member is reachable as soon as it is known
    ///   ([`Transmit::addr`](crate::Transmit::addr)); a new address is news, gossiped at once;
    /// - otherwise, in the reserved entry [`ADDR_KEY`] of its origin, which peers learn as they
    ///   learn any entry (a user's `set` cannot write it). Writing the same address again is a
    ///   no-op;
    /// - and with partial views, in the view messages that introduce this node to peers that may
    ///   not know it yet (its `Join` and its shuffles).
    pub fn advertise(&mut self, now: Instant, addr: &str) -> Result<(), Error> {
        if addr.len() > crate::MAX_ADDRESS_LEN {
            return Err(Error::config("addr", "an address is at most 64 bytes"));
        }
        if let Some(view) = &mut self.view {
            view.set_address(addr.into());
        }
        if let (Some(members), Some(fd)) = (&mut self.members, &mut self.fd) {
            let held = members.address(self.id).map(|held| &**held);
            if held != Some(addr) {
                // A new address for a generation that had one goes out under a higher
                // incarnation: peers take an address only from news (SWIM's rule for every
                // claim), so a late update bearing the old one cannot bring it back.
                if held.is_some() {
                    fd.incarnation = fd.incarnation.saturating_add(1);
                }
                members.set_own_address(addr.into());
                // News: an Alive with the address replaces any queued without it.
                self.queue_update(now, self.id, false);
            }
            return Ok(());
        }
        let own = self.store.origin(self.id).and_then(|o| o.get(ADDR_KEY));
        if own.is_some_and(|e| {
            e.value
                .as_ref()
                .is_some_and(|v| v.as_bytes() == addr.as_bytes())
        }) {
            return Ok(());
        }
        self.write(now, ADDR_KEY, Some(Value::from(addr)))?;
        Ok(())
    }

    /// Leaves the cluster gracefully at `now`: writes the reserved status entry `left`
    /// ([`STATUS_KEY`]) of this node's origin, which peers mark as Left on receipt,
    /// and pushes it at once, as a rumor, to up to [`crate::MembershipConfig::leave_fanout`]
    /// reachable peers (3 without membership), on top of normal gossip. Keep the node running a
    /// few rounds afterwards so that gossip finishes spreading it. A restart (new generation)
    /// joins again.
    pub fn leave(&mut self, now: Instant) -> Result<Version, Error> {
        let prev = self.own_max_version();
        let version = self.write(now, STATUS_KEY, Some(Value::from(LEFT)))?;
        if let Some(members) = &mut self.members {
            members.leave_self(&mut self.events);
        }
        self.queue_update(now, self.id, false);
        let count = self
            .members
            .as_deref()
            .map_or(3, |m| m.config().leave_fanout);
        let heartbeat = self.store.origin(self.id).map_or(0, |o| o.heartbeat());
        for peer in self.targets(count) {
            let group = OriginDelta {
                origin: self.id,
                generation: self.generation,
                heartbeat,
                from: prev,
                to: version,
                deltas: vec![Delta {
                    key: STATUS_KEY.to_owned(),
                    version,
                    value: Some(Value::from(LEFT)),
                }],
            };
            self.send(
                peer,
                Body::Rumor(RumorMessage {
                    deltas: vec![group],
                    ..RumorMessage::default()
                }),
            );
        }
        Ok(version)
    }

    /// Up to `count` gossip targets: the listed peers, without the members that are Down, Left
    /// or Removed when membership is on.
    pub(super) fn targets(&mut self, count: usize) -> Picked {
        if let Some(view) = &self.view {
            // The view protocol keeps its active view alive; membership does not filter it.
            let active = Peers::Own(view.active().iter().copied().collect());
            return active.pick(&mut self.rng, count, self.id);
        }
        match &self.members {
            None => self.peers.pick(&mut self.rng, count, self.id),
            // SWIM samples often (gossip, relays): draw at random, without listing everyone.
            Some(members) if self.fd.is_some() => {
                self.peers
                    .pick_where(&mut self.rng, count, self.id, |id| members.reachable(id))
            }
            Some(members) => {
                let reachable: Vec<NodeId> = self
                    .peers
                    .iter()
                    .filter(|&id| id != self.id && members.reachable(id))
                    .collect();
                Peers::Own(reachable).pick(&mut self.rng, count, self.id)
            }
        }
    }

    /// A member to contact this round although it is not held reachable, if any:
    ///
    /// - **Reconnect** (Serf's): once per [`MembershipConfig::reconnect_interval`](crate::MembershipConfig)
    ///   while the table remembers members as Removed, one of them at random. A partition that
    ///   outlasted `removal_after` left each side holding the other removed, and a removed
    ///   member hears of its removal (and refutes, coming back as a new generation) only when it
    ///   is told ([`Node::tell_removed`]). Drawn from the member table, not from the peers: the
    ///   transports take a removed member out of the peers at once (before session 28 the draw
    ///   was among the peers, and a member every other node had removed was contacted only by
    ///   chance — seed 385961 waited ~750 s). Members gone for good are remembered for
    ///   `removed_ttl` (a day), which the interval keeps to one small message per interval.
    /// - Otherwise, as Cassandra does: with probability `down / (reachable + 1)`, one random
    ///   Down peer, to notice a healed partition.
    pub(super) fn probe(&mut self, now: Instant) -> Option<NodeId> {
        let members = self.members.as_deref_mut()?;
        // The table is walked at most once an interval, removed members or not.
        if members.reconnect_due(now) {
            members.reconnected(now);
            if let Some(removed) = members.random_removed(&mut self.rng, self.id) {
                return Some(removed);
            }
        }
        let down =
            |members: &Membership, id: NodeId| members.status(id) == Some(MemberStatus::Down);
        if self.fd.is_some() {
            // The same rate without listing everyone: a random peer, probed if it is Down
            // (probability down / peers).
            if self.peers.is_empty() {
                return None;
            }
            let picked = self.peers.pick(&mut self.rng, 1, self.id);
            return picked.into_iter().find(|&id| down(members, id));
        }
        let (mut candidates, mut reachable) = (Vec::new(), 0usize);
        for id in self.peers.iter().filter(|&id| id != self.id) {
            if down(members, id) {
                candidates.push(id);
            } else if members.reachable(id) {
                reachable += 1;
            }
        }
        if candidates.is_empty() {
            return None;
        }
        let p = candidates.len() as f64 / (reachable as f64 + 1.0);
        if !self.rng.random_bool(p.min(1.0)) {
            return None;
        }
        candidates
            .get(self.rng.random_range(0..candidates.len()))
            .copied()
    }

    /// SWIM: suspicions that timed out become Down, and are gossiped; those short of a quorum
    /// are checked next — in turn with the round-robin: ahead of it, a node cut off alone
    /// probed only its suspects (each probe's failure adding no witness), and never reached
    /// the members it still held Up.
    pub(super) fn expire_suspicions(&mut self, now: Instant) {
        let (Some(members), Some(fd)) = (&mut self.members, &self.fd) else {
            return;
        };
        let (downs, short) = members.expire_suspicions(now, fd.awareness(), &mut self.events);
        if let Some(fd) = &mut self.fd {
            for id in short {
                fd.check_soon(id);
            }
        }
        for (update, gossip) in downs {
            let id = update.id;
            if gossip {
                self.queue_update(now, id, false);
            }
            self.peer_down(now, id);
        }
    }

    /// Re-evaluates the members' statuses, and drops the state of the members just removed.
    pub(super) fn check_members(&mut self, now: Instant) {
        let Some(members) = &mut self.members else {
            return;
        };
        for id in members.tick(now, &mut self.events) {
            if let Some(state) = self.store.remove_origin(id) {
                self.dropped(id, state, PurgeReason::Removed);
            }
        }
        // A member forgotten is unknown again, and unknown ids are gossip targets (a seed is one
        // at first): a list this node assembled drops it. Without that, members gone for good
        // (ids never seen again) piled up in the list, and a day after each removal took their
        // share of every round's targets, at dead addresses. A shared list is the embedder's
        // configured membership, and stays as it is.
        let forgotten = self.members.as_deref_mut().map(Membership::take_forgotten);
        for id in forgotten.into_iter().flatten() {
            if matches!(self.peers, Peers::Own(_)) {
                self.peers.remove(id);
            }
        }
    }

    /// Feeds the member table what the store now knows of `origin` (its generation and
    /// heartbeat): a new member or generation, or heartbeat progress. `source` is the peer the
    /// data came from (`None`: a local write).
    pub(super) fn heard(&mut self, now: Instant, origin: NodeId, source: Option<NodeId>) {
        if self.members.is_none() {
            return;
        }
        // A member heard of (through a seed, or gossip) becomes a peer: this is how a node
        // that knows only its seeds joins the whole cluster (with partial views, the view
        // protocol picks the peers instead).
        self.peer_heard_of(origin);
        let Some(members) = &mut self.members else {
            return;
        };
        let new = self.store.origin(origin).is_some_and(|state| {
            members.heartbeat(
                origin,
                state.generation(),
                state.heartbeat(),
                now,
                &mut self.events,
            )
        });
        if new {
            self.learnt(origin);
            // Heard of only through data: confirmed by the first probe unless an update or a
            // message from it comes first (a Down from a table or a hint settles it too).
            if let Some(fd) = &mut self.fd {
                fd.probe_soon(origin);
            }
        }
        if let Some(source) = source {
            self.ask_address(now, origin, source);
        }
    }

    /// A member heard of becomes a gossip target, unless partial views pick the peers.
    pub(super) fn peer_heard_of(&mut self, id: NodeId) {
        if self.view.is_none() && id != self.id && !self.peers.contains(id) {
            self.peers.insert(id);
        }
    }

    /// A peer's digest without the origins of removed incarnations (so that they are neither
    /// observed nor asked for). The peer still holds their data, so it may still hold them
    /// alive: with partial views it is told ([`Node::tell_removed_to`]).
    pub(super) fn without_removed(
        &mut self,
        now: Instant,
        from: NodeId,
        mut digest: Digest,
    ) -> Digest {
        let Some(members) = &self.members else {
            return digest;
        };
        let mut removed = Vec::new();
        let mut keep = |origin: NodeId, generation| {
            let gone = members.is_removed(origin, generation);
            if gone {
                removed.push(origin);
            }
            !gone
        };
        match &mut digest {
            Digest::Scuttlebutt { origins, .. } => origins.retain(|o| keep(o.origin, o.generation)),
            Digest::Precise { origins, .. } => origins.retain(|o| keep(o.origin, o.generation)),
        }
        if !removed.is_empty() {
            self.tell_removed_to(now, from, removed);
        }
        digest
    }
}
