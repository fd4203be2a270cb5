//! Runs one [`Scenario`] on the deterministic harness and checks it.

use super::check::{self, Model, Violation};
use super::net_peers::{Change, NetPeers, Reach, Seen};
use super::scenario::{Fault, Scenario};
use crate::{
    AddPeer, Error, Join, Latency, NetworkConfig, NodeSnapshot, PeerFailed, RemovePeer, SetWithTtl,
    Simulation, SimulationConfig, simulate,
};
use hearsay_proto::membership::ADDR_KEY;
use hearsay_proto::{NodeId, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// The key of the writes that probe a settled cluster's liveness (scenarios write `k0`…).
const PROBE_KEY: &str = "probe";

/// How a run is checked. Defaults: every 5 s, up to an hour of healing, a minute of quiet.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Virtual time between two checks of the always-invariants (and of convergence once healed).
    pub check_every: Duration,
    /// How long the healed cluster may take to settle (converged, every latest write everywhere,
    /// membership agreeing) before the run counts as diverged; as long again after the probes.
    pub settle: Duration,
    /// Virtual time the settled cluster runs on after the probes, with nothing to do: no live
    /// node may be held dead at any check (no false verdict in a healthy network), and the
    /// cluster settle again at the end (no write lost late, nothing purged that should stay).
    pub quiet: Duration,
    /// How much longer than [`RunConfig::quiet`] the quiet phase may run so that the down
    /// members pass [`check::removal_bound`] after the live nodes' verdicts and removal's promise
    /// is checked ([`check::purged`]); scenarios whose bound lies further are not checked for it.
    pub purge_wait: Duration,
    /// Keep the harness's trace (for determinism checks and debugging).
    pub trace: bool,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            check_every: Duration::from_secs(5),
            settle: Duration::from_secs(3600),
            quiet: Duration::from_secs(60),
            purge_wait: Duration::from_secs(300),
            trace: false,
        }
    }
}

/// What one run showed.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The scenario's seed.
    pub seed: u64,
    /// Every invariant broken (the first of each kind).
    pub violations: Vec<Violation>,
    /// Virtual time from the heal until the cluster settled (before the probes), if it did.
    pub settled_after: Option<Duration>,
    /// A hash of the final state of every node and of the trace: equal for equal runs.
    pub fingerprint: u64,
    /// Writes the nodes accepted.
    pub writes: usize,
    /// Messages sent, in all.
    pub messages: u64,
    /// The harness's trace, when [`RunConfig::trace`] is on.
    pub trace: Option<String>,
}

impl Outcome {
    /// Whether every invariant held.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Runs `scenario` on a fresh deterministic harness and checks every invariant; a scenario the
/// harness cannot run ([`Scenario::validate`]) is an [`Error::InvalidScenario`].
pub fn run(scenario: &Scenario, config: &RunConfig) -> Result<Outcome, Error> {
    scenario.validate()?;
    simulate(|| drive(scenario, config))?
}

struct Driver<'a> {
    sim: Simulation,
    model: Model,
    violations: Vec<Violation>,
    counter: u64,
    writes: usize,
    /// Whether writes go through flow control ([`hearsay_proto::Config::flow_control`]).
    flow_control: bool,
    /// Nodes paused and not resumed, crashed or restarted since: a pause ends at the heal at the
    /// latest (a shrunk scenario may have dropped a resume; a seed paused for good would keep
    /// joiners out, which no rule promises against).
    paused: BTreeSet<usize>,
    /// `hearsay-net`'s peer policy, when the scenario asks for it ([`Scenario::net_peers`]).
    net_peers: Option<NetPeers>,
    /// Each node's processes started since the run began (a restart breaks its connections).
    processes: Vec<u64>,
    /// Where the network lets datagrams pass (what the transports' hellos need).
    reach: Reach,
    /// How long after its deadline a running node may still hold a key it wrote with a time to
    /// live (it deletes it at its next gossip round).
    expiry_slack: Duration,
    config: &'a RunConfig,
}

impl Driver<'_> {
    /// Runs the healed cluster until it settles — converged, every latest write everywhere,
    /// membership agreeing — or [`RunConfig::settle`] passed: how long it took, and the last
    /// snapshots.
    async fn settle(&mut self) -> Result<(Option<Duration>, Vec<NodeSnapshot>), Error> {
        let from = self.sim.elapsed();
        loop {
            let until = self.sim.elapsed() + self.config.check_every;
            self.sim.run_for(self.config.check_every).await;
            let last = self.check_always().await?;
            if check::converged(&last) && self.healed(&last, "").is_empty() {
                return Ok((Some(self.sim.elapsed() - from), last));
            }
            if until - from >= self.config.settle {
                return Ok((None, last));
            }
        }
    }

    /// The healed cluster's invariants ([`check::healed`], [`check::membership`]) at these
    /// snapshots, each kind prefixed with `phase`.
    fn healed(&self, snapshots: &[NodeSnapshot], phase: &str) -> Vec<Violation> {
        let at = self.sim.elapsed();
        let mut found = check::healed(snapshots, &self.model, at);
        found.extend(check::membership(snapshots, at));
        for violation in &mut found {
            violation.kind.insert_str(0, phase);
        }
        found
    }

    /// Every live node writes a probe (the liveness phase of [`drive`]).
    async fn probe(&mut self, snapshots: &[NodeSnapshot]) -> Result<(), Error> {
        for node in snapshots.iter().filter(|s| !s.down) {
            let index = node.id.0 as usize;
            self.counter += 1;
            let text = format!("{index}/{}", self.counter);
            match self
                .sim
                .set(index, PROBE_KEY, Value::from(text.as_str()))
                .await
            {
                Ok(_) => self.model.wrote(index, PROBE_KEY, Some(text.into_bytes())),
                Err(Error::Down(_) | Error::Protocol(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(())
    }

    /// Runs the settled cluster on with nothing to do for [`RunConfig::quiet`] — with
    /// membership, long enough (up to [`RunConfig::purge_wait`] more) for every down member to
    /// be removed ([`check::removal_bound`] after [`check::verdicts`] first held) — then lets it
    /// settle again. As it runs, no live node may be held dead at any check
    /// ([`check::no_false_verdict`]); at the end, the healed cluster's invariants hold again (the
    /// stores differ for a moment whenever a node writes in the background — a tombstone
    /// collected, a removed member's state dropped) and, if the removal was waited for,
    /// removal's promise ([`check::purged`]). Kinds are prefixed `quiet-` (`purge` for the
    /// last). Returns the last snapshots (`last` if the phase is empty).
    async fn quiet(
        &mut self,
        scenario: &Scenario,
        mut last: Vec<NodeSnapshot>,
    ) -> Result<Vec<NodeSnapshot>, Error> {
        let from = self.sim.elapsed();
        let latest = from + self.config.quiet + self.config.purge_wait;
        let removal = scenario
            .protocol
            .membership
            .as_ref()
            .map(check::removal_bound);
        let mut end = from + self.config.quiet;
        let mut purge_at = None;
        while self.sim.elapsed() < end {
            let step = self.config.check_every.min(end - self.sim.elapsed());
            self.sim.run_for(step).await;
            last = self.check_always().await?;
            let at = self.sim.elapsed();
            let mut found = check::no_false_verdict(&last, at);
            for violation in &mut found {
                violation.kind.insert_str(0, "quiet-");
            }
            self.note(found);
            if let Some(bound) = removal.filter(|_| purge_at.is_none())
                && check::verdicts(&last)
                && at + bound <= latest
            {
                purge_at = Some(at + bound);
                end = end.max(at + bound);
            }
        }
        if end == from {
            return Ok(last);
        }
        let (settled, after) = self.settle().await?;
        if settled.is_none() {
            let found = self.healed(&after, "quiet-");
            self.note(found);
        } else if purge_at.is_some() {
            let found = check::purged(&after, self.sim.elapsed());
            self.note(found);
        }
        Ok(after)
    }

    /// Keeps the first violation of each kind.
    fn note(&mut self, found: Vec<Violation>) {
        for v in found {
            if !self.violations.iter().any(|k| k.kind == v.kind) {
                self.violations.push(v);
            }
        }
    }

    /// Checks the always-invariants, then applies `hearsay-net`'s peer policy if the scenario
    /// asks for it.
    async fn check_always(&mut self) -> Result<Vec<NodeSnapshot>, Error> {
        let snapshots = self.sim.inspect_all().await?;
        let at = self.sim.elapsed();
        let found = self
            .model
            .expiries(&snapshots, at, &self.paused, self.expiry_slack);
        self.note(found);
        let found = check::always(&snapshots, &self.model, self.sim.elapsed());
        self.note(found);
        self.transports(&snapshots).await?;
        Ok(snapshots)
    }

    /// Applies `hearsay-net`'s peer policy at once, if the scenario asks for it (a process that
    /// starts says hello to its seeds without waiting for the next check).
    async fn hello(&mut self) -> Result<(), Error> {
        if self.net_peers.is_some() {
            let snapshots = self.sim.inspect_all().await?;
            self.transports(&snapshots).await?;
        }
        Ok(())
    }

    /// What the emulated transports do at these snapshots ([`NetPeers::changes`]): addresses
    /// learnt and forgotten, peers added and removed.
    async fn transports(&mut self, snapshots: &[NodeSnapshot]) -> Result<(), Error> {
        let Some(net) = &mut self.net_peers else {
            return Ok(());
        };
        let nodes: Vec<Seen> = (snapshots.iter().enumerate())
            .map(|(i, n)| Seen {
                generation: n.generation,
                process: self.processes.get(i).copied().unwrap_or(0),
                runs: !n.down && !self.paused.contains(&i),
                members: (n.members.iter())
                    .map(|m| (m.id, m.generation, m.status))
                    .collect(),
                addresses: (n.store.origins())
                    .filter_map(|(origin, state)| {
                        let entry = state.get(ADDR_KEY).filter(|e| e.value.is_some())?;
                        Some((origin, state.generation(), entry.version))
                    })
                    .collect(),
                active_view: n.active_view.clone().unwrap_or_default(),
            })
            .collect();
        for change in net.changes(&nodes, |from, to| self.reach.passes(from, to)) {
            let id = |peer: usize| NodeId(peer as u64);
            match change {
                Change::Learnt { node, peer } => self.sim.learn_address(node, peer),
                Change::Added { node, peer } => {
                    self.sim.node(node)?.send(AddPeer(id(peer))).await?
                }
                Change::Joined { node, seed } => self.sim.node(node)?.send(Join(id(seed))).await?,
                Change::Unlinked { node, peer } => {
                    self.sim.node(node)?.send(RemovePeer(id(peer))).await?;
                }
                Change::Failed { node, peer } => {
                    self.sim.node(node)?.send(PeerFailed(id(peer))).await?;
                }
            }
        }
        Ok(())
    }

    /// Node `index`'s process stopped or starts afresh: its transport knows no address.
    fn new_process(&mut self, index: usize) {
        if self.processes.len() <= index {
            self.processes.resize(index + 1, 0);
        }
        self.processes[index] += 1;
        if let Some(net) = &mut self.net_peers {
            net.restarted(index);
            self.sim.forget_addresses(index);
        }
    }

    /// Lets virtual time pass until `until` (since the start), checking on the way.
    async fn advance(&mut self, until: Duration) -> Result<(), Error> {
        while self.sim.elapsed() < until {
            let step = (until - self.sim.elapsed()).min(self.config.check_every);
            self.sim.run_for(step).await;
            self.check_always().await?;
        }
        Ok(())
    }

    /// A value no write made before: its writer and a counter, padded to `len` bytes.
    fn fresh_value(&mut self, node: usize, len: usize) -> Vec<u8> {
        self.counter += 1;
        let mut text = format!("{node}/{}", self.counter);
        while text.len() < len {
            text.push('.');
        }
        text.into_bytes()
    }

    async fn apply(&mut self, fault: &Fault) -> Result<(), Error> {
        // A process that crashes, restarts or leaves is no longer paused.
        if let Fault::Crash(node)
        | Fault::Restart { node, .. }
        | Fault::Reincarnate { node, .. }
        | Fault::Relaunch { node }
        | Fault::Leave(node) = fault
        {
            self.paused.remove(node);
        }
        // A process that stops or starts afresh loses its transport's addresses (one that leaves
        // loses them when it exits, below).
        if let Fault::Crash(node)
        | Fault::Restart { node, .. }
        | Fault::Reincarnate { node, .. }
        | Fault::Relaunch { node } = fault
        {
            self.new_process(*node);
        }
        self.reach.apply(fault);
        match fault {
            Fault::SetTtl {
                node,
                key,
                len,
                ttl,
            } => {
                let bytes = self.fresh_value(*node, *len);
                // The node's deadline is at or after this (time may pass while it answers): the
                // model's is never later than the node's.
                let deadline = self.sim.elapsed() + *ttl;
                let set = SetWithTtl {
                    key: key.clone(),
                    value: Value::new(bytes.clone()),
                    ttl: *ttl,
                };
                let written = match self.sim.node(*node) {
                    Ok(addr) => addr.send(set).await.map_err(Error::from).and_then(|r| r),
                    Err(error) => Err(error),
                };
                match written {
                    Ok(_) => {
                        self.writes += 1;
                        self.model.wrote_expiring(*node, key, bytes, deadline);
                    }
                    Err(Error::Down(_) | Error::Protocol(_) | Error::NoSuchNode(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            Fault::Set { node, key, len } => {
                let bytes = self.fresh_value(*node, *len);
                let value = Value::new(bytes.clone());
                // With flow control the application writes as its rate allows: a refused write
                // is not made.
                let written = if self.flow_control {
                    self.sim.try_set(*node, key, value).await
                } else {
                    self.sim.set(*node, key, value).await.map(Some)
                };
                match written {
                    Ok(None) => {}
                    Ok(Some(_)) => {
                        self.writes += 1;
                        self.model.wrote(*node, key, Some(bytes));
                    }
                    // A shrunk scenario may have dropped the join of the node that writes.
                    Err(Error::Down(_) | Error::Protocol(_) | Error::NoSuchNode(_)) => {}
                    Err(other) => return Err(other),
                }
            }
            Fault::Delete { node, key } => match self.sim.delete(*node, key).await {
                Ok(_) => {
                    self.writes += 1;
                    self.model.wrote(*node, key, None);
                }
                Err(Error::Down(_) | Error::Protocol(_) | Error::NoSuchNode(_)) => {}
                Err(other) => return Err(other),
            },
            Fault::Partition(groups) => self.sim.partition(
                groups
                    .iter()
                    .map(|g| g.iter().map(|n| NodeId(*n as u64)).collect())
                    .collect(),
            ),
            Fault::Heal => self.sim.heal(),
            Fault::OneWay { from, to } => {
                let ids = |nodes: &[usize]| nodes.iter().map(|n| NodeId(*n as u64)).collect();
                self.sim.cut(ids(from), ids(to));
            }
            Fault::Network { loss, duplicate } => self.sim.set_faults(*loss, *duplicate),
            Fault::Crash(node) => self.sim.crash(*node).await?,
            Fault::Restart { node, keep_state } => {
                if self.sim.restart(*node, *keep_state).await.is_ok() {
                    self.model.restarted(*node, *keep_state);
                }
            }
            Fault::Join { seeds } => {
                let index = self.sim.join(seeds)?;
                if let Some(net) = &mut self.net_peers {
                    net.joined(index, seeds);
                }
            }
            Fault::Reincarnate { node, lower } => {
                let current = self.sim.inspect(*node).await?.generation;
                let generation = if *lower {
                    hearsay_proto::Generation(1)
                } else {
                    current
                };
                if self.sim.reincarnate(*node, generation).await.is_ok() {
                    self.model.reincarnated(*node, current);
                }
            }
            Fault::Pause(node) => {
                self.sim.pause(*node).await?;
                self.paused.insert(*node);
            }
            Fault::Resume(node) => {
                self.sim.resume(*node).await?;
                self.paused.remove(node);
            }
            Fault::Relaunch { node } => {
                if self.sim.relaunch(*node).await.is_ok() {
                    self.model.restarted(*node, false);
                }
            }
            Fault::Leave(node) => {
                let left = self.sim.node(*node)?.send(crate::Leave).await?;
                if left.is_ok() {
                    // It goes on gossiping a little, then exits.
                    self.sim.run_for(Duration::from_secs(2)).await;
                    self.sim.crash(*node).await?;
                    self.new_process(*node);
                }
            }
        }
        // A process that starts says hello to its seeds at once.
        if let Fault::Join { .. }
        | Fault::Restart { .. }
        | Fault::Reincarnate { .. }
        | Fault::Relaunch { .. } = fault
        {
            self.hello().await?;
        }
        Ok(())
    }
}

async fn drive(scenario: &Scenario, config: &RunConfig) -> Result<Outcome, Error> {
    let (min, max) = scenario.latency;
    let sim = Simulation::start(SimulationConfig {
        nodes: scenario.nodes,
        seed: scenario.seed,
        protocol: scenario.protocol.clone(),
        network: Some(NetworkConfig {
            latency: Latency::Uniform { min, max },
            loss: scenario.loss,
            duplicate: scenario.duplicate,
            ..NetworkConfig::default()
        }),
        jitter: true,
        trace: config.trace,
        start_after: Duration::ZERO,
        seed_peers: scenario.seed_peers.clone(),
        addresses: scenario.addresses(),
        // Both transports answer whoever reaches them: the datagram one at the source, the mesh
        // by dialing the peer's last known address.
        reply_paths: scenario.addresses(),
    })?;
    let mut driver = Driver {
        sim,
        model: Model::default(),
        violations: Vec::new(),
        counter: 0,
        writes: 0,
        flow_control: scenario.protocol.flow_control.is_some(),
        paused: BTreeSet::new(),
        net_peers: NetPeers::of(scenario),
        processes: vec![0; scenario.nodes],
        reach: Reach::default(),
        expiry_slack: 2 * scenario.protocol.gossip_interval + Duration::from_secs(1),
        config,
    };
    driver.hello().await?;
    for (at, fault) in &scenario.events {
        driver.advance(*at).await?;
        driver.apply(fault).await?;
    }
    driver.advance(scenario.duration).await?;
    // Everything heals: no partition, no loss, no duplicates, no pause. Crashed nodes stay down.
    for node in std::mem::take(&mut driver.paused) {
        driver.sim.resume(node).await?;
    }
    driver.sim.heal();
    driver.reach.heal();
    driver.sim.set_faults(0.0, 0.0);
    let (settled_after, mut last) = driver.settle().await?;
    let found = driver.healed(&last, "");
    driver.note(found);
    // Liveness: every live node writes once more, and each write must reach every live node
    // with membership agreeing again — a node cut off from the others for good, or declared
    // dead while it runs, breaks this even if it wrote nothing before.
    if settled_after.is_some() {
        driver.probe(&last).await?;
        let (probed, after) = driver.settle().await?;
        last = after;
        if probed.is_none() {
            let found = driver.healed(&last, "probe-");
            driver.note(found);
        } else {
            last = driver.quiet(scenario, last).await?;
        }
    }
    let metrics = driver.sim.metrics().await?;
    let messages = metrics.iter().map(|m| m.stats.sent_total().messages).sum();
    let fingerprint = fingerprint(&last, driver.sim.recorder().trace());
    let trace = driver.sim.recorder().trace().map(str::to_owned);
    Ok(Outcome {
        seed: scenario.seed,
        violations: driver.violations,
        settled_after,
        fingerprint,
        writes: driver.writes,
        messages,
        trace,
    })
}

/// FNV-1a over the final stores (entries, watermarks, horizons), counters and trace.
fn fingerprint(snapshots: &[NodeSnapshot], trace: Option<&str>) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u64::from(*b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for s in snapshots {
        eat(format!("{:?} {:?} {}", s.id, s.generation, s.down).as_bytes());
        for (origin, state) in s.store.origins() {
            eat(format!(
                "{origin:?} {:?} {:?} {:?} {}",
                state.generation(),
                state.watermark(),
                state.horizon(),
                state.heartbeat()
            )
            .as_bytes());
            for (key, entry) in state.entries() {
                eat(format!("{key} {entry:?}").as_bytes());
            }
        }
        eat(format!("{:?}", s.stats).as_bytes());
    }
    if let Some(trace) = trace {
        eat(trace.as_bytes());
    }
    hash
}
