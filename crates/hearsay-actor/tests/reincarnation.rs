//! A node that comes back with its disk lost under a generation it used before, or a lower one,
//! converges with the cluster on the actor harness: it refutes its old incarnation (moves above
//! it) and its new writes reach everyone, while its old incarnation's entries are gone.

use hearsay_actor::{Simulation, SimulationConfig, simulate};
use hearsay_proto::{Config, Generation, Mode, NodeId, Value};
use std::time::Duration;

fn run(back_under: impl Fn(Generation) -> Generation) -> Result<(), hearsay_actor::Error> {
    simulate(|| async {
        let protocol = Config {
            mode: Mode::Combined {
                anti_entropy_every: 5,
            },
            ..Config::default()
        };
        let mut sim = Simulation::start(SimulationConfig {
            nodes: 12,
            seed: 21,
            protocol,
            ..SimulationConfig::default()
        })?;
        // Node 4 runs a few incarnations, writes, and everyone learns it.
        sim.restart(4, true).await?;
        sim.restart(4, true).await?;
        sim.set(4, "a", Value::from("old")).await?;
        sim.set(4, "b", Value::from("old")).await?;
        let spread = sim
            .run_until_state(Duration::from_secs(120), |nodes| {
                nodes.iter().all(|n| n.store.get(NodeId(4), "b").is_some())
            })
            .await?;
        assert!(spread.is_some(), "the old writes never spread");
        let old = sim.inspect(4).await?.generation;
        // It comes back empty, under a reused (or lower) generation, and writes `a` again.
        sim.crash(4).await?;
        sim.run_for(Duration::from_secs(5)).await;
        sim.reincarnate(4, back_under(old)).await?;
        sim.set(4, "a", Value::from("new")).await?;
        let settled = sim
            .run_until_state(Duration::from_secs(300), |nodes| {
                nodes.iter().all(|n| {
                    n.store
                        .origin(NodeId(4))
                        .is_some_and(|o| o.generation() > old)
                        && n.store.get(NodeId(4), "a").and_then(|e| e.value.clone())
                            == Some(Value::from("new"))
                        && n.store.get(NodeId(4), "b").is_none()
                })
            })
            .await?;
        assert!(
            settled.is_some(),
            "the cluster never settled on the new incarnation"
        );
        let node = sim.inspect(4).await?;
        assert!(node.stats.refutations >= 1, "no refutation");
        Ok(())
    })?
}

#[test]
fn a_node_back_under_its_own_generation_takes_over() -> Result<(), hearsay_actor::Error> {
    run(|old| old)
}

#[test]
fn a_node_back_under_a_lower_generation_takes_over() -> Result<(), hearsay_actor::Error> {
    run(|_| Generation(1))
}
