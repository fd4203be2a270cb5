//! Several OS processes on loopback, one networked node each: a write at one spreads to all.
//!
//! ```text
//! cargo run --release --example processes -- [NODES]
//! ```
//!
//! The example re-executes itself once per node (`--child`); each child is a `NetNode` driven by
//! the same stdin control interface as `hearsay node`. Traffic is real TCP on 127.0.0.1, sealed
//! with a freshly generated cluster key.

#[path = "common/process_node.rs"]
mod process_node;

use std::time::Instant;

fn main() {
    process_node::run_child_if_asked();
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(5)
        .clamp(2, 50);
    println!("starting {count} node processes on loopback (gossip every 100 ms)");
    let mut nodes = process_node::spawn_cluster(count, 100);
    for node in &nodes {
        println!(
            "  node {} (pid {}) listens on {}",
            node.id, node.pid, node.addr
        );
    }
    let started = Instant::now();
    let answer = nodes[0].ask("set greeting hello from node 1");
    println!("node 1: set greeting -> {answer}");
    for node in &mut nodes[1..] {
        node.send("wait greeting hello from node 1");
    }
    for node in &mut nodes[1..] {
        let answer = node.answer();
        let elapsed = started.elapsed().as_secs_f64() * 1000.0;
        let value = node.ask("get greeting");
        println!(
            "node {}: {answer} after {elapsed:.0} ms: get greeting = {value:?}",
            node.id
        );
    }
    let stats = nodes[count - 1].ask("stats");
    println!("node {count}'s link counters: {stats}");
}
