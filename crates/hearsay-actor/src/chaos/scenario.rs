//! A fault scenario: a cluster, a protocol configuration and a timed list of writes and faults,
//! all drawn from one seed.

use hearsay_proto::{
    Config, Detector, Direction, FlowControl, HeartbeatConfig, LossOfInterest, MembershipConfig,
    Mode, Strategy, Termination, ViewConfig,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One thing that happens to the cluster at an instant of the fault phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Fault {
    /// Node `node` writes a fresh value of `len` bytes under `key`.
    Set {
        /// The writer.
        node: usize,
        /// The key.
        key: String,
        /// Value length in bytes (the value names its writer and is unique).
        len: usize,
    },
    /// Node `node` writes a fresh value of `len` bytes under `key`, to be deleted by it once
    /// `ttl` has passed ([`hearsay_proto::Node::set_with_ttl`]).
    SetTtl {
        /// The writer.
        node: usize,
        /// The key.
        key: String,
        /// Value length in bytes (the value names its writer and is unique).
        len: usize,
        /// How long the entry lives.
        ttl: Duration,
    },
    /// Node `node` deletes `key`.
    Delete {
        /// The writer.
        node: usize,
        /// The key.
        key: String,
    },
    /// The network splits into these groups (nodes in none form one more).
    Partition(Vec<Vec<usize>>),
    /// Every partition and one-way cut ends.
    Heal,
    /// Datagrams from `from` to `to` are lost, those the other way pass, until the next heal.
    OneWay {
        /// The senders cut off.
        from: Vec<usize>,
        /// From these receivers.
        to: Vec<usize>,
    },
    /// Loss and duplication change.
    Network {
        /// Probability that a datagram is lost.
        loss: f64,
        /// Probability that a datagram is delivered twice.
        duplicate: f64,
    },
    /// Node `node` crashes.
    Crash(usize),
    /// Node `node` restarts as a new generation, with or without its state.
    Restart {
        /// The node.
        node: usize,
        /// Whether it keeps its state (a process restart) or starts empty (a lost disk).
        keep_state: bool,
    },
    /// Node `node` leaves the cluster gracefully (membership on) and exits soon after.
    Leave(usize),
    /// A new node joins (the next index: the scenario's `nodes`, then one more per join), knowing
    /// only `seeds` at first; drawn only with membership or partial views, through which it comes
    /// to know the cluster.
    Join {
        /// The nodes it starts knowing (never ones the scenario crashes or makes leave).
        seeds: Vec<usize>,
    },
    /// Node `node` comes back as a fresh process with its disk lost, under the generation it runs
    /// now (`lower: false`, a reused `--generation`) or generation 1 (`lower: true`, a clock
    /// stepped back).
    Reincarnate {
        /// The node.
        node: usize,
        /// Whether it takes generation 1 instead of its current one.
        lower: bool,
    },
    /// Node `node` stops (a `SIGSTOP`, a suspended VM, a long GC pause): it handles nothing until
    /// [`Fault::Resume`]; what reaches it meanwhile waits in its receive buffer (208 KiB, as a
    /// socket's; the rest is lost) and is read, stale, once it resumes (`Simulation::pause`).
    Pause(usize),
    /// Node `node` runs again after [`Fault::Pause`], with its state, under the same generation
    /// (no effect on a running node).
    Resume(usize),
    /// Node `node` comes back as a fresh process with its disk lost under a new generation, one
    /// above every one it ran (a deployment's usual restart: no disk, a generation from the
    /// clock). It remembers nothing of the cluster (no member table, no views), only the peers
    /// it is configured with, and joins again ([`crate::Simulation::relaunch`]).
    Relaunch {
        /// The node.
        node: usize,
    },
}

/// A whole scenario. [`Scenario::generate`] draws one from a seed; a shrunk one is still a
/// `Scenario`, so it can be saved (serde) and replayed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// The seed it was drawn from; also seeds the cluster's RNGs.
    pub seed: u64,
    /// Number of nodes.
    pub nodes: usize,
    /// Every node's protocol configuration.
    pub protocol: Config,
    /// Shortest and longest datagram latency.
    pub latency: (Duration, Duration),
    /// Loss and duplication at the start.
    pub loss: f64,
    /// Probability that a datagram is delivered twice, at the start.
    pub duplicate: f64,
    /// Length of the fault phase; afterwards the network heals and loses nothing.
    pub duration: Duration,
    /// What happens, by time from the start (sorted).
    pub events: Vec<(Duration, Fault)>,
    /// The nodes every node starts knowing ([`crate::SimulationConfig::seed_peers`]); `None`:
    /// every node knows every other. Drawn only with membership or partial views, among the
    /// nodes the scenario never takes away for good (a node whose seeds are all gone for good
    /// before it got in has nothing to get in through, in any deployment).
    #[serde(default)]
    pub seed_peers: Option<Vec<usize>>,
    /// Peers and addresses managed as `hearsay-net`'s datagram transport manages them (sessions
    /// 21 and 23): each node's runtime keeps an address book, which a hello between the node and
    /// a seed fills on both sides (a running seed the book lacks is said hello to at start and
    /// at every check, every 5 s, and answers if the network passes both ways), and from which
    /// a member seen Left or Removed is forgotten; a peer new to the book is added, a forgotten
    /// one removed; a process that stops or starts afresh knows no address. The nodes announce
    /// addresses (SWIM carries them in its updates, the heartbeat detector's nodes in a reserved
    /// entry, which the book learns as it reaches the node's store), and the network delivers a
    /// datagram only to an address the sender's protocol named or its book holds
    /// ([`crate::SimulationConfig::addresses`]).
    /// A node's seeds are its seed peers, the seeds it joined through, or, without either,
    /// every node. With partial views (session 24) the views pick the peers: each seed that
    /// answers the node's hello is joined through instead, the harness makes no joins of its
    /// own, and the nodes announce addresses whatever the detector (the view messages carry
    /// them). Drawn for half the runs with membership or partial views.
    #[serde(default)]
    pub net_peers: bool,
    /// With [`Scenario::net_peers`], the transport is `hearsay-net`'s TCP mesh instead of its
    /// datagrams (session 25): links that each node dials and that fail, instead of hellos
    /// (`chaos/net_peers/links.rs`). A link that comes up adds its peer, one that fails removes
    /// it (and with partial views reports it failed, as does a dial to an active member that
    /// cannot connect); with partial views a node's process joins through each seed it links
    /// to, once (again after seeing it leave or removed). Drawn for half the runs with
    /// `net_peers`.
    #[serde(default)]
    pub stream: bool,
}

/// The largest cluster [`Scenario::generate`] draws.
pub const MAX_NODES: usize = 40;

/// Keys per node: few, so that writes overwrite and delete each other's keys.
const KEYS: usize = 6;

impl Scenario {
    /// Draws a scenario over the whole supported configuration space from `seed`, with 8 to
    /// [`MAX_NODES`] nodes.
    pub fn generate(seed: u64) -> Scenario {
        Scenario::generate_up_to(seed, MAX_NODES)
    }

    /// [`Scenario::generate`] with 8 to `max_nodes` nodes (at least 8; `MAX_NODES` gives the
    /// same scenarios). Larger clusters take longer to run; they reach what 40 nodes cannot
    /// (digests over several messages at small MTUs, relays and views at more than a few hops).
    pub fn generate_up_to(seed: u64, max_nodes: usize) -> Scenario {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc4a0_5eed);
        let nodes = rng.random_range(8..=max_nodes.max(8));
        let mut protocol = protocol(&mut rng);
        let lat_min = Duration::from_millis(rng.random_range(1..=20));
        let lat_max = lat_min + Duration::from_millis(rng.random_range(0..=300));
        let lossy = rng.random_bool(0.6);
        let loss = if lossy {
            rng.random_range(0.0..0.5)
        } else {
            0.0
        };
        let duplicate = if rng.random_bool(0.4) {
            rng.random_range(0.0..0.3)
        } else {
            0.0
        };
        let duration = Duration::from_secs(rng.random_range(20..=120));
        let events = events(&mut rng, nodes, &protocol, duration);
        // The options added since the first searches come from a stream of their own, so that
        // every draw above, and so the writes and faults of every seed, stay what they were.
        let mut more = ChaCha8Rng::seed_from_u64(seed ^ 0x0b7e_5eed_0000_0002);
        more_options(&mut more, &mut protocol);
        let mut events = events;
        joins(&mut more, nodes, &protocol, duration, &mut events);
        one_way_cuts(&mut more, nodes, duration, &mut events);
        let seed_peers = seed_peers(&mut more, nodes, &protocol, &events);
        relaunches(&mut more, duration, &mut events);
        pauses(
            &mut more,
            nodes,
            duration,
            seed_peers.as_deref(),
            &mut events,
        );
        // A stream of its own (session 31): every draw above stays what it was.
        let mut expiring = ChaCha8Rng::seed_from_u64(seed ^ 0x0b7e_5eed_0000_0004);
        ttl_writes(&mut expiring, nodes, &protocol, duration, &mut events);
        if let Some(membership) = &mut protocol.membership
            && more.random_bool(0.3)
        {
            // Members Down (or paused, or cut off) for longer are removed within the run.
            membership.removal_after = Duration::from_secs(more.random_range(5..=60));
        }
        // Stable: events at one instant keep their order (the fault phase's, then a join before
        // its write, then the cuts).
        events.sort_by_key(|(at, _)| *at);
        // A stream of its own again: every draw above stays what it was.
        let mut net = ChaCha8Rng::seed_from_u64(seed ^ 0x0b7e_5eed_0000_0003);
        let net_peers = protocol.membership.is_some()
            && protocol.view.is_none()
            && net.random_bool(0.5)
            // Drawn after, for views only: every scenario without views stays what it was.
            || protocol.view.is_some() && net.random_bool(0.5);
        // Drawn last: every earlier draw stays what it was.
        let stream = net_peers && net.random_bool(0.5);
        Scenario {
            seed,
            nodes,
            protocol,
            latency: (lat_min, lat_max),
            loss,
            duplicate,
            duration,
            events,
            seed_peers,
            net_peers,
            stream,
        }
    }

    /// The same scenario with [`Scenario::net_peers`] wherever it applies (membership or
    /// partial views).
    pub fn with_net_peers(mut self) -> Scenario {
        self.net_peers |= self.protocol.membership.is_some() || self.protocol.view.is_some();
        self
    }

    /// The same scenario with `hearsay-net`'s TCP mesh wherever its peer policy applies
    /// ([`Scenario::with_net_peers`], then [`Scenario::stream`]).
    pub fn with_stream(mut self) -> Scenario {
        self = self.with_net_peers();
        self.stream = self.net_peers;
        self
    }

    /// Whether the scenario is one the generator draws: seed peers and joins need membership or
    /// partial views (without either a node knows only its static peers, and nobody would ever
    /// pick a joined node or one outside the seeds). The shrinker keeps to it: a scenario
    /// simplified past it fails for that alone (session 28: seed 387980 shrank to a join
    /// without membership, which pull-less gossip never reaches).
    pub fn coherent(&self) -> bool {
        let discovers = self.protocol.membership.is_some() || self.protocol.view.is_some();
        let needs = self.seed_peers.is_some()
            || (self.events.iter()).any(|(_, fault)| matches!(fault, Fault::Join { .. }));
        discovers || !needs
    }

    /// Whether the nodes announce addresses and the network needs one for every datagram:
    /// [`Scenario::net_peers`] where it applies (membership or partial views: without either
    /// nothing would find the others), whatever carries them — SWIM's updates, the views'
    /// messages, or the heartbeat detector's reserved address entry. (Until session 27 heartbeat
    /// runs without views were delivered by id: what their runtime does without an address went
    /// unsearched. Until session 28 a shrunk scenario could keep `net_peers` without either, and
    /// fail for that alone.)
    pub fn addresses(&self) -> bool {
        self.net_peers && (self.protocol.membership.is_some() || self.protocol.view.is_some())
    }

    /// A one-line description of the configuration.
    pub fn summary(&self) -> String {
        let p = &self.protocol;
        let membership = match p.membership.as_ref().map(|m| &m.detector) {
            None => "off",
            Some(Detector::Heartbeat(_)) => "heartbeat",
            Some(_) => "swim",
        };
        let view = p
            .view
            .as_ref()
            .map_or("off".to_owned(), |v| format!("{}/{}", v.active, v.passive));
        format!(
            "{} nodes, {:?} {:?} {:?}, mtu {}, fanout {}, max_deltas {:?}, membership {}, \
             views {}, flow {}, catch-up {:?}, repair {:?}, grace {:?}, interval {:?}, \
             loss {:.2}, dup {:.2}, {} s, {} events ({} joins, {} expiring), seed peers {:?}, \
             net peers {}{}",
            self.nodes,
            p.mode,
            p.direction,
            p.strategy,
            p.mtu,
            p.fanout,
            p.max_deltas,
            membership,
            view,
            p.flow_control.is_some(),
            p.catch_up,
            p.repair_every,
            p.tombstone_grace,
            p.gossip_interval,
            self.loss,
            self.duplicate,
            self.duration.as_secs(),
            self.events.len(),
            self.events
                .iter()
                .filter(|(_, f)| matches!(f, Fault::Join { .. }))
                .count(),
            self.events
                .iter()
                .filter(|(_, f)| matches!(f, Fault::SetTtl { .. }))
                .count(),
            self.seed_peers,
            self.net_peers,
            if self.stream { " (tcp)" } else { "" },
        )
    }
}

fn protocol(rng: &mut ChaCha8Rng) -> Config {
    let mode = match rng.random_range(0..3) {
        0 => Mode::AntiEntropy,
        _ => Mode::Combined {
            anti_entropy_every: rng.random_range(1..=10),
        },
    };
    let direction = [Direction::Push, Direction::Pull, Direction::PushPull][rng.random_range(0..3)];
    let strategy = [
        Strategy::PreciseRandom,
        Strategy::PreciseOldest,
        Strategy::PreciseNewest,
        Strategy::ScuttleBreadth,
        Strategy::ScuttleDepth,
    ][rng.random_range(0..5)];
    // MTU from 256 to 9,000, spread over the orders of magnitude.
    let mtu = (256.0 * (9000.0f64 / 256.0).powf(rng.random_range(0.0..1.0))) as usize;
    let membership = rng.random_bool(0.4).then(MembershipConfig::default);
    let heartbeats = membership.is_some() || rng.random_bool(0.7);
    let tombstone_grace = match rng.random_range(0..4) {
        0 => None,
        1 => Some(Duration::from_secs(86_400)),
        // From 2 s to 24 h, spread over the orders of magnitude.
        _ => Some(Duration::from_secs_f64(
            2.0 * (43_200.0f64).powf(rng.random_range(0.0..1.0)),
        )),
    };
    let max_deltas = rng.random_bool(0.3).then(|| rng.random_range(1..=8usize));
    let termination = Termination {
        feedback: rng.random_bool(0.5),
        rule: match rng.random_range(0..3) {
            0 => LossOfInterest::Counter(rng.random_range(1..=4)),
            1 => LossOfInterest::Contacts(rng.random_range(1..=4)),
            _ => LossOfInterest::Coin(rng.random_range(1..=4)),
        },
    };
    Config {
        gossip_interval: Duration::from_millis(rng.random_range(200..=1000)),
        fanout: rng.random_range(1..=3),
        mtu,
        max_deltas,
        strategy,
        direction,
        mode,
        termination,
        eager_rumor_sends: rng.random_range(1..=3),
        // 0 (off) to 3, taken from the MTU drawn above rather than from the generator, so that
        // the draws that follow (the scenario's events) stay what they were before relays.
        relay: (mtu % 4) as u32,
        heartbeats,
        membership,
        tombstone_grace,
        ..Config::default()
    }
}

/// Options drawn apart from [`protocol`]: partial views, flow control, the catch-up budget, the
/// repair digest's period, lazy or eager rumor sends, and the heartbeat detector.
fn more_options(rng: &mut ChaCha8Rng, protocol: &mut Config) {
    if rng.random_bool(0.3) {
        let active = rng.random_range(2..=5);
        let active_walk = rng.random_range(1..=6);
        let ping_every = rng.random_range(1..=4);
        protocol.view = Some(ViewConfig {
            active,
            passive: rng.random_range(active..=30),
            active_walk,
            passive_walk: rng.random_range(0..=active_walk),
            shuffle_every: rng.random_range(1..=8),
            shuffle_active: rng.random_range(1..=3),
            shuffle_passive: rng.random_range(1..=4),
            ping_every,
            suspect_after: rng.random_range(ping_every + 1..=12),
        });
    }
    if rng.random_bool(0.2) {
        protocol.flow_control = Some(FlowControl {
            initial_rate: rng.random_range(0.5..4.0),
            ..FlowControl::default()
        });
    }
    protocol.catch_up = match rng.random_range(0..4) {
        0 => None,
        1 => Some(protocol.mtu * rng.random_range(1..=8)),
        _ => protocol.catch_up,
    };
    if rng.random_bool(0.3) {
        protocol.repair_every = Some(rng.random_range(1..=30));
    }
    if rng.random_bool(0.15) {
        protocol.eager_rumor_sends = u32::MAX;
    }
    if let Some(membership) = &mut protocol.membership
        && rng.random_bool(0.25)
    {
        membership.detector = Detector::Heartbeat(HeartbeatConfig::default());
    }
}

/// 0–3 nodes joining during the fault phase, each writing a few seconds later (with membership
/// or partial views only: without, the others never pick a joiner), added to `events` (the
/// caller sorts them).
fn joins(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    protocol: &Config,
    duration: Duration,
    events: &mut Vec<(Duration, Fault)>,
) {
    if protocol.membership.is_none() && protocol.view.is_none() {
        return;
    }
    let stable = stable(nodes, events);
    if stable.is_empty() {
        return;
    }
    let span = duration.as_millis() as u64;
    let mut times: Vec<u64> = (0..rng.random_range(0..=3usize))
        .map(|_| rng.random_range(0..span))
        .collect();
    // Joined nodes take the next indices in the order they join.
    times.sort_unstable();
    for (joined, at) in times.into_iter().enumerate() {
        let at = Duration::from_millis(at);
        let seeds = (0..rng.random_range(1..=2))
            .map(|_| stable[rng.random_range(0..stable.len())])
            .collect();
        events.push((at, Fault::Join { seeds }));
        let write = at + Duration::from_millis(rng.random_range(500..=5_000));
        let set = Fault::Set {
            node: nodes + joined,
            key: format!("k{}", rng.random_range(0..KEYS)),
            len: rng.random_range(1..=(protocol.mtu / 3).max(1)),
        };
        events.push((write.min(duration), set));
    }
}

/// A third of the runs: 1–4 writes of keys with a time to live (1 to 60 s), among the other
/// writes' keys, so that writes, deletes and expiries of one key cross.
fn ttl_writes(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    protocol: &Config,
    duration: Duration,
    events: &mut Vec<(Duration, Fault)>,
) {
    if !rng.random_bool(1.0 / 3.0) {
        return;
    }
    let span = duration.as_millis() as u64;
    for _ in 0..rng.random_range(1..=4) {
        let at = Duration::from_millis(rng.random_range(0..span));
        let fault = Fault::SetTtl {
            node: rng.random_range(0..nodes),
            key: format!("k{}", rng.random_range(0..KEYS)),
            len: rng.random_range(1..=(protocol.mtu / 3).max(1)),
            ttl: Duration::from_millis(rng.random_range(1_000..=60_000)),
        };
        events.push((at, fault));
    }
}

/// The nodes no event crashes or makes leave.
fn stable(nodes: usize, events: &[(Duration, Fault)]) -> Vec<usize> {
    let gone: Vec<usize> = events
        .iter()
        .filter_map(|(_, fault)| match fault {
            Fault::Crash(node) | Fault::Leave(node) => Some(*node),
            _ => None,
        })
        .collect();
    (0..nodes).filter(|n| !gone.contains(n)).collect()
}

/// Half the runs with membership or partial views: 1–3 seed peers (distinct, among the nodes no
/// event takes away), which every node starts knowing instead of the whole cluster.
fn seed_peers(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    protocol: &Config,
    events: &[(Duration, Fault)],
) -> Option<Vec<usize>> {
    if protocol.membership.is_none() && protocol.view.is_none() || !rng.random_bool(0.5) {
        return None;
    }
    let mut stable = stable(nodes, events);
    let count = rng.random_range(1..=3usize).min(stable.len());
    for at in 0..count {
        let pick = rng.random_range(at..stable.len());
        stable.swap(at, pick);
    }
    stable.truncate(count);
    stable.sort_unstable();
    (!stable.is_empty()).then_some(stable)
}

/// Two runs in five: one or two pauses, from 1 s to 2 min (spread over the orders of magnitude;
/// a pause still running at the end of the fault phase ends with it, and the run resumes every
/// paused node at the heal, so that a shrunk scenario that drops a resume does not keep a seed
/// away for good), added to `events` (the caller sorts them).
fn pauses(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    duration: Duration,
    seeds: Option<&[usize]>,
    events: &mut Vec<(Duration, Fault)>,
) {
    if !rng.random_bool(0.4) {
        return;
    }
    // Seeds too (session 21): a paused seed comes back, and meanwhile joins through it wait, or
    // reach it stale from its receive buffer. Half the pauses take one when the run has seeds.
    let seeds: Vec<usize> = (seeds.unwrap_or_default().iter().copied())
        .chain((events.iter()).flat_map(|(_, fault)| match fault {
            Fault::Join { seeds } => seeds.clone(),
            _ => Vec::new(),
        }))
        .collect();
    let span = duration.as_millis() as u64;
    for _ in 0..rng.random_range(1..=2) {
        let node = if !seeds.is_empty() && rng.random_bool(0.5) {
            seeds[rng.random_range(0..seeds.len())]
        } else {
            rng.random_range(0..nodes)
        };
        let start = Duration::from_millis(rng.random_range(0..span));
        let length = Duration::from_secs_f64(120.0f64.powf(rng.random_range(0.0..1.0)));
        events.push((start, Fault::Pause(node)));
        events.push(((start + length).min(duration), Fault::Resume(node)));
    }
}

/// A third of the restarts become relaunches (a fresh process under a new generation), and half
/// the nodes that leave are relaunched 3–40 s later (a rolling upgrade: leave, exit, start the
/// new version), if the fault phase lasts that long; added to `events` (the caller sorts them).
fn relaunches(rng: &mut ChaCha8Rng, duration: Duration, events: &mut Vec<(Duration, Fault)>) {
    let mut more = Vec::new();
    for (at, fault) in events.iter_mut() {
        match *fault {
            Fault::Restart { node, .. } if rng.random_bool(1.0 / 3.0) => {
                *fault = Fault::Relaunch { node };
            }
            Fault::Leave(node) if rng.random_bool(0.5) => {
                let back = *at + Duration::from_millis(rng.random_range(3_000..=40_000));
                if back < duration {
                    more.push((back, Fault::Relaunch { node }));
                }
            }
            _ => {}
        }
    }
    events.extend(more);
}

/// 0–2 one-way cuts (a random set of senders loses every datagram to a random set of
/// receivers), each healed after 1–30 s, added to `events` (the caller sorts them).
fn one_way_cuts(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    duration: Duration,
    events: &mut Vec<(Duration, Fault)>,
) {
    let span = duration.as_millis() as u64;
    for _ in 0..rng.random_range(0..=2) {
        let start = Duration::from_millis(rng.random_range(0..span));
        let (mut from, mut to) = (Vec::new(), Vec::new());
        for node in 0..nodes {
            match rng.random_range(0..3) {
                0 => from.push(node),
                1 => to.push(node),
                _ => {}
            }
        }
        events.push((start, Fault::OneWay { from, to }));
        let length = Duration::from_millis(rng.random_range(1_000..=30_000));
        events.push(((start + length).min(duration), Fault::Heal));
    }
}

fn events(
    rng: &mut ChaCha8Rng,
    nodes: usize,
    protocol: &Config,
    duration: Duration,
) -> Vec<(Duration, Fault)> {
    let span = duration.as_millis() as u64;
    let at = |rng: &mut ChaCha8Rng| Duration::from_millis(rng.random_range(0..span));
    let mut events = Vec::new();
    // Writes and deletes: a few per second over the phase.
    let writes = rng.random_range(span / 1000..=span * 4 / 1000).max(1);
    // Values up to about a third of a message, sometimes nearly a whole one.
    let max_len = if rng.random_bool(0.2) {
        protocol.mtu.saturating_sub(120).max(1)
    } else {
        (protocol.mtu / 3).max(1)
    };
    for _ in 0..writes {
        let node = rng.random_range(0..nodes);
        let key = format!("k{}", rng.random_range(0..KEYS));
        let fault = if rng.random_bool(0.25) {
            Fault::Delete { node, key }
        } else {
            Fault::Set {
                node,
                key,
                len: rng.random_range(1..=max_len),
            }
        };
        events.push((at(rng), fault));
    }
    // Partitions, each healed after a while.
    for _ in 0..rng.random_range(0..=4) {
        let start = at(rng);
        let groups = rng.random_range(2..=3usize);
        let mut split = vec![Vec::new(); groups];
        for node in 0..nodes {
            split[rng.random_range(0..groups)].push(node);
        }
        events.push((start, Fault::Partition(split)));
        let length = Duration::from_millis(rng.random_range(1_000..=30_000));
        events.push(((start + length).min(duration), Fault::Heal));
    }
    // Network changes.
    for _ in 0..rng.random_range(0..=3) {
        let fault = Fault::Network {
            loss: if rng.random_bool(0.5) {
                rng.random_range(0.0..0.5)
            } else {
                0.0
            },
            duplicate: if rng.random_bool(0.3) {
                rng.random_range(0.0..0.3)
            } else {
                0.0
            },
        };
        events.push((at(rng), fault));
    }
    // Crashes, most followed by a restart; leaves (with membership), never more than half the
    // nodes gone at the end.
    let mut gone = 0;
    for _ in 0..rng.random_range(0..=4) {
        let node = rng.random_range(0..nodes);
        let start = at(rng);
        if protocol.membership.is_some() && rng.random_bool(0.2) {
            if gone < nodes / 2 {
                gone += 1;
                events.push((start, Fault::Leave(node)));
            }
            continue;
        }
        events.push((start, Fault::Crash(node)));
        if rng.random_bool(0.7) || gone >= nodes / 2 {
            let back = start + Duration::from_millis(rng.random_range(500..=40_000));
            let fault = if rng.random_bool(0.2) {
                Fault::Reincarnate {
                    node,
                    lower: rng.random_bool(0.5),
                }
            } else {
                Fault::Restart {
                    node,
                    keep_state: rng.random_bool(0.5),
                }
            };
            events.push((back.min(duration), fault));
        } else {
            gone += 1;
        }
    }
    events.sort_by_key(|(at, _)| *at);
    events
}

impl Fault {
    /// The highest node index the fault names (0 if none).
    pub fn max_node(&self) -> usize {
        match self {
            Fault::Set { node, .. } | Fault::SetTtl { node, .. } | Fault::Delete { node, .. } => {
                *node
            }
            Fault::Crash(node)
            | Fault::Leave(node)
            | Fault::Restart { node, .. }
            | Fault::Reincarnate { node, .. }
            | Fault::Relaunch { node }
            | Fault::Pause(node)
            | Fault::Resume(node) => *node,
            Fault::Partition(groups) => groups.iter().flatten().copied().max().unwrap_or(0),
            Fault::Join { seeds } => seeds.iter().copied().max().unwrap_or(0),
            Fault::OneWay { from, to } => from.iter().chain(to).copied().max().unwrap_or(0),
            Fault::Heal | Fault::Network { .. } => 0,
        }
    }
}
