//! The SWIM failure detector's state, without I/O: the probe order and the probe in flight,
//! the pings relayed for others, private first failures, Lifeguard's local health score, this
//! node's incarnation and the queue of membership updates to piggyback. The node
//! (`node/detector.rs`) drives it from its timers and messages; the member table
//! ([`crate::membership`]) holds what it concludes.

mod coverage;
mod message;
mod probe;
mod queue;
mod suspicion;

pub use message::{FdMessage, Incarnation, Liveness, MAX_ADDRESS_LEN, MemberUpdate, Probe};
pub(crate) use probe::{Outcome, Pending, Relay};
pub(crate) use queue::UpdateQueue;
pub(crate) use suspicion::suspicion_timeout;

/// Unknown senders asked for their entry at once, at most (memory stays bounded whatever
/// arrives).
const MAX_ASKED: usize = 64;

/// Rungs of the ladder of table pulls ([`Fd::pull_started`]): 2, 4 and 8 probe intervals
/// apart. Two leave a 1,000-node mass join with views 96.5 s to complete, three 14.5 s, five
/// no sooner (`hearsay-actor/tests/mass_join.rs`, the harness with addresses).
const LADDER_RUNGS: u32 = 3;

/// Id ranges at most in one `Sync` (each about 20 bytes: a request stays within one datagram).
pub(crate) const MAX_RANGES: usize = 32;

use crate::rng::NodeRng;
use crate::{NodeId, SwimConfig};
use coverage::Coverage;
use rand::RngExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// One node's failure-detector state.
#[derive(Clone, Debug)]
pub(crate) struct Fd {
    pub(crate) config: SwimConfig,
    /// This node's incarnation in its current generation.
    pub(crate) incarnation: Incarnation,
    /// Updates to piggyback.
    pub(crate) queue: UpdateQueue,
    /// Lifeguard's local health multiplier, in `[0, awareness_max)`.
    awareness: u32,
    seq: u32,
    /// The probe in flight.
    pub(crate) pending: Option<Pending>,
    /// When the next probe starts.
    pub(crate) next_probe: Option<Instant>,
    /// When the next gossip message is due (while updates are queued).
    pub(crate) next_gossip: Option<Instant>,
    /// Until a page of the member table arrives: when to ask (again) for it.
    pub(crate) next_sync: Option<Instant>,
    /// When to pull a random member's table next (anti-entropy of the member table).
    pub(crate) next_push_pull: Option<Instant>,
    /// Whether the node announced itself and asked for the table (its first timeout ran).
    pub(crate) started: bool,
    /// The table being received: from whom, and the id ranges its pages covered.
    table: Option<(NodeId, Coverage)>,
    /// Whether one table arrived whole.
    has_table: bool,
    /// A member held Down that turned out alive, to pull the table from next (the other side
    /// of a healed partition), and when the last such pull was set.
    heal: Option<NodeId>,
    heal_at: Option<Instant>,
    /// The peer the last pull asked: the next one asks another.
    pub(crate) pulled_from: Option<NodeId>,
    /// The rungs of the ladder of pulls climbed since the node started ([`Fd::pull_started`]).
    rung: u32,
    /// When the last pull started, and when this node last pulled back from a peer that pulled
    /// from it ([`Fd::may_pull_back`]).
    pulled_at: Option<Instant>,
    pulled_back_at: Option<Instant>,
    /// Pings relayed for others, by this node's sequence number.
    pub(crate) relays: BTreeMap<u32, Relay>,
    /// Unknown senders asked for their entry, and when (at most [`MAX_ASKED`]).
    asked: BTreeMap<NodeId, Instant>,
    /// Members whose last cycles failed privately: failures so far and their witnesses.
    private: BTreeMap<NodeId, (u8, Vec<NodeId>)>,
    /// Members to probe before the round-robin while they are unconfirmed (Suspect): suspects
    /// learnt from a table (the probe carries the suspicion, and a live one refutes in its ack).
    urgent: BTreeSet<NodeId>,
    /// Members to probe once before the round-robin whatever their status: members held alive
    /// here that a peer holds Down at an older incarnation ([`Fd::check_soon`]).
    checks: BTreeSet<NodeId>,
    /// Whether the last probe's target was a check: the next takes the round-robin's turn, so
    /// that checks, however many arrive, take at most every other probe.
    checked_last: bool,
    /// The probe order (shuffled round-robin) and the position in it.
    order: Vec<NodeId>,
    cursor: usize,
}

impl Fd {
    pub(crate) fn new(config: SwimConfig) -> Fd {
        Fd {
            config,
            incarnation: 0,
            queue: UpdateQueue::default(),
            awareness: 0,
            seq: 0,
            pending: None,
            next_probe: None,
            next_gossip: None,
            next_sync: None,
            next_push_pull: None,
            started: false,
            table: None,
            has_table: false,
            heal: None,
            heal_at: None,
            pulled_from: None,
            rung: 0,
            pulled_at: None,
            pulled_back_at: None,
            relays: BTreeMap::new(),
            asked: BTreeMap::new(),
            private: BTreeMap::new(),
            urgent: BTreeSet::new(),
            checks: BTreeSet::new(),
            checked_last: false,
            order: Vec::new(),
            cursor: 0,
        }
    }

    /// Forgets everything but the configuration (a restart as a new generation).
    pub(crate) fn reset(&mut self) {
        *self = Fd::new(self.config.clone());
    }

    /// A fresh sequence number.
    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// The local health multiplier (0: healthy).
    pub(crate) fn awareness(&self) -> u32 {
        self.awareness
    }

    /// Adds `delta` to the local health score, within `[0, awareness_max)`.
    pub(crate) fn health(&mut self, delta: i64) {
        let max = i64::from(self.config.awareness_max.get()) - 1;
        self.awareness = (i64::from(self.awareness) + delta).clamp(0, max) as u32;
    }

    /// `base` scaled by the local health (`base · (score + 1)`).
    pub(crate) fn scaled(&self, base: Duration) -> Duration {
        base * (self.awareness + 1)
    }

    /// The earliest instant something is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let pending = self.pending.iter().flat_map(|p| {
            let timeout = (!p.indirect).then_some(p.timeout_at);
            timeout.into_iter().chain([p.end])
        });
        let relays = self
            .relays
            .values()
            .flat_map(|r| r.nack_at.into_iter().chain([r.expires]));
        let gossip = self.next_gossip.filter(|_| !self.queue.is_empty());
        pending
            .chain(relays)
            .chain(self.next_probe)
            .chain(gossip)
            .chain(self.next_sync)
            .chain(self.next_push_pull)
            .min()
    }

    /// A member to probe next: one that failed privately first, then an unconfirmed urgent one,
    /// then one to check — unless the last probe was a check, whose turn goes to the
    /// round-robin: checks come from other nodes' words and the views' silence, as many as they
    /// say, and must not starve the round-robin (session 31) — then the next of the shuffled
    /// round-robin that `probeable` accepts; the order is rebuilt from `members` (the whole
    /// table, shuffled) when it runs out.
    pub(crate) fn next_target(
        &mut self,
        rng: &mut NodeRng,
        probeable: impl Fn(NodeId) -> bool,
        unconfirmed: impl Fn(NodeId) -> bool,
        members: impl FnOnce() -> Vec<NodeId>,
    ) -> Option<NodeId> {
        self.private.retain(|&id, _| probeable(id));
        if let Some(&id) = self.private.keys().next() {
            return Some(id);
        }
        while let Some(id) = self.urgent.pop_first() {
            if probeable(id) && unconfirmed(id) {
                return Some(id);
            }
        }
        if !self.checked_last
            && let Some(id) = self.next_check(&probeable)
        {
            return Some(id);
        }
        self.checked_last = false;
        let mut members = Some(members);
        for _ in 0..2 {
            while let Some(&id) = self.order.get(self.cursor) {
                self.cursor += 1;
                if probeable(id) {
                    return Some(id);
                }
            }
            let Some(members) = members.take() else {
                break;
            };
            self.order = members();
            shuffle(&mut self.order, rng);
            self.cursor = 0;
        }
        // Nobody in the table to probe: nor is any check (each names a member of the table).
        None
    }

    /// The next member to check that is still `probeable`, noting that a check took the turn.
    fn next_check(&mut self, probeable: impl Fn(NodeId) -> bool) -> Option<NodeId> {
        let id = std::iter::from_fn(|| self.checks.pop_first()).find(|&id| probeable(id))?;
        self.checked_last = true;
        Some(id)
    }

    /// A member just learnt of: probed within this pass of the order, at a random place after
    /// the cursor (memberlist's `aliveNode`).
    pub(crate) fn add_member(&mut self, id: NodeId, rng: &mut NodeRng) {
        if self.order.is_empty() {
            return;
        }
        let at = rng.random_range(self.cursor..=self.order.len());
        self.order.insert(at, id);
    }

    /// Concludes the cycle of `pending`: an ack, or a failure kept private, or a suspicion.
    pub(crate) fn conclude(&mut self, pending: Pending, acked: bool, me: NodeId) -> Outcome {
        if acked {
            self.health(-1);
            self.private.remove(&pending.target);
            return Outcome::Alive;
        }
        // Lifeguard: nacks that should have come and did not say this node's own links may be
        // at fault. Lifeguard counts each missing nack; with 10 % loss on every datagram a
        // relay's nack is missing 19 % of the time however healthy the prober, and a node whose
        // probes often fail (a joiner probing the dead it heard of through data) drifted to
        // the maximum score (286 of 1,000 nodes after 160 s of churn). A cycle in which every
        // relay stayed silent is the evidence counted here (1 in 150 at 10 % loss with three
        // relays). Without relays (a tiny cluster) there is no such evidence.
        if !pending.relays.is_empty() && pending.nacks.is_empty() {
            self.health(1);
        }
        let (failures, mut witnesses) = self.private.remove(&pending.target).unwrap_or_default();
        for id in std::iter::once(me).chain(pending.nacks) {
            if !witnesses.contains(&id) {
                witnesses.push(id);
            }
        }
        if failures < self.config.private_failures {
            self.private
                .insert(pending.target, (failures + 1, witnesses));
            Outcome::Private
        } else {
            Outcome::Suspect(witnesses)
        }
    }

    /// A page of the member table arrived from `from`, vouching for its members with ids in
    /// `ranges`: once the pages of one peer cover every id, the node stops asking.
    ///
    /// Pages from the peer already answering add up across its answers (ranges stay meaningful
    /// when its table changes in between): at 10 % loss an answer of 75 pages arrives whole once
    /// in 2,600 tries, and asking again for all of it would never end.
    ///
    /// Returns whether this page completed the node's first table.
    pub(crate) fn table_page(&mut self, from: NodeId, ranges: &[(NodeId, NodeId)]) -> bool {
        if self.next_sync.is_none() {
            return false;
        }
        if self.table.as_ref().is_none_or(|(who, _)| *who != from) {
            self.table = Some((from, Coverage::default()));
        }
        if let Some((_, covered)) = &mut self.table {
            for &(lo, hi) in ranges {
                covered.add(lo, hi);
            }
        }
        if self
            .table
            .as_ref()
            .is_some_and(|(_, covered)| covered.is_complete())
        {
            self.next_sync = None;
            self.table = None;
            return !std::mem::replace(&mut self.has_table, true);
        }
        false
    }

    /// A pull of a member's table starts at `now`, its successor set a push-pull interval
    /// later. A node that starts climbs a ladder of pulls first: the next comes 2, 4 then 8
    /// probe intervals after the one before (at most a push-pull interval), whatever they
    /// bring. In a mass join every node's first tables come
    /// from nodes that know little yet, and the news of the others goes out while every node
    /// still knows few members and sizes its retransmissions by them, so some of it dies out
    /// short of a few nodes, which only a later pull reaches.
    pub(crate) fn pull_started(&mut self, now: Instant) {
        self.pulled_at = Some(now);
        if self.rung < LADDER_RUNGS {
            let gap = self.config.probe_interval * (2 << self.rung);
            self.rung += 1;
            if self.next_push_pull.is_none_or(|next| now + gap < next) {
                self.next_push_pull = Some(now + gap);
            }
        }
    }

    /// Whether to pull back now from `from`, which pulled this node's table and holds something
    /// else in some ranges: not if this node pulled from `from` itself within four probe
    /// intervals (the pull back of a pull back), and at most once a probe interval.
    pub(crate) fn may_pull_back(&mut self, from: NodeId, now: Instant) -> bool {
        let every = self.config.probe_interval;
        let pulled =
            self.pulled_from == Some(from) && self.pulled_at.is_some_and(|at| now < at + every * 4);
        if pulled || self.pulled_back_at.is_some_and(|at| now < at + every) {
            return false;
        }
        self.pulled_back_at = Some(now);
        true
    }

    /// The table being received, if a part of it arrived: the peer answering and the id
    /// ranges still missing (at most [`MAX_RANGES`]).
    pub(crate) fn missing_ranges(&self) -> Option<(NodeId, Vec<(NodeId, NodeId)>)> {
        let (from, covered) = self.table.as_ref()?;
        Some((*from, covered.missing(MAX_RANGES)))
    }

    /// Whether to ask the unknown sender `id` for its entry now: not if it was asked within a
    /// probe interval, nor while [`MAX_ASKED`] others are being asked.
    pub(crate) fn ask_unknown(&mut self, id: NodeId, now: Instant) -> bool {
        let every = self.config.probe_interval;
        self.asked.retain(|_, at| now < *at + every);
        if self.asked.contains_key(&id) || self.asked.len() >= MAX_ASKED {
            return false;
        }
        self.asked.insert(id, now);
        true
    }

    /// `id`, held Down, refuted: most likely a partition healed, and `id` was on the other
    /// side, where members, Downs and refutations went that this node missed. The table is
    /// pulled from it now (at most once every ten probe intervals).
    pub(crate) fn came_back(&mut self, id: NodeId, now: Instant) {
        let every = self.config.probe_interval * 10;
        if self.heal_at.is_some_and(|at| now < at + every) {
            return;
        }
        self.heal = Some(id);
        self.heal_at = Some(now);
        self.next_push_pull = Some(now);
    }

    /// The member to pull the table from next, if one came back (see [`Fd::came_back`]).
    pub(crate) fn take_heal(&mut self) -> Option<NodeId> {
        self.heal.take()
    }

    /// Forgets a partly received table (its sender is no longer Up).
    pub(crate) fn drop_table(&mut self) {
        self.table = None;
    }

    /// Probes `id` before the round-robin while it is unconfirmed.
    pub(crate) fn probe_soon(&mut self, id: NodeId) {
        self.urgent.insert(id);
    }

    /// Probes `id` once before the round-robin, even if it is held Up: a peer holds it Down at
    /// an incarnation this node has seen refuted, and may be the last to speak of it.
    pub(crate) fn check_soon(&mut self, id: NodeId) {
        self.checks.insert(id);
    }

    /// Forgets a private failure (the member refuted, left, or is no longer probed).
    pub(crate) fn clear_private(&mut self, id: NodeId) {
        self.private.remove(&id);
    }
}

/// Fisher–Yates with the node's RNG.
fn shuffle(items: &mut [NodeId], rng: &mut NodeRng) {
    for i in (1..items.len()).rev() {
        let j = rng.random_range(0..=i);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(fd: &mut Fd, target: u64, nacks: &[u64]) -> Outcome {
        let now = Instant::now();
        let mut pending = Pending {
            seq: fd.next_seq(),
            target: NodeId(target),
            timeout_at: now,
            end: now,
            indirect: true,
            relays: vec![NodeId(10), NodeId(11), NodeId(12)],
            nacks: Vec::new(),
        };
        for &n in nacks {
            pending.nack(NodeId(n));
        }
        fd.conclude(pending, false, NodeId(0))
    }

    /// Checks take at most every other probe while the round-robin has members to probe: a flood
    /// of them (the views dropping many silent peers under heavy loss) delays the round-robin's
    /// pass by half, never stops it.
    #[test]
    fn checks_take_at_most_every_other_probe() {
        use rand::SeedableRng;
        let mut fd = Fd::new(SwimConfig::lan());
        let mut rng = NodeRng::seed_from_u64(7);
        let members = || (1..=10).map(NodeId).collect::<Vec<_>>();
        for id in 100..200 {
            fd.check_soon(NodeId(id));
        }
        let targets: Vec<NodeId> = (0..20)
            .map(|_| fd.next_target(&mut rng, |_| true, |_| false, members))
            .map(|target| target.expect("a target"))
            .collect();
        let checked = |id: &NodeId| id.0 >= 100;
        for pair in targets.chunks(2) {
            assert_eq!(
                pair.iter().filter(|id| checked(id)).count(),
                1,
                "{targets:?}"
            );
        }
        // The round-robin went through all ten members in its turns.
        let mut turns: Vec<_> = targets.iter().filter(|id| !checked(id)).copied().collect();
        turns.sort();
        assert_eq!(turns, members());
    }

    /// A failed cycle counts against the prober's health only when every relay stayed silent:
    /// nacks lost one by one (10 % loss) are no sign of the prober's own trouble.
    #[test]
    fn health_counts_cycles_with_every_relay_silent() {
        let mut fd = Fd::new(SwimConfig::lan());
        for target in 100..120 {
            failed(&mut fd, target, &[10, 11]);
        }
        assert_eq!(fd.awareness(), 0, "two nacks of three, twenty times");
        failed(&mut fd, 200, &[]);
        failed(&mut fd, 201, &[]);
        assert_eq!(fd.awareness(), 2);
        let now = Instant::now();
        let acked = Pending {
            seq: fd.next_seq(),
            target: NodeId(300),
            timeout_at: now,
            end: now,
            indirect: false,
            relays: Vec::new(),
            nacks: Vec::new(),
        };
        assert_eq!(fd.conclude(acked, true, NodeId(0)), Outcome::Alive);
        assert_eq!(fd.awareness(), 1);
    }

    /// A table's pages add up across answers of the same peer, the ranges still missing are
    /// known, and the first complete table is reported once.
    #[test]
    fn table_ranges_add_up_and_the_missing_ones_are_known() {
        let mut fd = Fd::new(SwimConfig::lan());
        fd.next_sync = Some(Instant::now());
        assert!(!fd.table_page(NodeId(1), &[(NodeId(0), NodeId(99))]));
        assert!(!fd.table_page(NodeId(1), &[(NodeId(200), NodeId(299))]));
        assert_eq!(
            fd.missing_ranges(),
            Some((
                NodeId(1),
                vec![(NodeId(100), NodeId(199)), (NodeId(300), NodeId(u64::MAX))]
            ))
        );
        // Another peer's page starts over.
        assert!(!fd.table_page(NodeId(2), &[(NodeId(0), NodeId(10))]));
        assert_eq!(
            fd.missing_ranges(),
            Some((NodeId(2), vec![(NodeId(11), NodeId(u64::MAX))]))
        );
        assert!(
            fd.table_page(NodeId(2), &[(NodeId(11), NodeId(u64::MAX))]),
            "the first whole table"
        );
        assert_eq!(fd.missing_ranges(), None);
        fd.next_sync = Some(Instant::now());
        assert!(
            !fd.table_page(NodeId(3), &[(NodeId(0), NodeId(u64::MAX))]),
            "whole again, but not the first"
        );
    }
}
