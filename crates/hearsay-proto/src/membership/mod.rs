//! Membership and failure detection: a table of the members a node knows, each with a status
//! set by the failure detector, graceful leaves and restarts, and the removal of dead members
//! without resurrection.
//!
//! Two detectors fill it ([`Detector`]):
//!
//! - **SWIM** (the default, [`SwimConfig`]): members are probed directly and through relays
//!   (`crate::fd`); a member that fails its probes is **Suspect**, gossiped with its witnesses,
//!   and **Down** once its suspicion times out unrefuted with a quorum of witnesses (with
//!   fewer, where fewer members are left to witness, *unconfirmed*: removed only once the
//!   quorum confirms it). A suspect
//!   refutes by raising its *incarnation* ([`Member::incarnation`]), which brings it back **Up**
//!   everywhere; Down is recoverable the same way. A member heard of only through data is
//!   **Joining** until it is confirmed: a membership update says it is alive, or a message
//!   comes from it.
//! - **Heartbeat** ([`HeartbeatConfig`]): phi accrual over heartbeats gossiped in digests.
//!
//! Statuses and transitions under Heartbeat (per member `id`, for its current generation):
//!
//! ```text
//!            heartbeat progress             phi >= suspect_phi       phi >= threshold
//!  Joining ─────────────────────► Up ─────────────────────► Suspect ─────────────────► Down
//!     │ ▲                         ▲ ▲   heartbeat progress     │                        │
//!     │ │                         │ └──────────────────────────┘                        │
//!     │ │                         └───────────── heartbeat progress ────────────────────┤
//!     │ └── newer generation (any status, Removed included)                             │
//!     │                                                                                 │
//!     └─(status key "left" gossiped, any live status)──► Left ──(removal_after)──► Removed ◄─┘
//!                                                                           (removal_after in Down)
//! ```
//!
//! Under SWIM, replace "heartbeat progress" by "an Alive at a higher incarnation" (or, from
//! Joining, any message from the member), and phi by failed probes and the suspicion timeout.
//!
//! - **Joining**: known (its origin appeared in a digest or a group) but not confirmed yet: no
//!   heartbeat progress seen for this generation (Heartbeat), no membership update or message
//!   from it (SWIM). Joining members are picked as peers, and probed.
//! - **Up**: alive as far as this node knows.
//! - **Suspect**: its probes failed (SWIM), or phi reached [`HeartbeatConfig::suspect_phi`].
//!   Still picked as a peer.
//! - **Down**: deemed dead. **Recoverable** (as in Cassandra, not Akka): a refutation (SWIM) or
//!   heartbeat progress of the same generation brings it back Up. What must never come back,
//!   the state of a dead incarnation, is handled by removal.
//! - **Left**: the member announced a graceful leave ([`crate::Node::leave`]); final for that
//!   generation.
//! - **Removed**: Down or Left for [`MembershipConfig::removal_after`]: its state is dropped
//!   from the store and `(id, generation)` is remembered for [`MembershipConfig::removed_ttl`].
//!   Until then, gossip about that generation or an older one is ignored (no resurrection); a
//!   newer generation is a legitimate restart and is accepted. Under SWIM only a Down confirmed
//!   by [`SwimConfig::down_quorum`] witnesses removes: a node left with fewer members to witness
//!   (a lone survivor, a node cut off alone) downs its suspects *unconfirmed*, and keeps them.
//!
//! Down, Left and Removed members are not picked as gossip targets; as in Cassandra, a round
//! additionally probes one random Down peer with probability `down / (reachable + 1)`, so that a
//! healed partition is noticed — Removed ones counted with the Down, and told that they were
//! removed (a partition that outlasted the removal, each side having removed the other, would
//! otherwise never heal: nobody contacts a removed member, and only a message from it made it
//! hear of its removal).

mod config;
mod swim;
mod table;
mod witnesses;

pub use config::{
    Detector, HeartbeatConfig, MAX_MEMBERSHIP_WAIT, MAX_SUSPICION_MULT, MembershipConfig,
    SwimConfig,
};
pub(crate) use swim::Applied;
pub(crate) use table::DigestRange;

use crate::fd::Incarnation;
use crate::{Error, Event, Generation, NodeId, PhiDetector};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;
use witnesses::Witnesses;

pub use crate::reserved::{ADDR_KEY, GC_KEY, LEFT, RESERVED_PREFIX, STATUS_KEY, is_reserved};

pub use crate::member_status::MemberStatus;

/// Ticks between two recounts of the members alive under SWIM (the count scales timeouts and
/// retransmissions; it need not be exact).
const RECOUNT_EVERY: u64 = 10;

/// One member as a node sees it ([`crate::Node::members`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Member {
    /// The member.
    pub id: NodeId,
    /// Its generation as known here.
    pub generation: Generation,
    /// Its incarnation within the generation (SWIM; 0 under Heartbeat).
    pub incarnation: Incarnation,
    /// Its status.
    pub status: MemberStatus,
    /// The highest heartbeat seen for this generation (Heartbeat; 0 under SWIM).
    pub heartbeat: u64,
    /// When heartbeat progress was last seen (Heartbeat; `None`: never, this node, or SWIM).
    pub last_heartbeat: Option<Instant>,
    /// SWIM: Down on fewer witnesses than [`SwimConfig::down_quorum`] (this node was left with
    /// fewer members to witness): not removed, and still probed, until a quorum confirms it.
    pub unconfirmed: bool,
    /// Where its runtime is reached, as the member last announced it (`hearsay-net`'s
    /// advertised `host:port`; [`crate::Node::advertise`]) — in SWIM's updates, or with the
    /// heartbeat detector in its address entry: `None` in one process, or until heard.
    pub address: Option<Arc<str>>,
}

/// What a node tracks of one member. Kept small (64 bytes): a simulated cluster of 10,000
/// nodes holds 10⁸ of them, so what only some members need is boxed or kept beside the table.
#[derive(Clone, Debug)]
struct Tracked {
    generation: Generation,
    /// When the status last changed (`None` for the node itself).
    since: Option<Instant>,
    /// Where the member's runtime is reached, as its updates announced it (SWIM).
    addr: Option<Arc<str>>,
    /// Heartbeat only: the highest heartbeat seen and the phi detector fed by its progress.
    beat: Option<Box<Beat>>,
    /// SWIM, while Suspect or Down: who found it silent.
    witnesses: Witnesses,
    /// SWIM: the incarnation the status is about.
    incarnation: Incarnation,
    status: MemberStatus,
    /// SWIM: suspected because of a Down received while this node did not know the member;
    /// the cluster holds it Down already, so its own Down is not gossiped again.
    hearsay: bool,
    /// SWIM, while Down: on fewer witnesses than [`SwimConfig::down_quorum`] — fewer members
    /// were left here to witness (a lone survivor, a node cut off alone, a two-node cluster).
    /// Such a verdict is not acted on beyond the status: the member stays probed, and is not
    /// removed (its state stays, and it is not told it was removed) until witnesses — its
    /// probes' relays, others' Downs and suspicions — make the quorum, or a peer's removal
    /// verdict comes.
    unconfirmed: bool,
}

/// A member's heartbeats under the Heartbeat detector.
#[derive(Clone, Debug)]
struct Beat {
    /// The highest heartbeat seen for the member's generation.
    heartbeat: u64,
    detector: PhiDetector,
}

/// The member table of one node.
#[derive(Clone, Debug)]
pub(crate) struct Membership {
    config: MembershipConfig,
    me: NodeId,
    members: BTreeMap<NodeId, Tracked>,
    /// A detector that has seen nothing, cloned for every new member (Heartbeat only).
    template: Option<Box<PhiDetector>>,
    /// SWIM: when a member held Down was last told so (to refute), by member.
    told: BTreeMap<NodeId, Instant>,
    /// Members neither Down, Left nor Removed, this node included, as of the last tick.
    alive: usize,
    /// Members not Removed, this node included: as of the last recount, plus those added
    /// since (a joiner's first table adds a thousand members between two recounts).
    known: usize,
    /// SWIM: members that were made Suspect (some may no longer be), for the suspicion timers.
    suspects: BTreeSet<NodeId>,
    /// SWIM: suspects whose time ran out short of the quorum, with when they were last handed
    /// back to be probed (once per shortest suspicion: [`Membership::expire_suspicions`]).
    handed_back: BTreeMap<NodeId, Instant>,
    /// SWIM: members made Down or Left, with when they are due for removal, in that order
    /// (some may have come back since): the tick visits only those due, not the whole table.
    removals: VecDeque<(Instant, NodeId)>,
    /// SWIM: members Removed, with when they are due to be forgotten, in that order.
    forgets: VecDeque<(Instant, NodeId)>,
    /// Ticks run (SWIM recounts the members alive every [`RECOUNT_EVERY`] ticks).
    ticks: u64,
    /// When this node may next contact a member remembered as Removed
    /// ([`MembershipConfig::reconnect_interval`]).
    next_reconnect: Option<Instant>,
    /// Members forgotten since the node last asked ([`Membership::take_forgotten`]).
    forgotten: Vec<NodeId>,
}

impl Membership {
    /// A table that knows only the node itself, Up.
    pub(crate) fn new(
        config: MembershipConfig,
        me: NodeId,
        generation: Generation,
    ) -> Result<Membership, Error> {
        config.validate()?;
        let template = match &config.detector {
            Detector::Heartbeat(heartbeat) => {
                Some(Box::new(PhiDetector::new(heartbeat.phi.clone())?))
            }
            Detector::Swim(_) => None,
        };
        let mut table = Membership {
            config,
            me,
            members: BTreeMap::new(),
            template,
            told: BTreeMap::new(),
            alive: 1,
            known: 1,
            suspects: BTreeSet::new(),
            handed_back: BTreeMap::new(),
            removals: VecDeque::new(),
            forgets: VecDeque::new(),
            ticks: 0,
            next_reconnect: None,
            forgotten: Vec::new(),
        };
        let mut me_tracked = table.fresh(generation, None);
        me_tracked.status = MemberStatus::Up;
        table.members.insert(me, me_tracked);
        Ok(table)
    }

    /// Puts a new member (or a new generation of one) into the table, counted at once.
    fn insert(&mut self, id: NodeId, tracked: Tracked) {
        let reachable = tracked.status.is_reachable();
        self.told.remove(&id);
        let was = self.members.insert(id, tracked).map(|t| t.status);
        if matches!(was, None | Some(MemberStatus::Removed)) {
            self.known += 1;
            self.alive += usize::from(reachable);
        }
    }

    pub(crate) fn config(&self) -> &MembershipConfig {
        &self.config
    }

    /// A member first heard of at `generation`: Joining.
    fn fresh(&self, generation: Generation, now: Option<Instant>) -> Tracked {
        Tracked {
            generation,
            since: now,
            addr: None,
            beat: self.template.as_ref().map(|detector| {
                Box::new(Beat {
                    heartbeat: 0,
                    detector: PhiDetector::clone(detector),
                })
            }),
            witnesses: Witnesses::default(),
            incarnation: 0,
            status: MemberStatus::Joining,
            hearsay: false,
            unconfirmed: false,
        }
    }

    /// Where `id`'s runtime is reached, as its updates announced it.
    pub(crate) fn address(&self, id: NodeId) -> Option<&Arc<str>> {
        self.members.get(&id).and_then(|t| t.addr.as_ref())
    }

    /// Records where this node's own runtime is reached: its updates and tables carry it.
    pub(crate) fn set_own_address(&mut self, addr: Arc<str>) {
        if let Some(t) = self.members.get_mut(&self.me) {
            t.addr = Some(addr);
        }
    }

    /// Takes note that the store knows `(id, generation)` at `heartbeat` (a digest or a group
    /// named it). A new member or generation becomes Joining; under Heartbeat,
    /// progress feeds the detector and brings Joining, Suspect and Down members Up. Returns
    /// whether the member or its generation is new.
    pub(crate) fn heartbeat(
        &mut self,
        id: NodeId,
        generation: Generation,
        heartbeat: u64,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) -> bool {
        if id == self.me {
            return false;
        }
        let known = self.members.get(&id).map(|t| (t.generation, t.status));
        match known {
            Some((held, _)) if generation < held => return false,
            Some((held, MemberStatus::Removed)) if generation == held => return false,
            Some((held, _)) if generation == held => {}
            _ => {
                let mut tracked = self.fresh(generation, Some(now));
                if let Some(beat) = &mut tracked.beat {
                    beat.heartbeat = heartbeat;
                    beat.detector.heartbeat(now);
                }
                let status = tracked.status;
                self.insert(id, tracked);
                events.push_back(Event::Member {
                    id,
                    generation,
                    status,
                });
                return true;
            }
        }
        let Some(tracked) = self.members.get_mut(&id) else {
            return false;
        };
        let Some(beat) = &mut tracked.beat else {
            return false;
        };
        if heartbeat <= beat.heartbeat {
            return false;
        }
        beat.heartbeat = heartbeat;
        beat.detector.heartbeat(now);
        if matches!(
            tracked.status,
            MemberStatus::Joining | MemberStatus::Suspect | MemberStatus::Down
        ) {
            tracked.status = MemberStatus::Up;
            tracked.since = Some(now);
            events.push_back(Event::Member {
                id,
                generation,
                status: MemberStatus::Up,
            });
        }
        false
    }

    /// `(id, generation)` announced a graceful leave. Returns whether that is news.
    pub(crate) fn left(
        &mut self,
        id: NodeId,
        generation: Generation,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) -> bool {
        if id == self.me {
            return false;
        }
        let newer = self
            .members
            .get(&id)
            .is_none_or(|t| t.generation < generation);
        if newer {
            let tracked = self.fresh(generation, Some(now));
            let status = tracked.status;
            self.insert(id, tracked);
            events.push_back(Event::Member {
                id,
                generation,
                status,
            });
        }
        let Some(tracked) = self.members.get_mut(&id) else {
            return false;
        };
        if tracked.generation == generation
            && !matches!(tracked.status, MemberStatus::Left | MemberStatus::Removed)
        {
            tracked.status = MemberStatus::Left;
            tracked.unconfirmed = false;
            tracked.since = Some(now);
            events.push_back(Event::Member {
                id,
                generation,
                status: MemberStatus::Left,
            });
            self.removals
                .push_back((now + self.config.removal_after, id));
            return true;
        }
        false
    }

    /// This node leaves.
    pub(crate) fn leave_self(&mut self, events: &mut VecDeque<Event>) {
        if let Some(me) = self.members.get_mut(&self.me)
            && me.status != MemberStatus::Left
        {
            me.status = MemberStatus::Left;
            events.push_back(Event::Member {
                id: self.me,
                generation: me.generation,
                status: MemberStatus::Left,
            });
        }
    }

    /// This node restarted as `generation`: it is Up again.
    pub(crate) fn restart_self(&mut self, generation: Generation, events: &mut VecDeque<Event>) {
        if let Some(me) = self.members.get_mut(&self.me) {
            me.generation = generation;
            me.status = MemberStatus::Up;
            if let Some(beat) = &mut me.beat {
                beat.heartbeat = 0;
            }
            me.incarnation = 0;
            events.push_back(Event::Member {
                id: self.me,
                generation,
                status: MemberStatus::Up,
            });
        }
    }

    /// Whether gossip about `(id, generation)` must be ignored: that generation, or a newer one,
    /// was removed.
    pub(crate) fn is_removed(&self, id: NodeId, generation: Generation) -> bool {
        self.members
            .get(&id)
            .is_some_and(|t| t.status == MemberStatus::Removed && generation <= t.generation)
    }

    /// The generation `id` was removed at, while it is remembered as Removed.
    pub(crate) fn removed_generation(&self, id: NodeId) -> Option<Generation> {
        self.members
            .get(&id)
            .filter(|t| t.status == MemberStatus::Removed)
            .map(|t| t.generation)
    }

    /// The members forgotten ([`MembershipConfig::removed_ttl`] after their removal) since the
    /// last call.
    pub(crate) fn take_forgotten(&mut self) -> Vec<NodeId> {
        std::mem::take(&mut self.forgotten)
    }

    /// Whether this node may contact a member remembered as Removed at `now`: at most one per
    /// [`MembershipConfig::reconnect_interval`] (see [`Membership::reconnected`]).
    pub(crate) fn reconnect_due(&self, now: Instant) -> bool {
        self.next_reconnect.is_none_or(|at| now >= at)
    }

    /// This node contacted a removed member at `now`: the next one waits an interval.
    pub(crate) fn reconnected(&mut self, now: Instant) {
        self.next_reconnect = Some(now + self.config.reconnect_interval);
    }

    /// Whether `id` may be picked as a gossip target (unknown ids, seeds, may).
    pub(crate) fn reachable(&self, id: NodeId) -> bool {
        self.members
            .get(&id)
            .is_none_or(|t| t.status.is_reachable())
    }

    /// A member other than `me` held reachable (Joining, Up or Suspect), uniformly at random;
    /// `None` if there is none. When this node announces an address (a networked node), only
    /// members whose address is known: a member heard of through data alone cannot be reached
    /// yet. Walks the table: for occasional use.
    pub(crate) fn random_reachable<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        me: NodeId,
    ) -> Option<NodeId> {
        self.random_where(rng, me, |_, status| status.is_reachable())
    }

    /// A member other than `me` that `accept`s (given its id and status), uniformly at random,
    /// with the address rule of [`Membership::random_reachable`]. Walks the table.
    pub(crate) fn random_where<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        me: NodeId,
        accept: impl Fn(NodeId, MemberStatus) -> bool,
    ) -> Option<NodeId> {
        let addressed = self.address(me).is_some();
        self.random_of(rng, me, |id, t| {
            accept(id, t.status) && (!addressed || t.addr.is_some())
        })
    }

    /// A member other than `me` remembered as Removed, uniformly at random, whether or not its
    /// address is known here (a runtime keeps a removed member's last address: Serf's
    /// reconnect). Walks the table: once per reconnect interval.
    pub(crate) fn random_removed<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        me: NodeId,
    ) -> Option<NodeId> {
        self.random_of(rng, me, |_, t| t.status == MemberStatus::Removed)
    }

    /// A member other than `me` that `accept`s, uniformly at random. Walks the table twice.
    fn random_of<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        me: NodeId,
        accept: impl Fn(NodeId, &Tracked) -> bool,
    ) -> Option<NodeId> {
        let candidates = || {
            self.members
                .iter()
                .filter(|&(&id, t)| id != me && accept(id, t))
                .map(|(&id, _)| id)
        };
        let count = candidates().count();
        if count == 0 {
            return None;
        }
        candidates().nth(rng.random_range(0..count))
    }

    /// Re-evaluates every member at `now`: Suspect and Down from phi (Heartbeat), Removed after
    /// `removal_after` in Down (confirmed, under SWIM) or Left, forgotten after `removed_ttl`.
    /// Returns the members just removed, whose state the caller drops.
    pub(crate) fn tick(&mut self, now: Instant, events: &mut VecDeque<Event>) -> Vec<NodeId> {
        if self.template.is_none() {
            return self.tick_settled(now, events);
        }
        let mut removed = Vec::new();
        let mut forget = Vec::new();
        let thresholds = match &self.config.detector {
            Detector::Heartbeat(h) => Some((h.suspect_phi, h.phi.threshold)),
            Detector::Swim(_) => None,
        };
        let (mut alive, mut tombstones) = (0, 0);
        for (&id, tracked) in self.members.iter_mut() {
            if id == self.me {
                alive += 1;
                continue;
            }
            let since = tracked.since.unwrap_or(now);
            let elapsed = now.saturating_duration_since(since);
            let generation = tracked.generation;
            let mut to = |tracked: &mut Tracked, status| {
                tracked.status = status;
                tracked.since = Some(now);
                events.push_back(Event::Member {
                    id,
                    generation,
                    status,
                });
            };
            match tracked.status {
                MemberStatus::Removed => {
                    if elapsed >= self.config.removed_ttl {
                        forget.push(id);
                    } else {
                        tombstones += 1;
                    }
                }
                MemberStatus::Down | MemberStatus::Left => {
                    if elapsed >= self.config.removal_after {
                        to(tracked, MemberStatus::Removed);
                        tracked.witnesses.clear();
                        removed.push(id);
                        tombstones += 1;
                    }
                }
                MemberStatus::Joining | MemberStatus::Up | MemberStatus::Suspect => {
                    alive += 1;
                    let (Some((suspect, threshold)), Some(Beat { detector, .. })) =
                        (thresholds, tracked.beat.as_deref())
                    else {
                        continue;
                    };
                    let phi = detector.phi(now);
                    if phi >= suspect && tracked.status != MemberStatus::Suspect {
                        to(tracked, MemberStatus::Suspect);
                    }
                    if phi >= threshold {
                        to(tracked, MemberStatus::Down);
                    }
                }
            }
        }
        for id in forget {
            self.members.remove(&id);
            self.told.remove(&id);
            self.forgotten.push(id);
        }
        self.alive = alive;
        self.known = self.members.len() - tombstones;
        removed
    }

    /// [`Membership::tick`] under SWIM: only the members due for removal or forgetting are
    /// visited.
    fn tick_settled(&mut self, now: Instant, events: &mut VecDeque<Event>) -> Vec<NodeId> {
        let mut removed = Vec::new();
        let (removal_after, removed_ttl) = (self.config.removal_after, self.config.removed_ttl);
        while let Some(&(due, id)) = self.removals.front().filter(|(due, _)| *due <= now) {
            self.removals.pop_front();
            let Some(t) = self.members.get_mut(&id) else {
                continue;
            };
            let held = match t.status {
                MemberStatus::Down => !t.unconfirmed,
                MemberStatus::Left => true,
                _ => false,
            };
            let still = held && t.since.is_some_and(|since| since + removal_after <= due);
            if !still {
                continue;
            }
            t.status = MemberStatus::Removed;
            t.since = Some(now);
            t.witnesses.clear();
            events.push_back(Event::Member {
                id,
                generation: t.generation,
                status: MemberStatus::Removed,
            });
            removed.push(id);
            self.forgets.push_back((now + removed_ttl, id));
        }
        while let Some(&(due, id)) = self.forgets.front().filter(|(due, _)| *due <= now) {
            self.forgets.pop_front();
            let forget = self.members.get(&id).is_some_and(|t| {
                t.status == MemberStatus::Removed
                    && t.since.is_some_and(|since| since + removed_ttl <= due)
            });
            if forget {
                self.members.remove(&id);
                self.told.remove(&id);
                self.forgotten.push(id);
            }
        }
        self.ticks += 1;
        if self.ticks % RECOUNT_EVERY == 1 || !removed.is_empty() {
            self.recount();
        }
        removed
    }

    /// Counts the members alive and those known (not Removed).
    fn recount(&mut self) {
        let (mut alive, mut known) = (0, 0);
        for t in self.members.values() {
            alive += usize::from(t.status.is_reachable());
            known += usize::from(t.status != MemberStatus::Removed);
        }
        (self.alive, self.known) = (alive, known);
    }

    /// Notes a SWIM status change of `id` for the timers that follow it.
    fn track(&mut self, id: NodeId) {
        let Some(t) = self.members.get(&id) else {
            return;
        };
        match t.status {
            MemberStatus::Suspect => {
                self.suspects.insert(id);
            }
            MemberStatus::Down | MemberStatus::Left => {
                if let Some(since) = t.since {
                    self.removals
                        .push_back((since + self.config.removal_after, id));
                }
            }
            _ => {}
        }
    }

    /// The table, by id.
    pub(crate) fn members(&self) -> Vec<Member> {
        self.members
            .iter()
            .map(|(&id, t)| Member {
                id,
                generation: t.generation,
                incarnation: t.incarnation,
                status: t.status,
                heartbeat: t.beat.as_ref().map_or(0, |b| b.heartbeat),
                last_heartbeat: t.beat.as_ref().and_then(|b| b.detector.last_heartbeat()),
                unconfirmed: t.status == MemberStatus::Down && t.unconfirmed,
                address: t.addr.clone(),
            })
            .collect()
    }

    /// One member's status.
    pub(crate) fn status(&self, id: NodeId) -> Option<MemberStatus> {
        self.members.get(&id).map(|t| t.status)
    }

    /// One member's detector (Heartbeat only).
    pub(crate) fn detector(&self, id: NodeId) -> Option<&PhiDetector> {
        self.members.get(&id)?.beat.as_deref().map(|b| &b.detector)
    }
}

#[cfg(test)]
mod tests {
    use super::{Membership, MembershipConfig, Tracked};
    use crate::fd::{Incarnation, Liveness, MemberUpdate};
    use crate::rng::NodeRng;
    use crate::{Generation, NodeId};
    use rand::SeedableRng;
    use std::collections::{BTreeSet, VecDeque};
    use std::sync::Arc;
    use std::time::Instant;

    /// The views' last resort draws reachable members other than the node itself; a networked
    /// node (one that announces an address) draws only members it can address — one heard of
    /// through data alone would be a request dropped for want of an address.
    #[test]
    fn a_random_reachable_member_is_one_the_node_can_reach() {
        let now = Instant::now();
        let mut events = VecDeque::new();
        let mut table =
            Membership::new(MembershipConfig::default(), NodeId(0), Generation(1)).expect("table");
        // Node 1 announced with its address, node 2 seen only in data, node 3 left.
        let alive = |id: u64, addr: Option<&str>| MemberUpdate {
            id: NodeId(id),
            generation: Generation(1),
            incarnation: Incarnation::default(),
            status: Liveness::Alive,
            witnesses: Vec::new(),
            addr: addr.map(Arc::from),
        };
        table.apply_update(&alive(1, Some("10.0.0.1:7000")), now, &mut events);
        table.heartbeat(NodeId(2), Generation(1), 1, now, &mut events);
        table.apply_update(&alive(3, Some("10.0.0.3:7000")), now, &mut events);
        table.apply_update(
            &MemberUpdate {
                status: Liveness::Left,
                ..alive(3, None)
            },
            now,
            &mut events,
        );
        let mut rng = NodeRng::seed_from_u64(7);
        let draws = |table: &Membership, rng: &mut NodeRng| -> BTreeSet<u64> {
            (0..200)
                .filter_map(|_| table.random_reachable(rng, NodeId(0)))
                .map(|id| id.0)
                .collect()
        };
        assert_eq!(draws(&table, &mut rng), BTreeSet::from([1, 2]));
        table.set_own_address(Arc::from("10.0.0.0:7000"));
        assert_eq!(draws(&table, &mut rng), BTreeSet::from([1]));
    }

    /// A simulated cluster of n nodes holds n² entries: 10,000 nodes fit in memory only if an
    /// entry stays this small (it was 104 bytes).
    #[test]
    fn a_member_entry_takes_64_bytes() {
        assert!(
            std::mem::size_of::<Tracked>() <= 64,
            "{}",
            std::mem::size_of::<Tracked>()
        );
    }
}
