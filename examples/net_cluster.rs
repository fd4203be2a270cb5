//! Many networked nodes in one process on loopback, over the default transport (sealed UDP
//! datagrams) with the default membership (SWIM, `Config::lan()`): they join through 3 seeds,
//! a write spreads to all, then 5 % are killed and every survivor must see each of them Down and
//! no live node Down.
//!
//! ```text
//! cargo run --release --example net_cluster -- [NODES] [IDLE_SECONDS] [START_SPACING_MS] [VIEWS] [TCP]
//! ```
//!
//! `VIEWS` = 1 turns partial views on (HyParView, `ViewConfig::default()`): each node gossips with
//! its active view only, joining through a seed. `TCP` = 1 runs the stream transport (the TCP
//! mesh) instead of datagrams.
//!
//! Prints join time (every node holds every node Up), write→all spread (median and worst of 10
//! writes), idle bytes sent per node per second, detection time of the kills (first and last
//! Down at a survivor), false Downs, sockets and resident memory per node (from /proc). Real
//! sockets and real time: figures vary from run to run; `docs/networking.md` records some.

#[path = "common/loopback.rs"]
mod loopback;

use hearsay::actor::{Crash, KeyChanged, MemberChanged, Set, Subscribe, SubscribeMembership};
use hearsay::net::{Counter, Key, Keyring, NetNode, TransportKind};
use hearsay::proto::{ClusterId, Config, MemberStatus, NodeId, ViewConfig};
use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What every node's events say, kept by one watcher actor: each node's view of each member,
/// the Down events, and how many nodes hold each written value.
#[derive(Default)]
struct Seen {
    status: HashMap<(NodeId, NodeId), MemberStatus>,
    /// Per observer: members it holds Up (itself aside: a node reports no event of its own).
    up: HashMap<NodeId, usize>,
    /// Down events: (observer, member, when).
    downs: Vec<(NodeId, NodeId, Instant)>,
    /// Per value of key `k`: nodes that hold it.
    holders: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Seen>>;

fn lock(seen: &Shared) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

struct Watcher(Shared);

impl actix::Actor for Watcher {
    type Context = actix::Context<Self>;
}

impl actix::Handler<MemberChanged> for Watcher {
    type Result = ();

    fn handle(&mut self, changed: MemberChanged, _: &mut actix::Context<Self>) {
        let mut seen = lock(&self.0);
        let key = (changed.node, changed.member);
        let before = seen.status.insert(key, changed.status);
        let was_up = before == Some(MemberStatus::Up);
        let is_up = changed.status == MemberStatus::Up;
        let up = seen.up.entry(changed.node).or_default();
        match (was_up, is_up) {
            (false, true) => *up += 1,
            (true, false) => *up -= 1,
            _ => {}
        }
        if changed.status == MemberStatus::Down {
            seen.downs
                .push((changed.node, changed.member, Instant::now()));
        }
    }
}

impl actix::Handler<KeyChanged> for Watcher {
    type Result = ();

    fn handle(&mut self, changed: KeyChanged, _: &mut actix::Context<Self>) {
        if let Some(value) = &changed.value {
            let text = String::from_utf8_lossy(value.as_bytes()).into_owned();
            *lock(&self.0).holders.entry(text).or_default() += 1;
        }
    }
}

/// Waits until `done` holds of what the nodes have reported; the time it took. Every 10 s it
/// prints how far the nodes are (the fewest and the median members held Up) on stderr.
async fn until(seen: &Shared, what: &str, done: impl Fn(&Seen) -> bool) -> Duration {
    until_within(seen, what, done, Duration::from_secs(600)).await
}

/// [`until`], giving up after `budget` (the time it waited, then at least `budget`).
async fn until_within(
    seen: &Shared,
    what: &str,
    done: impl Fn(&Seen) -> bool,
    budget: Duration,
) -> Duration {
    let started = Instant::now();
    let mut report = started + Duration::from_secs(10);
    while !done(&lock(seen)) {
        if started.elapsed() >= budget {
            if budget >= Duration::from_secs(600) {
                panic!("{what}: not done after 10 minutes");
            }
            return started.elapsed().max(budget);
        }
        if Instant::now() >= report {
            report += Duration::from_secs(10);
            let mut up: Vec<(usize, NodeId)> =
                lock(seen).up.iter().map(|(&n, &u)| (u, n)).collect();
            up.sort_unstable();
            eprintln!(
                "  {what}: {:.0} s, members held Up: fewest {:?} (node {:?}), median {:?}, nodes reporting {}",
                started.elapsed().as_secs_f64(),
                up.first().map(|f| f.0),
                up.first().map(|f| f.1.0),
                up.get(up.len() / 2).map(|m| m.0),
                up.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    started.elapsed()
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CLUSTER: &str = "net-cluster";

async fn start(
    id: u64,
    seeds: Vec<SocketAddr>,
    keyring: Keyring,
    views: bool,
    transport: TransportKind,
) -> NetNode {
    let config = Config {
        cluster: ClusterId::from_name(CLUSTER),
        view: views.then(ViewConfig::default),
        ..Config::lan()
    };
    loopback::start(CLUSTER, id, config, seeds, keyring, transport).await
}

fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|line| line.starts_with(field))
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|kb| kb.parse().ok())
        .unwrap_or(0)
}

fn open_files() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

fn main() {
    let arg = |at: usize, default: u64| {
        std::env::args()
            .nth(at)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or(default)
    };
    let (count, idle) = (arg(1, 200).clamp(4, 5_000) as usize, arg(2, 10));
    // Milliseconds between two starts (0: all at once).
    let spacing = Duration::from_millis(arg(3, 0).min(10_000));
    let views = arg(4, 0) == 1;
    let transport = if arg(5, 0) == 1 {
        TransportKind::Stream
    } else {
        TransportKind::Datagram
    };
    actix_rt::System::new().block_on(async move {
        let files_before = open_files();
        let keyring = Keyring::new(Key::generate().expect("key"));
        let seen: Shared = Arc::default();
        let watcher = actix::Actor::start(Watcher(seen.clone()));
        let mut nodes: Vec<(u64, NetNode)> = Vec::with_capacity(count);
        let started = Instant::now();
        // The nodes run on one arbiter (thread) per core, in turn.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let arbiters: Vec<actix::Arbiter> = (0..threads).map(|_| actix::Arbiter::new()).collect();
        for id in 1..=count as u64 {
            let seeds = nodes.iter().take(3).map(|(_, n)| n.local_addr()).collect();
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let keyring = keyring.clone();
            arbiters[id as usize % threads].spawn(async move {
                let _ = sender.send(start(id, seeds, keyring, views, transport).await);
            });
            let node = receiver.await.expect("node started");
            if !spacing.is_zero() {
                tokio::time::sleep(spacing).await;
            }
            node.node()
                .send(SubscribeMembership {
                    recipient: watcher.clone().recipient(),
                })
                .await
                .expect("subscribed");
            node.node()
                .send(Subscribe {
                    prefix: "k".into(),
                    recipient: watcher.clone().recipient(),
                })
                .await
                .expect("subscribed");
            nodes.push((id, node));
        }
        println!(
            "{count} nodes started in {:.1} s on {threads} threads ({})",
            started.elapsed().as_secs_f64(),
            if views { "partial views" } else { "full membership" }
        );
        // A node may learn members before its subscription reaches it (a table answered within a
        // millisecond of its start): a node the events show incomplete is read directly, once a
        // second, and counted complete when its table holds everyone Up.
        let joined_started = Instant::now();
        loop {
            let behind: Vec<NodeId> = {
                let seen = lock(&seen);
                (1..=count as u64)
                    .map(NodeId)
                    .filter(|id| seen.up.get(id).is_none_or(|&up| up + 1 < count))
                    .collect()
            };
            for id in behind {
                let node = &nodes[id.0 as usize - 1].1;
                let members = node
                    .node()
                    .send(hearsay::actor::GetMembers)
                    .await
                    .expect("mailbox")
                    .expect("up");
                let mut seen = lock(&seen);
                for member in members.iter().filter(|m| m.id != id) {
                    seen.status.insert((id, member.id), member.status);
                }
                let up = members
                    .iter()
                    .filter(|m| m.id != id && m.status == MemberStatus::Up)
                    .count();
                seen.up.insert(id, up);
            }
            let second = Duration::from_secs(1);
            let all_up = |seen: &Seen| {
                seen.up.len() == count && seen.up.values().all(|&up| up + 1 == count)
            };
            if until_within(&seen, "join", all_up, second).await < second {
                break;
            }
            if joined_started.elapsed() > Duration::from_secs(600) {
                panic!("join: not done after 10 minutes");
            }
        }
        let joined = joined_started.elapsed();
        println!(
            "join: every node holds all {count} Up {:.1} s after the last start",
            joined.as_secs_f64()
        );
        // Writes: each at a rotating node, spread measured until every node holds it.
        let mut spreads = Vec::new();
        for write in 0..10u64 {
            let (_, writer) = &nodes[(write as usize * 7) % count];
            let value = format!("w{write}");
            let began = Instant::now();
            writer
                .node()
                .send(Set {
                    key: "k".into(),
                    value: value.clone().into(),
                })
                .await
                .expect("mailbox")
                .expect("write");
            until(&seen, "write", |seen| seen.holders.get(&value) == Some(&count)).await;
            spreads.push(began.elapsed().as_secs_f64());
        }
        spreads.sort_by(f64::total_cmp);
        println!(
            "write -> all {count}: median {:.2} s, worst {:.2} s (10 writes)",
            spreads[spreads.len() / 2],
            spreads[spreads.len() - 1]
        );
        let total = |counter| -> u64 { nodes.iter().map(|(_, n)| n.stats().get(counter)).sum() };
        println!(
            "dropped so far: {} messages for want of an address, {} otherwise",
            total(Counter::Unaddressed),
            total(Counter::Dropped)
        );
        // Idle cost.
        let sent = |nodes: &[(u64, NetNode)]| -> u64 {
            nodes.iter().map(|(_, n)| n.stats().get(Counter::BytesOut)).sum()
        };
        let cpu = || -> f64 {
            let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
            let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
            let ticks: u64 = fields.get(11).and_then(|f| f.parse().ok()).unwrap_or(0)
                + fields.get(12).and_then(|f| f.parse().ok()).unwrap_or(0);
            ticks as f64 / 100.0
        };
        let (bytes_before, cpu_before) = (sent(&nodes), cpu());
        tokio::time::sleep(Duration::from_secs(idle)).await;
        let bytes = (sent(&nodes) - bytes_before) as f64 / (idle as f64 * count as f64);
        let cpu_share = (cpu() - cpu_before) / (idle as f64 * count as f64);
        println!(
            "idle: {bytes:.0} bytes sent per node per second, {:.2} ms of CPU per node per second",
            cpu_share * 1000.0
        );
        println!(
            "sockets: {:.2} open files per node; memory: {:.0} KiB resident per node",
            (open_files() - files_before) as f64 / count as f64,
            proc_status("VmRSS:") as f64 / count as f64
        );
        // Kill 5 %: crashed, not left (no goodbye).
        let kill = (count / 20).max(1);
        let mut killed = BTreeSet::new();
        let killed_at = Instant::now();
        for at in 0..kill {
            let (id, node) = &nodes[count - 1 - at * 3];
            node.node().do_send(Crash);
            node.shutdown();
            killed.insert(NodeId(*id));
        }
        let survivors: Vec<(u64, NetNode)> = nodes
            .into_iter()
            .filter(|(id, _)| !killed.contains(&NodeId(*id)))
            .collect();
        let detected = until(&seen, "detection", |seen| {
            survivors.iter().all(|(id, _)| {
                killed.iter().all(|k| {
                    matches!(
                        seen.status.get(&(NodeId(*id), *k)),
                        Some(MemberStatus::Down | MemberStatus::Removed)
                    )
                })
            })
        })
        .await;
        let downs = lock(&seen).downs.clone();
        let false_downs = downs.iter().filter(|(_, member, _)| !killed.contains(member)).count();
        let first = downs
            .iter()
            .filter(|(_, member, at)| killed.contains(member) && *at >= killed_at)
            .map(|(_, _, at)| at.duration_since(killed_at).as_secs_f64())
            .fold(f64::INFINITY, f64::min);
        println!(
            "killed {kill}: every survivor holds each Down {:.1} s after (first Down at {first:.1} s); false Downs: {false_downs}",
            detected.as_secs_f64()
        );
        for (observer, member, at) in downs.iter().filter(|(_, member, _)| !killed.contains(member)) {
            println!(
                "  false Down: node {} declared {} Down {:.1} s after the start",
                observer.0,
                member.0,
                at.duration_since(started).as_secs_f64()
            );
        }
        assert_eq!(false_downs, 0, "a live node was declared Down");
    });
}
