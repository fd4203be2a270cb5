//! A node with partial views and without membership whose `Join` is lost on the wire gets into
//! the overlay once datagrams pass again (protocol.md §15, "Contacts"). Over datagrams the `Join`
//! is one datagram, sent once, when the seed answers the hello; the node knows nobody else. Real
//! sockets on loopback, real time, every wait bounded.

mod common;

use common::{DEADLINE, keyring, loopback, net_config, watch};
use hearsay_actor::{Inspect, Set};
use hearsay_net::NetNode;
use hearsay_proto::{ClusterId, Config, Generation, Node, NodeId, ViewConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::UdpSocket;

const CLUSTER: &str = "lost-join";

/// Partial views that notice a silent peer within half a second, and no membership.
fn protocol(id: u64) -> Node {
    let config = Config {
        cluster: ClusterId::from_name(CLUSTER),
        gossip_interval: Duration::from_millis(100),
        view: Some(ViewConfig {
            ping_every: 2,
            suspect_after: 5,
            ..ViewConfig::default()
        }),
        ..Config::default()
    };
    Node::new(NodeId(id), Generation(1), config, id).expect("valid")
}

/// A UDP relay in front of `target`: it forwards what it receives while `open`, and drops it
/// otherwise.
async fn relay(target: SocketAddr, open: Arc<AtomicBool>) -> SocketAddr {
    let socket = UdpSocket::bind(loopback()).await.expect("bind relay");
    let addr = socket.local_addr().expect("relay address");
    actix_rt::spawn(async move {
        let mut buffer = vec![0; 65_536];
        while let Ok((len, _)) = socket.recv_from(&mut buffer).await {
            if open.load(Ordering::SeqCst) {
                let _ = socket.send_to(&buffer[..len], target).await;
            }
        }
    });
    addr
}

async fn active_view(node: &NetNode) -> Vec<NodeId> {
    let snapshot = node.node().send(Inspect).await.expect("mailbox");
    snapshot.active_view.expect("views on")
}

/// Polls `node`'s active view every 20 ms until `done` holds, for at most the deadline.
async fn wait_view(node: &NetNode, what: &str, done: impl Fn(&[NodeId]) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let active = active_view(node).await;
        if done(&active) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: active view {active:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_rt::test]
async fn a_node_whose_join_was_lost_gets_in_once_datagrams_pass() {
    // The seed announces the relay's address: the joiner says hello to the seed itself, learns
    // the relay from the answer, and sends everything else, its `Join` first, through it.
    let open = Arc::new(AtomicBool::new(false));
    let socket = UdpSocket::bind(loopback()).await.expect("probe a port");
    let seed_addr = socket.local_addr().expect("address");
    drop(socket);
    let relay_addr = relay(seed_addr, open.clone()).await;
    let seed = NetNode::start(
        protocol(1),
        hearsay_net::NetConfig {
            advertise: Some(relay_addr),
            ..hearsay_net::NetConfig {
                bind: seed_addr,
                ..net_config(CLUSTER, Vec::new())
            }
        },
        keyring(4),
    )
    .await
    .expect("seed starts");
    let joiner = NetNode::start(
        protocol(2),
        net_config(CLUSTER, vec![seed_addr]),
        keyring(4),
    )
    .await
    .expect("joiner starts");
    // The seed answered the hello (the joiner's book holds it, at the relay): the joiner sent its
    // `Join` then, into the relay, and it was lost. The seed stays silent to a node it never took
    // in, and the joiner's view drops it: alone, with no backup and nobody else known.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !joiner
        .links()
        .await
        .expect("links")
        .iter()
        .any(|link| link.id == Some(1))
    {
        assert!(tokio::time::Instant::now() < deadline, "no answer to hello");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_view(&joiner, "the joiner never dropped the seed", |v| {
        v.is_empty()
    })
    .await;
    assert!(active_view(&seed).await.is_empty(), "the join got through");
    // Datagrams pass again: the joiner's view walks from the seed it joined through.
    open.store(true, Ordering::SeqCst);
    wait_view(&seed, "the seed never took the joiner in", |v| {
        v.contains(&NodeId(2))
    })
    .await;
    let mut changes = watch(&joiner, "k").await;
    seed.node()
        .send(Set {
            key: "k".into(),
            value: "v".into(),
        })
        .await
        .expect("mailbox")
        .expect("written");
    assert!(
        common::wait_for(&mut changes, 1, "k", "v", DEADLINE).await,
        "the seed's write never reached the joiner"
    );
}
