//! A mass join with partial views, as networked nodes run it (addresses modelled): 200 or
//! 1,000 nodes start at once through 3 seeds, and every node must hold every other Up soon
//! after.
//!
//! Before session 23 this took 70–80 s at 200 nodes (six seeds): a mass join's news goes out while every
//! node still knows few members and sizes its retransmissions by them, so some of it dies out
//! short of a few nodes; with views those nodes pulled the table from their active view, whose
//! members missed the same news, and only every push-pull interval (90 s at this size).

use hearsay_actor::{Join, Simulation, SimulationConfig, simulate};
use hearsay_proto::{Config, MemberStatus, NodeId, ViewConfig};
use std::time::Duration;

const SEEDS: [usize; 3] = [0, 1, 2];

/// Virtual time until every one of the `nodes` holds all of them Up (at half-second checks).
async fn all_up_after(
    sim: &Simulation,
    nodes: usize,
    limit: Duration,
) -> Result<Option<Duration>, hearsay_actor::Error> {
    let step = Duration::from_millis(500);
    let mut waited = Duration::ZERO;
    while waited < limit {
        sim.run_for(step).await;
        waited += step;
        let all = sim.inspect_all().await?;
        let up = |s: &hearsay_actor::NodeSnapshot| {
            s.members
                .iter()
                .filter(|m| m.status == MemberStatus::Up)
                .count()
        };
        if all.iter().all(|s| up(s) == nodes) {
            return Ok(Some(waited));
        }
    }
    Ok(None)
}

/// `nodes` started at once through the 3 seeds with views, run with `seed`: how long until all
/// hold all Up, within `limit`.
fn mass_join(nodes: usize, seed: u64, limit: Duration) -> Option<Duration> {
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes,
            seed,
            protocol: Config {
                view: Some(ViewConfig::default()),
                ..Config::lan()
            },
            seed_peers: Some(SEEDS.to_vec()),
            addresses: true,
            ..SimulationConfig::default()
        })?;
        // Each node's hello to each seed is answered: both learn the other's address, and the
        // node joins the overlay through the seed (as `hearsay-net` does on the answer).
        for node in 0..nodes {
            for seed in SEEDS.into_iter().filter(|&s| s != node) {
                sim.learn_address(node, seed);
                sim.learn_address(seed, node);
                sim.node(node)?.do_send(Join(NodeId(seed as u64)));
            }
        }
        all_up_after(&sim, nodes, limit).await
    })
    .expect("runtime")
    .expect("runs")
}

#[test]
fn a_mass_join_of_200_with_views_completes_within_20_seconds() {
    for seed in [1, 2] {
        // Measured: 6.5 s for both seeds.
        let took = mass_join(200, seed, Duration::from_secs(20));
        assert!(
            took.is_some(),
            "seed {seed}: not every node holds every other Up in 20 s"
        );
    }
}

/// At 1,000 nodes the third rung of the ladder counts: 14.5 s with it, 96.5 s without.
#[test]
fn a_mass_join_of_1000_with_views_completes_within_30_seconds() {
    let took = mass_join(1_000, 1, Duration::from_secs(30));
    assert!(
        took.is_some(),
        "not every node holds every other Up in 30 s"
    );
}
