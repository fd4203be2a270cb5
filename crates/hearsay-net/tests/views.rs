//! Partial views (HyParView) across real sockets: nodes join through a seed with the view
//! protocol's `Join`, gossip with their active views only, and a broken TCP link is reported to the
//! node (`PeerFailed`) so that its view repairs at once.

mod common;

use common::{DEADLINE, keyring, net_config, stream_config, watch};
use hearsay_actor::{Inspect, Set};
use hearsay_net::{NetConfig, NetNode};
use hearsay_proto::{ClusterId, Config, Generation, Node, NodeId, ViewConfig};
use std::net::SocketAddr;
use std::time::Duration;

const CLUSTER: &str = "views";

/// Small views, and a silence timeout so long that only a reported failure can empty a slot
/// within a test.
fn view() -> ViewConfig {
    ViewConfig {
        active: 3,
        passive: 6,
        suspect_after: 10_000,
        ..ViewConfig::default()
    }
}

async fn start(
    id: u64,
    seeds: Vec<SocketAddr>,
    net: fn(&str, Vec<SocketAddr>) -> NetConfig,
) -> NetNode {
    let config = Config {
        cluster: ClusterId::from_name(CLUSTER),
        gossip_interval: Duration::from_millis(100),
        view: Some(view()),
        ..Config::default()
    };
    let node = Node::new(NodeId(id), Generation(1), config, id).expect("valid");
    NetNode::start(node, net(CLUSTER, seeds), keyring(9))
        .await
        .expect("starts")
}

async fn active_view(node: &NetNode) -> Vec<NodeId> {
    let snapshot = node.node().send(Inspect).await.expect("mailbox");
    snapshot.active_view.expect("views on")
}

async fn cluster(n: u64, net: fn(&str, Vec<SocketAddr>) -> NetConfig) -> Vec<NetNode> {
    let seed = start(1, Vec::new(), net).await;
    let seeds = vec![seed.local_addr()];
    let mut nodes = vec![seed];
    for id in 2..=n {
        nodes.push(start(id, seeds.clone(), net).await);
    }
    nodes
}

/// Waits until every node's active view is non-empty and within its bound.
async fn views_formed(nodes: &[NetNode]) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut formed = true;
        for node in nodes {
            let active = active_view(node).await;
            assert!(active.len() <= view().active, "{active:?}");
            formed &= !active.is_empty();
        }
        if formed {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "views not formed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn nodes_join_through_a_seed_and_a_write_reaches_all_over_datagrams() {
    let nodes = cluster(8, net_config).await;
    views_formed(&nodes).await;
    let mut watchers = Vec::new();
    for node in &nodes {
        watchers.push(watch(node, "k").await);
    }
    nodes[7]
        .node()
        .send(Set {
            key: "k".into(),
            value: "v".into(),
        })
        .await
        .expect("mailbox")
        .expect("written");
    for (at, changes) in watchers.iter_mut().enumerate().take(7) {
        assert!(
            common::wait_for(changes, 8, "k", "v", DEADLINE).await,
            "node {} never got the write",
            at + 1
        );
    }
    // Gossip went to active views only: nobody sent to more peers than a view holds, plus the
    // view protocol's walks and shuffles (passive candidates).
    for node in &nodes {
        assert!(active_view(node).await.len() <= view().active);
    }
}

#[actix_rt::test]
async fn a_broken_link_is_replaced_in_the_active_view_at_once() {
    let nodes = cluster(6, stream_config).await;
    views_formed(&nodes).await;
    // Joins reshuffle the views for a while: wait (up to 3 s) until the seed's has held still
    // for a second, so that only the failure can take the victim out.
    let mut active = active_view(&nodes[0]).await;
    let mut still = tokio::time::Instant::now();
    let settle = still + Duration::from_secs(3);
    while still.elapsed() < Duration::from_secs(1) && tokio::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = active_view(&nodes[0]).await;
        if now != active {
            (active, still) = (now, tokio::time::Instant::now());
        }
    }
    // A node in the seed's active view goes away; its links close.
    let gone = active[0];
    let victim = &nodes[gone.0 as usize - 1];
    victim.shutdown();
    // The seed's view drops it long before silence could (suspect_after is 10,000 rounds).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = active_view(&nodes[0]).await;
        if !now.contains(&gone) && !now.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {} still in the seed's active view {now:?}",
            gone.0
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
