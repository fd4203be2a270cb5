//! The member table under SWIM: merging membership updates by `(generation, incarnation)`,
//! suspicions with their witnesses, and Down once a suspicion times out with a quorum — or
//! *unconfirmed*, on fewer, where fewer members are left to witness.
//!
//! Precedence of two updates about one member: the higher generation wins (a restart); within
//! a generation the higher incarnation wins (a refutation); at equal incarnations Left beats
//! Down beats Suspect beats Alive. A generation remembered as Removed refuses every update at
//! or below it.

use super::{Membership, Tracked, Witnesses};
use crate::fd::{Liveness, MAX_ADDRESS_LEN, MemberUpdate, suspicion_timeout};
use crate::{Event, MemberStatus, NodeId};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// What applying one update did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Nothing new: not passed on.
    Stale,
    /// News, to be passed on; `new_member`: the member (or its generation) was unknown;
    /// `more_witnesses`: the same suspicion with more witnesses (the queue keeps its count).
    News {
        new_member: bool,
        more_witnesses: bool,
    },
}

impl Membership {
    /// Members neither Down, Left nor Removed, this node included (as of the last tick).
    pub(crate) fn alive_count(&self) -> usize {
        self.alive.max(1)
    }

    /// The cluster's size for the suspicion timeouts: the members known, Down and Left
    /// included (memberlist's `estNumNodes`). Counting only those alive here shortened a
    /// joiner's suspicions: before its next recount it counted itself alone, and a table from
    /// the minority side of a healed partition holds most members Down; its suspicions then
    /// ran out in 4 s where the cluster's take 12, before live members could refute.
    pub(crate) fn size_for_timeouts(&self) -> usize {
        self.known.max(self.alive).max(1)
    }

    /// Witnesses a Down needs: the configured quorum, at most `n − 1` (a two-member cluster
    /// can down its only peer) — a Down on fewer than [`Membership::full_quorum`] is
    /// unconfirmed.
    pub(crate) fn quorum(&self) -> usize {
        self.full_quorum()
            .min(self.alive_count().saturating_sub(1))
            .max(1)
    }

    /// Witnesses a Down needs to be confirmed, and the member removed in time: the configured
    /// quorum, uncapped. A Down on fewer (a tiny cluster's, or a node's left alone) stands
    /// until the member refutes, but removes nobody.
    fn full_quorum(&self) -> usize {
        self.config
            .swim()
            .map_or(1, |s| usize::from(s.down_quorum.get()))
    }

    /// Witnesses beyond which more change nothing (the quorum, and the confirmations that
    /// shorten a suspicion to its minimum).
    fn witness_cap(&self) -> usize {
        let k = self.config.swim().map_or(0, |s| s.confirmations()) as usize;
        (k + 1).max(self.full_quorum())
    }

    /// What this node holds of `id`, as an update (for a hint, or to tell a member it is Down).
    pub(crate) fn update_about(&self, id: NodeId) -> Option<MemberUpdate> {
        let t = self.members.get(&id)?;
        let status = match t.status {
            MemberStatus::Joining | MemberStatus::Up => Liveness::Alive,
            MemberStatus::Suspect => Liveness::Suspect,
            MemberStatus::Down => Liveness::Down,
            MemberStatus::Left => Liveness::Left,
            MemberStatus::Removed => return None,
        };
        let addr = match status {
            Liveness::Alive | Liveness::Suspect => t.addr.clone(),
            Liveness::Down | Liveness::Left => None,
        };
        Some(MemberUpdate {
            id,
            generation: t.generation,
            incarnation: t.incarnation,
            status,
            witnesses: t.witnesses.to_vec(),
            addr,
        })
    }

    /// Whether `id` was last told it is Down long enough ago (`every`) to be told again; marks
    /// it told at `now` if so.
    pub(crate) fn tell_down(
        &mut self,
        id: NodeId,
        now: Instant,
        every: std::time::Duration,
    ) -> bool {
        if self.status(id) != Some(MemberStatus::Down)
            || self.told.get(&id).is_some_and(|&at| now < at + every)
        {
            return false;
        }
        self.told.insert(id, now);
        true
    }

    /// This node's verdict on `id`, which it removed, to tell a peer that still holds the
    /// member's data: Down at the generation and incarnation it was removed at, without
    /// witnesses (dropped at the removal). At most once per `every` for each member (the time
    /// is kept where [`Membership::tell_down`] keeps its own: a removed member is told nothing
    /// itself that way).
    pub(crate) fn removal_verdict(
        &mut self,
        id: NodeId,
        now: Instant,
        every: std::time::Duration,
    ) -> Option<MemberUpdate> {
        let t = self.members.get(&id)?;
        if t.status != MemberStatus::Removed
            || self.told.get(&id).is_some_and(|&at| now < at + every)
        {
            return None;
        }
        let update = MemberUpdate {
            id,
            generation: t.generation,
            incarnation: t.incarnation,
            status: Liveness::Down,
            witnesses: Vec::new(),
            addr: None,
        };
        self.told.insert(id, now);
        Some(update)
    }

    /// Applies an update about another member (never this node: the caller refutes those).
    pub(crate) fn apply_update(
        &mut self,
        update: &MemberUpdate,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) -> Applied {
        let applied = self.merge(update, now, events);
        if applied != Applied::Stale {
            self.track(update.id);
        }
        applied
    }

    fn merge(
        &mut self,
        update: &MemberUpdate,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) -> Applied {
        let id = update.id;
        if id == self.me {
            return Applied::Stale;
        }
        let quorum = self.quorum();
        let full_quorum = self.full_quorum();
        let cap = self.witness_cap();
        let shortest = self.config.swim().map_or(Duration::ZERO, |s| {
            s.suspicion_min(self.size_for_timeouts())
        });
        // A Down without a quorum of witnesses is only a suspicion.
        let liveness = match update.status {
            Liveness::Down if update.witnesses.len() < quorum => Liveness::Suspect,
            other => other,
        };
        let new_member = match self.members.get(&id) {
            Some(t) if update.generation < t.generation => return Applied::Stale,
            Some(t) if update.generation == t.generation => false,
            _ => true,
        };
        if new_member {
            let mut tracked = self.fresh(update.generation, Some(now));
            tracked.incarnation = update.incarnation;
            self.insert(id, tracked);
        }
        let Some(t) = self.members.get_mut(&id) else {
            return Applied::Stale;
        };
        let held = t.incarnation;
        let inc = update.incarnation;
        // The address of this generation (a stale generation returned above), taken from news
        // only: a new member, a higher incarnation (a node that moves re-advertises under one),
        // or an address this node lacks. Before session 26 any update of the generation set
        // it, so a late update (or a lying peer) could put an old address back. An oversized
        // one from a misbehaving peer is ignored.
        if let Some(addr) = update.addr.as_ref().filter(|a| a.len() <= MAX_ADDRESS_LEN)
            && (new_member || inc > held || t.addr.is_none())
        {
            t.addr = Some(addr.clone());
        }
        let news = |more_witnesses| Applied::News {
            new_member,
            more_witnesses,
        };
        if matches!(t.status, MemberStatus::Left | MemberStatus::Removed) {
            return if new_member {
                news(false)
            } else {
                Applied::Stale
            };
        }
        let witnessed = match update.status {
            Liveness::Down => inc >= held,
            Liveness::Suspect => inc == held,
            Liveness::Alive | Liveness::Left => false,
        };
        if t.unconfirmed && t.status == MemberStatus::Down && witnessed && !new_member {
            // A Down of this incarnation or a later one, or a suspicion of this one (this
            // node's own failed probe of the member among them: it stays probed), about a
            // member this node holds Down unconfirmed: its witnesses count too, and once they
            // make the full quorum the member is due for removal. So does a removal verdict
            // (a Down without witnesses: a peer removed the member, which only a confirmed
            // Down or a leave does).
            let more = if inc > held {
                t.witnesses = Witnesses::capped(&update.witnesses, cap);
                true
            } else {
                t.witnesses.merge(&update.witnesses, cap)
            };
            t.incarnation = inc;
            let verdict = update.status == Liveness::Down && update.witnesses.is_empty();
            if t.witnesses.len() >= full_quorum || verdict {
                // Removed `removal_after` after the confirmation: the Down's own removal, due
                // earlier, no longer matches `since`.
                t.unconfirmed = false;
                t.since = Some(now);
                self.removals
                    .push_back((now + self.config.removal_after, id));
            }
            return if more { news(true) } else { Applied::Stale };
        }
        match liveness {
            Liveness::Alive => {
                if new_member || t.status == MemberStatus::Joining {
                    t.incarnation = inc.max(held);
                    set(events, id, t, MemberStatus::Up, now);
                    return news(false);
                }
                if inc <= held {
                    return Applied::Stale;
                }
                t.incarnation = inc;
                t.witnesses.clear();
                if t.status != MemberStatus::Up {
                    set(events, id, t, MemberStatus::Up, now);
                }
                news(false)
            }
            Liveness::Suspect => {
                let fresh_suspicion = new_member
                    || inc > held
                    || matches!(t.status, MemberStatus::Up | MemberStatus::Joining);
                if inc < held || (t.status == MemberStatus::Down && inc == held && !new_member) {
                    return Applied::Stale;
                }
                if fresh_suspicion {
                    t.incarnation = inc;
                    t.witnesses = Witnesses::capped(&update.witnesses, cap);
                    set(events, id, t, MemberStatus::Suspect, now);
                    return news(false);
                }
                // The same suspicion: more witnesses shorten it.
                if t.witnesses.merge(&update.witnesses, cap) {
                    news(true)
                } else {
                    Applied::Stale
                }
            }
            Liveness::Down => {
                if inc < held || (t.status == MemberStatus::Down && inc == held && !new_member) {
                    return Applied::Stale;
                }
                if new_member {
                    // Unknown here (a starting node's table, a hint, a partition's other side):
                    // a suspicion with the Down's witnesses, which this node probes first. Taken
                    // as it was, it downed a member that had joined a second before a partition,
                    // whose Alive the minority's other nodes had not heard yet, at the heal
                    // (memberlist ignores such news; a suspicion keeps the member's data from
                    // passing for alive). Its Down, if it comes, is not gossiped again.
                    t.incarnation = inc;
                    t.witnesses = Witnesses::capped(&update.witnesses, cap);
                    t.hearsay = true;
                    set(events, id, t, MemberStatus::Suspect, now);
                    return news(false);
                }
                if t.status == MemberStatus::Down {
                    // Down already at a lower incarnation: taken as it is.
                    t.incarnation = inc;
                    t.witnesses = Witnesses::capped(&update.witnesses, cap);
                    return news(false);
                }
                // A Down ends a suspicion, and the member must have had as long to refute here:
                // a member held Up or Joining (or suspected at a lower incarnation) is only
                // suspected now, with the Down's witnesses; one suspected here for at least the
                // shortest suspicion goes Down. (After a partition heals, the other side's
                // verdicts about members that are alive arrive this way.)
                if t.status != MemberStatus::Suspect || inc > held {
                    t.incarnation = inc;
                    t.witnesses = Witnesses::capped(&update.witnesses, cap);
                    set(events, id, t, MemberStatus::Suspect, now);
                    return news(false);
                }
                let more = t.witnesses.merge(&update.witnesses, cap);
                if now >= t.since.unwrap_or(now) + shortest {
                    set(events, id, t, MemberStatus::Down, now);
                    // Taken on the capped quorum: confirmed only with the full one.
                    t.unconfirmed = t.witnesses.len() < full_quorum;
                    return news(false);
                }
                if more { news(true) } else { Applied::Stale }
            }
            Liveness::Left => {
                if inc < held && !new_member {
                    return Applied::Stale;
                }
                t.incarnation = inc;
                set(events, id, t, MemberStatus::Left, now);
                news(false)
            }
        }
    }

    /// A message came from `id`: a Joining member is confirmed Up.
    pub(crate) fn confirm(&mut self, id: NodeId, now: Instant, events: &mut VecDeque<Event>) {
        if let Some(t) = self.members.get_mut(&id)
            && t.status == MemberStatus::Joining
        {
            set(events, id, t, MemberStatus::Up, now);
        }
    }

    /// Whether this node holds a strictly newer `(generation, incarnation)` of `update`'s
    /// member than the update: the sender should be told.
    pub(crate) fn newer_than(&self, update: &MemberUpdate) -> bool {
        self.members.get(&update.id).is_some_and(|t| {
            t.status != MemberStatus::Removed
                && (t.generation, t.incarnation) > (update.generation, update.incarnation)
        })
    }

    /// Whether `update` is a Down of a member this node holds alive under the same generation
    /// at a newer incarnation: the sender missed a refutation, or the member's death since.
    pub(crate) fn down_but_alive_here(&self, update: &MemberUpdate) -> bool {
        update.status == Liveness::Down
            && self.members.get(&update.id).is_some_and(|t| {
                matches!(
                    t.status,
                    MemberStatus::Joining | MemberStatus::Up | MemberStatus::Suspect
                ) && t.generation == update.generation
                    && t.incarnation > update.incarnation
            })
    }

    /// This node's own probes found `id` silent, with `witnesses` (itself and the relays that
    /// nacked): the update to gossip, if it is news.
    pub(crate) fn suspect(
        &mut self,
        id: NodeId,
        witnesses: Vec<NodeId>,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) -> Option<(MemberUpdate, bool)> {
        let t = self.members.get(&id)?;
        let update = MemberUpdate {
            id,
            generation: t.generation,
            incarnation: t.incarnation,
            status: Liveness::Suspect,
            witnesses,
            addr: t.addr.clone(),
        };
        match self.apply_update(&update, now, events) {
            Applied::Stale => None,
            Applied::News { more_witnesses, .. } => {
                Some((self.update_about(id).unwrap_or(update), more_witnesses))
            }
        }
    }

    /// Suspicions that timed out at `now` with a quorum of witnesses become Down (those on fewer
    /// than the configured quorum unconfirmed; see below): the updates,
    /// each with whether to gossip it (not those the cluster holds Down already). `health` is
    /// this node's Lifeguard score: an unhealthy node's timeouts are `1 + health` times longer,
    /// so that a node whose own links fail lets healthier ones decide first (their Downs reach
    /// it as confirmations).
    ///
    /// Also returns the suspects whose time ran out short of the quorum: the node probes them
    /// itself, which ends the suspicion either way (its failed probe adds witnesses; a live
    /// suspect refutes the suspicion the ping carries). Left alone, such a suspicion never
    /// ended: after a partition healed, minority nodes held three live members Suspect for
    /// the 200 s that remained of the run, their round-robin not due to reach them for
    /// minutes. Each is handed back once per shortest suspicion: handed back on every call, a
    /// node cut off alone probed only its suspects, each probe's failure adding nothing, and
    /// its round-robin never reached the members it still held Up.
    ///
    /// When fewer members than the quorum are left here to witness (the members held Up or
    /// Joining, this node included) and every one of them did, the quorum cannot be had: the
    /// suspect goes Down *unconfirmed* — still probed, and never removed until witnesses make the
    /// configured quorum (its probes' relays once the node has company again, others' Downs and
    /// suspicions) or a peer's removal verdict comes (`merge`). A lone
    /// survivor of a crash held its dead peers Suspect for good before (memberlist downs them
    /// alone); an unconfirmed Down reports them, and costs a node cut off alone nothing beyond
    /// the status: the members it holds Down refute when they hear of it, as after any
    /// partition, and none is told it was removed.
    pub(crate) fn expire_suspicions(
        &mut self,
        now: Instant,
        health: u32,
        events: &mut VecDeque<Event>,
    ) -> (Vec<(MemberUpdate, bool)>, Vec<NodeId>) {
        let Some(swim) = self.config.swim().cloned() else {
            return (Vec::new(), Vec::new());
        };
        let min = swim.suspicion_min(self.size_for_timeouts()) * (health + 1);
        let max = min * swim.suspicion_max_mult.get();
        let k = swim.confirmations();
        let quorum = self.quorum();
        let full_quorum = self.full_quorum();
        let members = &self.members;
        self.suspects.retain(|id| {
            members
                .get(id)
                .is_some_and(|t| t.status == MemberStatus::Suspect)
        });
        let suspects = &self.suspects;
        self.handed_back.retain(|id, _| suspects.contains(id));
        let due: Vec<NodeId> = self
            .suspects
            .iter()
            .copied()
            .filter(|id| {
                members.get(id).is_some_and(|t| {
                    let confirmations = t.witnesses.len().saturating_sub(1) as u32;
                    let since = t.since.unwrap_or(now);
                    now >= since + suspicion_timeout(min, max, k, confirmations)
                })
            })
            .collect();
        let mut available = None;
        let mut downs = Vec::new();
        let mut short = Vec::new();
        for id in due {
            let Some((witnesses, since)) =
                (self.members.get(&id)).map(|t| (t.witnesses.as_slice(), t.since.unwrap_or(now)))
            else {
                continue;
            };
            let unconfirmed = witnesses.len() < full_quorum;
            if witnesses.len() < quorum {
                let available: &Vec<NodeId> =
                    available.get_or_insert_with(|| self.witnesses_available(quorum));
                if available.len() >= quorum || !available.iter().all(|a| witnesses.contains(a)) {
                    // Once per shortest suspicion — a hand-back of an earlier suspicion (the
                    // member refuted since, and was suspected again) does not count.
                    let due = |&at: &Instant| at < since || now >= at + min;
                    if self.handed_back.get(&id).is_none_or(due) {
                        self.handed_back.insert(id, now);
                        short.push(id);
                    }
                    continue;
                }
            }
            let Some(t) = self.members.get_mut(&id) else {
                continue;
            };
            set(events, id, t, MemberStatus::Down, now);
            t.unconfirmed = unconfirmed;
            let update = MemberUpdate {
                id,
                generation: t.generation,
                incarnation: t.incarnation,
                status: Liveness::Down,
                witnesses: t.witnesses.to_vec(),
                addr: None,
            };
            downs.push((update, !t.hearsay));
        }
        for (update, _) in &downs {
            self.suspects.remove(&update.id);
            self.removals
                .push_back((now + self.config.removal_after, update.id));
        }
        (downs, short)
    }

    /// Members that can witness a suspicion here: this node, and those it holds Up or Joining —
    /// the first `quorum` of them (enough to tell whether a quorum can be had).
    fn witnesses_available(&self, quorum: usize) -> Vec<NodeId> {
        let others = self.members.iter().filter(|&(&id, t)| {
            id != self.me && matches!(t.status, MemberStatus::Up | MemberStatus::Joining)
        });
        std::iter::once(self.me)
            .chain(others.map(|(&id, _)| id))
            .take(quorum)
            .collect()
    }

    /// Whether this node holds `id` Down on fewer witnesses than the quorum (see
    /// [`Membership::expire_suspicions`]): the failure detector keeps probing it.
    pub(crate) fn unconfirmed_down(&self, id: NodeId) -> bool {
        self.members
            .get(&id)
            .is_some_and(|t| t.status == MemberStatus::Down && t.unconfirmed)
    }
}

fn push(events: &mut VecDeque<Event>, id: NodeId, t: &Tracked, status: MemberStatus) {
    events.push_back(Event::Member {
        id,
        generation: t.generation,
        status,
    });
}

fn set(
    events: &mut VecDeque<Event>,
    id: NodeId,
    t: &mut Tracked,
    status: MemberStatus,
    now: Instant,
) {
    // Hearsay lasts while the member stays suspected and through its Down; a Down is
    // unconfirmed only where the caller says so.
    if !matches!(status, MemberStatus::Suspect | MemberStatus::Down) {
        t.hearsay = false;
    }
    t.unconfirmed = false;
    t.status = status;
    t.since = Some(now);
    push(events, id, t, status);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Generation, MembershipConfig};

    fn alive(id: u64) -> MemberUpdate {
        MemberUpdate {
            id: NodeId(id),
            generation: Generation(1),
            incarnation: 0,
            status: Liveness::Alive,
            witnesses: Vec::new(),
            addr: None,
        }
    }

    /// An update about `id` with `status` and `witnesses` (generation 1, incarnation 0).
    fn about(id: u64, status: Liveness, witnesses: &[u64]) -> MemberUpdate {
        MemberUpdate {
            status,
            witnesses: witnesses.iter().map(|&w| NodeId(w)).collect(),
            ..alive(id)
        }
    }

    /// A table at node 0 holding members `1..=n` Up.
    fn table_of(n: u64, start: Instant, events: &mut VecDeque<Event>) -> Membership {
        let mut table =
            Membership::new(MembershipConfig::lan(), NodeId(0), Generation(1)).expect("valid");
        for id in 1..=n {
            table.apply_update(&alive(id), start, events);
        }
        table
    }

    /// A suspicion short of the quorum when its time runs out is handed back to be probed (and
    /// stays Suspect); one with the quorum goes Down.
    #[test]
    fn a_suspicion_short_of_the_quorum_is_handed_back_to_be_probed() {
        let start = Instant::now();
        let mut events = VecDeque::new();
        let mut table = table_of(20, start, &mut events);
        let suspect = |id, witnesses| about(id, Liveness::Suspect, witnesses);
        table.apply_update(&suspect(5, &[7]), start, &mut events);
        table.apply_update(&suspect(6, &[7, 8]), start, &mut events);
        let _ = table.tick(start, &mut events);
        assert!(table.quorum() == 2);
        let (downs, short) = table.expire_suspicions(start, 0, &mut events);
        assert!(downs.is_empty() && short.is_empty(), "not yet");
        let later = start + std::time::Duration::from_secs(600);
        let (downs, short) = table.expire_suspicions(later, 0, &mut events);
        assert_eq!(
            downs.iter().map(|(u, _)| u.id).collect::<Vec<_>>(),
            [NodeId(6)]
        );
        assert_eq!(short, [NodeId(5)]);
        assert_eq!(table.status(NodeId(5)), Some(MemberStatus::Suspect));
    }

    /// With every other member suspected, a node alone downs them *unconfirmed*: not removed
    /// however long, until Downs from others bring the witnesses to the configured quorum, or a
    /// peer's removal verdict comes.
    /// A suspicion it cannot down is handed back to be probed once per shortest suspicion,
    /// not on every call.
    #[test]
    fn a_node_left_alone_downs_unconfirmed_and_removes_only_on_a_quorum() {
        let start = Instant::now();
        let mut events = VecDeque::new();
        let removal_after = MembershipConfig::lan().removal_after;
        let mut table = table_of(3, start, &mut events);
        let suspect = |id, witnesses| about(id, Liveness::Suspect, witnesses);
        // Node 3 suspected by node 2's word only: node 0 must witness it itself first.
        table.apply_update(&suspect(1, &[0]), start, &mut events);
        table.apply_update(&suspect(2, &[0]), start, &mut events);
        table.apply_update(&suspect(3, &[2]), start, &mut events);
        let _ = table.tick(start, &mut events);
        assert_eq!(table.quorum(), 2);
        let later = start + Duration::from_secs(600);
        let (downs, short) = table.expire_suspicions(later, 0, &mut events);
        let downed: Vec<_> = downs.iter().map(|(u, _)| u.id).collect();
        assert_eq!(downed, [NodeId(1), NodeId(2)]);
        assert_eq!(short, [NodeId(3)]);
        let (_, short) = table.expire_suspicions(later + Duration::from_secs(1), 0, &mut events);
        assert!(short.is_empty(), "handed back again at once");
        let gone = table.tick(later + removal_after * 3, &mut events);
        assert!(gone.is_empty(), "removed unconfirmed: {gone:?}");
        assert_eq!(table.status(NodeId(1)), Some(MemberStatus::Down));
        // A Down of node 1 from another witness confirms it; node 2 stays unconfirmed.
        let confirmed_at = later + removal_after * 3;
        table.apply_update(
            &about(1, Liveness::Down, &[3, 7]),
            confirmed_at,
            &mut events,
        );
        let gone = table.tick(confirmed_at + removal_after, &mut events);
        assert_eq!(gone, [NodeId(1)]);
        assert_eq!(table.status(NodeId(2)), Some(MemberStatus::Down));
        // A removal verdict about node 2 (a Down without witnesses) confirms it too.
        let verdict_at = confirmed_at + removal_after;
        table.apply_update(&about(2, Liveness::Down, &[]), verdict_at, &mut events);
        let gone = table.tick(verdict_at + removal_after, &mut events);
        assert_eq!(gone, [NodeId(2)]);
    }

    /// A Down taken on a quorum capped at n − 1 (two of three members alive here, a quorum of
    /// three configured) is unconfirmed, and removes nobody; a leave heard through data (the
    /// member's `left` key) ends it, and the member is removed as any that left.
    #[test]
    fn a_down_on_the_capped_quorum_is_unconfirmed_until_the_member_leaves() {
        let start = Instant::now();
        let mut events = VecDeque::new();
        let config = MembershipConfig {
            detector: crate::Detector::Swim(crate::SwimConfig {
                down_quorum: std::num::NonZeroU8::new(3).expect("3"),
                ..crate::SwimConfig::lan()
            }),
            ..MembershipConfig::lan()
        };
        let removal_after = config.removal_after;
        let mut table = Membership::new(config, NodeId(0), Generation(1)).expect("valid");
        for id in 1..=2 {
            table.apply_update(&alive(id), start, &mut events);
        }
        let _ = table.tick(start, &mut events);
        assert_eq!((table.quorum(), table.full_quorum()), (2, 3));
        table.apply_update(&about(2, Liveness::Suspect, &[1]), start, &mut events);
        let later = start + Duration::from_secs(600);
        table.apply_update(&about(2, Liveness::Down, &[0, 1]), later, &mut events);
        assert!(table.unconfirmed_down(NodeId(2)));
        let gone = table.tick(later + removal_after * 2, &mut events);
        assert!(gone.is_empty(), "removed on the capped quorum: {gone:?}");
        let left_at = later + removal_after * 2;
        assert!(table.left(NodeId(2), Generation(1), left_at, &mut events));
        let gone = table.tick(left_at + removal_after, &mut events);
        assert_eq!(gone, [NodeId(2)]);
    }
}
