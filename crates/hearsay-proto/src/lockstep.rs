//! A lockstep driver: N nodes in one value, run round by round with every datagram delivered
//! within the round (answers included), for tests, benchmarks and the proto-level demo.
//!
//! Delivery model: in each round every node ticks in id order, then datagrams are delivered in
//! FIFO order until none is in flight, so news can cross several hops in one round (as in the
//! chitchat baseline's measurements). Loss is drawn from a seeded RNG. The runtimes of
//! `hearsay-actor` add latency and real mailboxes on top of the same [`Node`].

use crate::{Config, Error, Event, Generation, Node, NodeId, Peers, Transmit};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

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
    /// Time between two steps (`None`: one gossip interval, a round).
    step: Option<Duration>,
    seed: u64,
    config: Config,
    /// Where nodes' events go (`None`: dropped).
    sink: Option<EventSink>,
    /// A partition: the side of each node (nodes past the end are on side `false`).
    partition: Option<Vec<bool>>,
}

/// A callback taking every node's events.
struct EventSink(Box<dyn FnMut(NodeId, Event)>);

impl std::fmt::Debug for EventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSink")
    }
}

impl Lockstep {
    /// Builds `n` nodes from one configuration; node `i` is seeded from `seed` and `i`. `start` is
    /// the instant of round 0 (the driver reads no clock).
    pub fn new(n: usize, config: Config, seed: u64, start: Instant) -> Result<Lockstep, Error> {
        let members = Peers::shared((0..n as u64).map(NodeId).collect());
        let nodes = (0..n as u64)
            .map(|i| {
                let mut node =
                    Node::new(NodeId(i), Generation(1), config.clone(), node_seed(seed, i))?;
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
            step: None,
            seed,
            config,
            sink: None,
            partition: None,
        })
    }

    /// Steps of `step` instead of rounds: each [`Lockstep::round`] advances time by `step` and
    /// calls every node's `handle_timeout`, so that timers shorter than a gossip interval (the
    /// failure detector's probes) run at their time, rounded up to a step. Datagrams are still
    /// delivered within the step.
    ///
    /// ```
    /// use hearsay_proto::{Config, Lockstep, MemberStatus, NodeId};
    /// use std::time::Duration;
    /// let mut cluster = Lockstep::new(20, Config::lan(), 1, std::time::Instant::now())?
    ///     .with_step(Duration::from_millis(100));
    /// cluster.run_until(100, |_| false); // 10 s
    /// cluster.crash(3);
    /// cluster.run_until(600, |_| false); // 60 s
    /// assert_eq!(cluster.nodes()[0].member_status(NodeId(3)), Some(MemberStatus::Down));
    /// assert_eq!(cluster.nodes()[0].member_status(NodeId(4)), Some(MemberStatus::Up));
    /// # Ok::<(), hearsay_proto::Error>(())
    /// ```
    pub fn with_step(mut self, step: Duration) -> Lockstep {
        self.step = Some(step).filter(|s| !s.is_zero());
        self
    }

    /// Hands every node's events to `sink` (with the node's id) instead of dropping them.
    pub fn set_event_sink(&mut self, sink: impl FnMut(NodeId, Event) + 'static) {
        self.sink = Some(EventSink(Box::new(sink)));
    }

    /// Adds a node that knows only `seeds` (a join), with the cluster's configuration; returns
    /// its index (its id). It runs from the next round.
    pub fn add_node(&mut self, seeds: &[usize]) -> Result<usize, Error> {
        let index = self.nodes.len();
        let mut node = Node::new(
            NodeId(index as u64),
            Generation(1),
            self.config.clone(),
            node_seed(self.seed, index as u64),
        )?;
        node.set_peers(Peers::Own(Vec::new()));
        for &seed in seeds {
            node.join(self.now, NodeId(seed as u64));
        }
        let mut in_flight = VecDeque::new();
        in_flight
            .extend(std::iter::from_fn(|| node.poll_transmit()).map(|t| (NodeId(index as u64), t)));
        self.nodes.push(node);
        self.crashed.push(false);
        let mut report = RoundReport::default();
        self.deliver(in_flight, &mut |_, _| {}, &mut report);
        Ok(index)
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

    /// Cuts the network in two (`side[i]` is node `i`'s side; nodes past the end are on side
    /// `false`): datagrams between the sides are lost. `None` heals it.
    pub fn set_partition(&mut self, side: Option<Vec<bool>>) {
        self.partition = side;
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
            self.now += self.step.unwrap_or(self.config.gossip_interval);
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
            drain_events(node, &mut self.sink);
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
            if let Some(side) = &self.partition {
                let of = |id: NodeId| side.get(id.0 as usize).copied().unwrap_or(false);
                if of(from) != of(transmit.to) {
                    report.lost += 1;
                    continue;
                }
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
            drain_events(node, &mut self.sink);
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

/// Node `i`'s RNG seed in a cluster seeded with `seed`.
fn node_seed(seed: u64, i: u64) -> u64 {
    seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(i)
}

/// Hands `node`'s events to the sink, or drops them.
fn drain_events(node: &mut Node, sink: &mut Option<EventSink>) {
    let id = node.id();
    while let Some(event) = node.poll_event() {
        if let Some(EventSink(sink)) = sink {
            sink(id, event);
        }
    }
}
