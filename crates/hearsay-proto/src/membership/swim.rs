//! The member table under SWIM: merging membership updates by `(generation, incarnation)`,
//! suspicions with their witnesses, and Down once a suspicion times out with a quorum.
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
    /// can down its only peer).
    pub(crate) fn quorum(&self) -> usize {
        let quorum = self
            .config
            .swim()
            .map_or(1, |s| usize::from(s.down_quorum.get()));
        quorum.min(self.alive_count().saturating_sub(1)).max(1)
    }

    /// Witnesses beyond which more change nothing (the quorum, and the confirmations that
    /// shorten a suspicion to its minimum).
    fn witness_cap(&self) -> usize {
        let k = self.config.swim().map_or(0, |s| s.confirmations()) as usize;
        (k + 1).max(self.quorum())
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

    /// Suspicions that timed out at `now` with a quorum of witnesses become Down: the updates,
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
    /// minutes.
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
        let mut downs = Vec::new();
        let mut short = Vec::new();
        let members = &mut self.members;
        self.suspects.retain(|id| {
            members
                .get(id)
                .is_some_and(|t| t.status == MemberStatus::Suspect)
        });
        for &id in &self.suspects {
            let Some(t) = members.get_mut(&id) else {
                continue;
            };
            let confirmations = t.witnesses.len().saturating_sub(1) as u32;
            let since = t.since.unwrap_or(now);
            if now < since + suspicion_timeout(min, max, k, confirmations) {
                continue;
            }
            if t.witnesses.len() < quorum {
                short.push(id);
                continue;
            }
            set(events, id, t, MemberStatus::Down, now);
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
    // Hearsay lasts while the member stays suspected and through its Down.
    if !matches!(status, MemberStatus::Suspect | MemberStatus::Down) {
        t.hearsay = false;
    }
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

    /// A suspicion short of the quorum when its time runs out is handed back to be probed (and
    /// stays Suspect); one with the quorum goes Down.
    #[test]
    fn a_suspicion_short_of_the_quorum_is_handed_back_to_be_probed() {
        let start = Instant::now();
        let mut events = VecDeque::new();
        let mut table =
            Membership::new(MembershipConfig::lan(), NodeId(0), Generation(1)).expect("valid");
        for id in 1..=20 {
            table.apply_update(&alive(id), start, &mut events);
        }
        let suspect = |id: u64, witnesses: &[u64]| MemberUpdate {
            status: Liveness::Suspect,
            witnesses: witnesses.iter().map(|&w| NodeId(w)).collect(),
            ..alive(id)
        };
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
}
