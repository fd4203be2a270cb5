//! `hearsay sim`: the experiments, their arguments and their output contract.
//!
//! Every experiment takes `--seed S` (run i uses seed S + i) and `--runs R`, shows a progress bar
//! on stderr for long runs, prints a readable summary, or with `--json` exactly one JSON object on
//! stdout (means over the runs, `_sd` keys for standard deviations), and with `--plot FILE.svg`
//! draws its figure.

mod all;
mod anti_entropy;
mod chaos;
mod membership;
mod reconcile;
mod rumor;

use clap::{Args, Subcommand};
use hearsay_proto::{Direction, Strategy};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;

pub use anti_entropy::AntiEntropyArgs;
pub use membership::MembershipArgs;
pub use reconcile::ReconcileArgs;
pub use rumor::RumorArgs;

/// The experiments.
#[derive(Subcommand, Debug)]
pub enum SimCommand {
    /// Rumor mongering (Demers et al. 1987): residue, traffic, t_ave, t_last.
    Rumor(RumorArgs),
    /// Anti-entropy: rounds until everyone holds one update, messages and bytes per node.
    AntiEntropy(AntiEntropyArgs),
    /// Reconciliation under a message-size limit (van Renesse et al. 2008): stale mappings.
    Reconcile(ReconcileArgs),
    /// Failure detection (SWIM) under loss, crashes, joins and a partition: false Downs,
    /// detection times, bytes per node.
    Membership(MembershipArgs),
    /// Regenerates every figure and table of docs/experiments.md.
    All(all::AllArgs),
    /// The randomized fault search: random scenarios of writes, partitions, crashes, restarts
    /// and loss over the whole configuration space, checked against the protocol's invariants.
    Chaos(chaos::ChaosArgs),
}

/// Arguments every experiment takes.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Seed of the first run; run i uses seed + i (wrapping).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of runs; results are means over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub runs: u64,
    /// Print exactly one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write the experiment's figure as an SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
}

/// Parses a direction name.
pub fn direction(name: &str) -> Result<Direction, String> {
    name.parse()
        .map_err(|e: hearsay_proto::Error| e.to_string())
}

/// Parses a strategy name.
pub fn strategy(name: &str) -> Result<Strategy, String> {
    name.parse()
        .map_err(|e: hearsay_proto::Error| e.to_string())
}

/// Runs one experiment command. A `--plot` file that cannot be written is refused before the
/// experiment runs (session 26: the whole run went first, and its results were lost with the
/// figure).
pub fn run(command: SimCommand) -> Result<(), String> {
    let plot = match &command {
        SimCommand::Rumor(args) => args.common.plot.as_deref(),
        SimCommand::AntiEntropy(args) => args.common.plot.as_deref(),
        SimCommand::Reconcile(args) => args.common.plot.as_deref(),
        SimCommand::Membership(args) => args.common.plot.as_deref(),
        SimCommand::All(_) | SimCommand::Chaos(_) => None,
    };
    if let Some(path) = plot {
        crate::plot::writable(path)?;
    }
    match command {
        SimCommand::Rumor(args) => rumor::main(&args),
        SimCommand::AntiEntropy(args) => anti_entropy::main(&args),
        SimCommand::Reconcile(args) => reconcile::main(&args),
        SimCommand::Membership(args) => membership::main(&args),
        SimCommand::All(args) => all::main(&args),
        SimCommand::Chaos(args) => chaos::main(&args),
    }
}

/// A progress bar over `runs` runs on stderr (hidden when stderr is no terminal).
pub fn progress(runs: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(runs);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} runs {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(what.to_owned());
    bar
}

/// Runs `once` for seeds `seed .. seed + runs` under a progress bar; stops at the first error.
pub fn repeat<T>(
    runs: u64,
    seed: u64,
    what: &str,
    mut once: impl FnMut(u64) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let bar = progress(runs, what);
    let mut all = Vec::with_capacity(runs as usize);
    for run in 0..runs {
        all.push(once(seed.wrapping_add(run))?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(all)
}

/// Mean and standard deviation (population) of `values`.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Element-wise mean of series of unequal lengths (a shorter series holds its last value).
pub fn mean_series(series: &[Vec<f64>]) -> Vec<f64> {
    let len = series.iter().map(Vec::len).max().unwrap_or(0);
    (0..len)
        .map(|i| {
            let values: Vec<f64> = series
                .iter()
                .filter_map(|s| s.get(i).or(s.last()).copied())
                .collect();
            mean_sd(&values).0
        })
        .collect()
}

/// The harness every experiment runs on: `nodes` node actors over a simulated network with a
/// fixed 1 ms latency (so a round's exchanges end long before the next round), seeded by `seed`.
/// `synchronous`: every node's rounds at the same instants, the first one `start_after` from the
/// start; otherwise at random phases.
pub fn harness_config(
    nodes: usize,
    seed: u64,
    protocol: hearsay_proto::Config,
    synchronous: bool,
    start_after: std::time::Duration,
) -> hearsay_actor::SimulationConfig {
    hearsay_actor::SimulationConfig {
        nodes,
        seed,
        protocol,
        network: Some(hearsay_actor::NetworkConfig {
            latency: hearsay_actor::Latency::Fixed(std::time::Duration::from_millis(1)),
            ..hearsay_actor::NetworkConfig::default()
        }),
        jitter: !synchronous,
        trace: false,
        start_after,
        seed_peers: None,
        ..hearsay_actor::SimulationConfig::default()
    }
}

/// Turns a harness error into the CLI's error text.
pub fn harness<T>(result: Result<T, hearsay_actor::Error>) -> Result<T, String> {
    result.map_err(|e| e.to_string())
}
