//! The failure-detection experiment: a cluster in virtual time ([`Lockstep`] in steps) under
//! loss, crashes, joins and an optional partition, with every member event scored — false Downs
//! and Suspects, detection times of real crashes, failure-detection bytes, and when the member
//! tables agree again. `hearsay sim membership` and the scale tests run it.

use crate::size::encoded_len;
use crate::{Body, Config, Error, Event, Lockstep, MemberStatus, Message, MessageKind, NodeId};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// One run's settings.
#[derive(Clone, Debug)]
pub struct ChurnExperiment {
    /// Nodes at the start.
    pub nodes: usize,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Fraction of the live nodes that crash each second, and (as many) that join.
    pub churn: f64,
    /// Virtual time of churn.
    pub duration: Duration,
    /// Fraction of the nodes cut off for 30 s from half the duration (0: none).
    pub partition: f64,
    /// How long the partition lasts. Default 30 s.
    pub partition_for: Duration,
    /// The nodes' configuration (membership must be on; with [`Config::view`], partial views).
    pub config: Config,
    /// Calm after the churn, in which detection completes and tables converge. Default: 180 s,
    /// or with SWIM the longest detection the preset allows plus a minute if longer.
    pub settle: Duration,
    /// Seeds everything.
    pub seed: u64,
    /// The driver's time step.
    pub step: Duration,
    /// Time for the cluster to form (every node starts at once, knowing one other) before the
    /// churn; failure-detection bytes are counted from its end. Default: 30 s, enough up to
    /// 5,000 nodes; at 10,000 the formation's dissemination outlasts it.
    pub warmup: Duration,
}

impl ChurnExperiment {
    /// The run with `config`: `nodes`, 10 % loss, 1 %/s crashes and joins for 10
    /// minutes, 3 minutes of calm (more for slow presets), 100 ms steps.
    pub fn new(nodes: usize, config: Config, seed: u64) -> ChurnExperiment {
        // The longest detection: a first probe within 16 periods, the longest suspicion.
        let longest =
            config
                .membership
                .as_ref()
                .and_then(|m| m.swim())
                .map_or(Duration::ZERO, |s| {
                    s.probe_interval * 16
                        + s.suspicion_min(nodes) * s.suspicion_max_mult.get()
                        + Duration::from_secs(60)
                });
        ChurnExperiment {
            nodes,
            loss: 0.1,
            churn: 0.01,
            duration: Duration::from_secs(600),
            partition: 0.0,
            partition_for: Duration::from_secs(30),
            config,
            settle: longest.max(Duration::from_secs(180)),
            seed,
            step: Duration::from_millis(100),
            warmup: Duration::from_secs(30),
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChurnReport {
    /// Down events about a running member (pairs split by the partition excepted, while it
    /// lasts and one longest suspicion after).
    pub false_downs: u64,
    /// Suspect events about a running member (same exception).
    pub false_suspects: u64,
    /// Nodes crashed.
    pub crashes: u64,
    /// Nodes joined.
    pub joins: u64,
    /// Of the pairs (crash, observer running from before it to the end), the fraction whose
    /// observer reported it Down.
    pub detected: f64,
    /// Crash-to-Down times over those pairs: median, 99th percentile, maximum (seconds).
    pub detection_p50_s: f64,
    /// See `detection_p50_s`.
    pub detection_p99_s: f64,
    /// See `detection_p50_s`.
    pub detection_max_s: f64,
    /// Failure-detection bytes per live node per second: all of them.
    pub fd_bytes_per_node_per_s: f64,
    /// Of which the probes themselves (ping, ack, ping-request, nack; envelope included).
    pub probe_bytes_per_node_per_s: f64,
    /// Of which the membership updates they carry, and the gossip messages.
    pub dissemination_bytes_per_node_per_s: f64,
    /// The same bytes by message kind (`ping`, `ack`, `ping_req`, `nack`, `gossip`, `sync`,
    /// `table`), whole datagrams, per live node per second.
    pub bytes_by_kind: BTreeMap<&'static str, f64>,
    /// Time after the churn (and the heal) until every running node holds every running node
    /// Up and every crashed one Down or Removed (`None`: not within the settle).
    pub converged_after_s: Option<f64>,
    /// Partition runs: whether the minority went Down at every majority node present at the
    /// cut during the partition, and every running node was Up everywhere (and every crashed
    /// one Down) within the calm afterwards.
    pub partition_healed: Option<bool>,
}

#[derive(Default)]
struct Tally {
    /// Per node: when it crashed.
    crashed_at: BTreeMap<u64, Duration>,
    /// Per node: when it joined (absent: there from the start).
    joined_at: BTreeMap<u64, Duration>,
    /// Per crashed member: its Down events' delays, one per observer.
    downs: BTreeMap<u64, Vec<(u64, Duration)>>,
    false_downs: u64,
    false_suspects: u64,
    /// Minority members reported Down by majority observers during the partition.
    partition_downs: u64,
    now: Duration,
    /// `(side of each node, from, until)` while a partition is on or its grace runs.
    split: Option<(Vec<bool>, Duration, Duration)>,
}

impl Tally {
    fn split_pair(&self, a: u64, b: u64) -> bool {
        self.split.as_ref().is_some_and(|(side, from, until)| {
            self.now >= *from
                && self.now <= *until
                && side.get(a as usize).copied().unwrap_or(false)
                    != side.get(b as usize).copied().unwrap_or(false)
        })
    }

    fn event(&mut self, observer: NodeId, event: Event) {
        let Event::Member { id, status, .. } = event else {
            return;
        };
        let running = !self.crashed_at.contains_key(&id.0);
        match status {
            MemberStatus::Down if running => {
                if self.split_pair(observer.0, id.0) {
                    self.partition_downs += 1;
                } else {
                    self.false_downs += 1;
                }
            }
            MemberStatus::Suspect if running && !self.split_pair(observer.0, id.0) => {
                self.false_suspects += 1;
            }
            MemberStatus::Down => {
                if let Some(&at) = self.crashed_at.get(&id.0) {
                    self.downs
                        .entry(id.0)
                        .or_default()
                        .push((observer.0, self.now.saturating_sub(at)));
                }
            }
            _ => {}
        }
    }
}

impl ChurnExperiment {
    /// Runs the experiment; `progress` sees the virtual seconds elapsed, every 10.
    pub fn run(&self, mut progress: impl FnMut(u64)) -> Result<ChurnReport, Error> {
        if self.config.membership.is_none() {
            return Err(Error::config(
                "membership",
                "the experiment needs membership on",
            ));
        }
        let start = Instant::now();
        // With partial views every node joins through a node started before it, as
        // `Lockstep::with_views` builds a cluster, and a joiner through its seeds.
        let cluster = match self.config.view {
            Some(_) => Lockstep::with_views(self.nodes, self.config.clone(), self.seed, start)?,
            None => Lockstep::new(self.nodes, self.config.clone(), self.seed, start)?,
        };
        let mut cluster = cluster.with_step(self.step);
        cluster.set_loss(self.loss);
        let tally = Rc::new(RefCell::new(Tally::default()));
        let sink = tally.clone();
        cluster.set_event_sink(move |observer, event| sink.borrow_mut().event(observer, event));
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ 0xc4u64);
        let mut live: Vec<usize> = (0..self.nodes).collect();
        let steps_per_s = (Duration::from_secs(1).as_nanos() / self.step.as_nanos().max(1)) as u64;
        let mut fd = FdBytes::default();
        let warmup = self.warmup;
        let total = warmup + self.duration + self.settle;
        let partition_at = warmup + self.duration / 2;
        let (mut cut, mut healed_at): (Option<Vec<bool>>, Option<Duration>) = (None, None);
        let mut converged_after = None;
        let mut churn_carry = 0.0;
        let mut partition_check = None;
        let mut elapsed = Duration::ZERO;
        let mut second = 0u64;
        while elapsed < total {
            let report_fd = elapsed >= warmup;
            cluster.round_with(|_, t| {
                if report_fd && t.kind == MessageKind::Probe {
                    fd.add(&t.payload);
                }
            });
            elapsed += self.step;
            tally.borrow_mut().now = elapsed;
            if report_fd {
                fd.node_steps += live.len() as u64;
            }
            if cluster.rounds() % steps_per_s != 0 {
                continue;
            }
            second += 1;
            if second.is_multiple_of(10) {
                progress(second);
            }
            let churning = elapsed > warmup && elapsed <= warmup + self.duration;
            if churning {
                churn_carry += self.churn * live.len() as f64;
                let count = churn_carry.floor() as usize;
                churn_carry -= count as f64;
                for _ in 0..count.min(live.len().saturating_sub(2)) {
                    let victim = live.swap_remove(rng.random_range(0..live.len()));
                    tally.borrow_mut().crashed_at.insert(victim as u64, elapsed);
                    cluster.crash(victim);
                }
                for _ in 0..count {
                    let seeds = [
                        live[rng.random_range(0..live.len())],
                        live[rng.random_range(0..live.len())],
                    ];
                    let new = cluster.add_node(&seeds)?;
                    tally.borrow_mut().joined_at.insert(new as u64, elapsed);
                    live.push(new);
                }
            }
            // The partition: a random fraction of the nodes, cut off both ways.
            if self.partition > 0.0 && cut.is_none() && elapsed >= partition_at {
                let mut side = vec![false; cluster.nodes().len()];
                let minority = ((live.len() as f64) * self.partition).round() as usize;
                let mut pool = live.clone();
                for _ in 0..minority.min(pool.len()) {
                    let node = pool.swap_remove(rng.random_range(0..pool.len()));
                    side[node] = true;
                }
                cluster.set_partition(Some(side.clone()));
                // Suspicions scale with the members known, the crashed ones not yet removed
                // included: every node started is an upper bound.
                let swim = self.config.membership.as_ref().and_then(|m| m.swim());
                let known = cluster.nodes().len();
                let grace = swim.map_or(Duration::from_secs(60), |s| {
                    s.suspicion_min(known) * s.suspicion_max_mult.get() + s.probe_interval * 4
                });
                tally.borrow_mut().split =
                    Some((side.clone(), elapsed, elapsed + self.partition_for + grace));
                cut = Some(side);
            }
            if let Some(side) = &cut
                && healed_at.is_none()
                && elapsed >= partition_at + self.partition_for
            {
                // Just before the heal: the majority present at the cut should hold the
                // minority Down. (Nodes that joined since, on the majority's side, never saw
                // the minority: what they hold of it is hearsay, a suspicion they cannot
                // check until the heal.)
                let on = |n: usize| side.get(n).copied().unwrap_or(false);
                let minority: Vec<usize> = live.iter().copied().filter(|&n| on(n)).collect();
                let majority: Vec<usize> = live
                    .iter()
                    .copied()
                    .filter(|&n| n < side.len() && !on(n))
                    .collect();
                partition_check = Some(held_down(&cluster, &majority, &minority));
                cluster.set_partition(None);
                healed_at = Some(elapsed);
            }
            let calm_from = (warmup + self.duration).max(healed_at.unwrap_or_default());
            if converged_after.is_none() && elapsed > calm_from && second.is_multiple_of(5) {
                let crashed: Vec<usize> = tally
                    .borrow()
                    .crashed_at
                    .keys()
                    .map(|&n| n as usize)
                    .collect();
                if tables_agree(&cluster, &live, &crashed) {
                    converged_after = Some((elapsed - calm_from).as_secs_f64());
                }
            }
        }
        let tally = tally.borrow();
        let (detected, delays) = detections(&tally, &live);
        let node_seconds = fd.node_steps as f64 * self.step.as_secs_f64();
        let per = |bytes: u64| bytes as f64 / node_seconds.max(1e-9);
        let partition_healed = partition_check.map(|down_during| {
            let side = cut.as_deref().unwrap_or(&[]);
            let minority: Vec<usize> = live
                .iter()
                .copied()
                .filter(|&n| side.get(n).copied().unwrap_or(false))
                .collect();
            down_during && converged_after.is_some() && !minority.is_empty()
        });
        Ok(ChurnReport {
            false_downs: tally.false_downs,
            false_suspects: tally.false_suspects,
            crashes: tally.crashed_at.len() as u64,
            joins: tally.joined_at.len() as u64,
            detected,
            detection_p50_s: quantile(&delays, 0.5),
            detection_p99_s: quantile(&delays, 0.99),
            detection_max_s: delays.last().copied().unwrap_or(0.0),
            fd_bytes_per_node_per_s: per(fd.total),
            probe_bytes_per_node_per_s: per(fd.total - fd.updates),
            dissemination_bytes_per_node_per_s: per(fd.updates),
            bytes_by_kind: fd.by_kind.iter().map(|(k, &b)| (*k, per(b))).collect(),
            converged_after_s: converged_after,
            partition_healed,
        })
    }
}

/// Failure-detection bytes, split by decoding every datagram.
#[derive(Default)]
struct FdBytes {
    total: u64,
    /// The updates' bytes, and every byte of pure gossip messages.
    updates: u64,
    by_kind: BTreeMap<&'static str, u64>,
    node_steps: u64,
}

impl FdBytes {
    fn add(&mut self, payload: &[u8]) {
        self.total += payload.len() as u64;
        let Ok(message) = rmp_serde::from_slice::<Message>(payload) else {
            return;
        };
        if let Body::Probe(fd) = &message.body {
            let kind = match fd.probe {
                crate::Probe::Ping { .. } => "ping",
                crate::Probe::Ack { .. } => "ack",
                crate::Probe::PingReq { .. } => "ping_req",
                crate::Probe::Nack { .. } => "nack",
                crate::Probe::Gossip => "gossip",
                crate::Probe::Sync { .. } => "sync",
                crate::Probe::Table { .. } => "table",
            };
            *self.by_kind.entry(kind).or_default() += payload.len() as u64;
            self.updates += match fd.probe {
                crate::Probe::Gossip => payload.len() as u64,
                _ => encoded_len(&fd.updates) as u64,
            };
        }
    }
}

/// Whether every majority node holds every minority node Down (or Removed).
fn held_down(cluster: &Lockstep, majority: &[usize], minority: &[usize]) -> bool {
    majority.iter().all(|&o| {
        minority.iter().all(|&m| {
            matches!(
                cluster.nodes()[o].member_status(NodeId(m as u64)),
                Some(MemberStatus::Down | MemberStatus::Removed)
            )
        })
    })
}

/// Whether every running node holds every running node Up (or does not know it yet is not
/// allowed) and every crashed node Down, Removed or unknown.
fn tables_agree(cluster: &Lockstep, live: &[usize], crashed: &[usize]) -> bool {
    live.iter().all(|&o| {
        let node = &cluster.nodes()[o];
        live.iter()
            .all(|&m| m == o || node.member_status(NodeId(m as u64)) == Some(MemberStatus::Up))
            && crashed.iter().all(|&m| {
                !matches!(
                    node.member_status(NodeId(m as u64)),
                    Some(MemberStatus::Up | MemberStatus::Suspect | MemberStatus::Joining)
                )
            })
    })
}

/// The fraction of (crash, eligible observer) pairs detected, and their sorted delays.
fn detections(tally: &Tally, live: &[usize]) -> (f64, Vec<f64>) {
    let mut live = live.to_vec();
    live.sort_unstable();
    let mut expected = 0u64;
    let mut found = 0u64;
    let mut delays = Vec::new();
    for (&member, &crash) in &tally.crashed_at {
        // Observers running from before the crash to the end, and not cut off from the member
        // when it crashed (the partition's sides see each other Down already).
        let eligible = |o: u64| {
            tally.joined_at.get(&o).is_none_or(|&j| j < crash)
                && !tally.split.as_ref().is_some_and(|(side, from, until)| {
                    crash >= *from
                        && crash <= *until
                        && side.get(o as usize).copied().unwrap_or(false)
                            != side.get(member as usize).copied().unwrap_or(false)
                })
        };
        expected += live.iter().filter(|&&o| eligible(o as u64)).count() as u64;
        for &(observer, delay) in tally.downs.get(&member).into_iter().flatten() {
            if eligible(observer) && live.binary_search(&(observer as usize)).is_ok() {
                found += 1;
                delays.push(delay.as_secs_f64());
            }
        }
    }
    delays.sort_by(f64::total_cmp);
    let fraction = if expected == 0 {
        1.0
    } else {
        found as f64 / expected as f64
    };
    (fraction, delays)
}

/// The `q` quantile of sorted values (0 for none).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}
