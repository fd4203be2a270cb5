//! SWIM glue: runs the probe cycle from the node's timers, answers probes and relays them,
//! applies the membership updates every failure-detection message carries (refuting those
//! about this node), and piggybacks the queued ones.

use super::Node;
use crate::fd::{FdMessage, Liveness, MAX_RANGES, MemberUpdate, Outcome, Pending, Probe, Relay};
use crate::membership::{Applied, DigestRange};
use crate::size::encoded_len;
use crate::{Body, MemberStatus, NodeId, OriginDelta, Peers};
use std::time::Instant;

/// Gossip messages at most in the answer to a `Sync` (room for about 20,000 members).
const MAX_SYNC_MESSAGES: usize = 256;

impl Node {
    /// Runs whatever of the failure detector is due at `now`: relays' nacks, the probe cycle,
    /// and the gossip of queued updates.
    pub(super) fn fd_timeout(&mut self, now: Instant, starved: bool) {
        let Some(fd) = &mut self.fd else {
            return;
        };
        let first = !fd.started;
        fd.started = true;
        // Relays: nack what got no answer in time; forget what expired.
        let mut nacks = Vec::new();
        fd.relays.retain(|_, r| {
            if r.nack_at.is_some_and(|at| now >= at) {
                nacks.push((r.asker, r.seq));
                r.nack_at = None;
            }
            now < r.expires
        });
        for (asker, seq) in nacks {
            self.send_fd(asker, Probe::Nack { seq }, Vec::new());
        }
        if first {
            // A node that starts announces itself, and asks one peer for the member table.
            self.queue_update(now, self.id, false);
        }
        self.sync_table(now, first);
        self.probe_phases(now, starved);
        self.gossip_updates(now);
    }

    /// The cluster's size as this node can tell: the members it holds alive, or the peers it
    /// was given if more (at start-up the table knows only this node, and a retransmission
    /// limit sized for one member would leave many unannounced).
    fn cluster_size(&self) -> usize {
        let alive = self.members.as_deref().map_or(1, |m| m.alive_count());
        alive.max(self.peers.len())
    }

    /// Asks a random peer for its member table: at the first timeout, then every push-pull
    /// interval (the member table's anti-entropy), sooner while the node climbs the ladder of
    /// pulls its start put it on ([`Fd::pull_started`]). Each pull asks the same peer again
    /// every two probe intervals for the id ranges its pages did not cover yet, until they cover every id (pages travel as
    /// datagrams: one lost page would otherwise leave members unknown until the next pull,
    /// minutes later).
    fn sync_table(&mut self, now: Instant, first: bool) {
        let n = self.cluster_size();
        let Some(fd) = &mut self.fd else {
            return;
        };
        let retry = fd.next_sync.is_some_and(|at| now >= at);
        let periodic = fd.next_push_pull.is_some_and(|at| now >= at);
        if !(first || retry || periodic) {
            return;
        }
        if first || periodic {
            // The next pull: a push-pull interval later, or sooner on the ladder of a node
            // that started ([`Fd::pull_started`]).
            fd.next_push_pull = Some(now + fd.config.push_pull(n));
            fd.pull_started(now);
        }
        fd.next_sync = Some(now + fd.config.probe_interval * 2);
        let incarnation = fd.incarnation;
        // A retry asks the peer answering for the ranges still missing, while it is Up; a new
        // pull asks a peer for everything. Either way each range goes with the digest of what
        // this node holds in it, and comes back only if the peer's differs.
        let members = &self.members;
        let partial = fd.missing_ranges().filter(|(peer, _)| {
            retry
                && !periodic
                && members.as_ref().and_then(|m| m.status(*peer)) == Some(MemberStatus::Up)
        });
        let request = match partial {
            Some((peer, missing)) => Some((peer, Some(missing))),
            None => {
                fd.drop_table();
                self.sync_target().map(|peer| (peer, None))
            }
        };
        // The node itself goes with the request (memberlist's push-pull is both ways): the
        // peer answering learns it whatever became of its gossip.
        let me = self.own_update(Liveness::Alive);
        let (Some((peer, missing)), Some(members)) = (request, &self.members) else {
            return;
        };
        let parts = self.sync_parts(&me);
        let ranges = match missing {
            Some(missing) => missing
                .into_iter()
                .take(parts)
                .map(|(lo, hi)| (lo, hi, members.table_digest(incarnation, lo, hi)))
                .collect(),
            None => members.table_ranges(incarnation, parts),
        };
        self.send_fd(peer, Probe::Sync { ranges }, vec![me]);
    }

    /// As many ranges as one `Sync` holds beside the node's own entry `me`.
    fn sync_parts(&self, me: &MemberUpdate) -> usize {
        let room = self.room(Probe::Sync { ranges: Vec::new() }, vec![me.clone()]);
        let widest = encoded_len(&(NodeId(u64::MAX), NodeId(u64::MAX), u64::MAX));
        (room / widest).clamp(1, MAX_RANGES)
    }

    /// A peer to ask for its table: one held Down that came back, a random member confirmed Up
    /// other than the one the last pull asked (one heard of only through data may be long
    /// dead; a joiner's first table may come from a node that knows little, a partition's
    /// minority after a heal), any reachable one if none is.
    fn sync_target(&mut self) -> Option<NodeId> {
        let healed = self
            .fd
            .as_mut()
            .and_then(|fd| fd.take_heal())
            .filter(|&id| self.member_status(id) == Some(MemberStatus::Up));
        let last = self.fd.as_deref().and_then(|fd| fd.pulled_from);
        let confirmed = match (&self.members, &self.view, healed) {
            (_, _, Some(id)) => vec![id],
            (Some(members), None, None) => {
                self.peers.sample_where(&mut self.rng, 1, self.id, |id| {
                    Some(id) != last && members.status(id) == Some(MemberStatus::Up)
                })
            }
            // With partial views, from the whole table, not the active view: neighbours in the
            // overlay learn the same news and miss the same (a mass join's news that died out
            // short of one part of the overlay); the table's pages are addressed to the asker.
            (Some(members), Some(_), None) => {
                (members.random_where(&mut self.rng, self.id, |id, status| {
                    Some(id) != last && status == MemberStatus::Up
                }))
                .into_iter()
                .collect()
            }
            _ => Vec::new(),
        };
        let target = confirmed
            .first()
            .copied()
            .or_else(|| self.targets(1).first().copied());
        if let Some(fd) = &mut self.fd {
            fd.pulled_from = target.or(fd.pulled_from);
        }
        target
    }

    /// The probe cycle: the end of the one in flight, its indirect phase, the next probe.
    fn probe_phases(&mut self, now: Instant, starved: bool) {
        let Some(fd) = &mut self.fd else {
            return;
        };
        if fd.pending.as_ref().is_some_and(|p| now >= p.end)
            && let Some(pending) = fd.pending.take()
        {
            // A cycle a starved node concludes says more about the prober than the target
            // (its inputs, the ack maybe among them, are queued behind this call). Lifeguard:
            // the prober counts it against its own health, and suspects no one on its word.
            if starved {
                fd.health(1);
                self.stats.late_probe_cycles += 1;
            } else {
                self.concluded(now, pending, false);
            }
        }
        let Some(fd) = &mut self.fd else {
            return;
        };
        if let Some(p) = fd
            .pending
            .as_mut()
            .filter(|p| !p.indirect && now >= p.timeout_at)
        {
            p.indirect = true;
            let (target, seq) = (p.target, p.seq);
            let k = usize::from(fd.config.indirect_checks);
            let relays = self.relays(k, target);
            if let Some(p) = self.fd.as_deref_mut().and_then(|fd| fd.pending.as_mut()) {
                p.relays = relays.clone();
            }
            self.send_fd(target, Probe::Ping { seq }, Vec::new());
            for relay in relays {
                self.send_fd(relay, Probe::PingReq { seq, target }, Vec::new());
            }
        }
        let Some(fd) = &mut self.fd else {
            return;
        };
        if fd.pending.is_some() || fd.next_probe.is_some_and(|at| now < at) {
            return;
        }
        let interval = fd.scaled(fd.config.probe_interval);
        let timeout = fd.scaled(fd.config.probe_timeout);
        fd.next_probe = Some(now + interval);
        let (me, members) = (self.id, &self.members);
        // A member held Down unconfirmed (on fewer witnesses than the quorum: session 33) is
        // still probed: its failed probes' relays are the witnesses that confirm it, once this
        // node has members about it again; a live one refutes the Down its ping carries.
        let probeable = |id: NodeId| {
            id != me
                && members.as_ref().is_some_and(|m| {
                    m.status(id).is_some_and(MemberStatus::is_reachable) || m.unconfirmed_down(id)
                })
        };
        // The round-robin takes the whole table, views or not: SWIM's completeness (each member
        // held alive is probed by each node within a pass) does not depend on anyone's views.
        // Until session 32 a node with views probed only its views' members, and a member
        // that no view held was probed by nobody: a joiner whose `Join` and first shuffles
        // were lost (28 % loss) sat in no view anywhere, and after its crash every live node
        // held it Up for good (fault-search seed 397860). Partial views still choose the relays
        // (`Node::relays`) and the gossip targets; a probe outside them costs a link on demand,
        // as a probe of a passive member did.
        let all = || {
            (members.as_ref())
                .map(|m| m.members().into_iter().map(|m| m.id).collect())
                .unwrap_or_default()
        };
        let unconfirmed = |id: NodeId| {
            members
                .as_ref()
                .and_then(|m| m.status(id))
                .is_some_and(|s| matches!(s, MemberStatus::Joining | MemberStatus::Suspect))
        };
        let next = fd.next_target(&mut self.rng, probeable, unconfirmed, all);
        let Some(target) = next else {
            return;
        };
        let seq = fd.next_seq();
        fd.pending = Some(Pending {
            seq,
            target,
            timeout_at: now + timeout,
            end: now + interval,
            indirect: false,
            relays: Vec::new(),
            nacks: Vec::new(),
        });
        self.send_fd(target, Probe::Ping { seq }, Vec::new());
    }

    /// Up to `k` relays for a probe of `target`: random members held Up (a suspect may well be
    /// dead, and a dead relay's missing nack would count against this node's health).
    fn relays(&mut self, k: usize, target: NodeId) -> Vec<NodeId> {
        let Some(members) = &self.members else {
            return Vec::new();
        };
        match &self.view {
            Some(view) => {
                let active = Peers::Own(view.active().iter().copied().collect());
                active.sample_where(&mut self.rng, k, self.id, |id| {
                    id != target && members.status(id) != Some(MemberStatus::Suspect)
                })
            }
            None => self.peers.sample_where(&mut self.rng, k, self.id, |id| {
                id != target && members.status(id) == Some(MemberStatus::Up)
            }),
        }
    }

    /// A probe cycle ended: acked, or failed (privately, or into a public suspicion).
    fn concluded(&mut self, now: Instant, pending: Pending, acked: bool) {
        let (Some(fd), Some(members)) = (&mut self.fd, &mut self.members) else {
            return;
        };
        let target = pending.target;
        match fd.conclude(pending, acked, self.id) {
            Outcome::Alive | Outcome::Private => {}
            Outcome::Suspect(witnesses) => {
                if let Some((update, more)) =
                    members.suspect(target, witnesses, now, &mut self.events)
                {
                    self.queue_update(now, update.id, more);
                }
            }
        }
    }

    /// Sends the queued updates to a few members, while any are queued.
    fn gossip_updates(&mut self, now: Instant) {
        let Some(fd) = &mut self.fd else {
            return;
        };
        if fd.queue.is_empty() {
            fd.next_gossip = None;
            return;
        }
        if fd.next_gossip.is_some_and(|at| now < at) {
            return;
        }
        fd.next_gossip = Some(now + fd.config.gossip_interval);
        let count = usize::from(fd.config.gossip_nodes.get());
        for peer in self.targets(count) {
            self.send_fd(peer, Probe::Gossip, Vec::new());
        }
    }

    /// Queues news about `id` for gossip (`keep_count`: the same news with more witnesses); what
    /// goes out is what this node holds of `id` when a message is built.
    pub(super) fn queue_update(&mut self, now: Instant, id: NodeId, keep_count: bool) {
        if let Some(fd) = &mut self.fd {
            fd.queue.push(id, keep_count);
            if fd.next_gossip.is_none() {
                fd.next_gossip = Some(now);
            }
        }
    }

    /// The bytes left in one datagram carrying `probe` with `updates`.
    fn room(&self, probe: Probe, updates: Vec<MemberUpdate>) -> usize {
        self.budget(&Body::Probe(FdMessage { probe, updates }))
            .bytes
    }

    /// Sends `probe` to `to` with `direct` updates first, then queued ones (those about `to`
    /// first), as many as fit the MTU.
    pub(super) fn send_fd(&mut self, to: NodeId, probe: Probe, direct: Vec<MemberUpdate>) {
        let n = self.cluster_size();
        let (limit, about_to) = match (&self.fd, &self.members) {
            (Some(fd), Some(members)) => (
                fd.config.retransmits(n),
                members
                    .update_about(to)
                    .filter(|u| matches!(u.status, Liveness::Suspect | Liveness::Down)),
            ),
            _ => return,
        };
        // Lifeguard's buddy system, for every message: a member suspected here hears of it from
        // whoever writes to it, and can refute.
        let mut direct = direct;
        if let Some(update) = about_to {
            direct.insert(0, update);
        }
        // A message that asks for an answer carries the sender's own Alive with its address
        // (memberlist's ping carries its source the same way): the receiver may not have heard
        // of it yet, and could not address the ack. Only with an address (in-process clusters
        // have none, and their messages stay as they were).
        if matches!(
            probe,
            Probe::Ping { .. } | Probe::PingReq { .. } | Probe::Sync { .. }
        ) {
            let own = self.own_update(self.own_liveness());
            let carried = direct.iter().any(|u| u.id == self.id);
            if own.status == Liveness::Alive && own.addr.is_some() && !carried {
                direct.push(own);
            }
        }
        let mut message = FdMessage {
            probe,
            updates: Vec::new(),
        };
        let mut room = self.room(message.probe.clone(), Vec::new());
        for update in direct {
            let size = encoded_len(&update);
            if size > room {
                break;
            }
            room -= size;
            message.updates.push(update);
        }
        // What the queue names is sent as this node holds it now: the newest news.
        if self.fd.as_deref().is_some_and(|fd| !fd.queue.is_empty()) {
            let own = self.own_update(self.own_liveness());
            let members = self.members.as_deref();
            if let Some(fd) = &mut self.fd {
                message
                    .updates
                    .extend(fd.queue.take(room, limit, Some(to), |id| {
                        if id == own.id {
                            Some(own.clone())
                        } else {
                            members.and_then(|m| m.update_about(id))
                        }
                    }));
            }
        }
        self.send(to, Body::Probe(message));
    }

    /// A failure-detection message from `from`.
    pub(super) fn on_probe(&mut self, now: Instant, from: NodeId, message: FdMessage) {
        if self.fd.is_none() {
            return;
        }
        let from_table = matches!(message.probe, Probe::Table { .. });
        let (refuted, corrections) = self.apply_updates(now, &message.updates, from_table);
        let mut answered = false;
        match message.probe {
            Probe::Ping { seq } => {
                self.send_fd(from, Probe::Ack { seq }, corrections.clone());
                answered = true;
            }
            Probe::Ack { seq } => self.on_ack(now, from, seq),
            Probe::PingReq { seq, target } => {
                if let Some(fd) = &mut self.fd
                    && target != self.id
                {
                    let mine = fd.next_seq();
                    // The nack is due within the asker's period whatever this node's
                    // own health (Lifeguard scales the prober's timeouts, not the relay's).
                    let timeout = fd.config.probe_timeout;
                    let interval = fd.config.probe_interval;
                    fd.relays.insert(
                        mine,
                        Relay {
                            asker: from,
                            seq,
                            target,
                            nack_at: Some(now + timeout.mul_f64(0.8)),
                            expires: now + interval,
                        },
                    );
                    self.send_fd(target, Probe::Ping { seq: mine }, Vec::new());
                }
            }
            Probe::Nack { seq } => {
                if let Some(p) = self
                    .fd
                    .as_mut()
                    .and_then(|fd| fd.pending.as_mut())
                    .filter(|p| p.seq == seq)
                {
                    p.nack(from);
                }
            }
            Probe::Gossip => {}
            Probe::Table { ranges } => {
                let first_table = self
                    .fd
                    .as_mut()
                    .is_some_and(|fd| fd.table_page(from, &ranges));
                if first_table {
                    // Announced again now that the node knows the cluster: its first
                    // announcements may all have gone to seeds that are gone.
                    self.queue_update(now, self.id, false);
                }
            }
            Probe::Sync { ranges } => {
                self.answer_sync(now, from, &ranges);
                answered = true;
            }
        }
        if !answered && (refuted || !corrections.is_empty()) {
            self.send_fd(from, Probe::Gossip, corrections);
        }
    }

    /// An ack: the end of this node's probe, or one to forward for a relayed ping.
    fn on_ack(&mut self, now: Instant, from: NodeId, seq: u32) {
        let Some(fd) = &mut self.fd else {
            return;
        };
        if fd.pending.as_ref().is_some_and(|p| p.acked_by(seq, from)) {
            if let Some(pending) = fd.pending.take() {
                self.concluded(now, pending, true);
            }
            return;
        }
        if fd.relays.get(&seq).is_some_and(|r| r.target == from)
            && let Some(relay) = fd.relays.remove(&seq)
        {
            self.send_fd(relay.asker, Probe::Ack { seq: relay.seq }, Vec::new());
        }
    }

    /// Applies updates: those about this node may make it refute; news is queued to be passed
    /// on, unless it came in a table page. Returns whether this node refuted, and the
    /// corrections owed to the sender (what this node holds newer than stale updates it sent).
    pub(super) fn apply_updates(
        &mut self,
        now: Instant,
        updates: &[MemberUpdate],
        from_table: bool,
    ) -> (bool, Vec<MemberUpdate>) {
        let mut refuted = false;
        let mut corrections = Vec::new();
        for update in updates {
            if update.id == self.id {
                refuted |= self.about_me(now, update);
                // A suspicion or Down of an incarnation this node has refuted already: the
                // sender missed the refutation (it joined after, or pulled the suspicion from a
                // table). Its probe acked would not end its suspicion; the Alive does.
                let stale = matches!(update.status, Liveness::Suspect | Liveness::Down)
                    && update.generation == self.generation
                    && self
                        .fd
                        .as_ref()
                        .is_some_and(|fd| update.incarnation < fd.incarnation);
                if stale {
                    corrections.push(self.own_update(Liveness::Alive));
                }
                continue;
            }
            let Some(members) = &mut self.members else {
                return (refuted, corrections);
            };
            let was = members.status(update.id);
            match members.apply_update(update, now, &mut self.events) {
                Applied::Stale => {
                    if members.newer_than(update) {
                        corrections.extend(members.update_about(update.id));
                    }
                    // A Down this node holds refuted: it corrects the sender, but the member
                    // may have died since the refutation, and the sender (a node that removed
                    // it, telling its verdict) may be the last to speak of it. Its round-robin
                    // comes round to it only within a pass of the table: it checks it now.
                    if members.down_but_alive_here(update)
                        && let Some(fd) = &mut self.fd
                    {
                        fd.check_soon(update.id);
                    }
                }
                Applied::News {
                    new_member,
                    more_witnesses,
                } => {
                    let status = members.status(update.id);
                    // Something to say about it (update_about answers for every status but
                    // Removed), read without building the update: the queue builds it when sent.
                    let held = status.is_some_and(|s| s != MemberStatus::Removed);
                    // A Down about a member unknown here: old news everywhere else.
                    let hearsay = new_member && update.status == Liveness::Down;
                    if new_member {
                        self.learnt(update.id);
                    }
                    if status == Some(MemberStatus::Down) {
                        self.peer_down(now, update.id);
                    }
                    if let Some(fd) = &mut self.fd {
                        if status == Some(MemberStatus::Up) {
                            fd.clear_private(update.id);
                            // (A new generation coming Up is a restart, not a heal.)
                            if was == Some(MemberStatus::Down) && !new_member {
                                fd.came_back(update.id, now);
                            }
                        }
                        // Suspects learnt from a table, or from a Down about a member unknown
                        // here, are probed first: the probe carries the suspicion, and a live
                        // one refutes in its ack.
                        if (from_table || hearsay) && status == Some(MemberStatus::Suspect) {
                            fd.probe_soon(update.id);
                        }
                    }
                    // A table is anti-entropy: its sender had the news already, and so do
                    // most members. Gossiping it again would have every joiner (and every
                    // periodic pull) retransmit the whole table, a cost that grows with the
                    // churn times the table.
                    if held && !from_table && !hearsay {
                        self.queue_update(now, update.id, more_witnesses);
                    }
                }
            }
        }
        (refuted, corrections)
    }

    /// An update about this node: a suspicion or a Down of this incarnation is refuted with a
    /// higher one. Returns whether it refuted.
    fn about_me(&mut self, now: Instant, update: &MemberUpdate) -> bool {
        let Some(fd) = &mut self.fd else {
            return false;
        };
        if update.generation != self.generation || update.incarnation < fd.incarnation {
            return false;
        }
        match update.status {
            Liveness::Suspect | Liveness::Down => {
                fd.incarnation = update.incarnation.saturating_add(1);
                fd.health(1);
                self.stats.refutations_fd += 1;
                self.queue_update(now, self.id, false);
                true
            }
            Liveness::Alive => {
                fd.incarnation = update.incarnation;
                false
            }
            Liveness::Left => false,
        }
    }

    /// What this node says of itself: Left once it has left, else Alive.
    pub(super) fn own_liveness(&self) -> Liveness {
        match self.members.as_deref().and_then(|m| m.status(self.id)) {
            Some(MemberStatus::Left) => Liveness::Left,
            _ => Liveness::Alive,
        }
    }

    /// This node as an update saying `status`.
    pub(super) fn own_update(&self, status: Liveness) -> MemberUpdate {
        MemberUpdate {
            id: self.id,
            generation: self.generation,
            incarnation: self.fd.as_deref().map_or(0, |fd| fd.incarnation),
            status,
            witnesses: Vec::new(),
            addr: match status {
                Liveness::Alive => self
                    .members
                    .as_ref()
                    .and_then(|m| m.address(self.id))
                    .cloned(),
                _ => None,
            },
        }
    }

    /// A member just learnt of through membership news: a peer (without partial views) and a
    /// probe target within this pass.
    pub(super) fn learnt(&mut self, id: NodeId) {
        self.peer_heard_of(id);
        if let Some(fd) = &mut self.fd {
            fd.add_member(id, &mut self.rng);
        }
    }

    /// `id` went Down here: the partial view replaces it at once.
    pub(super) fn peer_down(&mut self, now: Instant, id: NodeId) {
        if let Some(fd) = &mut self.fd {
            fd.clear_private(id);
        }
        if self
            .view
            .as_deref()
            .is_some_and(|v| v.active().contains(&id))
        {
            self.peer_failed(now, id);
        }
    }

    /// Answers a `Sync`: the members with ids in the ranges `wanted` whose digest differs
    /// from this node's (all if none are named), in pages each vouching for a range, up to
    /// [`MAX_SYNC_MESSAGES`] pages; the ranges whose digests agree are vouched for together in
    /// one message without entries.
    ///
    /// Then, if `to` holds something else than this node in some ranges, this node pulls them
    /// back from it ([`Fd::may_pull_back`]), so that a pull teaches both sides, as memberlist's
    /// push-pull does: a member whose news died out short of some nodes (a mass join) reaches
    /// them through whoever pulls from them, not only through their own pulls, a push-pull
    /// interval apart. Only ranges where `to` holds something (a nonzero digest: a one-id ask
    /// holds nothing) are pulled back.
    fn answer_sync(&mut self, now: Instant, to: NodeId, wanted: &[DigestRange]) {
        let Some(members) = &self.members else {
            return;
        };
        let incarnation = self.fd.as_deref().map_or(0, |fd| fd.incarnation);
        let page = Probe::Table {
            ranges: vec![(NodeId(u64::MAX), NodeId(u64::MAX))],
        };
        let room = self.room(page, Vec::new());
        let whole = [(NodeId(0), NodeId(u64::MAX))];
        let mut same = Vec::new();
        let mut differ = Vec::new();
        let mut back = Vec::new();
        for &(lo, hi, digest) in wanted.iter().take(MAX_RANGES).filter(|r| r.0 <= r.1) {
            let own = members.table_digest(incarnation, lo, hi);
            if own == digest {
                same.push((lo, hi));
            } else {
                differ.push((lo, hi));
                if digest != 0 {
                    back.push((lo, hi, own));
                }
            }
        }
        let ranges = if wanted.is_empty() {
            &whole[..]
        } else {
            &differ[..]
        };
        let mut pages = Vec::new();
        'ranges: for &(lo, hi) in ranges {
            let mut entries = members.table(incarnation, lo, hi).into_iter().peekable();
            let mut from = lo;
            while pages.len() < MAX_SYNC_MESSAGES {
                let mut batch = Vec::new();
                let mut left = room;
                while let Some(update) = entries.next_if(|u| encoded_len(u) <= left) {
                    left -= encoded_len(&update);
                    batch.push(update);
                }
                let done = entries.peek().is_none();
                let through = match batch.last() {
                    Some(last) if !done => last.id,
                    _ if done => hi,
                    // An update larger than a page: nothing more can be sent.
                    _ => break 'ranges,
                };
                pages.push((vec![(from, through)], batch));
                if done {
                    continue 'ranges;
                }
                from = NodeId(through.0.saturating_add(1));
            }
            break;
        }
        // The agreeing ranges, as many to a message as fit.
        let bare = self.room(Probe::Table { ranges: Vec::new() }, Vec::new());
        let per = (bare / encoded_len(&(NodeId(u64::MAX), NodeId(u64::MAX)))).max(1);
        pages.extend(same.chunks(per).map(|ranges| (ranges.to_vec(), Vec::new())));
        for (ranges, updates) in pages {
            let probe = Probe::Table { ranges };
            self.send(to, Body::Probe(FdMessage { probe, updates }));
        }
        let pull_back =
            !back.is_empty() && (self.fd.as_mut()).is_some_and(|fd| fd.may_pull_back(to, now));
        if pull_back {
            // As a pull: the node's own entry goes with it.
            let me = self.own_update(Liveness::Alive);
            back.truncate(self.sync_parts(&me));
            self.send_fd(to, Probe::Sync { ranges: back }, vec![me]);
        }
    }

    /// Before an answer with `deltas` goes to `to`: the status of the origins in it that this
    /// node holds Suspect, Down or Left, so that a peer learning them does not take them for
    /// alive. The hints take one message: the groups of origins whose hint does not fit are
    /// taken out of the answer (a later one carries them), so that no data of such an origin
    /// goes out without its status.
    pub(super) fn send_hints(&mut self, to: NodeId, deltas: &mut Vec<OriginDelta>) {
        let (Some(members), Some(_)) = (&self.members, &self.fd) else {
            return;
        };
        let mut left = self.room(Probe::Gossip, Vec::new());
        let mut hints = Vec::new();
        deltas.retain(|group| {
            let Some(update) = members
                .update_about(group.origin)
                .filter(|u| u.status != Liveness::Alive)
            else {
                return true;
            };
            let size = encoded_len(&update);
            if size > left {
                return false;
            }
            left -= size;
            hints.push(update);
            true
        });
        if !hints.is_empty() {
            self.send(
                to,
                Body::Probe(FdMessage {
                    probe: Probe::Gossip,
                    updates: hints,
                }),
            );
        }
    }

    /// A message came from `from`: a Joining member is confirmed Up; an unknown one is asked
    /// for its own entry (a one-id table pull), at most once a probe interval. Rumors miss a
    /// few nodes at scale (each update reaches a given node with probability `1 − e^−λ`,
    /// λ ≈ 11 at 10 % loss: about a dozen of 600,000 (join, node) pairs), and the periodic pull
    /// that makes up for it comes only every few minutes; a new member soon writes to most
    /// nodes, and the one it writes to learns it then.
    pub(super) fn confirm(&mut self, now: Instant, from: NodeId) {
        let (Some(members), Some(_)) = (&mut self.members, &self.fd) else {
            return;
        };
        members.confirm(from, now, &mut self.events);
        if members.status(from).is_none() {
            self.ask_entry(now, from, from);
        }
    }

    /// Asks `to` for `id`'s member entry (a one-id table pull; nothing held here, so the digest
    /// of an empty range), at most once a probe interval per `id` (`Fd::ask_unknown`).
    fn ask_entry(&mut self, now: Instant, to: NodeId, id: NodeId) {
        if self.fd.as_mut().is_some_and(|fd| fd.ask_unknown(id, now)) {
            self.send_fd(
                to,
                Probe::Sync {
                    ranges: vec![(id, id, 0)],
                },
                Vec::new(),
            );
        }
    }

    /// Data of `id` came from `source`, and this node runs with addresses ([`Node::advertise`]:
    /// a runtime across machines) but holds none for `id`, a live member (one heard of only
    /// through data, most often): it can neither probe it nor gossip with it until a membership
    /// update brings one — a rumor, which misses a node now and then (a small cluster's few
    /// retransmissions, a partition's other side coming back as new generations), or the next
    /// table pull, a push-pull interval later. `source` most likely holds the member's entry,
    /// address included: it is asked for it (a one-id table pull, at most once a probe interval
    /// per id, whichever peer the data comes from).
    pub(super) fn ask_address(&mut self, now: Instant, id: NodeId, source: NodeId) {
        let Some(members) = self.members.as_deref() else {
            return;
        };
        // Cheapest and most often decisive first: in-process nodes announce no address, and a
        // networked node holds most members' addresses.
        if id == source
            || members.address(self.id).is_none()
            || self.address(id).is_some()
            || !members.reachable(id)
        {
            return;
        }
        self.ask_entry(now, source, id);
    }

    /// `to` named in a digest members this node removed: it still holds their data, and may
    /// hold them alive. When a node with partial views probed only its views' members (until
    /// session 32), one that missed the news of a death (cut off while it spread) held the dead
    /// member Up for good, and its data with it, once everyone else had removed it and fell
    /// silent about it; its own round-robin now comes round to the member, but only within a
    /// pass of its whole table (minutes in a large cluster). Tell
    /// it this node's verdict, Down without witnesses (each member at most once a probe
    /// interval): a node that holds the member alive suspects it, and, the suspicion short of
    /// a quorum when it runs out, probes it itself — relays' nacks make the quorum if it is
    /// dead, its answer ends the suspicion if not; a node that holds it Down already, or a
    /// newer incarnation, ignores it. Without views nothing is sent (session 20's rule, kept
    /// for views).
    pub(super) fn tell_removed_to(&mut self, now: Instant, to: NodeId, removed: Vec<NodeId>) {
        let (Some(members), Some(fd), Some(_)) = (&mut self.members, &self.fd, &self.view) else {
            return;
        };
        let every = fd.config.probe_interval;
        let verdicts: Vec<MemberUpdate> = (removed.into_iter())
            .filter_map(|id| members.removal_verdict(id, now, every))
            .collect();
        if !verdicts.is_empty() {
            self.send_fd(to, Probe::Gossip, verdicts);
        }
    }

    /// A message came from `from`, held Suspect or Down here: tell it (at most once a probe
    /// interval), so that it refutes if it is alive.
    pub(super) fn tell_down(&mut self, now: Instant, from: NodeId) {
        let (Some(members), Some(fd)) = (&mut self.members, &self.fd) else {
            return;
        };
        if members.tell_down(from, now, fd.config.probe_interval) {
            // `send_fd` puts what this node holds about `from` first.
            self.send_fd(from, Probe::Gossip, Vec::new());
        }
    }
}
