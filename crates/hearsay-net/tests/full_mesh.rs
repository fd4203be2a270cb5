//! The TCP mesh without partial views, with SWIM: membership carries each member's address (in
//! its updates, not in a reserved entry), so the mesh must dial the members it learns of through
//! it. Before session 24 it dialed only its seeds, the addresses of nodes that dialed it, and
//! the reserved entry (the heartbeat detector's): every node but the seed linked to the seed
//! alone, SWIM's probes to the others went out on no link (dropped) and succeeded only
//! indirectly, through the seed, and once the seed was gone the others could neither gossip nor
//! probe: they suspected each other while every one of them ran.

mod common;

use common::{DEADLINE, get, keyring, stream_config};
use hearsay_actor::Inspect;
use hearsay_net::NetNode;
use hearsay_proto::{ClusterId, Config, Generation, MemberStatus, MembershipConfig, Node, NodeId};
use std::time::Duration;

const CLUSTER: &str = "full-mesh";
const NODES: u64 = 4;

fn protocol(id: u64) -> Node {
    let config = Config {
        cluster: ClusterId::from_name(CLUSTER),
        gossip_interval: Duration::from_millis(100),
        membership: Some(MembershipConfig::local()),
        ..Config::default()
    };
    Node::new(NodeId(id), Generation(1), config, id).expect("valid config")
}

/// Members node `node` holds with `status`.
async fn held(node: &NetNode, status: MemberStatus) -> Vec<u64> {
    let snapshot = node.node().send(Inspect).await.expect("mailbox");
    (snapshot.members.iter())
        .filter(|m| m.status == status)
        .map(|m| m.id.0)
        .collect()
}

/// Nodes linked to from `node` (its dialed links that are up).
async fn linked(node: &NetNode) -> Vec<u64> {
    let links = node.links().await.expect("links");
    let mut ids: Vec<u64> = (links.iter())
        .filter(|l| l.connected)
        .filter_map(|l| l.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// Polls `check` every 20 ms until it holds, for at most [`DEADLINE`].
async fn eventually<F: std::future::Future<Output = bool>>(mut check: impl FnMut() -> F) -> bool {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check().await {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// Four nodes, all seeded by node 1: each links to every other, and without the seed the three
/// others still gossip and hold each other Up.
#[test]
fn with_swim_every_node_links_to_every_member_and_outlives_its_seed() {
    common::run(async {
        let seed = NetNode::start(protocol(1), stream_config(CLUSTER, vec![]), keyring(4))
            .await
            .expect("seed starts");
        let mut nodes = vec![seed];
        for id in 2..=NODES {
            let config = stream_config(CLUSTER, vec![nodes[0].local_addr()]);
            let node = NetNode::start(protocol(id), config, keyring(4)).await;
            nodes.push(node.expect("node starts"));
        }
        for node in &nodes {
            let everyone =
                eventually(|| async { held(node, MemberStatus::Up).await.len() == NODES as usize })
                    .await;
            assert!(everyone, "the cluster never formed");
        }
        for (i, node) in nodes.iter().enumerate() {
            let me = i as u64 + 1;
            let others: Vec<u64> = (1..=NODES).filter(|&m| m != me).collect();
            let full = eventually(|| async { linked(node).await == others }).await;
            assert!(
                full,
                "node {me} linked to {:?} only, not to every member",
                linked(node).await
            );
        }
        nodes[0].shutdown();
        common::set(&nodes[3], "after", "seed gone").await;
        for node in &nodes[1..3] {
            let reached = eventually(|| async { get(node, NODES, "after").await.is_some() }).await;
            assert!(
                reached,
                "a write after the seed left never reached the others"
            );
        }
        // Once each of the three holds the seed Down (probes failed, suspicions confirmed by
        // the others), it still holds the other two Up: their probes are answered.
        for (i, node) in nodes.iter().enumerate().skip(1) {
            let seed_down =
                eventually(|| async { held(node, MemberStatus::Down).await.contains(&1) }).await;
            assert!(seed_down, "node {} never held the seed Down", i + 1);
            let up = held(node, MemberStatus::Up).await;
            assert!(
                (2..=NODES).all(|m| up.contains(&m)),
                "node {} holds only {up:?} Up",
                i + 1
            );
        }
    });
}
