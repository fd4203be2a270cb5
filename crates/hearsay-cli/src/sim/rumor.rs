//! `hearsay sim rumor`: rumor mongering as Demers et al. (1987) define it.
//!
//! One node holds a new update before round 1; rounds are numbered from 1. Each round every node
//! with the update hot contacts one uniformly random other node (pull: every node contacts one,
//! and a contacted node that holds the update hot answers with it). Feedback: the contacted node
//! says whether the update was new to it. Counter: lose interest after k counted contacts; coin:
//! with probability 1/k at each (feedback counts unnecessary contacts, blind every contact). The
//! run ends when no node holds the update hot.

use super::{Common, direction, harness, harness_config, mean_sd, mean_series, repeat};
use crate::plot::{self, Series};
use clap::Args;
use hearsay_actor::{Simulation, simulate};
use hearsay_proto::{Config, Direction, Generation, Mode, NodeId, Termination, Value};
use serde_json::json;

/// Arguments of `hearsay sim rumor`.
#[derive(Args, Debug, Clone)]
pub struct RumorArgs {
    /// Number of nodes.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=1_000_000))]
    pub nodes: u64,
    /// push, pull or push-pull.
    #[arg(long, default_value = "push", value_parser = direction)]
    pub direction: Direction,
    /// feedback-counter (Demers: k useless rounds in a row), feedback-contacts (k useless
    /// contacts in all), feedback-coin, blind-counter, blind-contacts or blind-coin.
    #[arg(long, default_value = "feedback-counter")]
    pub termination: String,
    /// The k of the counter or coin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub k: u32,
    #[command(flatten)]
    pub common: Common,
}

/// One run's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct RumorRun {
    /// Fraction of nodes that never received the update.
    pub residue: f64,
    /// Messages carrying the update, per node.
    pub traffic: f64,
    /// Mean round at which receivers first got it.
    pub t_ave: f64,
    /// Round at which the last receiver got it.
    pub t_last: f64,
    /// Rounds until no node held it hot.
    pub rounds: u64,
    /// Fraction of nodes holding it after each round.
    pub informed_by_round: Vec<f64>,
}

/// Runs the experiment once.
pub fn run_once(
    nodes: usize,
    direction: Direction,
    termination: Termination,
    seed: u64,
) -> Result<RumorRun, String> {
    let protocol = Config {
        mode: Mode::Rumor,
        direction,
        termination,
        // Demers et al.'s rumors always carry the update.
        eager_rumor_sends: u32::MAX,
        // Nor are they relayed outside the rounds.
        relay: 0,
        heartbeats: false,
        mtu: 65_507,
        ..Config::default()
    };
    let interval = protocol.gossip_interval;
    let outcome = simulate(|| async move {
        let sim = Simulation::start(harness_config(nodes, seed, protocol, true, interval))?;
        let version = sim.set(0, "rumor", Value::from("news")).await?;
        let mut informed_by_round = Vec::new();
        let mut rounds = 0u64;
        // Look half-way through each round, when its exchanges are over.
        sim.run_for(interval / 2).await;
        loop {
            sim.run_for(interval).await;
            rounds += 1;
            let holding = sim.recorder().holding(NodeId(0), "rumor", version);
            informed_by_round.push(holding as f64 / nodes as f64);
            let hot: usize = sim.metrics().await?.iter().map(|m| m.hot_rumors).sum();
            if hot == 0 || rounds >= 100_000 {
                break;
            }
        }
        let recorder = sim.recorder();
        let learned = recorder
            .updates()
            .get(&(NodeId(0), Generation(1), version))
            .map(|u| u.learned.clone())
            .unwrap_or_default();
        let receivers: Vec<f64> = learned
            .iter()
            .filter(|(node, _)| **node != NodeId(0))
            .map(|(_, at)| (at.as_secs_f64() / interval.as_secs_f64()).floor())
            .collect();
        let informed = learned.len();
        Ok::<_, hearsay_actor::Error>(RumorRun {
            residue: 1.0 - informed as f64 / nodes as f64,
            traffic: recorder.messages_with_deltas() as f64 / nodes as f64,
            t_ave: mean_sd(&receivers).0,
            t_last: receivers.iter().copied().fold(0.0, f64::max),
            rounds,
            informed_by_round,
        })
    });
    harness(harness(outcome)?)
}

/// Means over `runs` runs from `seed` on, with a progress bar.
pub fn run_many(
    nodes: usize,
    direction: Direction,
    termination: Termination,
    seed: u64,
    runs: u64,
) -> Result<(serde_json::Value, Vec<f64>), String> {
    let all = repeat(runs, seed, "rumor", |seed| {
        run_once(nodes, direction, termination, seed)
    })?;
    let pick = |f: fn(&RumorRun) -> f64| mean_sd(&all.iter().map(f).collect::<Vec<_>>());
    let (residue, residue_sd) = pick(|r| r.residue);
    let (traffic, traffic_sd) = pick(|r| r.traffic);
    let (t_ave, t_ave_sd) = pick(|r| r.t_ave);
    let (t_last, t_last_sd) = pick(|r| r.t_last);
    let (rounds, rounds_sd) = pick(|r| r.rounds as f64);
    let curve = mean_series(
        &all.iter()
            .map(|r| r.informed_by_round.clone())
            .collect::<Vec<_>>(),
    );
    let report = json!({
        "experiment": "rumor",
        "nodes": nodes,
        "direction": direction.name(),
        "termination": termination_name(termination),
        "k": termination.k(),
        "runs": runs,
        "seed": seed,
        "residue": residue, "residue_sd": residue_sd,
        "traffic": traffic, "traffic_sd": traffic_sd,
        "t_ave": t_ave, "t_ave_sd": t_ave_sd,
        "t_last": t_last, "t_last_sd": t_last_sd,
        "rounds": rounds, "rounds_sd": rounds_sd,
        "informed_by_round": curve,
    });
    Ok((report, curve))
}

/// The command-line name of a termination rule.
pub fn termination_name(termination: Termination) -> &'static str {
    termination.name()
}

/// `hearsay sim rumor`.
pub fn main(args: &RumorArgs) -> Result<(), String> {
    let termination = Termination::parse(&args.termination, args.k).map_err(|e| e.to_string())?;
    let (report, curve) = run_many(
        args.nodes as usize,
        args.direction,
        termination,
        args.common.seed,
        args.common.runs,
    )?;
    if let Some(path) = &args.common.plot {
        let points = curve
            .iter()
            .enumerate()
            .map(|(round, informed)| ((round + 1) as f64, *informed))
            .collect();
        plot::lines(
            path,
            &format!(
                "rumor mongering, n = {}, {} {} k = {}",
                args.nodes,
                args.direction.name(),
                args.termination,
                args.k
            ),
            "round",
            "fraction of nodes informed",
            &[Series {
                label: "informed".into(),
                points,
            }],
        )?;
    }
    if args.common.json {
        out!("{report}");
    } else {
        out!(
            "rumor, n = {}, {} {} k = {}, {} runs: residue {:.4}, traffic {:.2}, t_ave {:.2}, \
             t_last {:.2}, rounds {:.1}",
            args.nodes,
            args.direction.name(),
            args.termination,
            args.k,
            args.common.runs,
            report["residue"].as_f64().unwrap_or_default(),
            report["traffic"].as_f64().unwrap_or_default(),
            report["t_ave"].as_f64().unwrap_or_default(),
            report["t_last"].as_f64().unwrap_or_default(),
            report["rounds"].as_f64().unwrap_or_default(),
        );
    }
    Ok(())
}
