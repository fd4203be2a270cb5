//! The deterministic harness: a cluster of node actors on one actix `System` over a
//! current-thread tokio runtime with paused (virtual) time, every RNG seeded from one seed.
//!
//! Virtual time advances by itself whenever every actor is idle, so thousands of virtual seconds
//! take a few real ones, and the same seed gives the same run, byte for byte (compare
//! [`Recorder::trace`]s).
//!
//! ```
//! use hearsay_actor::{simulate, Simulation, SimulationConfig};
//! use hearsay_proto::Value;
//! use std::time::Duration;
//!
//! let rounds = simulate(|| async {
//!     let sim = Simulation::start(SimulationConfig { nodes: 50, ..SimulationConfig::default() })?;
//!     sim.set(0, "k", Value::from("v")).await?;
//!     let took = sim.run_until(Duration::from_secs(60), |r| r.all_hold_latest()).await;
//!     Ok::<_, hearsay_actor::Error>(took)
//! })??;
//! assert!(rounds.is_some());
//! # Ok::<(), hearsay_actor::Error>(())
//! ```

use crate::messages::{
    Crash, Datagram, Delete, GetEntries, GetMetrics, Inspect, Join, NodeMetrics, NodeSnapshot,
    Reincarnate, Restart, Resume, Set, SetMaxDeltas, StoredEntry, TrySet,
};
use crate::network::{
    BookChange, Cut, Inbound, Inbox, Network, NetworkConfig, NetworkLink, Partition, SetFaults,
};
use crate::{Error, GossipNode, Recorder, RecorderHandle, Router, StaleSample};
use actix::{Actor, Addr};
use hearsay_proto::{Config, Generation, Node, NodeId, Peers, Value, Version};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::future::Future;
use std::sync::MutexGuard;
use std::time::Duration;
use tokio::time::Instant;

/// Runs `body` on a fresh actix `System` over a current-thread runtime with paused time.
pub fn simulate<F, Fut, T>(body: F) -> Result<T, Error>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = T>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| Error::Runtime(e.to_string()))?;
    let system = actix::System::with_tokio_rt(move || runtime);
    Ok(system.block_on(body()))
}

/// How a simulated cluster is built. Every field has a default.
#[derive(Clone, Debug)]
pub struct SimulationConfig {
    /// Number of nodes, with ids `0..nodes`. Default: 100.
    pub nodes: usize,
    /// The one seed every RNG derives from. Default: 1.
    pub seed: u64,
    /// Every node's protocol configuration. Default: [`Config::default`].
    pub protocol: Config,
    /// The simulated network; `None` delivers at once, to each node's inbox (the in-process router).
    /// Default: [`NetworkConfig::default`].
    pub network: Option<NetworkConfig>,
    /// Whether each node's first round starts at a random instant of the first interval (as
    /// nodes that were not started together). Default: true.
    pub jitter: bool,
    /// Whether to keep a trace line per event. Default: false.
    pub trace: bool,
    /// Virtual time before the first round (so that writes made at the start precede round 1).
    /// Default: zero.
    pub start_after: Duration,
    /// The nodes (indices) every node starts knowing, as a deployment lists its seed peers;
    /// `None`: every node knows every other (static membership). With seed peers a node knows
    /// nothing else at the start: with partial views it joins the overlay through each of them
    /// (as `hearsay-net` does once a seed answers its hello) and gossips with its views only;
    /// without, they are its peers, and membership makes it discover the rest. Needs membership
    /// or partial views (without either the others never pick a node that is not a seed).
    /// Default: `None`.
    pub seed_peers: Option<Vec<usize>>,
    /// Whether nodes run as networked nodes do as far as addresses go: each announces an
    /// address (`sim:<index>`, [`hearsay_proto::Node::advertise`]) at start, and the simulated
    /// network delivers a datagram only to an address its sender's protocol named or its
    /// sender's address book holds ([`Network::with_address_books`]; the books are filled with
    /// [`Simulation::learn_address`], as `hearsay-net`'s hellos fill them). With partial views
    /// the harness then makes no view `Join` of its own (at the start, in [`Simulation::join`],
    /// [`Simulation::reincarnate`]): whatever stands for the transport sends each node a
    /// [`Join`] once the node holds its seed's address, as `hearsay-net` joins a seed when it
    /// answers the node's hello (a `Join` sent before would find no address and be lost), and
    /// each node starts with no peers: `hearsay-net` gives a node with views none but the ones
    /// its links add (session 25: before, the static peer list stayed, and the views repaired
    /// from nodes no runtime would have named). Needs a simulated network. Default: false
    /// (delivery by id, as in-process nodes have it).
    pub addresses: bool,
    /// With [`SimulationConfig::addresses`]: whether a datagram delivered lets its receiver
    /// answer its sender, as `hearsay-net`'s transports answer whoever reaches them — the
    /// datagram transport at an authenticated datagram's source, the mesh by dialing the last
    /// address an accepted link announced ([`Network::with_reply_paths`]). Default: false.
    pub reply_paths: bool,
}

impl Default for SimulationConfig {
    fn default() -> SimulationConfig {
        SimulationConfig {
            nodes: 100,
            seed: 1,
            protocol: Config::default(),
            network: Some(NetworkConfig::default()),
            jitter: true,
            trace: false,
            start_after: Duration::ZERO,
            seed_peers: None,
            addresses: false,
            reply_paths: false,
        }
    }
}

/// Whether the harness joins nodes to the view overlay itself: with partial views, unless
/// addresses are modelled ([`SimulationConfig::addresses`]: the transport's hellos join).
fn harness_joins(config: &SimulationConfig) -> bool {
    config.protocol.view.is_some() && !config.addresses
}

/// Whether the runtime alone gives the nodes their peers: with partial views and addresses
/// modelled ([`SimulationConfig::addresses`]), nodes start with none.
fn runtime_peers(config: &SimulationConfig) -> bool {
    config.protocol.view.is_some() && config.addresses
}

/// The address node `index` announces when addresses are modelled
/// ([`SimulationConfig::addresses`]).
fn address_of(index: usize) -> String {
    format!("sim:{index}")
}

/// A deterministic seed for component `index` of a run seeded with `seed` (SplitMix64).
fn derive(seed: u64, index: u64) -> u64 {
    let mut z = seed.wrapping_add(index.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Checks [`SimulationConfig::seed_peers`].
fn seed_peers_valid(seeds: &[usize], config: &SimulationConfig) -> Result<(), Error> {
    let refuse = |reason: String| -> Result<(), Error> {
        Err(hearsay_proto::Error::Config {
            field: "seed_peers",
            reason,
        }
        .into())
    };
    if seeds.is_empty() {
        return refuse("is empty (None lists every node)".into());
    }
    if let Some(&outside) = seeds.iter().find(|&&seed| seed >= config.nodes) {
        return refuse(format!(
            "names node {outside}, but the cluster has {}",
            config.nodes
        ));
    }
    if config.protocol.membership.is_none() && config.protocol.view.is_none() {
        return refuse("need membership or partial views (nothing else finds the others)".into());
    }
    Ok(())
}

/// The peer list node `index` starts with when it knows only `seeds`: none with partial views
/// (the view picks, from the joins), the seeds but itself otherwise.
fn first_peers(seeds: &[usize], index: usize, views: bool) -> Peers {
    let peers = if views {
        Vec::new()
    } else {
        (seeds.iter().filter(|&&seed| seed != index))
            .map(|&seed| NodeId(seed as u64))
            .collect()
    };
    Peers::Own(peers)
}

/// A running simulated cluster. Create it inside [`simulate`].
pub struct Simulation {
    config: SimulationConfig,
    nodes: Vec<Addr<GossipNode>>,
    /// The simulated network: its address (held for the run, so the actor lives as long as the
    /// simulation), and the inbox its links and fault controls reach it through.
    network: Option<(Addr<Network>, Inbox)>,
    recorder: RecorderHandle,
    start: Instant,
    generations: Vec<Generation>,
    router: Router,
    /// The RNG of first-round phases, kept for the nodes that join later.
    phases: ChaCha8Rng,
    /// Reincarnations so far (each gets a seed of its own).
    reincarnations: u64,
    /// The static member list the first nodes start with when no seed peers are configured.
    members: Peers,
    /// The seeds each node started by [`Simulation::join`] was given, in join order.
    joined: Vec<Vec<usize>>,
}

impl Simulation {
    /// Starts the cluster: every node knows every other (static membership), or only the seed
    /// peers ([`SimulationConfig::seed_peers`]). With partial views
    /// ([`hearsay_proto::Config::view`]) every node but the first also joins the view overlay
    /// through a random earlier node (drawn from the run's seed), or through each seed peer
    /// (unless addresses are modelled: [`SimulationConfig::addresses`]).
    pub fn start(config: SimulationConfig) -> Result<Simulation, Error> {
        config.protocol.validate()?;
        if config.start_after > Duration::from_secs(86_400 * 365) {
            return Err(hearsay_proto::Error::Config {
                field: "start_after",
                reason: "is more than a year".into(),
            }
            .into());
        }
        if let Some(seeds) = &config.seed_peers {
            seed_peers_valid(seeds, &config)?;
        }
        if config.addresses && config.network.is_none() {
            return Err(hearsay_proto::Error::Config {
                field: "addresses",
                reason: "need a simulated network".into(),
            }
            .into());
        }
        let start = Instant::now();
        let interval = config.protocol.gossip_interval;
        let recorder = RecorderHandle::new(start, interval, config.trace);
        let router = Router::new();
        let network = config.network.clone().map(|network| {
            let mut network = Network::new(network, derive(config.seed, u64::MAX), router.clone())
                .with_recorder(recorder.clone());
            if config.addresses {
                network = network.with_address_books();
                if config.reply_paths {
                    network = network.with_reply_paths();
                }
            }
            let inbox = network.inbox();
            (network.start(), inbox)
        });
        let members = Peers::shared((0..config.nodes as u64).map(NodeId).collect());
        let mut phases = ChaCha8Rng::seed_from_u64(derive(config.seed, u64::MAX - 1));
        let mut nodes = Vec::with_capacity(config.nodes);
        // One configuration, shared by every node.
        let protocol = std::sync::Arc::new(config.protocol.clone());
        for i in 0..config.nodes as u64 {
            let id = NodeId(i);
            let mut node = Node::new(id, Generation(1), protocol.clone(), derive(config.seed, i))?;
            node.set_peers(match &config.seed_peers {
                _ if runtime_peers(&config) => Peers::Own(Vec::new()),
                None => members.clone(),
                Some(seeds) => first_peers(seeds, i as usize, config.protocol.view.is_some()),
            });
            if config.addresses {
                node.advertise(start.into_std(), &address_of(i as usize))?;
            }
            recorder.lock().add_node(id);
            let phase = if config.jitter {
                Duration::from_nanos(phases.random_range(0..interval.as_nanos().max(1) as u64))
            } else {
                Duration::ZERO
            };
            let actor = match &network {
                Some((_, inbox)) => GossipNode::new(node, NetworkLink::through(inbox.clone())),
                None => GossipNode::new(node, router.clone()),
            };
            let addr = router.start(
                actor
                    .with_recorder(recorder.clone())
                    .with_first_round_after(config.start_after + phase),
            );
            nodes.push(addr);
        }
        // With partial views a node gossips only with its active view, which starts empty: each
        // node joins through a random earlier one, as nodes started one after another through
        // their seeds would (the joins go out before any round runs).
        if harness_joins(&config) {
            match &config.seed_peers {
                None => {
                    let mut contacts = ChaCha8Rng::seed_from_u64(derive(config.seed, u64::MAX - 2));
                    for (i, node) in nodes.iter().enumerate().skip(1) {
                        node.do_send(Join(NodeId(contacts.random_range(0..i) as u64)));
                    }
                }
                Some(seeds) => {
                    for (i, node) in nodes.iter().enumerate() {
                        for &seed in seeds.iter().filter(|&&seed| seed != i) {
                            node.do_send(Join(NodeId(seed as u64)));
                        }
                    }
                }
            }
        }
        Ok(Simulation {
            generations: vec![Generation(1); config.nodes],
            config,
            nodes,
            network,
            recorder,
            start,
            router,
            phases,
            reincarnations: 0,
            members,
            joined: Vec::new(),
        })
    }

    /// Starts one more node, with the next id (`nodes().len()`), that knows only the nodes
    /// `seeds` (indices of running or crashed nodes) and joins the cluster through them; returns
    /// its index.
    ///
    /// The new node is built like the others (the same protocol configuration, its own seed
    /// derived from the run's seed and its id, a first round at a random instant of the next
    /// interval when `jitter` is on) and registered with the router and the network. Only its
    /// protocol peer list differs: it starts with `seeds` alone. With membership on
    /// ([`hearsay_proto::Config::membership`]) the node adds every member it hears of to its
    /// peers, and the nodes it gossips with add it to theirs, so it discovers the whole cluster
    /// and the cluster discovers it. Without membership it only ever gossips with its seeds, and
    /// the others never pick it (they keep their static peer lists). With partial views it joins
    /// the view overlay through the first of `seeds` (unless addresses are modelled:
    /// [`SimulationConfig::addresses`]).
    ///
    /// Deterministic: the same run with the same joins at the same virtual times gives the same
    /// trace.
    ///
    /// ```
    /// use hearsay_actor::{simulate, Simulation, SimulationConfig};
    /// use hearsay_proto::{Config, MembershipConfig, Mode, Value};
    /// use std::time::Duration;
    ///
    /// let protocol = Config {
    ///     mode: Mode::AntiEntropy,
    ///     membership: Some(MembershipConfig::default()),
    ///     ..Config::default()
    /// };
    /// let took = simulate(|| async {
    ///     let mut sim = Simulation::start(SimulationConfig { nodes: 20, protocol, ..SimulationConfig::default() })?;
    ///     let new = sim.join(&[0, 1])?;
    ///     assert_eq!(new, 20);
    ///     sim.set(new, "k", Value::from("v")).await?;
    ///     let took = sim.run_until(Duration::from_secs(60), |r| r.all_hold_latest()).await;
    ///     Ok::<_, hearsay_actor::Error>(took)
    /// })??;
    /// assert!(took.is_some());
    /// # Ok::<(), hearsay_actor::Error>(())
    /// ```
    pub fn join(&mut self, seeds: &[usize]) -> Result<usize, Error> {
        if let Some(&missing) = seeds.iter().find(|&&s| s >= self.nodes.len()) {
            return Err(Error::NoSuchNode(missing as u64));
        }
        let index = self.nodes.len();
        let id = NodeId(index as u64);
        let config = &self.config;
        let mut node = Node::new(
            id,
            Generation(1),
            config.protocol.clone(),
            derive(config.seed, index as u64),
        )?;
        node.set_peers(Peers::Own(Vec::new()));
        for &seed in seeds.iter().filter(|_| !runtime_peers(config)) {
            node.add_peer(NodeId(seed as u64));
        }
        if config.addresses {
            node.advertise(Instant::now().into_std(), &address_of(index))?;
        }
        let interval = config.protocol.gossip_interval;
        let phase = if config.jitter {
            Duration::from_nanos(
                self.phases
                    .random_range(0..interval.as_nanos().max(1) as u64),
            )
        } else {
            Duration::ZERO
        };
        self.recorder.lock().add_node(id);
        let actor = match &self.network {
            Some((_, inbox)) => GossipNode::new(node, NetworkLink::through(inbox.clone())),
            None => GossipNode::new(node, self.router.clone()),
        };
        let addr = self.router.start(
            actor
                .with_recorder(self.recorder.clone())
                .with_first_round_after(phase),
        );
        if let (true, Some(&contact)) = (harness_joins(config), seeds.first()) {
            addr.do_send(Join(NodeId(contact as u64)));
        }
        self.nodes.push(addr);
        self.generations.push(Generation(1));
        self.joined.push(seeds.to_vec());
        Ok(index)
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &SimulationConfig {
        &self.config
    }

    /// Node `index`'s actor.
    pub fn node(&self, index: usize) -> Result<&Addr<GossipNode>, Error> {
        self.nodes.get(index).ok_or(Error::NoSuchNode(index as u64))
    }

    /// Every node's actor, by id.
    pub fn nodes(&self) -> &[Addr<GossipNode>] {
        &self.nodes
    }

    /// The observations so far. Drop the guard before awaiting anything: the actors lock the
    /// recorder too, and on this single-threaded runtime a guard held across an `.await` blocks
    /// them forever.
    pub fn recorder(&self) -> MutexGuard<'_, Recorder> {
        self.recorder.lock()
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(self.start)
    }

    /// Writes at node `index`.
    pub async fn set(&self, index: usize, key: &str, value: Value) -> Result<Version, Error> {
        let set = Set {
            key: key.to_owned(),
            value,
        };
        self.node(index)?.send(set).await?
    }

    /// Writes at node `index` if its flow control allows; `None` when refused.
    pub async fn try_set(
        &self,
        index: usize,
        key: &str,
        value: Value,
    ) -> Result<Option<Version>, Error> {
        let set = TrySet {
            key: key.to_owned(),
            value,
        };
        self.node(index)?.send(set).await?
    }

    /// Changes every node's largest number of deltas per message.
    pub async fn set_max_deltas(&self, max_deltas: Option<usize>) -> Result<(), Error> {
        for node in &self.nodes {
            node.send(SetMaxDeltas(max_deltas)).await??;
        }
        Ok(())
    }

    /// Deletes at node `index`.
    pub async fn delete(&self, index: usize, key: &str) -> Result<Version, Error> {
        let delete = Delete {
            key: key.to_owned(),
        };
        self.node(index)?.send(delete).await?
    }

    /// Everything node `index` holds.
    pub async fn entries(&self, index: usize) -> Result<Vec<StoredEntry>, Error> {
        self.node(index)?.send(GetEntries).await?
    }

    /// A copy of node `index`'s whole protocol state: generation, entries, watermarks, GC
    /// horizons, members (the real state, not the recorder's model of it).
    pub async fn inspect(&self, index: usize) -> Result<NodeSnapshot, Error> {
        Ok(self.node(index)?.send(Inspect).await?)
    }

    /// [`Simulation::inspect`] of every node, by id.
    pub async fn inspect_all(&self) -> Result<Vec<NodeSnapshot>, Error> {
        let mut all = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            all.push(node.send(Inspect).await?);
        }
        Ok(all)
    }

    /// Every node's counters, by id.
    pub async fn metrics(&self) -> Result<Vec<NodeMetrics>, Error> {
        let mut all = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            all.push(node.send(GetMetrics).await?);
        }
        Ok(all)
    }

    /// Hands node `index` a datagram as if a peer had sent it (to seed state before a run; it
    /// is not counted as traffic).
    pub fn inject(&self, index: usize, payload: Vec<u8>) -> Result<(), Error> {
        self.node(index)?.do_send(Datagram {
            payload,
            sender: None,
        });
        Ok(())
    }

    /// Samples the stale mappings now (also kept in the recorder's series).
    pub fn sample(&self) -> StaleSample {
        let mut recorder = self.recorder.lock();
        recorder.sample_stale(Instant::now());
        recorder
            .stale_series()
            .last()
            .copied()
            .unwrap_or(StaleSample {
                at: self.elapsed(),
                stale: 0,
                max_staleness: Duration::ZERO,
            })
    }

    /// Lets `duration` of virtual time pass.
    pub async fn run_for(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// Lets virtual time pass until `done` holds (checked, and the stale count sampled, every
    /// tenth of a gossip interval) or `deadline` has passed since now; returns the time taken.
    pub async fn run_until(
        &self,
        deadline: Duration,
        mut done: impl FnMut(&Recorder) -> bool,
    ) -> Option<Duration> {
        let step = (self.config.protocol.gossip_interval / 10).max(Duration::from_micros(1));
        let begin = Instant::now();
        loop {
            {
                let mut recorder = self.recorder.lock();
                recorder.sample_stale(Instant::now());
                if done(&recorder) {
                    return Some(begin.elapsed());
                }
            }
            if begin.elapsed() >= deadline {
                return None;
            }
            tokio::time::sleep(step).await;
        }
    }

    /// Lets virtual time pass until `done` holds of the nodes' real state, or `deadline` has
    /// passed since now; returns the time taken (`Ok(None)` at the deadline).
    ///
    /// Like [`Simulation::run_until`], it checks every tenth of a gossip interval, but on a fresh
    /// [`Simulation::inspect_all`] each time (every node's [`NodeSnapshot`], by id, crashed ones
    /// included with `down` set) instead of on the [`Recorder`]'s model, so it cannot be misled
    /// by a model that drifted. It samples no stale count. Each check copies every node's store:
    /// prefer `run_until` for large clusters.
    ///
    /// Fails only if a node's actor no longer answers (its `System` stopped).
    ///
    /// ```
    /// use hearsay_actor::{simulate, Simulation, SimulationConfig};
    /// use hearsay_proto::{NodeId, Value};
    /// use std::time::Duration;
    ///
    /// let took = simulate(|| async {
    ///     let sim = Simulation::start(SimulationConfig { nodes: 20, ..SimulationConfig::default() })?;
    ///     sim.set(3, "k", Value::from("v")).await?;
    ///     // Every live node's store holds node 3's write.
    ///     sim.run_until_state(Duration::from_secs(60), |nodes| {
    ///         nodes.iter().filter(|n| !n.down).all(|n| n.store.get(NodeId(3), "k").is_some())
    ///     })
    ///     .await
    /// })??;
    /// assert!(took.is_some());
    /// # Ok::<(), hearsay_actor::Error>(())
    /// ```
    pub async fn run_until_state(
        &self,
        deadline: Duration,
        mut done: impl FnMut(&[NodeSnapshot]) -> bool,
    ) -> Result<Option<Duration>, Error> {
        let step = (self.config.protocol.gossip_interval / 10).max(Duration::from_micros(1));
        let begin = Instant::now();
        loop {
            let nodes = self.inspect_all().await?;
            if done(&nodes) {
                return Ok(Some(begin.elapsed()));
            }
            if begin.elapsed() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(step).await;
        }
    }

    /// Crashes node `index`: it stops and ignores everything until restarted (what a pause left
    /// in its receive buffer is lost with the process).
    pub async fn crash(&self, index: usize) -> Result<(), Error> {
        self.node(index)?.send(Crash).await?;
        self.release(index, false);
        Ok(())
    }

    /// Pauses node `index` (a `SIGSTOP`, a suspended VM, a long GC pause): it handles nothing
    /// until [`Simulation::resume`], and what reaches it meanwhile waits in its receive buffer
    /// (with a simulated network: up to [`HELD_BYTES`](crate::HELD_BYTES), as a socket's;
    /// the rest is lost).
    pub async fn pause(&self, index: usize) -> Result<(), Error> {
        self.node(index)?.send(Crash).await?;
        self.to_network(Inbound::Hold(NodeId(index as u64)));
        Ok(())
    }

    /// Resumes node `index` after [`Simulation::pause`] (or [`Simulation::crash`]) ([`Resume`]):
    /// it runs again with its state, under the same generation; its timers fire late, then it
    /// reads what its receive buffer held.
    pub async fn resume(&self, index: usize) -> Result<(), Error> {
        self.node(index)?.send(Resume).await?;
        self.release(index, true);
        Ok(())
    }

    /// Ends a pause's hold on node `index`'s datagrams: `deliver`ed to it, or lost.
    fn release(&self, index: usize, deliver: bool) {
        let node = NodeId(index as u64);
        self.to_network(Inbound::Release { node, deliver });
    }

    /// Restarts node `index` as its next generation: one above both the last generation this
    /// harness gave it and the one it runs now (a node moves its own generation up when it hears
    /// of a newer or equal one of its id).
    pub async fn restart(&mut self, index: usize, keep_state: bool) -> Result<(), Error> {
        self.node(index)?;
        self.release(index, false);
        let generation = self.next_generation(index).await?;
        if let Some(known) = self.generations.get_mut(index) {
            *known = generation;
        }
        let restart = Restart {
            generation,
            keep_state,
        };
        self.node(index)?.send(restart).await?
    }

    /// The generation node `index` restarts under: one above both the last one this harness
    /// gave it and the one it runs now.
    async fn next_generation(&self, index: usize) -> Result<Generation, Error> {
        let current = self.inspect(index).await?.generation;
        let last = *self
            .generations
            .get(index)
            .ok_or(Error::NoSuchNode(index as u64))?;
        Ok(Generation(last.max(current).0 + 1))
    }

    /// Splits the network into groups (no effect without a simulated network).
    pub fn partition(&self, groups: Vec<Vec<NodeId>>) {
        self.to_network(Inbound::Partition(Partition(groups)));
    }

    /// Cuts one direction (no effect without a simulated network): datagrams from `from` to
    /// `to` are lost until [`Simulation::heal`], those the other way pass.
    pub fn cut(&self, from: Vec<NodeId>, to: Vec<NodeId>) {
        self.to_network(Inbound::Cut(Cut { from, to }));
    }

    /// Brings node `index` back as a fresh process that lost its disk, under `generation`, which
    /// may be one it used before or a lower one ([`Reincarnate`]): the protocol's refutation must
    /// move it above every incarnation its peers know. The process knows what it was configured
    /// with and nothing it learned: its peers are the ones it started with (every node, its seed
    /// peers, or the seeds it joined through), and with partial views it joins again through
    /// them (unless addresses are modelled: [`SimulationConfig::addresses`]). Deterministic:
    /// its new seed derives from the run's seed, its id and how many reincarnations the run has
    /// made.
    pub async fn reincarnate(&mut self, index: usize, generation: Generation) -> Result<(), Error> {
        // An unknown node changes nothing (a reincarnation counted here would shift every later
        // one's seed).
        let node = self.node(index)?.clone();
        self.release(index, false);
        self.reincarnations += 1;
        let seed = derive(
            self.config.seed,
            (index as u64) ^ (self.reincarnations << 32) ^ 0x5eed_0000_0000_0000,
        );
        if let Some(known) = self.generations.get_mut(index) {
            *known = (*known).max(generation);
        }
        let peers = self.first_peers(index);
        let addr = self.config.addresses.then(|| address_of(index));
        node.send(Reincarnate {
            generation,
            seed,
            peers,
            addr,
        })
        .await??;
        // A fresh process with partial views starts with empty views: it joins again, as it did
        // the first time.
        if harness_joins(&self.config) && self.nodes.len() > 1 {
            for contact in self.contacts(index, seed) {
                node.send(Join(NodeId(contact as u64))).await?;
            }
        }
        Ok(())
    }

    /// Brings node `index` back as a fresh process without its disk under a new generation, one
    /// above every one it ran (as a deployment restarts a node: no disk, a generation from the
    /// clock). Unlike [`Simulation::restart`], which keeps the process's memory of the cluster
    /// (its member table, its views), this is [`Simulation::reincarnate`]: it knows only its
    /// configured peers and joins again.
    pub async fn relaunch(&mut self, index: usize) -> Result<(), Error> {
        let generation = self.next_generation(index).await?;
        self.reincarnate(index, generation).await
    }

    /// The peers node `index` was started with.
    fn first_peers(&self, index: usize) -> Peers {
        if runtime_peers(&self.config) {
            return Peers::Own(Vec::new());
        }
        match (
            index.checked_sub(self.config.nodes),
            &self.config.seed_peers,
        ) {
            (Some(joined), _) => Peers::Own(
                (self.joined.get(joined).into_iter().flatten())
                    .map(|&seed| NodeId(seed as u64))
                    .collect(),
            ),
            (None, Some(seeds)) => first_peers(seeds, index, self.config.protocol.view.is_some()),
            (None, None) => self.members.clone(),
        }
    }

    /// The nodes node `index` joins the view overlay through when it starts afresh: the first
    /// seed it joined through, each seed peer but itself, or (neither) another node drawn from
    /// `seed`.
    fn contacts(&self, index: usize, seed: u64) -> Vec<usize> {
        if let Some(joined) = index.checked_sub(self.config.nodes) {
            return (self.joined.get(joined).and_then(|seeds| seeds.first()))
                .copied()
                .into_iter()
                .collect();
        }
        let seeds: Vec<usize> = (self.config.seed_peers.iter().flatten())
            .copied()
            .filter(|&seed| seed != index)
            .collect();
        if seeds.is_empty() {
            let pick = (seed % (self.nodes.len() as u64 - 1)) as usize;
            vec![if pick >= index { pick + 1 } else { pick }]
        } else {
            seeds
        }
    }

    /// Node `index`'s runtime learns where node `peer` is reached, as a hello between them teaches
    /// `hearsay-net`'s datagram transport (with [`SimulationConfig::addresses`]; nothing
    /// otherwise). In order with the datagrams.
    pub fn learn_address(&self, index: usize, peer: usize) {
        let (node, peer) = (NodeId(index as u64), NodeId(peer as u64));
        self.to_network(Inbound::Book(BookChange::Learn { node, peer }));
    }

    /// Node `index`'s runtime forgets where node `peer` is reached (it left or was removed).
    pub fn forget_address(&self, index: usize, peer: usize) {
        let (node, peer) = (NodeId(index as u64), NodeId(peer as u64));
        self.to_network(Inbound::Book(BookChange::Forget { node, peer }));
    }

    /// Node `index`'s runtime starts afresh and knows no address (a new process).
    pub fn forget_addresses(&self, index: usize) {
        self.to_network(Inbound::Book(BookChange::Clear(NodeId(index as u64))));
    }

    /// Changes the network's loss and duplication probabilities from now on (no effect without
    /// a simulated network).
    pub fn set_faults(&self, loss: f64, duplicate: f64) {
        self.to_network(Inbound::SetFaults(SetFaults { loss, duplicate }));
    }

    /// Ends every partition and one-way cut.
    pub fn heal(&self) {
        self.to_network(Inbound::Heal);
    }

    /// Hands a control to the simulated network, in order with the datagrams (nothing without
    /// one).
    fn to_network(&self, item: Inbound) {
        if let Some((_, inbox)) = &self.network {
            inbox.push(item);
        }
    }
}
