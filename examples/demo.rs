//! The main demo: a cluster of node actors (1,000 by default) spreading three writes over a
//! simulated network in virtual time, with live progress, a summary beside the theory, and an SVG
//! plot of nodes informed per round.
//!
//! `cargo run --release --example demo [-- --nodes 1000 --strategy scuttle-depth
//! --direction push-pull --loss 0.0 --seed 1 --plot demo.svg]`

use hearsay::actor::{Latency, NetworkConfig, Simulation, SimulationConfig, simulate};
use hearsay::prelude::*;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use plotters::prelude::*;
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Options {
    nodes: usize,
    strategy: Strategy,
    direction: Direction,
    loss: f64,
    seed: u64,
    plot: String,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        nodes: 1000,
        strategy: Strategy::ScuttleDepth,
        direction: Direction::PushPull,
        loss: 0.0,
        seed: 1,
        plot: "demo.svg".into(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(
                "usage: demo [--nodes N] [--strategy S] [--direction D] [--loss P] \
                        [--seed S] [--plot FILE.svg]"
                    .into(),
            );
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--nodes" => {
                options.nodes = value
                    .parse()
                    .ok()
                    .filter(|n| (2..=1_000_000).contains(n))
                    .ok_or("--nodes takes a whole number from 2 to 1,000,000")?;
            }
            "--strategy" => options.strategy = value.parse().map_err(|e| format!("{e}"))?,
            "--direction" => options.direction = value.parse().map_err(|e| format!("{e}"))?,
            "--loss" => {
                options.loss = value
                    .parse()
                    .ok()
                    .filter(|p: &f64| (0.0..1.0).contains(p))
                    .ok_or("--loss takes a probability in [0, 1)")?;
            }
            "--seed" => {
                options.seed = value
                    .parse()
                    .map_err(|_| "--seed takes a whole number".to_string())?;
            }
            "--plot" => options.plot = value,
            _ => return Err(format!("unknown flag {flag} (try --help)")),
        }
    }
    Ok(options)
}

/// The rounds the literature expects for one update to reach n nodes.
fn theory(direction: Direction, n: f64) -> (f64, &'static str) {
    match direction {
        Direction::Push => (n.log2() + n.ln(), "Pittel: log2 n + ln n"),
        Direction::Pull => (n.log2() + n.ln().ln(), "Karp et al.: log2 n + ln ln n"),
        Direction::PushPull => (
            n.ln() / 3f64.ln() + n.ln().ln(),
            "Karp et al.: log3 n + ln ln n",
        ),
    }
}

/// Writes an SVG chart of nodes informed per round, one line per update.
pub fn plot(path: &str, n: usize, series: &[Vec<usize>]) -> Result<(), Box<dyn std::error::Error>> {
    let rounds = series.iter().map(Vec::len).max().unwrap_or(1).max(2);
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("nodes informed per round", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0..rounds, 0..n)?;
    chart
        .configure_mesh()
        .x_desc("round")
        .y_desc("nodes holding the update")
        .draw()?;
    let colors = [RED, BLUE, GREEN];
    for (i, counts) in series.iter().enumerate() {
        let color = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(
                counts
                    .iter()
                    .enumerate()
                    .map(|(round, count)| (round, *count)),
                color.stroke_width(2),
            ))?
            .label(format!("update {i}"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::from(2);
        }
    };
    let n = options.nodes;
    let writers = [0, n / 3, 2 * n / 3];
    let protocol = Config {
        strategy: options.strategy,
        direction: options.direction,
        ..Config::default()
    };
    let interval = protocol.gossip_interval;
    println!(
        "{n} node actors, {} {}, loss {:.0} %, seed {}; writes at nodes {:?}",
        options.strategy.name(),
        options.direction.name(),
        options.loss * 100.0,
        options.seed,
        writers
    );
    let wall = Instant::now();
    let outcome = simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: n,
            seed: options.seed,
            protocol,
            network: Some(NetworkConfig {
                latency: Latency::Fixed(Duration::from_millis(1)),
                loss: options.loss,
                duplicate: 0.0,
                ..NetworkConfig::default()
            }),
            jitter: false,
            trace: false,
            start_after: Duration::ZERO,
            seed_peers: None,
            ..SimulationConfig::default()
        })?;
        let mut updates = Vec::new();
        for (i, writer) in writers.iter().enumerate() {
            let key = format!("update-{i}");
            let version = sim
                .set(*writer, &key, Value::from(format!("from n{writer}")))
                .await?;
            updates.push((NodeId(*writer as u64), key, version));
        }
        let bars = MultiProgress::new();
        let style =
            ProgressStyle::with_template("{prefix:>10} [{bar:40}] {pos:>7}/{len} nodes {msg}")
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        let progress: Vec<ProgressBar> = updates
            .iter()
            .map(|(origin, key, _)| {
                let bar = bars.add(ProgressBar::new(n as u64));
                bar.set_style(style.clone());
                bar.set_prefix(key.clone());
                bar.set_message(format!("written at {origin}"));
                bar
            })
            .collect();
        let mut series: Vec<Vec<usize>> = vec![vec![1]; updates.len()];
        let mut rounds = 0usize;
        let done = loop {
            for _ in 0..10 {
                sim.run_for(interval / 10).await;
                let recorder = sim.recorder();
                for ((origin, key, version), bar) in updates.iter().zip(&progress) {
                    bar.set_position(recorder.holding(*origin, key, *version) as u64);
                }
            }
            rounds += 1;
            let recorder = sim.recorder();
            for ((origin, key, version), counts) in updates.iter().zip(&mut series) {
                counts.push(recorder.holding(*origin, key, *version));
            }
            if recorder.all_hold_latest() && recorder.converged() {
                break true;
            }
            if rounds >= 300 {
                break false;
            }
        };
        for bar in &progress {
            bar.finish();
        }
        let traffic = sim.recorder().sent_total();
        let by_kind = *sim.recorder().sent_by_kind();
        Ok::<_, hearsay::actor::Error>((done, rounds, sim.elapsed(), traffic, by_kind, series))
    });
    let (done, rounds, virtual_time, traffic, by_kind, series) = match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(error)) | Err(error) => {
            eprintln!("demo: {error}");
            return ExitCode::FAILURE;
        }
    };
    let (expected, formula) = theory(options.direction, n as f64);
    println!();
    if done {
        println!("converged: every node holds every update after {rounds} rounds");
    } else {
        println!("not converged after {rounds} rounds");
    }
    println!("  theory for one update ({formula}): {expected:.1} rounds");
    println!(
        "  virtual time {:.1} s, wall time {:.2} s",
        virtual_time.as_secs_f64(),
        wall.elapsed().as_secs_f64()
    );
    println!(
        "  {} messages, {} bytes ({:.1} messages and {:.0} bytes per node)",
        traffic.messages,
        traffic.bytes,
        traffic.messages as f64 / n as f64,
        traffic.bytes as f64 / n as f64
    );
    for kind in MessageKind::ALL {
        let t = by_kind[kind as usize];
        println!(
            "    {:>7}: {:>9} messages {:>11} bytes",
            kind.name(),
            t.messages,
            t.bytes
        );
    }
    match plot(&options.plot, n, &series) {
        Ok(()) => println!("  plot of nodes informed per round: {}", options.plot),
        Err(error) => {
            eprintln!("demo: could not write {}: {error}", options.plot);
            return ExitCode::FAILURE;
        }
    }
    if done {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
