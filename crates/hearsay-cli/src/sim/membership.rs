//! `hearsay sim membership`: failure detection under loss, crashes, joins and a partition, in
//! virtual time (`hearsay_proto::churn`): false Downs and Suspects, detection times, the
//! failure detector's bytes per node, and when the member tables agree again.

use super::{Common, mean_sd, repeat};
use clap::{Args, ValueEnum};
use hearsay_proto::churn::{ChurnExperiment, ChurnReport};
use hearsay_proto::{Config, ViewConfig};
use serde_json::json;
use std::time::Duration;

/// The configuration presets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// `Config::lan()` (the default membership settings).
    Lan,
    /// `Config::wan()`.
    Wan,
    /// `Config::local()`.
    Local,
}

impl Preset {
    fn config(self) -> Config {
        match self {
            Preset::Lan => Config::lan(),
            Preset::Wan => Config::wan(),
            Preset::Local => Config::local(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Preset::Lan => "lan",
            Preset::Wan => "wan",
            Preset::Local => "local",
        }
    }
}

/// Arguments of `hearsay sim membership`.
#[derive(Args, Debug, Clone)]
pub struct MembershipArgs {
    /// Nodes at the start.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    pub nodes: u64,
    /// Probability that a datagram is lost.
    #[arg(long, default_value_t = 0.1, value_parser = loss)]
    pub loss: f64,
    /// Fraction of the live nodes that crash each second, and that join.
    #[arg(long, default_value_t = 0.01, value_parser = churn)]
    pub churn: f64,
    /// Seconds of churn (virtual time; a 30 s warm-up comes first, and after it at least 180 s
    /// of calm, more for slow presets).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub duration: u64,
    /// Fraction of the nodes cut off for 30 s from half the duration.
    #[arg(long, default_value_t = 0.0, value_parser = partition)]
    pub partition: f64,
    /// The configuration preset.
    #[arg(long, value_enum, default_value = "lan")]
    pub preset: Preset,
    /// Partial views (HyParView, `ViewConfig::default()`): nodes gossip with their active view
    /// and pick SWIM's relays from it; each node of the start joins through one started before
    /// it, each joiner through two live nodes.
    #[arg(long)]
    pub views: bool,
    #[command(flatten)]
    pub common: Common,
}

fn bounded(text: &str, max: f64, what: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if (0.0..=max).contains(&f) => Ok(f),
        _ => Err(format!("{text:?} is not {what}")),
    }
}

fn loss(text: &str) -> Result<f64, String> {
    bounded(text, 0.9, "a loss probability between 0 and 0.9")
}

fn churn(text: &str) -> Result<f64, String> {
    bounded(text, 0.2, "a churn fraction per second between 0 and 0.2")
}

fn partition(text: &str) -> Result<f64, String> {
    bounded(text, 0.5, "a partition fraction between 0 and 0.5")
}

/// One figure of a report.
type Field = fn(&ChurnReport) -> f64;

/// Runs the experiment `runs` times; the report's means and `_sd` keys.
pub fn run_many(args: &MembershipArgs) -> Result<serde_json::Value, String> {
    let all: Vec<ChurnReport> = repeat(args.common.runs, args.common.seed, "membership", |seed| {
        let mut config = args.preset.config();
        if args.views {
            config.view = Some(ViewConfig::default());
        }
        let mut experiment = ChurnExperiment::new(args.nodes as usize, config, seed);
        experiment.loss = args.loss;
        experiment.churn = args.churn;
        experiment.duration = Duration::from_secs(args.duration);
        experiment.partition = args.partition;
        experiment
            .run(|second| eprint!("\r{second} virtual s"))
            .map_err(|e| e.to_string())
    })?;
    eprintln!();
    let mut report = json!({
        "experiment": "membership",
        "nodes": args.nodes,
        "loss": args.loss,
        "churn": args.churn,
        "duration_s": args.duration,
        "partition": args.partition,
        "preset": args.preset.name(),
        "runs": args.common.runs,
        "seed": args.common.seed,
    });
    if args.views {
        report["views"] = json!(true);
    }
    let fields: [(&str, Field); 11] = [
        ("false_downs", |r| r.false_downs as f64),
        ("false_suspects", |r| r.false_suspects as f64),
        ("crashes", |r| r.crashes as f64),
        ("joins", |r| r.joins as f64),
        ("detected", |r| r.detected),
        ("detection_p50_s", |r| r.detection_p50_s),
        ("detection_p99_s", |r| r.detection_p99_s),
        ("detection_max_s", |r| r.detection_max_s),
        ("fd_bytes_per_node_per_s", |r| r.fd_bytes_per_node_per_s),
        ("probe_bytes_per_node_per_s", |r| {
            r.probe_bytes_per_node_per_s
        }),
        ("dissemination_bytes_per_node_per_s", |r| {
            r.dissemination_bytes_per_node_per_s
        }),
    ];
    for (key, pick) in fields {
        let (mean, sd) = mean_sd(&all.iter().map(pick).collect::<Vec<_>>());
        report[key] = json!(mean);
        report[format!("{key}_sd")] = json!(sd);
    }
    let mut by_kind = serde_json::Map::new();
    for kind in all.iter().flat_map(|r| r.bytes_by_kind.keys()) {
        let values: Vec<f64> = all
            .iter()
            .map(|r| r.bytes_by_kind.get(kind).copied().unwrap_or_default())
            .collect();
        by_kind.insert((*kind).to_owned(), json!(mean_sd(&values).0));
    }
    report["fd_bytes_by_kind"] = serde_json::Value::Object(by_kind);
    let converged: Vec<f64> = all.iter().filter_map(|r| r.converged_after_s).collect();
    report["converged_after_s"] = if converged.len() == all.len() {
        json!(mean_sd(&converged).0)
    } else {
        serde_json::Value::Null
    };
    report["partition_healed"] = json!(all.iter().all(|r| r.partition_healed != Some(false)));
    Ok(report)
}

/// `hearsay sim membership`.
pub fn main(args: &MembershipArgs) -> Result<(), String> {
    let report = run_many(args)?;
    if args.common.json {
        out!("{report}");
        return Ok(());
    }
    let get = |key: &str| report[key].as_f64().unwrap_or_default();
    out!(
        "membership, n = {}, {} preset{}, {:.0} % loss, {:.1} %/s churn, {} s{}: \
         false Downs {:.0}, false Suspects {:.0}, crashes {:.0}, detected {:.4}, \
         detection p50/p99/max {:.1}/{:.1}/{:.1} s, FD bytes/node/s {:.0} (probes {:.0}, \
         dissemination {:.0}), converged {}",
        args.nodes,
        args.preset.name(),
        if args.views { " with views" } else { "" },
        args.loss * 100.0,
        args.churn * 100.0,
        args.duration,
        if args.partition > 0.0 {
            format!(", {:.0} % partitioned 30 s", args.partition * 100.0)
        } else {
            String::new()
        },
        get("false_downs"),
        get("false_suspects"),
        get("crashes"),
        get("detected"),
        get("detection_p50_s"),
        get("detection_p99_s"),
        get("detection_max_s"),
        get("fd_bytes_per_node_per_s"),
        get("probe_bytes_per_node_per_s"),
        get("dissemination_bytes_per_node_per_s"),
        report["converged_after_s"]
            .as_f64()
            .map_or("not within the calm".to_owned(), |s| format!(
                "{s:.0} s after"
            )),
    );
    Ok(())
}
