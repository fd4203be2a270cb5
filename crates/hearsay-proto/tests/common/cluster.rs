//! A round driver for membership tests: N nodes, one round per second of virtual time, seeded
//! loss and frozen (crashed or partitioned) nodes; and the membership configurations they use.

use hearsay_proto::{
    Config, Detector, Event, Generation, HeartbeatConfig, MemberStatus, MembershipConfig, Mode,
    Node, NodeId,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const SECOND: Duration = Duration::from_secs(1);

/// N nodes, one round per second of virtual time; in each round every live node ticks in id
/// order, then datagrams are delivered FIFO until none is in flight. A frozen node neither
/// ticks nor sends nor receives (a crash that keeps its memory, or a partition of one node).
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub frozen: Vec<bool>,
    pub now: Instant,
    pub round: u64,
    pub loss: f64,
    pub rng: ChaCha8Rng,
    /// Every event of every node, with the round it came out in.
    pub events: Vec<Vec<(u64, Event)>>,
}

impl Cluster {
    pub fn new(n: usize, config: Config, seed: u64) -> Cluster {
        let nodes = (0..n as u64)
            .map(|i| {
                let mut node = Node::new(NodeId(i), Generation(1), config.clone(), seed * 1000 + i)
                    .expect("valid config");
                for j in 0..n as u64 {
                    node.add_peer(NodeId(j));
                }
                node
            })
            .collect();
        Cluster {
            nodes,
            frozen: vec![false; n],
            now: Instant::now(),
            round: 0,
            loss: 0.0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            events: vec![Vec::new(); n],
        }
    }

    pub fn drain_events(&mut self, i: usize) {
        while let Some(event) = self.nodes[i].poll_event() {
            self.events[i].push((self.round, event));
        }
    }

    pub fn round(&mut self) {
        if self.round > 0 {
            self.now += SECOND;
        }
        self.round += 1;
        let mut in_flight = VecDeque::new();
        for i in 0..self.nodes.len() {
            if self.frozen[i] {
                continue;
            }
            self.nodes[i].handle_timeout(self.now);
            while let Some(t) = self.nodes[i].poll_transmit() {
                in_flight.push_back(t);
            }
            self.drain_events(i);
        }
        self.deliver(in_flight);
    }

    pub fn deliver(&mut self, mut in_flight: VecDeque<hearsay_proto::Transmit>) {
        while let Some(t) = in_flight.pop_front() {
            let to = t.to.0 as usize;
            if self.frozen[to] || (self.loss > 0.0 && self.rng.random_bool(self.loss)) {
                continue;
            }
            let _ = self.nodes[to].handle_datagram(self.now, &t.payload);
            while let Some(t) = self.nodes[to].poll_transmit() {
                in_flight.push_back(t);
            }
            self.drain_events(to);
        }
    }

    /// Runs a local action on node `i` and delivers what it sends.
    pub fn act<T>(&mut self, i: usize, action: impl FnOnce(&mut Node) -> T) -> T {
        let out = action(&mut self.nodes[i]);
        let mut in_flight = VecDeque::new();
        while let Some(t) = self.nodes[i].poll_transmit() {
            in_flight.push_back(t);
        }
        self.drain_events(i);
        self.deliver(in_flight);
        out
    }

    pub fn run(&mut self, rounds: u64) {
        for _ in 0..rounds {
            self.round();
        }
    }

    /// Runs until `done` or `max` rounds; returns the rounds run if `done` held.
    pub fn run_until(&mut self, max: u64, mut done: impl FnMut(&Cluster) -> bool) -> Option<u64> {
        for r in 0..=max {
            if done(self) {
                return Some(r);
            }
            self.round();
        }
        None
    }

    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.nodes.len()).filter(|&i| !self.frozen[i])
    }

    pub fn status(&self, at: usize, of: u64) -> Option<MemberStatus> {
        self.nodes[at].member_status(NodeId(of))
    }

    /// The membership events node `at` emitted about `of` from round `from` on.
    pub fn member_events(
        &self,
        at: usize,
        of: u64,
        from: u64,
    ) -> Vec<(u64, Generation, MemberStatus)> {
        self.events[at]
            .iter()
            .filter(|(r, _)| *r >= from)
            .filter_map(|(r, e)| match e {
                Event::Member {
                    id,
                    generation,
                    status,
                } if *id == NodeId(of) => Some((*r, *generation, *status)),
                _ => None,
            })
            .collect()
    }
}

/// Membership with the heartbeat detector (phi accrual over gossiped heartbeats), which these
/// tests exercise; SWIM has its own (`tests/swim.rs`).
pub fn membership(removal_after: Duration) -> MembershipConfig {
    MembershipConfig {
        removal_after,
        ..MembershipConfig::with_detector(Detector::Heartbeat(HeartbeatConfig::default()))
    }
}

/// Anti-entropy every round (heartbeats seen about every round), membership on.
pub fn detecting(removal_after: Duration) -> Config {
    Config {
        mode: Mode::AntiEntropy,
        membership: Some(membership(removal_after)),
        ..Config::default()
    }
}

/// When `detector`, given no more heartbeats, first reaches `phi` (to the millisecond).
pub fn crossing(detector: &hearsay_proto::PhiDetector, phi: f64) -> Duration {
    let last = detector.last_heartbeat().expect("monitoring");
    let mut t = Duration::ZERO;
    while detector.phi(last + t) < phi {
        t += Duration::from_millis(1);
    }
    t
}

pub fn all_up(cluster: &Cluster) -> bool {
    let n = cluster.nodes.len() as u64;
    cluster.live().all(|i| {
        (0..n)
            .filter(|&j| j != i as u64 && !cluster.frozen[j as usize])
            .all(|j| cluster.status(i, j) == Some(MemberStatus::Up))
    })
}
