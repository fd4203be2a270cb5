//! Membership and failure detection: a table of the members a node knows, each with a status
//! driven by gossiped heartbeats (phi accrual, [`crate::PhiDetector`]), graceful leaves and
//! restarts, and the removal of dead members without resurrection.
//!
//! Statuses and transitions (per member `id`, for its current generation):
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
//! - **Joining**: known (its origin appeared in a digest or a group) but no heartbeat progress
//!   seen yet for this generation. Joining members are picked as peers.
//! - **Up**: its heartbeat rose since it was first seen.
//! - **Suspect**: phi reached [`MembershipConfig::suspect_phi`] (default 4, half the threshold).
//!   Still picked as a peer.
//! - **Down**: phi reached the detector's threshold (default 8). **Recoverable** (as in
//!   Cassandra, not Akka): heartbeat progress of the same generation brings it back Up. phi is
//!   a suspicion, not a proof, and a partition or a long pause heals without an operator; what
//!   must never come back, the state of a dead incarnation, is handled by removal.
//! - **Left**: the member announced a graceful leave ([`crate::Node::leave`]); final for that
//!   generation.
//! - **Removed**: Down or Left for [`MembershipConfig::removal_after`]: its state is dropped
//!   from the store and `(id, generation)` is remembered for [`MembershipConfig::removed_ttl`].
//!   Until then, gossip about that generation or an older one is ignored (no resurrection); a
//!   newer generation is a legitimate restart and is accepted (Joining again).
//!
//! Down, Left and Removed members are not picked as gossip targets; as in Cassandra, a round
//! additionally probes one random Down peer with probability `down / (reachable + 1)`, so that a
//! healed partition is noticed.
//!
//! A member's status travels only as its heartbeat and, for a leave, as an entry under the
//! reserved key [`STATUS_KEY`] of its own origin: the wire format is unchanged.

use crate::{Error, Event, Generation, NodeId, PhiConfig, PhiDetector};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

pub use crate::reserved::{GC_KEY, LEFT, RESERVED_PREFIX, STATUS_KEY, is_reserved};

pub use crate::member_status::MemberStatus;

/// Membership and failure-detection settings ([`crate::Config::membership`]).
///
/// ```
/// use hearsay_proto::{Config, MembershipConfig};
/// use std::time::Duration;
/// let config = Config {
///     membership: Some(MembershipConfig {
///         removal_after: Duration::from_secs(30),
///         ..MembershipConfig::default()
///     }),
///     ..Config::default()
/// };
/// config.validate()?;
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembershipConfig {
    /// The phi-accrual detector of every member. Default: Akka's (threshold 8, 1,000 samples,
    /// 100 ms minimum standard deviation, 3 s acceptable pause) except the first heartbeat
    /// estimate, 2 s instead of 1 s: Cassandra's initial interval (twice its 1 s gossip
    /// interval). Heartbeats seen through gossip are relayed, so their progress arrives less
    /// regularly than Akka's direct heartbeats (about every 1.6 s with a standard deviation of
    /// 1 s when anti-entropy runs every 1 s round); with a 1 s estimate, members that had just
    /// joined were falsely suspected in the first rounds. Scale it with the gossip interval.
    pub phi: PhiConfig,
    /// phi from which a member is Suspect; at most `phi.threshold`. Default: 4.0 (half the
    /// default threshold: a 10⁻⁴ chance that a heartbeat this late is still normal).
    pub suspect_phi: f64,
    /// How long a member stays Down or Left before it is Removed. Default: 5 min.
    pub removal_after: Duration,
    /// How long a Removed member's `(id, generation)` is remembered, refusing gossip about it.
    /// It should exceed the time stale state can linger in a lagging peer. Default: 24 h.
    pub removed_ttl: Duration,
    /// Peers a graceful leave is pushed to at once, on top of gossip. Default: 3.
    pub leave_fanout: usize,
}

impl Default for MembershipConfig {
    fn default() -> MembershipConfig {
        MembershipConfig {
            phi: PhiConfig {
                first_heartbeat_estimate: Duration::from_secs(2),
                ..PhiConfig::default()
            },
            suspect_phi: 4.0,
            removal_after: Duration::from_secs(300),
            removed_ttl: Duration::from_secs(86_400),
            leave_fanout: 3,
        }
    }
}

impl MembershipConfig {
    /// Checks the settings: a valid detector, `0 < suspect_phi <= threshold`.
    pub fn validate(&self) -> Result<(), Error> {
        self.phi.validate()?;
        if !(self.suspect_phi.is_finite()
            && self.suspect_phi > 0.0
            && self.suspect_phi <= self.phi.threshold)
        {
            return Err(Error::config(
                "membership.suspect_phi",
                format!("must lie in (0, threshold], got {}", self.suspect_phi),
            ));
        }
        Ok(())
    }
}

/// One member as a node sees it ([`crate::Node::members`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// The member.
    pub id: NodeId,
    /// Its generation as known here.
    pub generation: Generation,
    /// Its status.
    pub status: MemberStatus,
    /// The highest heartbeat seen for this generation.
    pub heartbeat: u64,
    /// When heartbeat progress was last seen (`None`: never, or this node itself).
    pub last_heartbeat: Option<Instant>,
}

/// What a node tracks of one member.
#[derive(Clone, Debug)]
struct Tracked {
    generation: Generation,
    status: MemberStatus,
    heartbeat: u64,
    detector: PhiDetector,
    /// When the status last changed (`None` for the node itself).
    since: Option<Instant>,
}

/// The member table of one node.
#[derive(Clone, Debug)]
pub(crate) struct Membership {
    config: MembershipConfig,
    me: NodeId,
    members: BTreeMap<NodeId, Tracked>,
    /// A detector that has seen nothing, cloned for every new member.
    template: PhiDetector,
}

impl Membership {
    /// A table that knows only the node itself, Up.
    pub(crate) fn new(
        config: MembershipConfig,
        me: NodeId,
        generation: Generation,
    ) -> Result<Membership, Error> {
        config.validate()?;
        let template = PhiDetector::new(config.phi.clone())?;
        let mut members = BTreeMap::new();
        members.insert(
            me,
            Tracked {
                generation,
                status: MemberStatus::Up,
                heartbeat: 0,
                detector: template.clone(),
                since: None,
            },
        );
        Ok(Membership {
            config,
            me,
            members,
            template,
        })
    }

    pub(crate) fn config(&self) -> &MembershipConfig {
        &self.config
    }

    fn fresh(&self, generation: Generation, now: Instant) -> Tracked {
        Tracked {
            generation,
            status: MemberStatus::Joining,
            heartbeat: 0,
            detector: self.template.clone(),
            since: Some(now),
        }
    }

    /// Takes note that the store knows `(id, generation)` at `heartbeat` (a digest or a group
    /// named it). A new member or generation becomes Joining; heartbeat progress feeds the
    /// detector and brings Joining, Suspect and Down members Up.
    pub(crate) fn heartbeat(
        &mut self,
        id: NodeId,
        generation: Generation,
        heartbeat: u64,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) {
        if id == self.me {
            return;
        }
        let known = self.members.get(&id).map(|t| (t.generation, t.status));
        match known {
            Some((held, _)) if generation < held => return,
            Some((held, MemberStatus::Removed)) if generation == held => return,
            Some((held, _)) if generation == held => {}
            _ => {
                let mut tracked = self.fresh(generation, now);
                tracked.heartbeat = heartbeat;
                tracked.detector.heartbeat(now);
                self.members.insert(id, tracked);
                events.push_back(Event::Member {
                    id,
                    generation,
                    status: MemberStatus::Joining,
                });
                return;
            }
        }
        let Some(tracked) = self.members.get_mut(&id) else {
            return;
        };
        if heartbeat <= tracked.heartbeat {
            return;
        }
        tracked.heartbeat = heartbeat;
        tracked.detector.heartbeat(now);
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
    }

    /// `(id, generation)` announced a graceful leave.
    pub(crate) fn left(
        &mut self,
        id: NodeId,
        generation: Generation,
        now: Instant,
        events: &mut VecDeque<Event>,
    ) {
        if id == self.me {
            return;
        }
        let newer = self
            .members
            .get(&id)
            .is_none_or(|t| t.generation < generation);
        if newer {
            let tracked = self.fresh(generation, now);
            self.members.insert(id, tracked);
            events.push_back(Event::Member {
                id,
                generation,
                status: MemberStatus::Joining,
            });
        }
        let Some(tracked) = self.members.get_mut(&id) else {
            return;
        };
        if tracked.generation == generation
            && !matches!(tracked.status, MemberStatus::Left | MemberStatus::Removed)
        {
            tracked.status = MemberStatus::Left;
            tracked.since = Some(now);
            events.push_back(Event::Member {
                id,
                generation,
                status: MemberStatus::Left,
            });
        }
    }

    /// This node leaves.
    pub(crate) fn leave_self(&mut self, events: &mut VecDeque<Event>) {
        if let Some(me) = self.members.get_mut(&self.me) {
            if me.status != MemberStatus::Left {
                me.status = MemberStatus::Left;
                events.push_back(Event::Member {
                    id: self.me,
                    generation: me.generation,
                    status: MemberStatus::Left,
                });
            }
        }
    }

    /// This node restarted as `generation`: it is Up again.
    pub(crate) fn restart_self(&mut self, generation: Generation, events: &mut VecDeque<Event>) {
        if let Some(me) = self.members.get_mut(&self.me) {
            me.generation = generation;
            me.status = MemberStatus::Up;
            me.heartbeat = 0;
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

    /// Whether `id` may be picked as a gossip target (unknown ids, seeds, may).
    pub(crate) fn reachable(&self, id: NodeId) -> bool {
        self.members
            .get(&id)
            .is_none_or(|t| t.status.is_reachable())
    }

    /// Whether `id` is Down (a candidate for a probe).
    pub(crate) fn is_down(&self, id: NodeId) -> bool {
        self.members
            .get(&id)
            .is_some_and(|t| t.status == MemberStatus::Down)
    }

    /// Re-evaluates every member at `now`: Suspect and Down from phi, Removed after
    /// `removal_after` in Down or Left, forgotten after `removed_ttl`. Returns the members just
    /// removed, whose state the caller drops.
    pub(crate) fn tick(&mut self, now: Instant, events: &mut VecDeque<Event>) -> Vec<NodeId> {
        let mut removed = Vec::new();
        let mut forget = Vec::new();
        let suspect = self.config.suspect_phi;
        let threshold = self.config.phi.threshold;
        for (&id, tracked) in self.members.iter_mut() {
            if id == self.me {
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
                    }
                }
                MemberStatus::Down | MemberStatus::Left => {
                    if elapsed >= self.config.removal_after {
                        to(tracked, MemberStatus::Removed);
                        removed.push(id);
                    }
                }
                MemberStatus::Joining | MemberStatus::Up | MemberStatus::Suspect => {
                    let phi = tracked.detector.phi(now);
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
        }
        removed
    }

    /// The table, by id.
    pub(crate) fn members(&self) -> Vec<Member> {
        self.members
            .iter()
            .map(|(&id, t)| Member {
                id,
                generation: t.generation,
                status: t.status,
                heartbeat: t.heartbeat,
                last_heartbeat: t.detector.last_heartbeat(),
            })
            .collect()
    }

    /// One member's status.
    pub(crate) fn status(&self, id: NodeId) -> Option<MemberStatus> {
        self.members.get(&id).map(|t| t.status)
    }

    /// One member's detector.
    pub(crate) fn detector(&self, id: NodeId) -> Option<&PhiDetector> {
        self.members.get(&id).map(|t| &t.detector)
    }
}
