//! A cluster of gossip nodes spreading three writes, round by round.
//!
//! `cargo run --release --example demo [-- --nodes 1000 --strategy scuttle-depth
//! --direction push-pull --loss 0.0 --seed 1]`
//!
//! Prints, per round, how many nodes hold each write, then rounds, messages and bytes to
//! convergence beside the theoretical expectation for push-pull (Karp et al. 2000:
//! log3 n + O(ln ln n) rounds).

use hearsay::prelude::*;
use std::process::ExitCode;
use std::time::Instant;

struct Options {
    nodes: usize,
    strategy: Strategy,
    direction: Direction,
    loss: f64,
    seed: u64,
}

fn parse() -> Result<Options, String> {
    let mut options = Options {
        nodes: 1000,
        strategy: Strategy::ScuttleDepth,
        direction: Direction::PushPull,
        loss: 0.0,
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--nodes" => {
                options.nodes = value
                    .parse()
                    .ok()
                    .filter(|n| *n >= 2)
                    .ok_or("--nodes takes a whole number of at least 2")?;
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
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match parse() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::from(2);
        }
    };
    let config = Config {
        strategy: options.strategy,
        direction: options.direction,
        ..Config::default()
    };
    let mut cluster = match Lockstep::new(options.nodes, config, options.seed, Instant::now()) {
        Ok(cluster) => cluster,
        Err(error) => {
            eprintln!("demo: {error}");
            return ExitCode::from(2);
        }
    };
    cluster.set_loss(options.loss);
    let n = options.nodes;
    let writers = [0, n / 3, 2 * n / 3];
    for (i, writer) in writers.iter().enumerate() {
        if let Some(node) = cluster.node_mut(*writer) {
            if let Err(error) = node.set(
                &format!("update-{i}"),
                Value::from(format!("from n{writer}")),
            ) {
                eprintln!("demo: {error}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "{n} nodes, {} {}, loss {:.0} %, seed {}",
        options.strategy.name(),
        options.direction.name(),
        options.loss * 100.0,
        options.seed
    );
    let informed = |cluster: &Lockstep, i: usize| {
        let origin = NodeId(writers[i] as u64);
        let key = format!("update-{i}");
        cluster
            .nodes()
            .iter()
            .filter(|node| node.store().get(origin, &key).is_some())
            .count()
    };
    let started = Instant::now();
    let mut rounds = 0;
    while rounds < 200 && !cluster.converged() {
        cluster.round();
        rounds += 1;
        let counts: Vec<String> = (0..writers.len())
            .map(|i| format!("{:>5}", informed(&cluster, i)))
            .collect();
        println!(
            "round {rounds:>3}: nodes holding each update {}",
            counts.join(" ")
        );
    }
    let total = cluster.total();
    let expected = (n as f64).ln() / 3f64.ln() + (n as f64).ln().ln();
    println!();
    if cluster.converged() {
        println!(
            "converged after {rounds} rounds (push-pull theory: log3 n + ln ln n = {expected:.1})"
        );
    } else {
        println!("not converged after {rounds} rounds");
    }
    println!(
        "{} messages, {} bytes ({:.1} messages and {:.0} bytes per node), {:.2} s wall",
        total.messages,
        total.bytes,
        total.messages as f64 / n as f64,
        total.bytes as f64 / n as f64,
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
