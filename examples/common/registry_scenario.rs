//! The registry's test scenario (docs/testing-your-app.md): twelve application processes, each a
//! gossip node with its own [`Registry`], on the deterministic harness, through loss, a partition,
//! a heal and a crash, with the application's behaviour asserted at each step. One seed replays a
//! run exactly.

#![allow(dead_code)] // each including target uses its part of it

use super::registry::{Lookup, PREFIX, Registry};
use actix::{Actor, Addr};
use hearsay::actor::{NetworkConfig, Simulation, SimulationConfig, Subscribe, SubscribeMembership};
use hearsay::proto::{Config, MembershipConfig, Mode, NodeId, Value};
use std::time::Duration;

/// Processes in the cluster.
pub const NODES: usize = 12;

/// When (virtual time since the step began) every registry concerned showed the expected
/// instances, per step.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeline {
    /// Four instances registered: every registry lists them.
    pub registered: Duration,
    /// Partitioned {0–5} | {6–11}, node 7 registers: node 7's side lists only node 7 (the
    /// other side's members are Down there), the other side still its four.
    pub partitioned: Duration,
    /// Healed: every registry lists all five.
    pub healed: Duration,
    /// Node 2 crashed: every live registry drops its instance.
    pub crashed: Duration,
}

/// The address instance `i` registers.
fn address(i: usize) -> String {
    format!("10.0.0.{i}:80")
}

fn addresses(instances: &[usize]) -> Vec<String> {
    instances.iter().map(|&i| address(i)).collect()
}

/// Lets virtual time pass until every registry in `on` answers `Lookup("api")` with exactly
/// `expected`; fails with what each one answered if `deadline` passes first.
async fn until(
    sim: &Simulation,
    registries: &[Addr<Registry>],
    on: &[usize],
    expected: &[String],
    deadline: Duration,
) -> Result<Duration, String> {
    let begin = sim.elapsed();
    loop {
        let mut answers = Vec::with_capacity(on.len());
        for &i in on {
            let answer = registries[i]
                .send(Lookup("api"))
                .await
                .map_err(|e| e.to_string())?;
            answers.push((i, answer));
        }
        if answers.iter().all(|(_, answer)| answer == expected) {
            return Ok(sim.elapsed() - begin);
        }
        if sim.elapsed() - begin >= deadline {
            return Err(format!(
                "after {deadline:?} expected {expected:?} everywhere in {on:?}, got {answers:?}"
            ));
        }
        sim.run_for(Duration::from_millis(100)).await;
    }
}

/// Runs the scenario with `seed`. Call it inside [`hearsay::actor::simulate`].
pub async fn run(seed: u64) -> Result<Timeline, Box<dyn std::error::Error>> {
    let protocol = Config {
        mode: Mode::AntiEntropy,
        membership: Some(MembershipConfig::default()),
        ..Config::default()
    };
    let sim = Simulation::start(SimulationConfig {
        nodes: NODES,
        seed,
        protocol,
        network: Some(NetworkConfig {
            loss: 0.05,
            ..NetworkConfig::default()
        }),
        ..SimulationConfig::default()
    })?;
    let mut registries = Vec::with_capacity(NODES);
    for node in sim.nodes() {
        let registry = Registry::default().start();
        node.send(Subscribe {
            prefix: PREFIX.into(),
            recipient: registry.clone().recipient(),
        })
        .await?;
        node.send(SubscribeMembership {
            recipient: registry.clone().recipient(),
        })
        .await?;
        registries.push(registry);
    }
    let everyone: Vec<usize> = (0..NODES).collect();
    let minute = Duration::from_secs(60);

    for i in 0..4 {
        sim.set(i, "svc/api", Value::from(address(i))).await?;
    }
    let registered = until(
        &sim,
        &registries,
        &everyone,
        &addresses(&[0, 1, 2, 3]),
        minute,
    )
    .await?;

    let (left, right): (Vec<usize>, Vec<usize>) = (0..6).zip(6..NODES).unzip();
    let ids = |side: &[usize]| side.iter().map(|&i| NodeId(i as u64)).collect();
    sim.partition(vec![ids(&left), ids(&right)]);
    sim.set(7, "svc/api", Value::from(address(7))).await?;
    let partitioned = until(&sim, &registries, &right, &addresses(&[7]), 2 * minute).await?;
    // The majority side never heard of node 7's instance, and still lists its own four.
    until(
        &sim,
        &registries,
        &left,
        &addresses(&[0, 1, 2, 3]),
        Duration::ZERO,
    )
    .await?;

    sim.heal();
    let all = addresses(&[0, 1, 2, 3, 7]);
    let healed = until(&sim, &registries, &everyone, &all, 2 * minute).await?;

    sim.crash(2).await?;
    let live: Vec<usize> = everyone.iter().copied().filter(|&i| i != 2).collect();
    let crashed = until(&sim, &registries, &live, &addresses(&[0, 1, 3, 7]), minute).await?;

    Ok(Timeline {
        registered,
        partitioned,
        healed,
        crashed,
    })
}
