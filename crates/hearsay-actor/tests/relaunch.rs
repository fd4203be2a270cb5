//! A node restarted as a deployment restarts it — a fresh process, no disk, a new generation from
//! the clock — knows only the peers it is configured with, and gets back into the cluster through
//! them: its new writes reach everyone and it receives everyone's.

use hearsay_actor::{GetPeers, Simulation, SimulationConfig, simulate};
use hearsay_proto::{Config, MemberStatus, MembershipConfig, Mode, NodeId, Value, ViewConfig};
use std::time::Duration;

/// Starts 30 nodes that know only nodes 0 and 1, lets node 29's write reach everyone, relaunches
/// node 7 and checks that it starts from its configured peers alone and converges again.
fn relaunched(protocol: Config, first_peers: &[u64]) -> Result<(), hearsay_actor::Error> {
    simulate(|| async {
        let mut sim = Simulation::start(SimulationConfig {
            nodes: 30,
            seed: 5,
            protocol,
            seed_peers: Some(vec![0, 1]),
            ..SimulationConfig::default()
        })?;
        sim.set(29, "k", Value::from("first")).await?;
        let spread = sim
            .run_until_state(Duration::from_secs(120), |nodes| {
                nodes.iter().all(|n| n.store.get(NodeId(29), "k").is_some())
            })
            .await?;
        assert!(spread.is_some(), "the first write never spread");
        let old = sim.inspect(7).await?.generation;
        sim.crash(7).await?;
        sim.run_for(Duration::from_secs(3)).await;
        sim.relaunch(7).await?;
        let node = sim.inspect(7).await?;
        assert!(
            node.generation > old,
            "{:?} is not above {old:?}",
            node.generation
        );
        assert!(
            node.store.get(NodeId(29), "k").is_none(),
            "the disk was kept"
        );
        let peers = sim.node(7)?.send(GetPeers).await?;
        let expected: Vec<NodeId> = first_peers.iter().copied().map(NodeId).collect();
        assert_eq!(
            peers, expected,
            "the fresh process knew more than its configuration"
        );
        sim.set(7, "k", Value::from("again")).await?;
        sim.set(29, "k", Value::from("second")).await?;
        let settled = sim
            .run_until_state(Duration::from_secs(300), |nodes| {
                let holds = |n: &hearsay_actor::NodeSnapshot, origin: u64, value: &str| {
                    n.store
                        .get(NodeId(origin), "k")
                        .and_then(|e| e.value.clone())
                        == Some(Value::from(value))
                };
                nodes
                    .iter()
                    .all(|n| holds(n, 7, "again") && holds(n, 29, "second"))
            })
            .await?;
        assert!(settled.is_some(), "the relaunched node never got back in");
        Ok(())
    })?
}

#[test]
fn a_relaunched_node_finds_the_cluster_again_through_its_seed_peers()
-> Result<(), hearsay_actor::Error> {
    let protocol = Config {
        mode: Mode::AntiEntropy,
        membership: Some(MembershipConfig::default()),
        ..Config::default()
    };
    relaunched(protocol, &[0, 1])
}

#[test]
fn a_relaunched_node_joins_the_views_again_through_its_seed_peers()
-> Result<(), hearsay_actor::Error> {
    let protocol = Config {
        view: Some(ViewConfig::default()),
        ..Config::default()
    };
    relaunched(protocol, &[])
}

/// A rolling upgrade: a node leaves, exits, and starts again as a new process (new generation,
/// no disk, its seed peers alone); the cluster that saw it Left takes it back Up.
#[test]
fn a_node_that_left_is_back_up_once_relaunched() -> Result<(), hearsay_actor::Error> {
    simulate(|| async {
        let protocol = Config {
            mode: Mode::AntiEntropy,
            membership: Some(MembershipConfig::default()),
            ..Config::default()
        };
        let mut sim = Simulation::start(SimulationConfig {
            nodes: 20,
            seed: 8,
            protocol,
            seed_peers: Some(vec![0]),
            ..SimulationConfig::default()
        })?;
        sim.set(7, "k", Value::from("old")).await?;
        sim.run_for(Duration::from_secs(20)).await;
        sim.node(7)?.send(hearsay_actor::Leave).await??;
        sim.run_for(Duration::from_secs(2)).await;
        sim.crash(7).await?;
        let status_of_7 = |n: &hearsay_actor::NodeSnapshot| {
            (n.members.iter())
                .find(|m| m.id == NodeId(7))
                .map(|m| (m.generation, m.status))
        };
        let left = sim
            .run_until_state(Duration::from_secs(60), |nodes| {
                (nodes.iter().filter(|n| n.id != NodeId(7)))
                    .all(|n| status_of_7(n).is_some_and(|(_, s)| s == MemberStatus::Left))
            })
            .await?;
        assert!(left.is_some(), "the leave never reached everyone");
        sim.relaunch(7).await?;
        let generation = sim.inspect(7).await?.generation;
        sim.set(7, "k", Value::from("new")).await?;
        let back = sim
            .run_until_state(Duration::from_secs(300), |nodes| {
                nodes.iter().all(|n| {
                    status_of_7(n) == Some((generation, MemberStatus::Up))
                        && n.store.get(NodeId(7), "k").and_then(|e| e.value.clone())
                            == Some(Value::from("new"))
                })
            })
            .await?;
        assert!(back.is_some(), "the relaunched node was not taken back");
        Ok(())
    })?
}
