//! Load balancing on gossiped load: workers gossip their queue length, a dispatcher routes each
//! job by what its gossip view says. Three policies on the same seeded arrivals (deterministic
//! harness, virtual time): random, least-loaded by the (stale) gossiped loads, and the power of two
//! choices over the gossiped loads (Mitzenmacher) — which avoids the herding that stale
//! "least loaded" information causes.
//!
//! `cargo run --release --example load_balancing`

use hearsay::actor::{Simulation, SimulationConfig, simulate};
use hearsay::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::time::Duration;

const WORKERS: usize = 20;
const STEP: Duration = Duration::from_millis(50);
const STEPS: usize = 600; // 30 s of virtual time
/// Jobs per step on average (a worker finishes one job per step): 90 % utilisation.
const LOAD: f64 = 0.9 * WORKERS as f64;

#[derive(Clone, Copy, Debug)]
enum Policy {
    Random,
    LeastLoaded,
    TwoChoices,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "{WORKERS} workers, {LOAD:.0} jobs per {STEP:?} on average, each worker serves one job per step"
    );
    println!(
        "{:<13} {:>10} {:>12} {:>12}",
        "policy", "max queue", "mean max", "p99 queue"
    );
    for policy in [Policy::Random, Policy::LeastLoaded, Policy::TwoChoices] {
        let (max, mean_max, p99) = simulate(|| run(policy))??;
        println!(
            "{:<13} {max:>10} {mean_max:>12.1} {p99:>12}",
            format!("{policy:?}")
        );
    }
    Ok(())
}

/// Runs one policy; answers the largest queue seen, the mean over steps of the largest queue,
/// and the 99th percentile of queue lengths.
async fn run(policy: Policy) -> Result<(usize, f64, usize), Box<dyn std::error::Error>> {
    // Node 0 is the dispatcher, nodes 1..=WORKERS the workers; 200 ms gossip interval.
    let sim = Simulation::start(SimulationConfig {
        nodes: WORKERS + 1,
        seed: 9,
        protocol: Config {
            gossip_interval: Duration::from_millis(200),
            ..Config::default()
        },
        ..SimulationConfig::default()
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let mut queues = [0usize; WORKERS];
    let mut published = [usize::MAX; WORKERS];
    let (mut max, mut sum_max, mut lengths) = (0, 0.0, Vec::new());
    for _ in 0..STEPS {
        // What the dispatcher's gossip view says about each worker's load.
        let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
        for entry in sim.entries(0).await? {
            if entry.key == "load"
                && let Some(value) = entry.value
            {
                let load = String::from_utf8_lossy(value.as_bytes())
                    .parse()
                    .unwrap_or(0);
                seen.insert(entry.origin.0, load);
            }
        }
        let load_of = |worker: usize| seen.get(&(worker as u64 + 1)).copied().unwrap_or(0);
        let arrivals = (0..(2.0 * LOAD) as usize)
            .filter(|_| rng.random::<f64>() < 0.5)
            .count();
        for _ in 0..arrivals {
            let worker = match policy {
                Policy::Random => rng.random_range(0..WORKERS),
                Policy::LeastLoaded => (0..WORKERS).min_by_key(|&w| (load_of(w), w)).unwrap_or(0),
                Policy::TwoChoices => {
                    let (a, b) = (rng.random_range(0..WORKERS), rng.random_range(0..WORKERS));
                    if load_of(a) <= load_of(b) { a } else { b }
                }
            };
            queues[worker] += 1;
        }
        for queue in queues.iter_mut() {
            *queue = queue.saturating_sub(1);
        }
        for (worker, &queue) in queues.iter().enumerate() {
            if published[worker] != queue {
                published[worker] = queue;
                sim.set(worker + 1, "load", Value::from(queue.to_string()))
                    .await?;
            }
        }
        let step_max = queues.iter().copied().max().unwrap_or(0);
        max = max.max(step_max);
        sum_max += step_max as f64;
        lengths.extend(queues.iter().copied());
        sim.run_for(STEP).await;
    }
    lengths.sort_unstable();
    let p99 = lengths[lengths.len() * 99 / 100];
    Ok((max, sum_max / STEPS as f64, p99))
}
