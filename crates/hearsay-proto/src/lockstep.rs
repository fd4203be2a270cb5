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
/// let now = cluster.now();
/// cluster.node_mut(0).map(|n| n.set(now, "k", Value::from("v"))).transpose()?;
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
    /// Crashed nodes: they neither tick nor receive.
    crashed: Vec<bool>,
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
            crashed: vec![false; n],
        })
    }

    /// Builds `n` nodes with partial views ([`Config::view`] must be set): each knows no one,
    /// then node `i` joins through a random node below it, and the join's messages are delivered
    /// at once, before round 1.
    ///
    /// ```
    /// use hearsay_proto::{Config, Lockstep, Value, ViewConfig};
    /// let config = Config { view: Some(ViewConfig::default()), ..Config::default() };
    /// let mut cluster = Lockstep::with_views(200, config, 1, std::time::Instant::now())?;
    /// assert!(cluster.nodes().iter().all(|n| n.view().is_some_and(|v| v.active().len() <= 5)));
    /// let now = cluster.now();
    /// cluster.node_mut(0).map(|n| n.set(now, "k", Value::from("v"))).transpose()?;
    /// assert!(cluster.run_until(60, |c| c.converged()).is_some());
    /// # Ok::<(), hearsay_proto::Error>(())
    /// ```
    pub fn with_views(
        n: usize,
        config: Config,
        seed: u64,
        start: Instant,
    ) -> Result<Lockstep, Error> {
        if config.view.is_none() {
            return Err(Error::config(
                "view",
                "Lockstep::with_views needs Config::view",
            ));
        }
        let mut cluster = Lockstep::new(n, config, seed, start)?;
        for node in &mut cluster.nodes {
            node.set_peers(Peers::default());
        }
        for i in 1..n {
            let contact = cluster.rng.random_range(0..i) as u64;
            let mut in_flight = VecDeque::new();
            if let Some(node) = cluster.nodes.get_mut(i) {
                node.join(cluster.now, NodeId(contact));
                in_flight.extend(
                    std::iter::from_fn(|| node.poll_transmit()).map(|t| (NodeId(i as u64), t)),
                );
            }
            let mut report = RoundReport::default();
            cluster.deliver(in_flight, &mut |_, _| {}, &mut report);
        }
        Ok(cluster)
    }

    /// Crashes node `id`: from now on it neither ticks nor receives.
    pub fn crash(&mut self, id: usize) {
        if let Some(crashed) = self.crashed.get_mut(id) {
            *crashed = true;
        }
    }

    /// Whether node `id` is running.
    pub fn is_live(&self, id: usize) -> bool {
        self.crashed.get(id).is_some_and(|crashed| !crashed)
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

    /// The instant of the current round (of the last one run, or `start` before any): the time
    /// to give the inputs fed to a node between rounds.
    pub fn now(&self) -> Instant {
        self.now
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
        for (node, _) in self
            .nodes
            .iter_mut()
            .zip(&self.crashed)
            .filter(|(_, c)| !**c)
        {
            node.handle_timeout(self.now);
            let from = node.id();
            in_flight.extend(std::iter::from_fn(|| node.poll_transmit()).map(|t| (from, t)));
        }
        self.deliver(in_flight, &mut observe, &mut report);
        self.total.messages += report.messages;
        self.total.bytes += report.bytes;
        self.total.largest = self.total.largest.max(report.largest);
        self.total.lost += report.lost;
        self.total.rejected += report.rejected;
        report
    }

    /// Delivers datagrams, and those they cause, until none is in flight.
    fn deliver(
        &mut self,
        mut in_flight: VecDeque<(NodeId, Transmit)>,
        observe: &mut impl FnMut(NodeId, &Transmit),
        report: &mut RoundReport,
    ) {
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
                .filter(|&i| self.is_live(i))
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

    /// Whether every running node holds the same entries.
    pub fn converged(&self) -> bool {
        let mut live = self
            .nodes
            .iter()
            .zip(&self.crashed)
            .filter(|(_, crashed)| !**crashed)
            .map(|(node, _)| node);
        match live.next() {
            Some(first) => live.all(|n| n.store().same_entries(first.store())),
            None => true,
        }
    }
}
