//! Runs the chitchat baseline's workloads (`shared/benchmarks/chitchat-baseline.md`) on the
//! lockstep driver and prints the same columns: W1 (one write spreads to n nodes), W2 (100
//! nodes write 10 keys each at once) and W3 (n nodes, one key each, join through node 0, with
//! membership on: until every node sees n members Up and all n keys), at MTUs of 65,507 and 1,400 bytes, 16-byte keys and 32-byte
//! values of near-incompressible text, gossip interval 1 s, 10 seeds per row.
//!
//! `cargo run --release --example workloads [-- --runs 10] [--only W3]`
//!
//! Four hearsay configurations are run: `default` (hearsay's defaults: rumors every round, push-pull
//! Scuttlebutt anti-entropy every 10 rounds, fanout 1), `lazy` (the same with rumors offered by id
//! from the first send), `ae` (anti-entropy every round, fanout 1) and `ae-fanout3` (anti-entropy
//! every round with 3 peers, as chitchat gossips). Delivery model: every datagram is delivered within the
//! round it is sent in, answers included, as in the chitchat measurement.
//!
//! The last column is the process's peak RSS during the row (Linux: the high-water mark is reset
//! through `/proc/self/clear_refs` before each row and read from `/proc/self/status` after it),
//! so it includes the process's baseline and whatever an earlier row freed but the allocator
//! kept: an upper bound on the row's own memory.

use hearsay_proto::{
    Config, Lockstep, MemberStatus, MembershipConfig, Mode, NodeId, Peers, RoundReport, Value,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

struct Row {
    converged: usize,
    runs: usize,
    rounds: f64,
    messages: f64,
    bytes: f64,
    wall: f64,
}

fn text(rng: &mut ChaCha8Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn subtract(after: RoundReport, before: RoundReport) -> (u64, u64) {
    (after.messages - before.messages, after.bytes - before.bytes)
}

/// Runs one workload; `writers` nodes write `keys` keys each after the warm-up. With `join`, there
/// is no warm-up: every node knows only node 0, and convergence also needs every member Up.
fn run(config: &Config, n: usize, writers: usize, keys: usize, join: bool, runs: usize) -> Row {
    let now = Instant::now();
    let mut row = Row {
        converged: 0,
        runs,
        rounds: 0.0,
        messages: 0.0,
        bytes: 0.0,
        wall: 0.0,
    };
    // With membership on, its timers (SWIM gossips every 200 ms, a probe times out after 500 ms)
    // run at their time: the driver steps by 100 ms, as `hearsay sim membership` does, and
    // rounds are counted in gossip intervals of virtual time.
    let step = if config.membership.is_some() {
        Duration::from_millis(100).min(config.gossip_interval)
    } else {
        config.gossip_interval
    };
    let steps_per_round =
        (config.gossip_interval.as_secs_f64() / step.as_secs_f64()).round() as u64;
    for seed in 0..runs as u64 {
        let started = Instant::now();
        let mut cluster = match Lockstep::new(n, config.clone(), seed, Instant::now()) {
            Ok(cluster) => cluster.with_step(step),
            Err(error) => {
                eprintln!("invalid configuration: {error}");
                std::process::exit(2);
            }
        };
        if join {
            for id in 0..n {
                if let Some(node) = cluster.node_mut(id) {
                    let seeds = if id == 0 { vec![] } else { vec![NodeId(0)] };
                    node.set_peers(Peers::Own(seeds));
                }
            }
        } else {
            // Warm-up: every node learns every other's (empty) origin, nothing left to reconcile.
            cluster.run_until(200 * steps_per_round, |c| {
                c.nodes()
                    .iter()
                    .all(|node| node.store().origins().count() == n)
            });
        }
        let before = cluster.total();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut expected = Vec::new();
        for w in 0..writers {
            for _ in 0..keys {
                let key = text(&mut rng, 16);
                let value = text(&mut rng, 32);
                if let Some(node) = cluster.node_mut(w)
                    && node.set(now, &key, Value::from(value)).is_ok()
                {
                    expected.push((NodeId(w as u64), key));
                }
            }
        }
        let steps = cluster.run_until(600 * steps_per_round, |c| {
            c.nodes().iter().all(|node| {
                let members_up = !join
                    || node
                        .members()
                        .iter()
                        .filter(|m| m.status == MemberStatus::Up || m.id == node.id())
                        .count()
                        == n;
                members_up
                    && expected
                        .iter()
                        .all(|(origin, key)| node.store().get(*origin, key).is_some())
            })
        });
        if let Some(steps) = steps {
            let (messages, bytes) = subtract(cluster.total(), before);
            row.converged += 1;
            row.rounds += steps as f64 / steps_per_round as f64;
            row.messages += messages as f64;
            row.bytes += bytes as f64;
            row.wall += started.elapsed().as_secs_f64();
        }
    }
    let done = row.converged.max(1) as f64;
    row.rounds /= done;
    row.messages /= done;
    row.bytes /= done;
    row.wall /= done;
    row
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs = match args.iter().position(|a| a == "--runs") {
        Some(i) => match args.get(i + 1).and_then(|v| v.parse::<usize>().ok()) {
            Some(runs) if runs > 0 => runs,
            _ => {
                eprintln!("--runs takes a positive whole number");
                std::process::exit(2);
            }
        },
        None => 10,
    };
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default();
    let configs = [
        ("default", Config::default()),
        (
            "lazy",
            Config {
                eager_rumor_sends: 0,
                ..Config::default()
            },
        ),
        (
            "ae",
            Config {
                mode: Mode::AntiEntropy,
                ..Config::default()
            },
        ),
        (
            "ae-fanout3",
            Config {
                mode: Mode::AntiEntropy,
                fanout: 3,
                ..Config::default()
            },
        ),
    ];
    let workloads: [(&str, usize, usize, usize, usize); 9] = [
        ("W1 spread", 10, 65_507, 1, 1),
        ("W1 spread", 100, 65_507, 1, 1),
        ("W1 spread", 500, 65_507, 1, 1),
        ("W1 spread", 100, 1_400, 1, 1),
        ("W2 bulk", 100, 65_507, 100, 10),
        ("W2 bulk", 100, 1_400, 100, 10),
        ("W3 join", 10, 65_507, 10, 1),
        ("W3 join", 100, 65_507, 100, 1),
        ("W3 join", 100, 1_400, 100, 1),
    ];
    println!(
        "| config | workload | n | MTU | converged | rounds | messages | bytes | wall s | peak RSS MiB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, base) in &configs {
        for (workload, n, mtu, writers, keys) in workloads {
            if !workload.starts_with(only.as_str()) {
                continue;
            }
            let join = workload.starts_with("W3");
            let config = Config {
                mtu,
                max_incoming: 65_507,
                membership: join.then(MembershipConfig::default),
                ..base.clone()
            };
            reset_peak_rss();
            let row = run(&config, n, writers, keys, join, runs);
            let peak = peak_rss_mib().map_or("—".to_owned(), |mib| format!("{mib:.1}"));
            println!(
                "| {name} | {workload} | {n} | {mtu} | {}/{} | {:.1} | {:.0} | {:.0} | {:.3} | {peak} |",
                row.converged, row.runs, row.rounds, row.messages, row.bytes, row.wall
            );
        }
    }
}

/// Resets the process's peak RSS to its current RSS (Linux; elsewhere nothing happens).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The process's peak RSS since the last reset, in MiB (`None` where `/proc` is not there).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
