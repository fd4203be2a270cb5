//! `hearsay sim reconcile`: van Renesse et al.'s set-up (LADIS 2008) for reconciliation under a
//! message-size limit.
//!
//! Every node owns `keys` keys; updates arrive at `update-rate` per second in total across the
//! cluster for t < 25 s, twice that for 25 <= t < 75, `update-rate` again until t = 120, and none
//! after (so the run shows recovery). Each node gossips once per second with a random peer
//! (push-pull anti-entropy, first rounds at random instants), at most `mtu-deltas` deltas per
//! message. Measured each second: stale mappings (a node lacking the newest write of a key) and the
//! age of the oldest one.

use super::{Common, harness, harness_config, mean_sd, mean_series, repeat, strategy};
use crate::plot::{self, Series};
use clap::Args;
use hearsay_actor::{Simulation, simulate};
use hearsay_proto::{Config, Direction, FlowControl, Mode, Strategy, Value};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// Arguments of `hearsay sim reconcile`.
#[derive(Args, Debug, Clone)]
pub struct ReconcileArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    pub nodes: u64,
    /// Keys owned by each node.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub keys: u64,
    /// Largest number of deltas per message.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub mtu_deltas: u64,
    /// precise-random, precise-oldest, precise-newest, scuttle-breadth or scuttle-depth.
    #[arg(long, default_value = "scuttle-depth", value_parser = strategy)]
    pub strategy: Strategy,
    /// Length of the run in seconds.
    #[arg(long, default_value_t = 150, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub duration: u64,
    /// Updates per second across the cluster (doubled for 25 <= t < 75).
    #[arg(long, default_value_t = 100.0, value_parser = rate)]
    pub update_rate: f64,
    /// van Renesse's flow control: each node's write rate adapts (AIMD) to what the gossip can
    /// carry; refused writes wait in the application's backlog and are retried each second.
    #[arg(long)]
    pub flow_control: bool,
    /// Cut the message limit at this second (with --mtu-drop-to).
    #[arg(long, value_name = "SECS", requires = "mtu_drop_to")]
    pub mtu_drop_at: Option<u64>,
    /// The limit, in deltas, after the cut.
    #[arg(long, value_name = "DELTAS", requires = "mtu_drop_at",
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub mtu_drop_to: Option<u64>,
    #[command(flatten)]
    pub common: Common,
}

fn rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1_000_000.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "{text:?} is not a rate between 0 and 1,000,000 updates per second"
        )),
    }
}

/// The update rate the schedule asks for at second `t`.
fn rate_at(t: u64, base: f64) -> f64 {
    match t {
        0..25 => base,
        25..75 => 2.0 * base,
        75..120 => base,
        _ => 0.0,
    }
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ReconcileRun {
    /// One sample per second.
    pub samples: Vec<Sample>,
    /// Writes the application made (admitted by flow control, or all without it).
    pub written: u64,
    /// Writes refused by flow control, or queued behind a waiting write of the same key (the
    /// newest value of each key waits, and is retried every second).
    pub throttled: u64,
    /// Writes still waiting in the backlog at the end.
    pub backlog: u64,
}

/// One sample of a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since the start.
    pub t: f64,
    /// Stale mappings.
    pub stale: f64,
    /// Age of the oldest stale mapping, seconds.
    pub max_staleness: f64,
}

/// Runs the experiment once.
pub fn run_once(args: &ReconcileArgs, seed: u64) -> Result<ReconcileRun, String> {
    let protocol = Config {
        mode: Mode::AntiEntropy,
        direction: Direction::PushPull,
        strategy: args.strategy,
        max_deltas: Some(args.mtu_deltas as usize),
        mtu: 65_507,
        heartbeats: false,
        flow_control: args.flow_control.then(FlowControl::default),
        ..Config::default()
    };
    let (nodes, keys, duration, base) = (
        args.nodes as usize,
        args.keys,
        args.duration,
        args.update_rate,
    );
    let flow = args.flow_control;
    let drop = args.mtu_drop_at.zip(args.mtu_drop_to);
    let outcome = simulate(|| async move {
        let sim = Simulation::start(harness_config(nodes, seed, protocol, false, Duration::ZERO))?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5ca1e);
        let mut run = ReconcileRun {
            samples: Vec::new(),
            written: 0,
            throttled: 0,
            backlog: 0,
        };
        // Writes refused by flow control, per node, newest value per key.
        let mut backlog: BTreeMap<usize, BTreeMap<String, u64>> = BTreeMap::new();
        let mut owed = 0.0f64;
        let mut counter = 0u64;
        for second in 0..duration {
            if drop.is_some_and(|(at, _)| at == second) {
                sim.set_max_deltas(drop.map(|(_, to)| to as usize)).await?;
            }
            // First the backlog, node by node in id order, until each node refuses.
            for (node, waiting) in &mut backlog {
                while let Some((key, value)) = waiting.pop_first() {
                    let bytes = Value::from(value.to_be_bytes().to_vec());
                    if sim.try_set(*node, &key, bytes).await?.is_none() {
                        waiting.insert(key, value);
                        break;
                    }
                    run.written += 1;
                }
            }
            owed += rate_at(second, base);
            let writes = owed.floor() as u64;
            owed -= writes as f64;
            let step = Duration::from_secs(1) / (writes as u32 + 1);
            for _ in 0..writes {
                sim.run_for(step).await;
                let node = rng.random_range(0..nodes);
                let key = format!("k{}", rng.random_range(0..keys));
                counter += 1;
                let value = Value::from(counter.to_be_bytes().to_vec());
                let waiting = backlog.get_mut(&node).filter(|w| w.contains_key(&key));
                if let Some(waiting) = waiting {
                    // A write of a key that is still waiting replaces the waiting value, so that
                    // an older value can never land after a newer one.
                    waiting.insert(key, counter);
                    run.throttled += 1;
                } else if !flow {
                    sim.set(node, &key, value).await?;
                    run.written += 1;
                } else if sim.try_set(node, &key, value).await?.is_some() {
                    run.written += 1;
                } else {
                    run.throttled += 1;
                    backlog.entry(node).or_default().insert(key, counter);
                }
            }
            sim.run_for(step).await;
            let sample = sim.sample();
            run.samples.push(Sample {
                t: (second + 1) as f64,
                stale: sample.stale as f64,
                max_staleness: sample.max_staleness.as_secs_f64(),
            });
        }
        run.backlog = backlog.values().map(|w| w.len() as u64).sum();
        Ok::<_, hearsay_actor::Error>(run)
    });
    harness(harness(outcome)?)
}

/// Means over `runs` runs from `seed` on.
pub fn run_many(args: &ReconcileArgs) -> Result<(serde_json::Value, Vec<Sample>), String> {
    let all = repeat(
        args.common.runs,
        args.common.seed,
        args.strategy.name(),
        |seed| run_once(args, seed),
    )?;
    let (written, _) = mean_sd(&all.iter().map(|r| r.written as f64).collect::<Vec<_>>());
    let (throttled, _) = mean_sd(&all.iter().map(|r| r.throttled as f64).collect::<Vec<_>>());
    let (backlog, _) = mean_sd(&all.iter().map(|r| r.backlog as f64).collect::<Vec<_>>());
    let all: Vec<Vec<Sample>> = all.into_iter().map(|r| r.samples).collect();
    let per_run = |f: fn(&[Sample]) -> f64| mean_sd(&all.iter().map(|s| f(s)).collect::<Vec<_>>());
    let (stale_mean, stale_mean_sd) =
        per_run(|s| mean_sd(&s.iter().map(|x| x.stale).collect::<Vec<_>>()).0);
    let (stale_max, stale_max_sd) = per_run(|s| s.iter().map(|x| x.stale).fold(0.0, f64::max));
    let (staleness_max, staleness_max_sd) =
        per_run(|s| s.iter().map(|x| x.max_staleness).fold(0.0, f64::max));
    let stale = mean_series(
        &all.iter()
            .map(|s| s.iter().map(|x| x.stale).collect())
            .collect::<Vec<_>>(),
    );
    let staleness = mean_series(
        &all.iter()
            .map(|s| s.iter().map(|x| x.max_staleness).collect())
            .collect::<Vec<_>>(),
    );
    let series: Vec<Sample> = stale
        .iter()
        .zip(&staleness)
        .enumerate()
        .map(|(i, (stale, max_staleness))| Sample {
            t: (i + 1) as f64,
            stale: *stale,
            max_staleness: *max_staleness,
        })
        .collect();
    let report = json!({
        "experiment": "reconcile",
        "nodes": args.nodes,
        "keys": args.keys,
        "mtu_deltas": args.mtu_deltas,
        "strategy": args.strategy.name(),
        "duration": args.duration,
        "update_rate": args.update_rate,
        "flow_control": args.flow_control,
        "mtu_drop_at": args.mtu_drop_at,
        "mtu_drop_to": args.mtu_drop_to,
        "written": written,
        "throttled": throttled,
        "backlog": backlog,
        "runs": args.common.runs,
        "seed": args.common.seed,
        "stale_mean": stale_mean, "stale_mean_sd": stale_mean_sd,
        "stale_max": stale_max, "stale_max_sd": stale_max_sd,
        "staleness_max": staleness_max, "staleness_max_sd": staleness_max_sd,
        "series": series.iter().map(|s| json!({
            "t": s.t, "stale": s.stale, "max_staleness": s.max_staleness
        })).collect::<Vec<_>>(),
    });
    Ok((report, series))
}

/// `hearsay sim reconcile`.
pub fn main(args: &ReconcileArgs) -> Result<(), String> {
    if let Some(at) = args.mtu_drop_at.filter(|&at| at >= args.duration) {
        return Err(format!(
            "--mtu-drop-at {at} is not within the run's {} seconds (--duration)",
            args.duration
        ));
    }
    let (report, series) = run_many(args)?;
    if let Some(path) = &args.common.plot {
        plot::lines(
            path,
            &format!(
                "stale mappings, {} nodes x {} keys, {} deltas/message, {}",
                args.nodes,
                args.keys,
                args.mtu_deltas,
                args.strategy.name()
            ),
            "time (s)",
            "stale mappings",
            &[Series {
                label: args.strategy.name().into(),
                points: series.iter().map(|s| (s.t, s.stale)).collect(),
            }],
        )?;
    }
    if args.common.json {
        out!("{report}");
    } else {
        out!(
            "reconcile, {} nodes x {} keys, {} deltas/message, {}, {} runs: stale mean {:.1}, \
             max {:.0}, oldest stale mapping {:.1} s",
            args.nodes,
            args.keys,
            args.mtu_deltas,
            args.strategy.name(),
            args.common.runs,
            report["stale_mean"].as_f64().unwrap_or_default(),
            report["stale_max"].as_f64().unwrap_or_default(),
            report["staleness_max"].as_f64().unwrap_or_default(),
        );
    }
    Ok(())
}
