//! 100,000 node actors in one process: push-pull anti-entropy spreads one update to all.
//!
//! `cargo run --release --example scale [-- --nodes 100000 --runs 3 --seed 1 --no-floor]`
//!
//! `-- --floors-only --messages M --size S --rounds R [--nodes N --seed 1]` runs the two floors
//! alone, for a run whose traffic is known (to profile them apart from hearsay).
//!
//! Membership is static (handed out by the harness) and only data is gossiped (heartbeats off).
//! Delivery is through each node's inbox, drained by its actor's task (the in-process router,
//! `Router::start`), every datagram really encoded and decoded. Prints wall time, protocol messages per second, peak RSS and rounds to convergence,
//! beside Karp et al.'s expectation for push-pull, log3(n) + ln ln(n); and after each run the
//! raw-actix floor: as many bare actors handling as many datagrams of the same mean size
//! (`common/actix_floor.rs`), with the ratio of the two wall times; and the floor with a timer
//! per actor, firing once a virtual second for as many rounds, each firing starting a chain of
//! the same datagrams (what any round-based gossip actor has besides its traffic).

#[path = "common/actix_floor.rs"]
mod actix_floor;

use hearsay::actor::{Simulation, SimulationConfig, simulate};

/// A datagram is a fresh buffer: mimalloc serves those faster than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use hearsay::prelude::*;
use std::process::ExitCode;
use std::time::{Duration, Instant};

fn flag(args: &[String], name: &str, default: u64) -> Result<u64, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .ok_or(format!("{name} takes a positive whole number")),
    }
}

/// Peak resident set size of this process, in MiB (Linux; 0 elsewhere).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let parsed = (|| {
        Ok::<_, String>((
            flag(&args, "--nodes", 100_000)?,
            flag(&args, "--runs", 3)?,
            flag(&args, "--seed", 1)?,
        ))
    })();
    let (nodes, runs, seed) = match parsed {
        Ok(values) => values,
        Err(message) => {
            eprintln!("scale: {message}");
            return ExitCode::from(2);
        }
    };
    if args.iter().any(|a| a == "--floors-only") {
        return floors_only(&args, nodes, seed);
    }
    // `--no-floor` skips the floors (to profile hearsay alone).
    let floors = !args.iter().any(|a| a == "--no-floor");
    let n = nodes as f64;
    let expected = n.ln() / 3f64.ln() + n.ln().ln();
    println!("{nodes} node actors, push-pull anti-entropy, one update, {runs} runs");
    let mut all_rounds = Vec::new();
    for run in 0..runs {
        let started = Instant::now();
        let outcome = simulate(|| async {
            let config = SimulationConfig {
                nodes: nodes as usize,
                seed: seed + run,
                protocol: Config {
                    mode: Mode::AntiEntropy,
                    heartbeats: false,
                    ..Config::default()
                },
                network: None,
                // Synchronous rounds, as in the analyses the result is compared with.
                jitter: false,
                trace: false,
                start_after: Duration::ZERO,
                seed_peers: None,
                ..SimulationConfig::default()
            };
            let sim = Simulation::start(config)?;
            let built = started.elapsed();
            sim.set(0, "update", Value::from("spread me")).await?;
            let took = sim
                .run_until(Duration::from_secs(120), |r| r.all_hold_latest())
                .await;
            let traffic = sim.recorder().sent_total();
            Ok::<_, hearsay::actor::Error>((built, took, traffic))
        });
        let (built, took, traffic) = match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(error)) | Err(error) => {
                eprintln!("scale: {error}");
                return ExitCode::FAILURE;
            }
        };
        let wall = started.elapsed().as_secs_f64();
        let Some(took) = took else {
            println!("run {run}: not converged within 120 virtual seconds");
            return ExitCode::FAILURE;
        };
        // Rounds run at 0 s, 1 s, …: convergence seen within (k - 1, k] seconds fell in round k.
        let rounds = (took.as_secs_f64() / Config::default().gossip_interval.as_secs_f64()).ceil();
        all_rounds.push(rounds);
        println!(
            "run {run}: {rounds:.0} rounds ({:.1} s virtual), {wall:.2} s wall ({:.2} s to start the actors), \
             {} messages ({:.0}/s), {} bytes, peak RSS {:.0} MiB",
            took.as_secs_f64(),
            built.as_secs_f64(),
            traffic.messages,
            traffic.messages as f64 / wall,
            traffic.bytes,
            peak_rss_mib()
        );
        if !floors {
            continue;
        }
        let size = (traffic.bytes / traffic.messages.max(1)) as usize;
        let floor = actix_floor::actix_floor(nodes as usize, traffic.messages, size, seed + run);
        println!(
            "run {run}: raw-actix floor (the same actors, messages and mean size) {:.2} s wall: \
             hearsay takes {:.2}x the floor",
            floor.as_secs_f64(),
            wall / floor.as_secs_f64()
        );
        let with_rounds = actix_floor::rounds_floor(
            nodes as usize,
            rounds as u64,
            traffic.messages,
            size,
            seed + run,
        );
        println!(
            "run {run}: the floor with a timer per actor ({rounds:.0} rounds on the paused clock) \
             {:.2} s wall: hearsay takes {:.2}x it",
            with_rounds.as_secs_f64(),
            wall / with_rounds.as_secs_f64()
        );
    }
    let mean = all_rounds.iter().sum::<f64>() / all_rounds.len().max(1) as f64;
    println!(
        "mean rounds {mean:.2}; log3(n) + ln ln(n) = {expected:.2}, + 1.5 = {:.2}",
        expected + 1.5
    );
    ExitCode::SUCCESS
}

/// `--floors-only`: the raw floor and the floor with rounds for the given traffic, nothing else.
fn floors_only(args: &[String], nodes: u64, seed: u64) -> ExitCode {
    let traffic = (|| {
        Ok::<_, String>((
            flag(args, "--messages", 0)?,
            flag(args, "--size", 0)?,
            flag(args, "--rounds", 0)?,
        ))
    })();
    let (messages, size, rounds) = match traffic {
        Ok((messages, size, rounds)) if messages > 0 && size > 0 && rounds > 0 => {
            (messages, size, rounds)
        }
        Ok(_) => {
            eprintln!("scale: --floors-only needs --messages, --size and --rounds");
            return ExitCode::from(2);
        }
        Err(message) => {
            eprintln!("scale: {message}");
            return ExitCode::from(2);
        }
    };
    let floor = actix_floor::actix_floor(nodes as usize, messages, size as usize, seed);
    println!(
        "raw-actix floor: {nodes} actors, {messages} messages of {size} bytes, {:.2} s wall, peak RSS {:.0} MiB",
        floor.as_secs_f64(),
        peak_rss_mib()
    );
    let with_rounds =
        actix_floor::rounds_floor(nodes as usize, rounds, messages, size as usize, seed);
    println!(
        "the floor with a timer per actor ({rounds} rounds): {:.2} s wall",
        with_rounds.as_secs_f64()
    );
    ExitCode::SUCCESS
}
