//! A lockstep driver: N nodes in one value, run round by round with every datagram delivered
//! within the round (answers included), for tests, benchmarks and the proto-level demo.
//!
//! Delivery model: in each round every node ticks in id order, then datagrams are delivered in
//! FIFO order until none is in flight, so news can cross several hops in one round (as in the
//! chitchat baseline's measurements). Loss is drawn from a seeded RNG. The runtimes of
//! `hearsay-actor` add latency and real mailboxes on top of the same [`Node`].

use crate::{Config, Error, Generation, Node, NodeId, Peers, Transmit};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::time::Instant;

/// What one round moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Datagrams sent.
    pub messages: u64,
    /// Their encoded bytes.
    pub bytes: u64,
    /// The largest datagram.
    pub largest: usize,
    /// Datagrams lost.
    pub lost: u64,
    /// Datagrams the receiver rejected.
    pub rejected: u64,
}

/// N nodes with ids `0..n`, full static membership, run in lockstep rounds.
///
/// ```
/// use hearsay_proto::{Config, Lockstep, NodeId, Value};
/// let mut cluster = Lockstep::new(50, Config::default(), 1, std::time::Instant::now())?;
/// cluster.node_mut(0).map(|n| n.set("k", Value::from("v"))).transpose()?;
/// let rounds = cluster.run_until(60, |c| c.converged());
/// assert!(rounds.is_some());
/// assert_eq!(cluster.nodes()[49].get_from(NodeId(0), "k"), Some(&Value::from("v")));
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Debug)]
pub struct Lockstep {
    nodes: Vec<Node>,
    now: Instant,
    round: u64,
    loss: f64,
    rng: ChaCha8Rng,
    total: RoundReport,
}

impl Lockstep {
    /// Builds `n` nodes from one configuration; node `i` is seeded from `seed` and `i`. `start` is
    /// the instant of round 0 (the driver reads no clock).
    pub fn new(n: usize, config: Config, seed: u64, start: Instant) -> Result<Lockstep, Error> {
        let members = Peers::shared((0..n as u64).map(NodeId).collect());
        let nodes = (0..n as u64)
            .map(|i| {
                let mut node = Node::new(
                    NodeId(i),
                    Generation(1),
                    config.clone(),
                    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i),
                )?;
                node.set_peers(members.clone());
                Ok(node)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Lockstep {
            nodes,
            now: start,
            round: 0,
            loss: 0.0,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed),
            total: RoundReport::default(),
        })
    }

    /// Drops each datagram with probability `loss`.
    pub fn set_loss(&mut self, loss: f64) {
        self.loss = loss.clamp(0.0, 1.0);
    }

    /// The nodes, by id.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// One node, to write to or inspect.
    pub fn node_mut(&mut self, id: usize) -> Option<&mut Node> {
        self.nodes.get_mut(id)
    }

    /// Rounds run.
    pub fn rounds(&self) -> u64 {
        self.round
    }

    /// Totals over every round run.
    pub fn total(&self) -> RoundReport {
        self.total
    }

    /// Runs one round; `observe` sees every datagram sent, with its sender.
    pub fn round_with(&mut self, mut observe: impl FnMut(NodeId, &Transmit)) -> RoundReport {
        self.round += 1;
        if self.round > 1 {
            if let Some(interval) = self.nodes.first().map(|n| n.config().gossip_interval) {
                self.now += interval;
            }
        }
        let mut report = RoundReport::default();
        let mut in_flight: VecDeque<(NodeId, Transmit)> = VecDeque::new();
        for node in &mut self.nodes {
            node.handle_timeout(self.now);
            let from = node.id();
            in_flight.extend(std::iter::from_fn(|| node.poll_transmit()).map(|t| (from, t)));
        }
        while let Some((from, transmit)) = in_flight.pop_front() {
            observe(from, &transmit);
            report.messages += 1;
            report.bytes += transmit.payload.len() as u64;
            report.largest = report.largest.max(transmit.payload.len());
            if self.loss > 0.0 && self.rng.random_bool(self.loss) {
                report.lost += 1;
                continue;
            }
            let Some(node) = usize::try_from(transmit.to.0)
                .ok()
                .and_then(|i| self.nodes.get_mut(i))
            else {
                continue;
            };
            if node.handle_datagram(self.now, &transmit.payload).is_err() {
                report.rejected += 1;
            }
            let at = node.id();
            in_flight.extend(std::iter::from_fn(|| node.poll_transmit()).map(|t| (at, t)));
            while node.poll_event().is_some() {}
        }
        self.total.messages += report.messages;
        self.total.bytes += report.bytes;
        self.total.largest = self.total.largest.max(report.largest);
        self.total.lost += report.lost;
        self.total.rejected += report.rejected;
        report
    }

    /// Runs one round.
    pub fn round(&mut self) -> RoundReport {
        self.round_with(|_, _| {})
    }

    /// Runs rounds until `done` holds (checked before each round) or `max_rounds` have run;
    /// returns the number of rounds run if `done` held.
    pub fn run_until(
        &mut self,
        max_rounds: u64,
        mut done: impl FnMut(&Lockstep) -> bool,
    ) -> Option<u64> {
        let start = self.round;
        loop {
            if done(self) {
                return Some(self.round - start);
            }
            if self.round - start >= max_rounds {
                return None;
            }
            self.round();
        }
    }

    /// Whether every node holds the same entries.
    pub fn converged(&self) -> bool {
        match self.nodes.split_first() {
            Some((first, rest)) => rest.iter().all(|n| n.store().same_entries(first.store())),
            None => true,
        }
    }
}
