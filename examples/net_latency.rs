//! Measures a networked cluster on loopback: 10 node processes, 100 ms gossip interval.
//!
//! ```text
//! cargo run --release --example net_latency -- [NODES] [WRITES] [IDLE_SECONDS]
//! ```
//!
//! - **Spread time**: a write at one node (the writer rotates), then `wait` at every other node;
//!   the time until the last one answers is the write's spread time (control-pipe latency, well
//!   under a millisecond, included). Median and worst over all writes.
//! - **Idle cost**: with no writes for IDLE_SECONDS, each process's CPU time (from /proc) and
//!   bytes sent (the node's own counter, length prefixes included).
//!
//! Figures are recorded in `docs/performance.md`.

#[path = "common/process_node.rs"]
mod process_node;

use std::time::{Duration, Instant};

fn main() {
    process_node::run_child_if_asked();
    let arg = |at: usize, default: u64| {
        std::env::args()
            .nth(at)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or(default)
    };
    let (count, writes, idle) = (arg(1, 10).clamp(2, 50) as usize, arg(2, 100), arg(3, 10));
    let mut nodes = process_node::spawn_cluster(count, 100);
    // Let every link come up: one write that everyone must see.
    nodes[0].ask("set warmup 1");
    for node in &mut nodes[1..] {
        node.ask("wait warmup 1");
    }
    let mut spreads = Vec::with_capacity(writes as usize);
    for write in 0..writes {
        let writer = write as usize % count;
        let value = format!("w{write}");
        let started = Instant::now();
        let answer = nodes[writer].ask(&format!("set key {value}"));
        assert!(answer.starts_with("OK"), "{answer}");
        for (index, node) in nodes.iter_mut().enumerate() {
            if index != writer {
                node.send(&format!("wait key {value}"));
            }
        }
        for (index, node) in nodes.iter_mut().enumerate() {
            if index != writer {
                let answer = node.answer();
                assert_eq!(answer, "OK", "node {} for write {write}", node.id);
            }
        }
        spreads.push(started.elapsed());
    }
    spreads.sort();
    let median = spreads[spreads.len() / 2];
    let worst = spreads[spreads.len() - 1];
    println!("nodes={count} interval=100ms writes={writes}");
    println!(
        "spread to the last node: median {:.1} ms, worst {:.1} ms, best {:.1} ms",
        ms(median),
        ms(worst),
        ms(spreads[0])
    );
    let before: Vec<(Option<f64>, u64)> = nodes.iter_mut().map(sample).collect();
    let window = Instant::now();
    // Idle on purpose: nothing to wait for but time itself.
    std::thread::sleep(Duration::from_secs(idle));
    let elapsed = window.elapsed().as_secs_f64();
    let mut cpu = Vec::new();
    let mut bytes = Vec::new();
    for (node, (cpu_before, bytes_before)) in nodes.iter_mut().zip(before) {
        let (cpu_after, bytes_after) = sample(node);
        if let (Some(a), Some(b)) = (cpu_before, cpu_after) {
            cpu.push((b - a) / elapsed * 100.0);
        }
        bytes.push((bytes_after - bytes_before) as f64 / elapsed);
    }
    println!(
        "idle for {elapsed:.1} s: CPU per node mean {:.2} % (max {:.2} %), bytes sent per node mean {:.0} B/s (max {:.0} B/s)",
        mean(&cpu),
        max(&cpu),
        mean(&bytes),
        max(&bytes)
    );
}

fn sample(node: &mut process_node::Child) -> (Option<f64>, u64) {
    let stats: serde_json::Value =
        serde_json::from_str(&node.ask("stats")).unwrap_or(serde_json::Value::Null);
    (node.cpu_seconds(), stats["bytes_out"].as_u64().unwrap_or(0))
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(0.0, f64::max)
}
