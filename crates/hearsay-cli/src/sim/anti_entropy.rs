//! `hearsay sim anti-entropy`: every node reconciles with one random peer each round; how many
//! rounds until every node holds one update, and at what cost.

use super::{Common, direction, harness, harness_config, mean_sd, mean_series, repeat};
use crate::plot::{self, Series};
use clap::Args;
use hearsay_actor::{Simulation, simulate};
use hearsay_proto::{
    Body, Config, Delta, Direction, Generation, Message, Mode, NodeId, OriginDelta,
    PROTOCOL_VERSION, Value, Version,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// Arguments of `hearsay sim anti-entropy`.
#[derive(Args, Debug, Clone)]
pub struct AntiEntropyArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub nodes: u64,
    /// push, pull or push-pull.
    #[arg(long, default_value = "push-pull", value_parser = direction)]
    pub direction: Direction,
    /// Fraction of nodes that hold the update before round 1 (at least the writer).
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    pub initial_informed: f64,
    #[command(flatten)]
    pub common: Common,
}

fn fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{text:?} is not a fraction between 0 and 1")),
    }
}

/// One run's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct AntiEntropyRun {
    /// Rounds until every node held the update.
    pub rounds: u64,
    /// Messages sent per node.
    pub messages_per_node: f64,
    /// Encoded bytes sent per node.
    pub bytes_per_node: f64,
    /// Fraction of nodes without the update after each round.
    pub uninformed_by_round: Vec<f64>,
}

/// Runs the experiment once.
pub fn run_once(
    nodes: usize,
    direction: Direction,
    initial_informed: f64,
    seed: u64,
) -> Result<AntiEntropyRun, String> {
    let protocol = Config {
        mode: Mode::AntiEntropy,
        direction,
        heartbeats: false,
        ..Config::default()
    };
    let interval = protocol.gossip_interval;
    let cluster = protocol.cluster;
    let outcome = simulate(|| async move {
        let sim = Simulation::start(harness_config(nodes, seed, protocol, true, interval))?;
        let value = Value::from("update");
        let version = sim.set(0, "update", value.clone()).await?;
        // Seed the initially informed nodes with the writer's delta, as if it had reached them.
        let seeded = ((initial_informed * nodes as f64).round() as usize).saturating_sub(1);
        let mut others: Vec<usize> = (1..nodes).collect();
        others.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ 0xa11));
        let datagram = Message {
            version: PROTOCOL_VERSION,
            cluster,
            from: NodeId(0),
            body: Body::Ack {
                deltas: vec![OriginDelta {
                    origin: NodeId(0),
                    generation: Generation(1),
                    heartbeat: 0,
                    from: Version::ZERO,
                    to: version,
                    deltas: vec![Delta {
                        key: "update".into(),
                        version,
                        value: Some(value),
                    }],
                }],
            },
        }
        .encode()?;
        for node in others.into_iter().take(seeded) {
            sim.inject(node, datagram.clone())?;
        }
        let mut uninformed_by_round = Vec::new();
        let mut rounds = 0u64;
        sim.run_for(interval / 2).await;
        let informed_at_start = sim.recorder().holding(NodeId(0), "update", version) == nodes;
        if !informed_at_start {
            loop {
                sim.run_for(interval).await;
                rounds += 1;
                let holding = sim.recorder().holding(NodeId(0), "update", version);
                uninformed_by_round.push(1.0 - holding as f64 / nodes as f64);
                if holding == nodes || rounds >= 10_000 {
                    break;
                }
            }
        }
        let traffic = sim.recorder().sent_total();
        Ok::<_, hearsay_actor::Error>(AntiEntropyRun {
            rounds,
            messages_per_node: traffic.messages as f64 / nodes as f64,
            bytes_per_node: traffic.bytes as f64 / nodes as f64,
            uninformed_by_round,
        })
    });
    harness(harness(outcome)?)
}

/// Means over `runs` runs from `seed` on.
pub fn run_many(
    nodes: usize,
    direction: Direction,
    initial_informed: f64,
    seed: u64,
    runs: u64,
) -> Result<(serde_json::Value, Vec<f64>), String> {
    let all = repeat(runs, seed, "anti-entropy", |seed| {
        run_once(nodes, direction, initial_informed, seed)
    })?;
    let pick = |f: fn(&AntiEntropyRun) -> f64| mean_sd(&all.iter().map(f).collect::<Vec<_>>());
    let (rounds, rounds_sd) = pick(|r| r.rounds as f64);
    let (messages, messages_sd) = pick(|r| r.messages_per_node);
    let (bytes, bytes_sd) = pick(|r| r.bytes_per_node);
    let curve = mean_series(
        &all.iter()
            .map(|r| r.uninformed_by_round.clone())
            .collect::<Vec<_>>(),
    );
    let report = json!({
        "experiment": "anti-entropy",
        "nodes": nodes,
        "direction": direction.name(),
        "initial_informed": initial_informed,
        "runs": runs,
        "seed": seed,
        "rounds": rounds, "rounds_sd": rounds_sd,
        "messages_per_node": messages, "messages_per_node_sd": messages_sd,
        "bytes_per_node": bytes, "bytes_per_node_sd": bytes_sd,
        "uninformed_by_round": curve,
    });
    Ok((report, curve))
}

/// `hearsay sim anti-entropy`.
pub fn main(args: &AntiEntropyArgs) -> Result<(), String> {
    let (report, curve) = run_many(
        args.nodes as usize,
        args.direction,
        args.initial_informed,
        args.common.seed,
        args.common.runs,
    )?;
    if let Some(path) = &args.common.plot {
        let points = std::iter::once((0.0, 1.0))
            .chain(
                curve
                    .iter()
                    .enumerate()
                    .map(|(round, f)| ((round + 1) as f64, *f)),
            )
            .collect();
        plot::lines(
            path,
            &format!(
                "anti-entropy, n = {}, {}",
                args.nodes,
                args.direction.name()
            ),
            "round",
            "fraction of nodes uninformed",
            &[Series {
                label: args.direction.name().into(),
                points,
            }],
        )?;
    }
    if args.common.json {
        out!("{report}");
    } else {
        out!(
            "anti-entropy, n = {}, {}, {} runs: rounds {:.2}, messages/node {:.2}, bytes/node {:.1}",
            args.nodes,
            args.direction.name(),
            args.common.runs,
            report["rounds"].as_f64().unwrap_or_default(),
            report["messages_per_node"].as_f64().unwrap_or_default(),
            report["bytes_per_node"].as_f64().unwrap_or_default(),
        );
    }
    Ok(())
}
