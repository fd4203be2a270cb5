//! Shared helpers of the membership-at-scale tests (`churn.rs`, `churn_partition.rs`): the
//! recommended configuration, a collector of member events, membership tables and their checks.

use actix::{Actor, Addr, Context, Handler};
use hearsay_actor::{
    GetMembers, MemberChanged, NetworkConfig, Simulation, SimulationConfig, SubscribeMembership,
};
use hearsay_proto::{
    Config, Detector, Generation, HeartbeatConfig, MemberStatus, MembershipConfig, Mode, NodeId,
    PhiConfig, PhiModel, Value, Version,
};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECOND: Duration = Duration::from_secs(1);

/// The acceptable heartbeat pause of the recommended configuration.
pub const PAUSE: Duration = Duration::from_secs(8);

/// The configuration `docs/membership.md` recommends for a cluster of up to `members` members
/// (Down members count until they are removed).
pub fn recommended(members: usize, removal_after: Duration) -> Config {
    Config {
        mode: Mode::AntiEntropy,
        // A Scuttlebutt digest entry takes at most 20 bytes here; keep every member in one digest.
        mtu: (members * 20 + 1_000).clamp(1_400, 65_507),
        membership: Some(MembershipConfig {
            removal_after,
            ..MembershipConfig::with_detector(Detector::Heartbeat(HeartbeatConfig {
                phi: PhiConfig {
                    acceptable_heartbeat_pause: PAUSE,
                    first_heartbeat_estimate: Duration::from_secs(4),
                    // docs/membership.md's recommended configuration: the normal model, for
                    // fast detection where progress is frequent and regular.
                    model: PhiModel::Normal,
                    ..PhiConfig::default()
                },
                ..HeartbeatConfig::default()
            }))
        }),
        ..Config::default()
    }
}

pub fn cluster(nodes: usize, seed: u64, protocol: Config) -> SimulationConfig {
    SimulationConfig {
        nodes,
        seed,
        protocol,
        network: Some(NetworkConfig {
            loss: 0.1,
            ..NetworkConfig::default()
        }),
        ..SimulationConfig::default()
    }
}

/// What the membership subscribers of every node reported, folded as it arrives.
#[derive(Default)]
pub struct Tally {
    /// Crashed nodes, with when (since the start): recorded before the crash.
    pub crashed: BTreeMap<NodeId, Duration>,
    /// When each node joined (nodes of the initial cluster: never).
    pub joined: BTreeMap<NodeId, Duration>,
    /// Down reports about a member that was running at the time: (when, observer, member).
    pub false_down: Vec<(Duration, NodeId, NodeId)>,
    /// Suspect reports about a member that was running at the time.
    pub false_suspect: u64,
    /// The first Down report of each (observer, crashed member), since the crash.
    pub detected: BTreeMap<(NodeId, NodeId), Duration>,
    /// The first Left report of each (observer, member), since the start.
    pub left: BTreeMap<(NodeId, NodeId), Duration>,
    /// (observer, member, generation) reported Removed.
    pub removed: BTreeSet<(NodeId, NodeId, Generation)>,
    /// Reports about a removed generation (or an older one) after its removal at that observer.
    pub resurrected: Vec<MemberChanged>,
}

pub type Shared = Arc<Mutex<Tally>>;

pub fn lock(tally: &Shared) -> std::sync::MutexGuard<'_, Tally> {
    tally
        .lock()
        .expect("nothing panics while holding the tally")
}

pub struct Collector {
    pub tally: Shared,
    pub start: tokio::time::Instant,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<MemberChanged> for Collector {
    type Result = ();

    fn handle(&mut self, change: MemberChanged, _: &mut Context<Self>) {
        let now = self.start.elapsed();
        let mut tally = lock(&self.tally);
        let crashed = tally.crashed.get(&change.member).copied();
        let pair = (change.node, change.member);
        if tally
            .removed
            .range((change.node, change.member, Generation(0))..)
            .take_while(|(o, m, _)| (*o, *m) == pair)
            .any(|(_, _, g)| change.generation <= *g)
        {
            tally.resurrected.push(change);
        }
        match (change.status, crashed) {
            (MemberStatus::Down, None) => tally.false_down.push((now, change.node, change.member)),
            (MemberStatus::Suspect, None) => tally.false_suspect += 1,
            (MemberStatus::Down, Some(at)) => {
                tally.detected.entry(pair).or_insert(now.saturating_sub(at));
            }
            (MemberStatus::Left, _) => {
                tally.left.entry(pair).or_insert(now);
            }
            (MemberStatus::Removed, _) => {
                tally
                    .removed
                    .insert((change.node, change.member, change.generation));
            }
            _ => {}
        }
    }
}

/// Starts the collector and subscribes every node of `sim` to it.
pub async fn collect(sim: &Simulation) -> (Shared, Addr<Collector>, tokio::time::Instant) {
    let tally: Shared = Arc::default();
    let start = tokio::time::Instant::now();
    let collector = Collector {
        tally: tally.clone(),
        start,
    }
    .start();
    for node in sim.nodes() {
        subscribe(node, &collector).await;
    }
    (tally, collector, start)
}

pub async fn subscribe(node: &Addr<hearsay_actor::GossipNode>, collector: &Addr<Collector>) {
    node.send(SubscribeMembership {
        recipient: collector.clone().recipient(),
    })
    .await
    .expect("subscribed");
}

/// Every live node's member table, by node.
pub async fn tables(
    sim: &Simulation,
    live: &BTreeSet<usize>,
) -> BTreeMap<usize, BTreeMap<NodeId, (Generation, MemberStatus)>> {
    let mut all = BTreeMap::new();
    for &i in live {
        let members = sim
            .node(i)
            .expect("node")
            .send(GetMembers)
            .await
            .expect("answers")
            .expect("running");
        all.insert(
            i,
            members
                .into_iter()
                .map(|m| (m.id, (m.generation, m.status)))
                .collect(),
        );
    }
    all
}

/// What keeps membership from having converged (empty when it has): every live node lists every
/// live node Up (generation 1) and every leaver Left; every crashed node is Down or Removed at
/// every live node, or unknown to all of them (it crashed before anyone heard of it).
pub fn membership_problems(
    tables: &BTreeMap<usize, BTreeMap<NodeId, (Generation, MemberStatus)>>,
    live: &BTreeSet<usize>,
    left: &BTreeSet<usize>,
    crashed: &BTreeSet<usize>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (&observer, table) in tables {
        for &member in live {
            let want = if left.contains(&member) {
                MemberStatus::Left
            } else {
                MemberStatus::Up
            };
            let got = table.get(&NodeId(member as u64));
            if got != Some(&(Generation(1), want)) {
                problems.push(format!("{observer} sees live {member} as {got:?}"));
            }
        }
    }
    for &member in crashed {
        let id = NodeId(member as u64);
        let known = tables.values().filter(|t| t.contains_key(&id)).count();
        for (&observer, table) in tables {
            match table.get(&id) {
                Some((_, MemberStatus::Down | MemberStatus::Removed)) => {}
                None if known == 0 => {}
                got => problems.push(format!("{observer} sees crashed {member} as {got:?}")),
            }
        }
    }
    problems
}

pub fn quantiles(mut values: Vec<Duration>) -> String {
    if values.is_empty() {
        return "none".into();
    }
    values.sort();
    format!(
        "min {:.1} s, median {:.1} s, p99 {:.1} s, max {:.1} s ({} samples)",
        values[0].as_secs_f64(),
        values[values.len() / 2].as_secs_f64(),
        values[values.len() * 99 / 100].as_secs_f64(),
        values[values.len() - 1].as_secs_f64(),
        values.len()
    )
}

/// The version of every entry node `i` holds, by (origin, key).
async fn held_versions(sim: &Simulation, i: usize) -> BTreeMap<(NodeId, String), Version> {
    let view = sim.entries(i).await.expect("running");
    view.into_iter()
        .map(|e| ((e.origin, e.key), e.version))
        .collect()
}

/// How many (live node, write) pairs lack the write (at its version or a newer one).
pub async fn writes_missing(
    sim: &Simulation,
    live: &BTreeSet<usize>,
    writes: &[(usize, String, Version)],
) -> usize {
    let mut missing = 0;
    for &i in live {
        let held = held_versions(sim, i).await;
        missing += writes
            .iter()
            .filter(|(writer, key, version)| {
                held.get(&(NodeId(*writer as u64), key.clone()))
                    .is_none_or(|v| v < version)
            })
            .count();
    }
    missing
}

/// Checks that every live node holds every write in `writes` (at its version or a newer one).
pub async fn assert_writes_everywhere(
    sim: &Simulation,
    live: &BTreeSet<usize>,
    writes: &[(usize, String, Version)],
) {
    for &i in live {
        let held = held_versions(sim, i).await;
        for (writer, key, version) in writes {
            let got = held.get(&(NodeId(*writer as u64), key.clone()));
            assert!(
                got.is_some_and(|v| v >= version),
                "node {i} lacks {writer}'s {key} at {version:?} (holds {got:?})"
            );
        }
    }
}

/// Writes `count` keys at random nodes of `side`, remembering them.
pub async fn write_at(
    sim: &Simulation,
    rng: &mut ChaCha8Rng,
    side: &[usize],
    tag: &str,
    count: usize,
    writes: &mut Vec<(usize, String, Version)>,
) {
    for k in 0..count {
        let writer = side[rng.random_range(0..side.len())];
        let key = format!("{tag}/{k}/{writer}");
        let version = sim.set(writer, &key, Value::from(tag)).await.expect("fits");
        writes.push((writer, key, version));
    }
}
