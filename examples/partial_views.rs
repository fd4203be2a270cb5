//! Partial views (HyParView) at scale: rounds for one write to reach every node, and what it costs,
//! for several active-view sizes, beside full membership (lockstep rounds, 1,400-byte MTU).
//!
//! `cargo run --release --example partial_views -- [NODES]`

use hearsay::prelude::*;
use hearsay::proto::{Lockstep, ViewConfig};
use std::time::Instant;

fn main() -> Result<(), hearsay::proto::Error> {
    let now = Instant::now();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(10_000)
        .clamp(10, 200_000);
    println!("n = {n}, MTU 1,400 B, heartbeats off, one write after 30 warm-up rounds (seed 7)");
    println!(
        "{:<22} {:>7} {:>10} {:>10} {:>16} {:>14}",
        "overlay", "rounds", "messages", "MB", "idle msg/node/rd", "peers/node max"
    );
    let mut rows: Vec<(String, Option<ViewConfig>, usize)> =
        vec![("full membership".into(), None, 1)];
    for active in [3, 4, 5, 6, 8] {
        for fanout in [1, active] {
            let view = ViewConfig {
                active,
                ..ViewConfig::default()
            };
            rows.push((
                format!("active {active}, fanout {fanout}"),
                Some(view),
                fanout,
            ));
        }
    }
    for (name, view, fanout) in rows {
        let config = Config {
            view: view.clone(),
            heartbeats: false,
            fanout,
            ..Config::default()
        };
        let mut cluster = match view {
            Some(_) => Lockstep::with_views(n, config, 7, Instant::now())?,
            None => Lockstep::new(n, config, 7, Instant::now())?,
        };
        for _ in 0..30 {
            cluster.round();
        }
        let idle_start = cluster.total();
        for _ in 0..10 {
            cluster.round();
        }
        let idle = (cluster.total().messages - idle_start.messages) as f64 / 10.0 / n as f64;
        let before = cluster.total();
        if let Some(node) = cluster.node_mut(0) {
            node.set(now, "k", Value::from("v"))?;
        }
        let rounds = cluster.run_until(300, |c| c.converged());
        let after = cluster.total();
        let peers = cluster
            .nodes()
            .iter()
            .map(|node| match node.view() {
                Some(view) => view.active().len() + view.passive().len(),
                None => node.peers().len(),
            })
            .max()
            .unwrap_or(0);
        println!(
            "{name:<22} {:>7} {:>10} {:>10.1} {idle:>16.2} {peers:>14}",
            rounds.map_or("-".into(), |r| r.to_string()),
            after.messages - before.messages,
            (after.bytes - before.bytes) as f64 / 1e6,
        );
    }
    Ok(())
}
