//! Routing-table sync: each node gossips the shards it serves (`serves/<shard>`); every node
//! builds the table shard → node from its view. A shard handed over (deleted at the old owner,
//! written at the new one) converges everywhere; the example measures when the last node's table
//! is right, and checks that no node ever sees two owners for longer than the handover.
//!
//! `cargo run --release --example routing_table`

use hearsay::actor::{Simulation, SimulationConfig, simulate};
use hearsay::prelude::*;
use std::collections::BTreeMap;
use std::time::Duration;

const NODES: usize = 100;
const SHARDS: usize = 64;

/// A node's routing table: shard → the owners its view lists.
async fn table(
    sim: &Simulation,
    node: usize,
) -> Result<BTreeMap<usize, Vec<u64>>, hearsay::actor::Error> {
    let mut table: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
    for entry in sim.entries(node).await? {
        if let (Some(shard), Some(_)) = (entry.key.strip_prefix("serves/"), &entry.value)
            && let Ok(shard) = shard.parse()
        {
            table.entry(shard).or_default().push(entry.origin.0);
        }
    }
    Ok(table)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: NODES,
            seed: 5,
            ..SimulationConfig::default()
        })?;
        // Shard s starts at node s % NODES.
        for shard in 0..SHARDS {
            sim.set(shard % NODES, &format!("serves/{shard}"), Value::from("1"))
                .await?;
        }
        let started = tokio::time::Instant::now();
        let complete =
            |t: &BTreeMap<usize, Vec<u64>>| t.len() == SHARDS && t.values().all(|o| o.len() == 1);
        loop {
            let mut all = true;
            for node in 0..NODES {
                all &= complete(&table(&sim, node).await?);
            }
            if all {
                break;
            }
            sim.run_for(Duration::from_millis(100)).await;
        }
        println!(
            "initial table ({SHARDS} shards over {NODES} nodes) complete everywhere after {:.1?}",
            started.elapsed()
        );
        // Hand shard 7 from node 7 to node 42: write at the new owner, then delete at the old.
        let handover = tokio::time::Instant::now();
        sim.set(42, "serves/7", Value::from("1")).await?;
        sim.delete(7, "serves/7").await?;
        let (mut double_max, mut done) = (0, None);
        while done.is_none() {
            sim.run_for(Duration::from_millis(100)).await;
            let (mut right, mut double) = (0, 0);
            for node in 0..NODES {
                let owners = table(&sim, node).await?.remove(&7).unwrap_or_default();
                right += usize::from(owners == [42]);
                double += usize::from(owners.len() > 1);
            }
            double_max = double_max.max(double);
            if right == NODES {
                done = Some(handover.elapsed());
            }
        }
        println!(
            "shard 7 handed from node 7 to node 42: every table right after {:.1?} (at most {double_max} nodes saw both owners during the handover)",
            done.unwrap_or_default()
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })?
}
