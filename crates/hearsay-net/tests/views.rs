//! Partial views (HyParView) across real sockets: nodes join through a seed with the view
//! protocol's `Join`, gossip with their active views only, hold TCP links only while they use
//! them, and a broken TCP link is reported to the node (`PeerFailed`) so that its view repairs
//! at once.

mod common;

use common::{DEADLINE, keyring, net_config, stream_config, watch};
use hearsay_actor::{Inspect, KeyChanged, Set};
use hearsay_net::{NetConfig, NetNode};
use hearsay_proto::{ClusterId, Config, Generation, MembershipConfig, Node, NodeId, ViewConfig};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

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

/// Partial views, with `view`'s sizes, and no membership.
fn protocol(view: ViewConfig) -> Config {
    Config {
        cluster: ClusterId::from_name(CLUSTER),
        gossip_interval: Duration::from_millis(100),
        view: Some(view),
        ..Config::default()
    }
}

async fn start(id: u64, seeds: Vec<SocketAddr>, net: Net, config: Config) -> NetNode {
    let node = Node::new(NodeId(id), Generation(1), config, id).expect("valid");
    NetNode::start(node, net(CLUSTER, seeds), keyring(9))
        .await
        .expect("starts")
}

async fn active_view(node: &NetNode) -> Vec<NodeId> {
    let snapshot = node.node().send(Inspect).await.expect("mailbox");
    snapshot.active_view.expect("views on")
}

type Net = fn(&str, Vec<SocketAddr>) -> NetConfig;

async fn cluster(n: u64, net: Net) -> Vec<NetNode> {
    cluster_of(n, net, protocol(view())).await
}

async fn cluster_of(n: u64, net: Net, config: Config) -> Vec<NetNode> {
    let seed = start(1, Vec::new(), net, config.clone()).await;
    let seeds = vec![seed.local_addr()];
    let mut nodes = vec![seed];
    for id in 2..=n {
        nodes.push(start(id, seeds.clone(), net, config.clone()).await);
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

/// Writes `k = value` at `nodes[writer]` and waits until every other node holds it.
async fn write_reaches_all(
    nodes: &[NetNode],
    watchers: &mut [UnboundedReceiver<KeyChanged>],
    writer: usize,
    value: &str,
) {
    nodes[writer]
        .node()
        .send(Set {
            key: "k".into(),
            value: value.into(),
        })
        .await
        .expect("mailbox")
        .expect("written");
    let origin = writer as u64 + 1;
    for (at, changes) in watchers.iter_mut().enumerate() {
        if at != writer {
            assert!(
                common::wait_for(changes, origin, "k", value, DEADLINE).await,
                "node {} never got {value}",
                at + 1
            );
        }
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
    write_reaches_all(&nodes, &mut watchers, 7, "v").await;
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
    // The seed's view drops it long before silence could (suspect_after is 10,000 rounds of
    // 100 ms: 1,000 s).
    let deadline = tokio::time::Instant::now() + DEADLINE;
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

/// Over TCP a node joins through every seed whose link comes up, as over datagrams through every
/// seed that answers: the view keeps each as a contact, what a clique a partition left apart
/// finds the rest through when it knows nobody outside its views. Before session 25 the mesh
/// joined through the first seed alone; a node whose one contact crashed for good then had none
/// (the fault search's seed 371023: a 33-s partition split the overlay for good).
#[actix_rt::test]
async fn over_tcp_a_node_joins_through_every_seed_that_links() {
    let first = start(1, Vec::new(), stream_config, protocol(view())).await;
    let mut seeds = vec![first];
    for id in 2..=3 {
        let to_first = vec![seeds[0].local_addr()];
        seeds.push(start(id, to_first, stream_config, protocol(view())).await);
    }
    let addrs = seeds.iter().map(NetNode::local_addr).collect();
    let joiner = start(4, addrs, stream_config, protocol(view())).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let snapshot = joiner.node().send(Inspect).await.expect("mailbox");
        let mut contacts = snapshot.contacts;
        contacts.sort();
        if contacts == [NodeId(1), NodeId(2), NodeId(3)] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node 4 joined through {contacts:?} of its three seeds"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stream transport with links on demand, closed after 1 s unused.
fn on_demand(cluster: &str, seeds: Vec<SocketAddr>) -> NetConfig {
    NetConfig {
        unused_after: Duration::from_secs(1),
        ..stream_config(cluster, seeds)
    }
}

#[actix_rt::test]
async fn over_tcp_a_node_links_to_its_active_view_not_to_everyone() {
    const N: u64 = 40;
    // Membership (which tells each message's address) with SWIM probing one member a second
    // (of its whole table since session 32: a dial on demand, closed once unused); shuffles and rotations every 2 s (not 0.5), so that active views change slower
    // than unused links close.
    let config = Config {
        membership: Some(MembershipConfig::local()),
        ..protocol(ViewConfig {
            shuffle_every: 20,
            ..view()
        })
    };
    let nodes = cluster_of(N, on_demand, config).await;
    views_formed(&nodes).await;
    let mut watchers = Vec::new();
    for node in &nodes {
        watchers.push(watch(node, "k").await);
    }
    write_reaches_all(&nodes, &mut watchers, N as usize - 1, "v").await;
    // A full mesh would hold N − 1 = 39 dialed links per node. On demand, once the links the
    // joins used went unused: the active view (its pings keep those links in use), and for about
    // a second each, the members that probes, acks, shuffles and rotations just reached: on
    // average no more than the views hold, and nowhere a full mesh.
    let bound = view().active + view().passive;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut held = Vec::new();
        for node in &nodes {
            let links = node.links().await.expect("mesh");
            held.push(links.iter().filter(|link| link.connected).count());
        }
        let most = held.iter().copied().max().unwrap_or(0);
        let total: usize = held.iter().sum();
        if total <= bound * nodes.len() && most <= 2 * bound {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "links held per node: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Closing unused links broke no view: every node has an active peer (within the deadline:
    // between a `Disconnect` and the repair it asks for, a view may be empty for a moment).
    views_formed(&nodes).await;
    // And a write still reaches everyone through the links dialed again on demand.
    write_reaches_all(&nodes, &mut watchers, 0, "w").await;
}
