//! The harness's model of addresses ([`SimulationConfig::addresses`]): a datagram goes to an
//! address its sender's protocol named (membership's) or its sender's address book holds (the
//! runtime's hellos), and nowhere otherwise; with partial views the harness makes no joins (the
//! runtime joins through a seed once it holds its address).

use hearsay_actor::{Join, Simulation, SimulationConfig, simulate};
use hearsay_proto::{Config, MembershipConfig, NodeId, Value, ViewConfig};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn seeded_by_0(addresses: bool) -> SimulationConfig {
    SimulationConfig {
        nodes: 3,
        seed: 5,
        protocol: Config {
            membership: Some(MembershipConfig::default()),
            ..Config::default()
        },
        seed_peers: Some(vec![0]),
        addresses,
        ..SimulationConfig::default()
    }
}

/// Whether, once seed 0 crashed, a write on node 2 reaches node 1 within 30 s (neither said
/// hello to the other: only what the protocol carried tells them where the other is).
async fn reaches_without_the_seed(sim: &Simulation) -> Result<bool, hearsay_actor::Error> {
    sim.crash(0).await?;
    sim.set(2, "k2", Value::from("w")).await?;
    let direct = sim
        .run_until(30 * SECOND, |r| {
            r.held(NodeId(1))
                .is_some_and(|held| held.keys().any(|(_, key)| key == "k2"))
        })
        .await;
    Ok(direct.is_some())
}

/// Nodes 1 and 2 know only seed 0. With addresses modelled nothing passes until the hellos fill
/// the books (by id it converges at once); then membership carries every member's address, and
/// nodes 1 and 2, which never said hello to each other, still reach each other once the seed
/// is gone.
#[test]
fn a_datagram_needs_an_address_and_membership_spreads_them() {
    let by_id = simulate(|| async {
        let sim = Simulation::start(seeded_by_0(false))?;
        sim.set(1, "k", Value::from("v")).await?;
        Ok::<_, hearsay_actor::Error>(sim.run_until(30 * SECOND, |r| r.all_hold_latest()).await)
    })
    .expect("runtime")
    .expect("starts");
    assert!(by_id.is_some(), "by id, the write spreads");

    simulate(|| async {
        let sim = Simulation::start(seeded_by_0(true))?;
        sim.set(1, "k", Value::from("v")).await?;
        let lost = sim.run_until(30 * SECOND, |r| r.all_hold_latest()).await;
        assert_eq!(lost, None, "without an address nothing reaches anyone");
        for node in [1, 2] {
            sim.learn_address(node, 0);
            sim.learn_address(0, node);
        }
        let spread = sim.run_until(30 * SECOND, |r| r.all_hold_latest()).await;
        assert!(
            spread.is_some(),
            "the hellos let the write through the seed"
        );
        sim.run_for(10 * SECOND).await;
        assert!(
            reaches_without_the_seed(&sim).await?,
            "membership's addresses carry it from 2 to 1"
        );
        Ok::<_, hearsay_actor::Error>(())
    })
    .expect("runtime")
    .expect("runs");
}

/// With partial views and addresses the harness makes no join: nodes 1 and 2 gossip with nobody
/// (even once the hellos filled the books) until they join through the seed, as `hearsay-net`
/// does on its answer; the view messages then carry the addresses, so 1 and 2 reach each other
/// once the seed is gone.
#[test]
fn with_views_the_runtime_joins_and_the_views_carry_the_addresses() {
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            protocol: Config {
                view: Some(ViewConfig::default()),
                ..Config::default()
            },
            ..seeded_by_0(true)
        })?;
        for node in [1, 2] {
            sim.learn_address(node, 0);
            sim.learn_address(0, node);
        }
        sim.set(1, "k", Value::from("v")).await?;
        let alone = sim.run_until(30 * SECOND, |r| r.all_hold_latest()).await;
        assert_eq!(alone, None, "no join, no view, no gossip");
        for node in [1, 2] {
            sim.node(node)?.send(Join(NodeId(0))).await?;
        }
        let spread = sim.run_until(30 * SECOND, |r| r.all_hold_latest()).await;
        assert!(spread.is_some(), "the joins make the overlay");
        assert!(
            reaches_without_the_seed(&sim).await?,
            "the views' addresses carry it from 2 to 1"
        );
        Ok::<_, hearsay_actor::Error>(())
    })
    .expect("runtime")
    .expect("runs");
}
