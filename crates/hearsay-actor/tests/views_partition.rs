//! Partial views over a transport that joins once and reports failed links (`hearsay-net`'s TCP
//! mesh with views and one seed: it joins through each seed once — again only once it saw the
//! seed removed, which this test leaves out — and a link that fails is a `PeerFailed`), through
//! a partition that outlasts the removal. Since session 25 the fault
//! search models this transport too (`Scenario::stream`); this test keeps the one long path.
//!
//! What could go wrong: each failed link takes the peer out of both views, and each side
//! removes the other, so after the heal no view, no live member and no link names the other
//! side; only the nodes joined through remain (`View::join`'s contacts), and nothing joins again.

use hearsay_actor::{Join, PeerFailed, Simulation, SimulationConfig, simulate};
use hearsay_proto::{Config, MemberStatus, MembershipConfig, NodeId, ViewConfig};
use std::time::Duration;

const NODES: usize = 40;

/// Which side of the partition node `i` is on (node 0, everyone's seed, on the first).
fn first_side(i: usize) -> bool {
    i < NODES / 2
}

/// Seconds after the heal until every node holds every other Up (at most `limit`).
fn heal_after(seed: u64, limit: u64) -> Option<u64> {
    simulate(|| async move {
        let sim = Simulation::start(SimulationConfig {
            nodes: NODES,
            seed,
            protocol: Config {
                view: Some(ViewConfig::default()),
                membership: Some(MembershipConfig {
                    removal_after: Duration::from_secs(5),
                    ..MembershipConfig::lan()
                }),
                ..Config::lan()
            },
            seed_peers: Some(vec![0]),
            addresses: true,
            ..SimulationConfig::default()
        })?;
        // Each node links to the seed and joins through it, once.
        for node in 1..NODES {
            sim.learn_address(node, 0);
            sim.learn_address(0, node);
            sim.node(node)?.send(Join(NodeId(0))).await?;
        }
        sim.run_for(Duration::from_secs(30)).await;
        let side = |keep: bool| {
            (0..NODES)
                .filter(|&i| first_side(i) == keep)
                .map(|i| NodeId(i as u64))
                .collect()
        };
        sim.partition(vec![side(true), side(false)]);
        // Ten minutes apart (every shuffle meanwhile within a side); every second, each link
        // across fails.
        for _ in 0..600 {
            sim.run_for(Duration::from_secs(1)).await;
            for node in sim.inspect_all().await? {
                let me = node.id.0 as usize;
                let across = (node.active_view.iter().flatten())
                    .filter(|peer| first_side(peer.0 as usize) != first_side(me));
                for &peer in across {
                    sim.node(me)?.send(PeerFailed(peer)).await?;
                }
            }
        }
        let all = sim.inspect_all().await?;
        let removed = all.iter().all(|node| {
            (node.members.iter())
                .filter(|m| first_side(m.id.0 as usize) != first_side(node.id.0 as usize))
                .all(|m| m.status == MemberStatus::Removed)
        });
        assert!(removed, "seed {seed}: each side removed the other");
        let crossing = all.iter().any(|node| {
            let me = first_side(node.id.0 as usize);
            (node.active_view.iter().flatten()).any(|p| first_side(p.0 as usize) != me)
        });
        assert!(!crossing, "seed {seed}: no active view reaches across");
        sim.heal();
        for waited in 1..=limit {
            sim.run_for(Duration::from_secs(1)).await;
            let all = sim.inspect_all().await?;
            let up = |node: &hearsay_actor::NodeSnapshot| {
                (node.members.iter())
                    .filter(|m| m.status == MemberStatus::Up)
                    .count()
            };
            if all.iter().all(|node| up(node) == NODES) {
                return Ok(Some(waited));
            }
        }
        Ok::<_, hearsay_actor::Error>(None)
    })
    .expect("runtime")
    .expect("runs")
}

/// One cluster again within 30 s of the heal (measured: 6–10 s, four seeds; 6–7 s after a
/// one-minute partition).
#[test]
fn views_heal_a_partition_that_outlasts_the_removal_without_joining_again() {
    for seed in [1, 2] {
        let took = heal_after(seed, 30);
        assert!(
            took.is_some(),
            "seed {seed}: two clusters 30 s after the heal"
        );
    }
}
