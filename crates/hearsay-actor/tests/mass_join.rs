//! A mass join with partial views, as networked nodes run it (addresses modelled): 200 nodes
//! start at once through 3 seeds, and every node must hold every other Up soon after.
//!
//! Before session 23 this took 70–80 s (six seeds): a mass join's news goes out while every
//! node still knows few members and sizes its retransmissions by them, so some of it dies out
//! short of a few nodes; with views those nodes pulled the table from their active view, whose
//! members missed the same news, and only every push-pull interval (90 s at this size).

use hearsay_actor::{Simulation, SimulationConfig, simulate};
use hearsay_proto::{Config, MemberStatus, ViewConfig};
use std::time::Duration;

const NODES: usize = 200;
const SEEDS: [usize; 3] = [0, 1, 2];

/// Virtual seconds until every node holds all `NODES` members Up (at half-second checks).
async fn all_up_after(
    sim: &Simulation,
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
        if all.iter().all(|s| up(s) == NODES) {
            return Ok(Some(waited));
        }
    }
    Ok(None)
}

#[test]
fn a_mass_join_with_views_completes_within_20_seconds() {
    for seed in [1, 2] {
        let took = simulate(|| async {
            let sim = Simulation::start(SimulationConfig {
                nodes: NODES,
                seed,
                protocol: Config {
                    view: Some(ViewConfig::default()),
                    ..Config::lan()
                },
                seed_peers: Some(SEEDS.to_vec()),
                addresses: true,
                ..SimulationConfig::default()
            })?;
            // Each node's hello to each seed is answered: both learn the other's address.
            for node in 0..NODES {
                for seed in SEEDS.into_iter().filter(|&s| s != node) {
                    sim.learn_address(node, seed);
                    sim.learn_address(seed, node);
                }
            }
            all_up_after(&sim, Duration::from_secs(20)).await
        })
        .expect("runtime")
        .expect("runs");
        // Measured: 10.5 s for both seeds.
        assert!(
            took.is_some(),
            "seed {seed}: not every node holds every other Up in 20 s"
        );
    }
}
