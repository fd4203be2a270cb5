//! A partition that outlasts detection and `removal_after` leaves each side holding the other
//! removed, and over datagrams each side also forgets the other's addresses; the cluster must be
//! one again once datagrams pass (docs/membership.md, "Removed is final for that generation"):
//! nodes say hello to their seeds again once the seed is forgotten; the hello and its answer make
//! both ends peers again, and a peer added back that a node holds removed is told of its removal
//! at once, and comes back as a new generation; a node that hears of such a generation only
//! through data asks the data's sender for its address, reaches it, and is told in turn. Real
//! sockets on loopback, real time, every wait bounded. The partition is made by relays: every node advertises a relay
//! in front of its socket, which drops what comes from the other side's sockets.

mod common;

use common::{DEADLINE, keyring, loopback, net_config, set, stream_config};
use hearsay_actor::{Inspect, NodeSnapshot};
use hearsay_net::{NetConfig, NetNode};
use hearsay_proto::{
    ClusterId, Config, Detector, Generation, MemberStatus, MembershipConfig, Node, NodeId,
    SwimConfig, ViewConfig,
};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::NonZeroU8;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream, UdpSocket};

const CLUSTER: &str = "long-partition";

/// The sources each relay drops (the other side's sockets while the partition stands).
type Blocked = Arc<Mutex<BTreeSet<SocketAddr>>>;

/// SWIM with the one-machine preset, members removed 2 s after they are Down on `down_quorum`
/// witnesses; with partial views (the defaults) when `views` is set. (A node alone downs its
/// peers on its own word, but removes them only with the quorum: a two-node partition removes
/// nobody on the default 2.)
fn protocol(id: u64, views: bool, down_quorum: u8) -> Node {
    let swim = SwimConfig {
        down_quorum: NonZeroU8::new(down_quorum).expect("a quorum of one at least"),
        ..SwimConfig::local()
    };
    let config = Config {
        cluster: ClusterId::from_name(CLUSTER),
        gossip_interval: Duration::from_millis(100),
        membership: Some(MembershipConfig {
            detector: Detector::Swim(swim),
            removal_after: Duration::from_secs(2),
            ..MembershipConfig::local()
        }),
        view: views.then(ViewConfig::default),
        ..Config::default()
    };
    Node::new(NodeId(id), Generation(1), config, id).expect("valid config")
}

/// A UDP relay in front of `target` that drops datagrams from the `blocked` sources.
async fn relay(target: SocketAddr, blocked: Blocked) -> SocketAddr {
    let socket = UdpSocket::bind(loopback()).await.expect("bind relay");
    let addr = socket.local_addr().expect("relay address");
    actix_rt::spawn(async move {
        let mut buffer = vec![0; 65_536];
        while let Ok((len, from)) = socket.recv_from(&mut buffer).await {
            let pass = !blocked.lock().map(|b| b.contains(&from)).unwrap_or(true);
            if pass {
                let _ = socket.send_to(&buffer[..len], target).await;
            }
        }
    });
    addr
}

/// A TCP relay in front of `target`: forwards each connection while `open`; once closed it drops
/// every connection it relays (within 50 ms) and refuses new ones.
async fn tcp_relay(target: SocketAddr, open: Arc<AtomicBool>) -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("bind relay");
    let addr = listener.local_addr().expect("relay address");
    actix_rt::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !open.load(Ordering::SeqCst) {
                continue;
            }
            let open = open.clone();
            actix_rt::spawn(async move {
                let Ok(mut outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let closed = async {
                    while open.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    () = closed => {}
                }
            });
        }
    });
    addr
}

/// A free loopback address for a node's socket.
async fn free_address() -> SocketAddr {
    let socket = UdpSocket::bind(loopback()).await.expect("probe a port");
    socket.local_addr().expect("address")
}

async fn snapshot(node: &NetNode) -> NodeSnapshot {
    node.node().send(Inspect).await.expect("mailbox")
}

/// A node's id, generation, members and the addresses its book holds, for a failure message.
async fn describe(node: &NetNode) -> String {
    let held = snapshot(node).await;
    let links = node.links().await.unwrap_or_default();
    format!(
        "node {} generation {}: members {:?}, addresses of {:?}",
        held.id.0,
        held.generation.0,
        (held.members.iter())
            .map(|m| (m.id.0, m.generation.0, m.status))
            .collect::<Vec<_>>(),
        (links.iter()).filter_map(|l| l.id).collect::<Vec<_>>(),
    )
}

/// Polls every node every 50 ms until `done` holds of each, for at most `within`; the failure
/// names the first node it does not hold of, and describes every node.
async fn wait_all(
    nodes: &[NetNode],
    within: Duration,
    what: &str,
    done: impl Fn(&NodeSnapshot) -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mut pending = None;
        for node in nodes {
            let held = snapshot(node).await;
            if !done(&held) {
                pending = Some(held.id);
                break;
            }
        }
        let Some(pending) = pending else {
            return;
        };
        if tokio::time::Instant::now() >= deadline {
            let mut state = String::new();
            for node in nodes {
                state += &format!("\n  {}", describe(node).await);
            }
            panic!("{what}: not at node {}{state}", pending.0);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts node `i + 1` bound to `binds[i]` and advertising the relay in front of it, `relays[i]`;
/// every node but the first joins through the first's relay. `transport` gives the settings,
/// `views` whether the nodes run partial views, `down_quorum` the witnesses a removal needs.
async fn start_behind(
    binds: &[SocketAddr],
    relays: &[SocketAddr],
    transport: fn(&str, Vec<SocketAddr>) -> NetConfig,
    views: bool,
    down_quorum: u8,
) -> Vec<NetNode> {
    let mut nodes = Vec::new();
    for (i, (&bind, &relay)) in binds.iter().zip(relays).enumerate() {
        let seeds = if i == 0 { Vec::new() } else { vec![relays[0]] };
        let config = NetConfig {
            bind,
            advertise: Some(relay),
            ..transport(CLUSTER, seeds)
        };
        let node = NetNode::start(
            protocol(i as u64 + 1, views, down_quorum),
            config,
            keyring(6),
        )
        .await
        .expect("node starts");
        nodes.push(node);
    }
    nodes
}

/// Once the network healed: a write on the first node and one on the last reach every node, and
/// every node holds every member Up (those removed under a new generation); prints how long
/// that took after the call.
async fn one_cluster_again(nodes: &[NetNode]) {
    let healed = tokio::time::Instant::now();
    let last = nodes.len() as u64;
    set(&nodes[0], "left", "1").await;
    set(&nodes[nodes.len() - 1], "right", &last.to_string()).await;
    wait_all(nodes, DEADLINE, "the sides stayed apart", |n| {
        all_up(n, last)
            && n.store.get(NodeId(1), "left").is_some()
            && n.store.get(NodeId(last), "right").is_some()
    })
    .await;
    println!("one cluster again {:?} after the heal", healed.elapsed());
}

/// Whether `node` holds members 1 to `count` Up.
fn all_up(node: &NodeSnapshot, count: u64) -> bool {
    (1..=count).all(|m| status(node, m) == Some(MemberStatus::Up))
}

/// The status `node` holds of `member` (`None`: no entry).
fn status(node: &NodeSnapshot, member: u64) -> Option<MemberStatus> {
    (node.members.iter())
        .find(|m| m.id == NodeId(member))
        .map(|m| m.status)
}

#[test]
fn a_partition_that_outlasts_the_removal_heals_over_datagrams() {
    common::run(async {
        // Nodes 1–4, each behind its relay; every node's seed is node 1.
        let mut sockets = Vec::new();
        let mut relays = Vec::new();
        let mut blocks = Vec::new();
        for _ in 0..4 {
            let socket = free_address().await;
            let blocked = Blocked::default();
            relays.push(relay(socket, blocked.clone()).await);
            sockets.push(socket);
            blocks.push(blocked);
        }
        let nodes = start_behind(&sockets, &relays, net_config, false, 2).await;
        wait_all(&nodes, DEADLINE, "the cluster never formed", |n| {
            all_up(n, 4)
        })
        .await;

        // {1, 2} | {3, 4}: each side's relays drop what the other side's sockets send.
        let split = tokio::time::Instant::now();
        for (i, blocked) in blocks.iter().enumerate() {
            let other: Vec<SocketAddr> = if i < 2 {
                sockets[2..].to_vec()
            } else {
                sockets[..2].to_vec()
            };
            blocked.lock().expect("relay lock").extend(other);
        }
        // Two members a side: the suspicions run their longest (about 13 s here).
        wait_all(
            &nodes,
            3 * DEADLINE,
            "the sides never removed each other",
            |n| {
                let others: &[u64] = if n.id.0 <= 2 { &[3, 4] } else { &[1, 2] };
                (others.iter()).all(|&m| matches!(status(n, m), Some(MemberStatus::Removed) | None))
            },
        )
        .await;

        // The network heals: every member Up at every node again (those removed under a new
        // generation), and a write on each side reaches the other.
        println!(
            "each side removed the other {:?} after the split",
            split.elapsed()
        );
        for blocked in &blocks {
            blocked.lock().expect("relay lock").clear();
        }
        one_cluster_again(&nodes).await;
        // Removed under generation 1, a side came back as generation 2.
        let mut moved = 0;
        for node in &nodes {
            moved += usize::from(snapshot(node).await.generation > Generation(1));
        }
        assert!(moved >= 2, "{moved} nodes moved to a new generation");
    });
}

/// Over TCP connections (the full mesh) the same: two nodes, each behind a relay, the relays
/// closed until each removed the other. The mesh forgets a removed member's addresses and stops
/// dialing them; a configured seed must still be dialed again, or nobody ever dials across.
#[test]
fn a_partition_that_outlasts_the_removal_heals_over_connections() {
    heals_over_connections(false);
}

/// The same with partial views (links on demand). A failed link drops the peer from the views,
/// and a node probed only its views' members (until session 32): the joiner, its one view member failed, probed
/// nobody and held the other Up through the whole partition — until a peer the runtime reports
/// failed was checked by the detector whatever the views (`Node::peer_failed`).
#[test]
fn a_partition_that_outlasts_the_removal_heals_over_connections_with_views() {
    heals_over_connections(true);
}

/// Five nodes with partial views over TCP, every one cut off from every other until each holds
/// every other Suspect or Down: every link failed, so every view emptied (`PeerFailed` takes a
/// peer out of both views). Alone, no node can remove anyone (a removal needs two witnesses; a
/// node alone downs the others unconfirmed, session 33), so once the relays open the membership
/// table is what finds the others again.
#[test]
fn a_total_partition_heals_over_connections_with_views() {
    common::run(async {
        let (nodes, opens) = behind_tcp_relays(5, true, 2).await;
        for open in &opens {
            open.store(false, Ordering::SeqCst);
        }
        wait_all(
            &nodes,
            3 * DEADLINE,
            "the nodes never suspected each other",
            |n| {
                (1..=5).filter(|&m| m != n.id.0).all(|other| {
                    matches!(
                        status(n, other),
                        Some(MemberStatus::Suspect | MemberStatus::Down)
                    )
                })
            },
        )
        .await;
        for open in &opens {
            open.store(true, Ordering::SeqCst);
        }
        one_cluster_again(&nodes).await;
    });
}

/// `count` nodes behind TCP relays (node 1 the others' seed), all Up; each relay forwards while
/// its flag is set.
async fn behind_tcp_relays(
    count: usize,
    views: bool,
    down_quorum: u8,
) -> (Vec<NetNode>, Vec<Arc<AtomicBool>>) {
    let opens: Vec<Arc<AtomicBool>> = (0..count)
        .map(|_| Arc::new(AtomicBool::new(true)))
        .collect();
    let mut relays = Vec::new();
    let mut listens = Vec::new();
    for open in &opens {
        let listen = free_tcp_address().await;
        relays.push(tcp_relay(listen, open.clone()).await);
        listens.push(listen);
    }
    let nodes = start_behind(&listens, &relays, stream_config, views, down_quorum).await;
    wait_all(&nodes, DEADLINE, "the cluster never formed", |n| {
        all_up(n, count as u64)
    })
    .await;
    (nodes, opens)
}

/// Two nodes behind TCP relays, split until each removed the other, then one cluster again.
fn heals_over_connections(views: bool) {
    common::run(async {
        // Alone on its side, each node can remove the other only on its own word: a quorum of 1.
        let (nodes, opens) = behind_tcp_relays(2, views, 1).await;
        for open in &opens {
            open.store(false, Ordering::SeqCst);
        }
        wait_all(
            &nodes,
            3 * DEADLINE,
            "the nodes never removed each other",
            |n| {
                let other = 3 - n.id.0;
                matches!(status(n, other), Some(MemberStatus::Removed) | None)
            },
        )
        .await;

        for open in &opens {
            open.store(true, Ordering::SeqCst);
        }
        one_cluster_again(&nodes).await;
    });
}

/// A free loopback address for a node's listener.
async fn free_tcp_address() -> SocketAddr {
    let listener = TcpListener::bind(loopback()).await.expect("probe a port");
    listener.local_addr().expect("address")
}
