//! `hearsay sim chaos`: the randomized fault search ([`hearsay_actor::chaos`]) over many seeds,
//! with shrinking of a failing seed and replay of a saved scenario.

use super::progress;
use clap::Args;
use hearsay_actor::chaos::{Outcome, RunConfig, Scenario, run, shrink};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Arguments of `hearsay sim chaos`.
#[derive(Args, Debug)]
pub struct ChaosArgs {
    /// The first seed; seed i of the search is `seed + i`.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many seeds to run.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub seeds: u64,
    /// Stop starting new seeds after this many seconds of real time.
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub budget: Option<u64>,
    /// Worker threads (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub threads: Option<u64>,
    /// Run every seed twice and require the same fingerprint (same seed, same run).
    #[arg(long)]
    pub determinism: bool,
    /// Shrink each failing seed to a minimal scenario and print it as JSON.
    #[arg(long)]
    pub minimize: bool,
    /// Runs the shrinker may spend on one seed.
    #[arg(long, default_value_t = 300)]
    pub shrink_runs: usize,
    /// Replay a saved scenario (JSON, as `--minimize` or `--save` writes it) instead of seeds.
    #[arg(long, value_name = "FILE.json")]
    pub replay: Option<PathBuf>,
    /// Write each failing (or minimized) scenario as `DIR/chaos-SEED.json`.
    #[arg(long, value_name = "DIR")]
    pub save: Option<PathBuf>,
    /// Print each scenario's one-line summary as it finishes.
    #[arg(long)]
    pub verbose: bool,
    /// Write the harness's trace of a single run (`--seeds 1` or `--replay`) to this file.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Virtual seconds the healed cluster may take to settle (at most a day), and again after
    /// the liveness probes.
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub settle: u64,
    /// Virtual seconds the settled cluster runs on after the probes, checked as it goes (at
    /// most a day; 0 skips the phase); with membership, up to 300 more so that the members down
    /// since the heal are removed, and removal is checked.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub quiet: u64,
    /// The largest cluster a seed draws (from 8 nodes); the default keeps the seeds' scenarios
    /// of every earlier search.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u64).range(8..=2_000))]
    pub max_nodes: u64,
    /// Give every scenario with membership or partial views `hearsay-net`'s peer policy and
    /// addresses (`Scenario::net_peers`; half of them draw it anyway): a search aimed at the
    /// networked nodes' paths.
    #[arg(long)]
    pub net_peers: bool,
    /// As `--net-peers`, with `hearsay-net`'s TCP mesh as every such scenario's transport
    /// (`Scenario::stream`; half of the `--net-peers` runs draw it anyway).
    #[arg(long)]
    pub stream: bool,
}

/// The scenario of `seed`, as the arguments shape it.
fn scenario(args: &ChaosArgs, seed: u64) -> Scenario {
    let scenario = Scenario::generate_up_to(seed, args.max_nodes as usize);
    if args.stream {
        scenario.with_stream()
    } else if args.net_peers {
        scenario.with_net_peers()
    } else {
        scenario
    }
}

/// Runs the search; fails (non-zero exit) if any seed broke an invariant.
pub fn main(args: &ChaosArgs) -> Result<(), String> {
    let config = RunConfig {
        settle: Duration::from_secs(args.settle),
        quiet: Duration::from_secs(args.quiet),
        trace: args.trace.is_some(),
        ..RunConfig::default()
    };
    if let Some(path) = &args.replay {
        let scenario = read_scenario(path)?;
        return one(&scenario, args, &config);
    }
    if args.seeds > 1 && (args.trace.is_some() || args.minimize) {
        return Err(
            "--trace and --minimize act on one run: give --seeds 1 or --replay \
             (a search prints the command that replays a failing seed)"
                .into(),
        );
    }
    if args.seeds == 1 {
        return one(&scenario(args, args.seed), args, &config);
    }
    search(args, &config)
}

/// Largest scenario file `--replay` reads (a searched scenario's JSON is a few KiB).
const MAX_SCENARIO_FILE: u64 = 16 << 20;

/// Reads a saved scenario, refusing a file over [`MAX_SCENARIO_FILE`] and a scenario the harness
/// cannot run ([`Scenario::validate`]).
fn read_scenario(path: &std::path::Path) -> Result<Scenario, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let mut text = String::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_SCENARIO_FILE + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_SCENARIO_FILE {
        return Err(format!(
            "{} is over {} MiB: not a saved scenario",
            path.display(),
            MAX_SCENARIO_FILE >> 20
        ));
    }
    let scenario: Scenario = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a chaos scenario: {e}", path.display()))?;
    scenario
        .validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(scenario)
}

/// Runs one scenario, printing it, its outcome and (with `--minimize`) its minimal form.
fn one(scenario: &Scenario, args: &ChaosArgs, config: &RunConfig) -> Result<(), String> {
    out!("seed {}: {}", scenario.seed, scenario.summary());
    let outcome = run(scenario, config).map_err(|e| e.to_string())?;
    report(&outcome);
    if let (Some(path), Some(trace)) = (&args.trace, &outcome.trace) {
        std::fs::write(path, trace).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        out!("  trace: {}", path.display());
    }
    if args.determinism {
        let again = run(scenario, config).map_err(|e| e.to_string())?;
        if again.fingerprint != outcome.fingerprint {
            return Err(format!("seed {}: two runs differ", scenario.seed));
        }
        out!(
            "determinism: two runs, fingerprint {:016x}",
            outcome.fingerprint
        );
    }
    if outcome.passed() {
        return Ok(());
    }
    if args.minimize {
        let (small, runs) = shrink(scenario, config, args.shrink_runs, |s| {
            eprintln!("  shrunk to {} events", s.events.len());
        })
        .map_err(|e| e.to_string())?;
        let json = serde_json::to_string_pretty(&small).map_err(|e| e.to_string())?;
        out!("minimal scenario after {runs} runs ({}):", small.summary());
        out!("{json}");
        let again = run(&small, config).map_err(|e| e.to_string())?;
        report(&again);
        save(args, &small)?;
    } else {
        save(args, scenario)?;
    }
    Err(format!("seed {} broke an invariant", scenario.seed))
}

fn report(outcome: &Outcome) {
    match outcome.settled_after {
        Some(after) => out!(
            "  converged {:.1} s after the heal; {} writes, {} messages",
            after.as_secs_f64(),
            outcome.writes,
            outcome.messages
        ),
        None => out!("  did not converge"),
    }
    for v in &outcome.violations {
        out!(
            "  VIOLATION {} at {:.1} s: {}",
            v.kind,
            v.at.as_secs_f64(),
            v.detail
        );
    }
}

fn save(args: &ChaosArgs, scenario: &Scenario) -> Result<(), String> {
    let Some(dir) = &args.save else {
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join(format!("chaos-{}.json", scenario.seed));
    let json = serde_json::to_string_pretty(scenario).map_err(|e| e.to_string())?;
    std::fs::write(&path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    out!(
        "  saved {}; replay: hearsay sim chaos --replay {}",
        path.display(),
        path.display()
    );
    Ok(())
}

/// Result of one seed in the search.
struct Finished {
    scenario: Scenario,
    outcome: Result<Outcome, String>,
    nondeterministic: bool,
}

fn search(args: &ChaosArgs, config: &RunConfig) -> Result<(), String> {
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |t| t as usize,
    );
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let budget = args.budget.map(Duration::from_secs);
    let (tx, rx) = mpsc::channel::<Finished>();
    let bar = progress(args.seeds, "chaos");
    let (mut ran, mut failed, mut settle_max, mut settle_sum) = (0u64, Vec::new(), 0.0f64, 0.0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= args.seeds || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if budget.is_some_and(|b| started.elapsed() >= b) {
                        break;
                    }
                    let scenario = scenario(args, args.seed.wrapping_add(i));
                    let outcome = run(&scenario, config).map_err(|e| e.to_string());
                    let nondeterministic = args.determinism
                        && match (&outcome, run(&scenario, config)) {
                            (Ok(a), Ok(b)) => a.fingerprint != b.fingerprint,
                            _ => true,
                        };
                    let done = Finished {
                        scenario,
                        outcome,
                        nondeterministic,
                    };
                    if tx.send(done).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for done in rx {
            ran += 1;
            bar.inc(1);
            let seed = done.scenario.seed;
            match &done.outcome {
                Ok(outcome) => {
                    if let Some(after) = outcome.settled_after {
                        settle_max = settle_max.max(after.as_secs_f64());
                        settle_sum += after.as_secs_f64();
                    }
                    if args.verbose {
                        bar.suspend(|| {
                            out!(
                                "seed {seed}: {} -> {}",
                                done.scenario.summary(),
                                if outcome.passed() { "ok" } else { "FAILED" }
                            )
                        });
                    }
                    if !outcome.passed() || done.nondeterministic {
                        bar.suspend(|| {
                            out!("seed {seed}: {}", done.scenario.summary());
                            if done.nondeterministic {
                                out!("  VIOLATION determinism: two runs of the seed differ");
                            }
                            report(outcome);
                        });
                        failed.push(done.scenario.clone());
                    }
                }
                Err(error) => {
                    bar.suspend(|| out!("seed {seed}: harness error {error}"));
                    failed.push(done.scenario.clone());
                }
            }
        }
    });
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let passed = ran - failed.len() as u64;
    out!(
        "{ran} seeds from {} in {elapsed:.0} s ({threads} threads){}",
        args.seed,
        if args.determinism {
            ", each run twice"
        } else {
            ""
        },
    );
    if passed > 0 {
        out!(
            "convergence after the heal: mean {:.1} s, max {:.1} s (virtual)",
            settle_sum / passed as f64,
            settle_max
        );
    }
    if !failed.is_empty() {
        let seeds: Vec<String> = failed.iter().map(|s| s.seed.to_string()).collect();
        out!("failing seeds: {}", seeds.join(" "));
        let mut sized = if args.max_nodes == hearsay_actor::chaos::MAX_NODES as u64 {
            String::new()
        } else {
            format!(" --max-nodes {}", args.max_nodes)
        };
        if args.stream {
            sized.push_str(" --stream");
        } else if args.net_peers {
            sized.push_str(" --net-peers");
        }
        out!(
            "replay one: hearsay sim chaos --seeds 1 --seed {}{sized} --minimize",
            failed[0].seed
        );
        for scenario in &failed {
            save(args, scenario)?;
        }
    }
    out!("chaos: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{} of {ran} seeds broke an invariant",
        failed.len()
    ))
}
