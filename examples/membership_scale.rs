//! The failure-detection experiment of `hearsay sim membership` at sizes where memory is what
//! limits the run: the same [`ChurnExperiment`] on the lockstep driver, with the system
//! allocator (mimalloc, which the CLI uses for speed, held 1.47× the RSS at 1,000 nodes), the
//! report as one JSON line and the wall time and peak RSS on stderr.
//!
//! `cargo run --release --example membership_scale -- NODES [CHURN] [DURATION_S] [SEED] [SETTLE_S] [WARMUP_S]`
//!
//! Defaults: churn 0 (a fraction of the live nodes crashing, and as many joining, per second),
//! 10 s of churn after the 30 s warm-up, seed 1, the experiment's calm after it (180 s or more;
//! a shorter `SETTLE_S` makes a 10,000-node run fit in a few hours of wall time), a 30 s warm-up
//! (at 10,000 nodes the formation's dissemination outlasts it: `WARMUP_S` 90); 10 % loss and
//! the LAN preset (the defaults), as `hearsay sim membership --churn 0 --duration 10` runs them.
//! docs/membership.md has the figures.

use hearsay::proto::Config;
use hearsay::proto::churn::ChurnExperiment;
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(index: usize, default: Option<T>, what: &str) -> T {
    match std::env::args().nth(index) {
        Some(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("{what}: {text:?} is not a number");
            std::process::exit(2)
        }),
        None => default.unwrap_or_else(|| {
            eprintln!(
                "usage: membership_scale NODES [CHURN] [DURATION_S] [SEED] [SETTLE_S] [WARMUP_S]"
            );
            std::process::exit(2)
        }),
    }
}

fn main() {
    let nodes: usize = arg(1, None, "NODES");
    let churn: f64 = arg(2, Some(0.0), "CHURN");
    let duration: u64 = arg(3, Some(10), "DURATION_S");
    let seed: u64 = arg(4, Some(1), "SEED");
    let settle: Option<u64> = std::env::args().nth(5).map(|_| arg(5, None, "SETTLE_S"));
    let warmup: Option<u64> = std::env::args().nth(6).map(|_| arg(6, None, "WARMUP_S"));
    if !(2..=100_000).contains(&nodes) || !(0.0..=0.2).contains(&churn) {
        eprintln!("NODES must be 2..=100000 and CHURN 0..=0.2");
        std::process::exit(2);
    }
    let mut experiment = ChurnExperiment::new(nodes, Config::lan(), seed);
    experiment.churn = churn;
    experiment.duration = Duration::from_secs(duration);
    if let Some(settle) = settle {
        experiment.settle = Duration::from_secs(settle);
    }
    if let Some(warmup) = warmup {
        experiment.warmup = Duration::from_secs(warmup);
    }
    let started = Instant::now();
    let report = match experiment.run(|second| eprint!("\r{second} virtual s")) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("the experiment failed: {error}");
            std::process::exit(1);
        }
    };
    eprintln!();
    let json = serde_json::json!({
        "nodes": nodes,
        "churn": churn,
        "duration_s": duration,
        "seed": seed,
        "settle_s": experiment.settle.as_secs(),
        "warmup_s": experiment.warmup.as_secs(),
        "false_downs": report.false_downs,
        "false_suspects": report.false_suspects,
        "crashes": report.crashes,
        "joins": report.joins,
        "detected": report.detected,
        "detection_p50_s": report.detection_p50_s,
        "detection_p99_s": report.detection_p99_s,
        "detection_max_s": report.detection_max_s,
        "fd_bytes_per_node_per_s": report.fd_bytes_per_node_per_s,
        "probe_bytes_per_node_per_s": report.probe_bytes_per_node_per_s,
        "dissemination_bytes_per_node_per_s": report.dissemination_bytes_per_node_per_s,
        "fd_bytes_by_kind": report.bytes_by_kind,
        "converged_after_s": report.converged_after_s,
    });
    println!("{json}");
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    eprintln!(
        "wall {:.1} s, peak RSS {peak}",
        started.elapsed().as_secs_f64()
    );
}
