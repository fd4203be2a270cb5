//! The datagram transport on loopback with real sockets: outsiders (another key, another
//! cluster) get nothing and are counted, the reserved address key is out of users' reach, and a
//! flood of datagrams is dropped at the node's bounded queue, counted, while the node goes on.

mod common;

use common::*;
use hearsay_net::datagram::{Body, Sealer};
use hearsay_net::{ADDR_KEY, Counter, NetConfig};
use hearsay_proto::{Generation, NodeId};
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// A node holding `secret` = 42, and an outsider seeded with it; the outsider's hellos are
/// rejected (counted at the good node) and it never gets the secret.
async fn outsider_gets_nothing(outsider_cluster: &str, outsider_key: u8) {
    let good = start("dg", 1, 1, keyring(1), vec![]).await;
    set(&good, "secret", "42").await;
    let outsider = start(
        outsider_cluster,
        2,
        1,
        keyring(outsider_key),
        vec![good.local_addr()],
    )
    .await;
    // Several hellos rejected (an event, not a span of time): had one been let through, the good
    // node would have answered and gossiped the secret.
    assert!(until(|| good.stats().get(Counter::AuthFailures) >= 3).await);
    assert_eq!(get(&outsider, 1, "secret").await, None);
    assert_eq!(good.stats().get(Counter::GossipIn), 0);
    assert_eq!(outsider.stats().get(Counter::Established), 0);
    let links = outsider.links().await.expect("links");
    assert!(links.iter().all(|link| !link.connected), "{links:?}");
}

#[test]
fn another_key_gets_nothing_and_is_counted() {
    run(outsider_gets_nothing("dg", 2));
}

#[test]
fn another_cluster_with_the_same_key_gets_nothing_and_is_counted() {
    // The cluster name is bound into every seal: the same key does not open another cluster's.
    run(outsider_gets_nothing("other", 1));
}

#[test]
fn users_cannot_rewire_the_transport() {
    run(async {
        let first = start("rewire", 1, 1, keyring(3), vec![]).await;
        let second = start("rewire", 2, 1, keyring(3), vec![first.local_addr()]).await;
        let mut at_second = watch(&second, "k").await;
        // The reserved key is refused to users.
        let refused = first
            .node()
            .send(hearsay_actor::Set {
                key: ADDR_KEY.into(),
                value: "127.0.0.1:9".into(),
            })
            .await
            .expect("mailbox");
        assert!(refused.is_err(), "{refused:?}");
        // The old key is a plain user key: gossiped as data, never dialed.
        set(&first, "hearsay.addr", "127.0.0.1:9").await;
        set(&first, "k", "after").await;
        assert!(wait_for(&mut at_second, 1, "k", "after", DEADLINE).await);
        assert_eq!(
            get(&second, 1, "hearsay.addr").await.as_deref(),
            Some("127.0.0.1:9")
        );
        let bogus: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let links = second.links().await.expect("links");
        assert!(links.iter().all(|link| link.addr != bogus), "{links:?}");
        assert!(
            links
                .iter()
                .any(|link| link.id == Some(1) && link.addr == first.local_addr()),
            "{links:?}"
        );
    });
}

#[test]
fn a_flood_of_datagrams_is_dropped_at_a_bounded_queue_and_counted() {
    run(async {
        const FLOOD: u64 = 20_000;
        let config = NetConfig {
            inbound_queue: 4,
            ..net_config("flood", vec![])
        };
        let node = start_with_config(1, 1, keyring(4), config).await;
        // A key holder floods it with sealed gossip (not valid protocol messages: each one costs
        // the node a decode) and with garbage.
        let flooder = UdpSocket::bind(loopback()).await.expect("bind");
        let mut sealer = Sealer::new("flood", NodeId(66), Generation(1), [7; 16]);
        let gossip = sealer
            .seal(&keyring(4), &Body::Gossip(vec![0xc1; 1_000]))
            .expect("sealed");
        let target = node.local_addr();
        for at in 0..FLOOD {
            let datagram: &[u8] = if at % 2 == 0 { &gossip } else { b"garbage" };
            flooder.send_to(datagram, target).await.expect("sent");
            if at % 256 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let stats = node.stats();
        // Every datagram the socket delivered is counted as one thing: handed to the node,
        // dropped at its full queue, or rejected as malformed.
        assert!(
            until(|| stats.get(Counter::BadFrames) >= 1 && stats.get(Counter::GossipIn) >= 1).await
        );
        let received = stats.get(Counter::FramesIn);
        assert!(received <= FLOOD);
        assert_eq!(
            received,
            stats.get(Counter::GossipIn) + stats.get(Counter::BadFrames)
        );
        assert!(
            stats.get(Counter::InboundDropped) > 0,
            "{:?}",
            stats.snapshot()
        );
        assert!(stats.get(Counter::InboundDropped) <= stats.get(Counter::GossipIn));
        // The node goes on: a peer that joins now gets its writes.
        set(&node, "k", "still here").await;
        let friend = start("flood", 2, 1, keyring(4), vec![target]).await;
        let mut at_friend = watch(&friend, "k").await;
        if get(&friend, 1, "k").await.as_deref() != Some("still here") {
            assert!(wait_for(&mut at_friend, 1, "k", "still here", DEADLINE).await);
        }
    });
}

/// Forwards membership changes into a channel.
struct Members(tokio::sync::mpsc::UnboundedSender<hearsay_actor::MemberChanged>);

impl actix::Actor for Members {
    type Context = actix::Context<Self>;
}

impl actix::Handler<hearsay_actor::MemberChanged> for Members {
    type Result = ();

    fn handle(&mut self, changed: hearsay_actor::MemberChanged, _: &mut actix::Context<Self>) {
        let _ = self.0.send(changed);
    }
}

/// Failure detection over datagrams with the defaults (SWIM, `Config::lan()`): 12 nodes join
/// through 3 seeds and hold one another Up; 2 are killed (no goodbye) and every survivor holds
/// them Down, while no live node is ever declared Down. No node opens a TCP connection.
#[test]
fn membership_over_datagrams_detects_kills_without_false_downs() {
    use hearsay_actor::{MemberChanged, SubscribeMembership};
    use hearsay_proto::{ClusterId, Config, MemberStatus, Node};
    use std::collections::{BTreeMap, BTreeSet};
    const NODES: u64 = 12;
    run(async {
        let (sender, mut changes) = tokio::sync::mpsc::unbounded_channel::<MemberChanged>();
        let watcher = actix::Actor::start(Members(sender));
        let mut nodes = Vec::new();
        for id in 1..=NODES {
            let protocol = Config {
                cluster: ClusterId::from_name("swim"),
                ..Config::lan()
            };
            let node = Node::new(NodeId(id), Generation(1), protocol, id).expect("valid");
            let seeds = nodes
                .iter()
                .take(3)
                .map(|n: &hearsay_net::NetNode| n.local_addr())
                .collect();
            let net = net_config("swim", seeds);
            let node = hearsay_net::NetNode::start(node, net, keyring(5))
                .await
                .expect("starts");
            node.node()
                .send(SubscribeMembership {
                    recipient: watcher.clone().recipient(),
                })
                .await
                .expect("subscribed");
            nodes.push(node);
        }
        let mut status: BTreeMap<(NodeId, NodeId), MemberStatus> = BTreeMap::new();
        let mut false_downs = Vec::new();
        let killed: BTreeSet<NodeId> = [NodeId(NODES), NodeId(NODES - 4)].into();
        // Every node holds every other Up.
        let all_up = |status: &BTreeMap<(NodeId, NodeId), MemberStatus>| {
            (1..=NODES).all(|a| {
                (1..=NODES)
                    .filter(|&b| b != a)
                    .all(|b| status.get(&(NodeId(a), NodeId(b))) == Some(&MemberStatus::Up))
            })
        };
        let deadline = tokio::time::Instant::now() + 3 * DEADLINE;
        while !all_up(&status) {
            let changed = tokio::time::timeout_at(deadline, changes.recv())
                .await
                .expect("everyone Up in time")
                .expect("open");
            status.insert((changed.node, changed.member), changed.status);
        }
        for (id, node) in (1..=NODES).zip(&nodes) {
            if killed.contains(&NodeId(id)) {
                // Its transport stops: it neither sends nor hears anything more (no goodbye).
                node.shutdown();
            }
        }
        let survivors: Vec<u64> = (1..=NODES)
            .filter(|&id| !killed.contains(&NodeId(id)))
            .collect();
        let detected = |status: &BTreeMap<(NodeId, NodeId), MemberStatus>| {
            survivors.iter().all(|&a| {
                killed.iter().all(|&k| {
                    matches!(
                        status.get(&(NodeId(a), k)),
                        Some(MemberStatus::Down | MemberStatus::Removed)
                    )
                })
            })
        };
        while !detected(&status) {
            let changed = tokio::time::timeout_at(deadline, changes.recv())
                .await
                .expect("every kill detected in time")
                .expect("open");
            if changed.status == MemberStatus::Down && !killed.contains(&changed.member) {
                false_downs.push(changed);
            }
            status.insert((changed.node, changed.member), changed.status);
        }
        assert!(false_downs.is_empty(), "{false_downs:?}");
        for node in &nodes {
            assert_eq!(node.stats().get(Counter::Accepted), 0);
            assert_eq!(node.stats().get(Counter::AuthFailures), 0);
        }
    });
}

/// An encoded `Syn` from `from` of `cluster` asking for a digest back (a pull of everything).
fn syn(cluster: &str, from: u64) -> Vec<u8> {
    use hearsay_proto::{ClusterId, Message, PROTOCOL_VERSION};
    Message {
        version: PROTOCOL_VERSION,
        cluster: ClusterId::from_name(cluster),
        from: NodeId(from),
        body: hearsay_proto::Body::Syn {
            digest: None,
            reply_digest: true,
            more: 0,
        },
    }
    .encode()
    .expect("encodes")
}

/// Seals `message` as node `sealed_as` (generation 1) under `key` and sends it from `socket`.
async fn send_sealed(
    socket: &UdpSocket,
    to: SocketAddr,
    cluster: &str,
    sealed_as: u64,
    key: u8,
    message: Vec<u8>,
) {
    let mut sealer = Sealer::new(
        cluster,
        NodeId(sealed_as),
        Generation(1),
        [sealed_as as u8; 16],
    );
    let datagram = sealer
        .seal(&keyring(key), &Body::Gossip(message))
        .expect("sealed");
    socket.send_to(&datagram, to).await.expect("sent");
}

/// A key holder sealing as node 66 a message that claims to come from node 2: the node binds
/// the sealed sender to the message's `from` and rejects it (counted), while the same message
/// sealed as node 2 is taken.
#[test]
fn a_peer_lying_about_from_is_rejected() {
    use hearsay_actor::GetMetrics;
    run(async {
        let node = start("liar", 1, 1, keyring(6), vec![]).await;
        let message = syn("liar", 2);
        let socket = UdpSocket::bind(loopback()).await.expect("bind");
        let rejected = || async {
            let metrics = node.node().send(GetMetrics).await.expect("mailbox");
            metrics.stats.rejected
        };
        for (sealed_as, rejections) in [(66, 1), (2, 1)] {
            let before = node.stats().get(Counter::GossipIn);
            let to = node.local_addr();
            send_sealed(&socket, to, "liar", sealed_as, 6, message.clone()).await;
            assert!(until(|| node.stats().get(Counter::GossipIn) > before).await);
            // Handed to the node before the metrics are asked for: handled by then.
            assert_eq!(rejected().await, rejections, "sealed as {sealed_as}");
        }
    });
}

/// Receives the next datagram on `socket` and opens it (bounded by [`DEADLINE`]).
async fn next_opened(socket: &UdpSocket, cluster: &str, key: u8) -> hearsay_net::datagram::Opened {
    let mut buffer = vec![0; 2_048];
    let (len, _) = tokio::time::timeout(DEADLINE, socket.recv_from(&mut buffer))
        .await
        .expect("a datagram before the deadline")
        .expect("received");
    hearsay_net::datagram::Opener::new(cluster, 2_048)
        .open(&keyring(key), &buffer[..len])
        .expect("sealed by the node")
}

/// A recorded hello sent again (by anyone on the path: no key needed) is not taken: no second
/// welcome, its sender's address not learnt again. A fresh hello of the same sender is.
#[test]
fn a_replayed_hello_is_not_taken_again() {
    run(async {
        let node = start("replay", 1, 1, keyring(8), vec![]).await;
        let member = UdpSocket::bind(loopback()).await.expect("bind");
        let mut sealer = Sealer::new("replay", NodeId(66), Generation(1), [6; 16]);
        let hello = Body::Hello {
            addr: member.local_addr().expect("addr").to_string(),
            to: node.local_addr().to_string(),
        };
        let first = sealer.seal(&keyring(8), &hello).expect("sealed");
        let first_nonce = sealer.last_nonce();
        member
            .send_to(&first, node.local_addr())
            .await
            .expect("sent");
        let welcome = next_opened(&member, "replay", 8).await;
        assert_eq!(welcome.from, NodeId(1));
        assert!(
            matches!(welcome.body, Body::Welcome { echo, .. } if echo == first_nonce),
            "{welcome:?}"
        );
        // The recording, twice, then a fresh hello: the first welcome to arrive answers the
        // fresh one (the node reads its socket in order), so neither replay drew one.
        for _ in 0..2 {
            member
                .send_to(&first, node.local_addr())
                .await
                .expect("sent");
        }
        let fresh = sealer.seal(&keyring(8), &hello).expect("sealed");
        member
            .send_to(&fresh, node.local_addr())
            .await
            .expect("sent");
        let welcome = next_opened(&member, "replay", 8).await;
        assert!(
            matches!(welcome.body, Body::Welcome { echo, .. } if echo == sealer.last_nonce()),
            "{welcome:?}"
        );
        assert_eq!(node.stats().get(Counter::Replays), 2);
    });
}

/// Whether `node` holds node 65's address (the fake seed's).
async fn answered(node: &hearsay_net::NetNode) -> bool {
    let links = node.links().await.expect("links");
    links
        .iter()
        .any(|link| link.id == Some(65) && link.connected)
}

/// A welcome counts only if it answers a hello the node is waiting on: a recorded one (here
/// sealed by a key holder, echoing a hello the node never sent) does not make the seed answered
/// nor teach its sender's address; the answer to the node's own hello does, once.
#[test]
fn a_welcome_that_answers_no_hello_is_refused() {
    run(async {
        let seed = UdpSocket::bind(loopback()).await.expect("bind");
        let seed_addr = seed.local_addr().expect("addr");
        let node = start("welcome", 2, 1, keyring(9), vec![seed_addr]).await;
        let hello = next_opened(&seed, "welcome", 9).await;
        assert!(matches!(hello.body, Body::Hello { .. }), "{hello:?}");
        let mut sealer = Sealer::new("welcome", NodeId(65), Generation(1), [5; 16]);
        let welcome = |echo| Body::Welcome {
            addr: seed_addr.to_string(),
            to: seed_addr.to_string(),
            echo,
        };
        let stats = node.stats();
        // Another hello's nonce: the node's own random with a counter it never reached, and
        // another sealer's.
        let mut later = hello.nonce;
        later.counter += 1_000;
        let mut other = hello.nonce;
        other.random = [0; 16];
        for (refused, echo) in [later, other].into_iter().enumerate() {
            let forged = sealer.seal(&keyring(9), &welcome(echo)).expect("sealed");
            seed.send_to(&forged, node.local_addr())
                .await
                .expect("sent");
            assert!(until(|| stats.get(Counter::Replays) == refused as u64 + 1).await);
            assert_eq!(stats.get(Counter::Established), 0);
            assert!(!answered(&node).await);
        }
        let answer = sealer
            .seal(&keyring(9), &welcome(hello.nonce))
            .expect("sealed");
        seed.send_to(&answer, node.local_addr())
            .await
            .expect("sent");
        assert!(until(|| stats.get(Counter::Established) == 1).await);
        assert!(answered(&node).await);
        // The same answer again is a replay.
        seed.send_to(&answer, node.local_addr())
            .await
            .expect("sent");
        assert!(until(|| stats.get(Counter::Replays) == 3).await);
        assert_eq!(stats.get(Counter::Established), 1);
    });
}

/// A node that restarts itself above another incarnation of its id (a peer's gossip shows its
/// id at a higher generation: it refutes) says so in its hellos from then on, so that peers'
/// address books hold the generation that runs. Before session 27 the transport sealed the
/// generation it started with for good, and a late Left or Removed of that generation made
/// peers forget the live node.
#[test]
fn hellos_follow_the_generation_the_node_runs() {
    use hearsay_proto::Peers;
    run(async {
        let silent_seed = UdpSocket::bind(loopback()).await.expect("bind");
        let node = start(
            "follow",
            1,
            1,
            keyring(10),
            vec![silent_seed.local_addr().expect("addr")],
        )
        .await;
        let first = next_opened(&silent_seed, "follow", 10).await;
        assert_eq!((first.from, first.generation), (NodeId(1), Generation(1)));
        // Node 3 holds node 1's id at generation 9 (another process's), learnt in memory.
        let now = std::time::Instant::now();
        let mut twin = protocol("follow", 1, 9);
        let mut gossip = protocol("follow", 3, 1);
        twin.set_peers(Peers::Own(vec![NodeId(3)]));
        twin.set(now, "k", "twin").expect("written");
        for step in 1..=20 {
            let at = now + std::time::Duration::from_millis(100 * step);
            twin.handle_timeout(at);
            while let Some(out) = twin.poll_transmit() {
                let _ = gossip.handle_datagram(at, &out.payload);
            }
            while let Some(out) = gossip.poll_transmit() {
                let _ = twin.handle_datagram(at, &out.payload);
            }
        }
        assert!(
            gossip
                .store()
                .origin(NodeId(1))
                .is_some_and(|o| o.generation() == Generation(9))
        );
        // Node 3 gossips to the running node 1, which refutes.
        gossip.set_peers(Peers::Own(vec![NodeId(1)]));
        let socket = UdpSocket::bind(loopback()).await.expect("bind");
        let mut sealer = Sealer::new("follow", NodeId(3), Generation(1), [3; 16]);
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut step = 20;
        loop {
            step += 1;
            gossip.handle_timeout(now + std::time::Duration::from_millis(100 * step));
            while let Some(out) = gossip.poll_transmit() {
                let datagram = sealer
                    .seal(&keyring(10), &Body::Gossip(out.payload))
                    .expect("sealed");
                socket
                    .send_to(&datagram, node.local_addr())
                    .await
                    .expect("sent");
            }
            let hello = next_opened(&silent_seed, "follow", 10).await;
            if hello.from == NodeId(1) && hello.generation > Generation(9) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "hellos still sealed under {:?}",
                hello.generation
            );
        }
    });
}

/// A node answers whoever reaches it: a key holder's gossip from an address the node never
/// learnt (no hello, no address entry: one dropped with a removal, or lost) is answered at its
/// source (`AddressBook::heard_from`). Before session 28 the answer had nowhere to go, and a
/// node that held such a peer removed could never tell it so (fault-search seed 387820).
#[test]
fn a_peer_never_learnt_is_answered_at_its_source() {
    run(async {
        let node = start("answer", 1, 1, keyring(11), vec![]).await;
        let socket = UdpSocket::bind(loopback()).await.expect("bind");
        let to = node.local_addr();
        send_sealed(&socket, to, "answer", 3, 11, syn("answer", 3)).await;
        let answer = next_opened(&socket, "answer", 11).await;
        assert_eq!(answer.from, NodeId(1));
        assert!(matches!(answer.body, Body::Gossip(_)), "{:?}", answer.body);
    });
}

/// A process that saved its node's snapshot and exited starts again from it — a new generation,
/// a new port, no seed — and reaches the cluster through the addresses the snapshot held: the
/// peer takes its new incarnation and its write.
#[test]
fn a_node_restored_from_its_snapshot_rejoins_without_a_seed() {
    use hearsay_actor::TakeSnapshot;
    use hearsay_proto::{Node, Snapshot, Value};
    run(async {
        let peer = start("snapshot", 2, 1, keyring(14), vec![]).await;
        let mut changes = watch(&peer, "k").await;
        let first = start("snapshot", 1, 1, keyring(14), vec![peer.local_addr()]).await;
        set(&first, "kept", "before").await;
        set(&first, "k", "before").await;
        assert!(wait_for(&mut changes, 1, "k", "before", DEADLINE).await);
        // Saved once it holds node 2's address entry (anti-entropy brings it).
        let until = tokio::time::Instant::now() + DEADLINE;
        let snapshot = loop {
            let snapshot = first.node().send(TakeSnapshot).await.expect("answered");
            let holds = snapshot.origins.iter().any(|group| {
                group.origin == NodeId(2) && group.deltas.iter().any(|d| d.key == ADDR_KEY)
            });
            if holds {
                break snapshot;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "node 1 never learnt node 2's address"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        let bytes = snapshot.encode().expect("encodes");
        first.shutdown();
        let config = protocol("snapshot", 1, 1).config().clone();
        let snapshot = Snapshot::decode(&bytes).expect("decodes");
        let node = Node::restore(
            snapshot,
            Generation(2),
            config,
            1,
            std::time::Instant::now(),
        )
        .expect("restores");
        assert_eq!(node.get("kept"), Some(&Value::from("before")));
        let second = hearsay_net::NetNode::start(node, net_config("snapshot", vec![]), keyring(14))
            .await
            .expect("node starts");
        assert_ne!(second.local_addr(), first.local_addr());
        set(&second, "k", "after").await;
        assert!(
            wait_for(&mut changes, 1, "k", "after", DEADLINE).await,
            "node 2 never heard from the restored node"
        );
        let held = peer
            .node()
            .send(hearsay_actor::Inspect)
            .await
            .expect("answered");
        let origin = held.store.origin(NodeId(1)).expect("node 1 known");
        assert_eq!(origin.generation(), Generation(2));
    });
}

/// A node restored with its state (a process started with a `Node` that holds its peers'
/// address entries) reaches those peers at once, without seeds: its transport's subscription
/// begins with the entries the node holds. Before session 28 the transport heard of address
/// entries only as they changed, and such a node sent nowhere but to its seeds (fault-search
/// seed 387251: a restart that kept its state).
#[test]
fn a_node_restored_with_its_state_reaches_the_addresses_it_holds() {
    use hearsay_proto::Peers;
    run(async {
        let peer = start("restored", 2, 1, keyring(12), vec![]).await;
        let mut changes = watch(&peer, "k").await;
        // What node 1 holds when its process starts: node 2's address entry, as node 2 wrote it.
        let now = std::time::Instant::now();
        let mut mirror = protocol("restored", 2, 1);
        mirror
            .advertise(now, &peer.local_addr().to_string())
            .expect("advertised");
        let mut restored = protocol("restored", 1, 1);
        mirror.set_peers(Peers::Own(vec![NodeId(1)]));
        for step in 1..=20 {
            let at = now + std::time::Duration::from_millis(100 * step);
            mirror.handle_timeout(at);
            while let Some(out) = mirror.poll_transmit() {
                let _ = restored.handle_datagram(at, &out.payload);
            }
            while let Some(out) = restored.poll_transmit() {
                let _ = mirror.handle_datagram(at, &out.payload);
            }
        }
        assert!(
            restored
                .store()
                .origin(NodeId(2))
                .is_some_and(|o| o.get(ADDR_KEY).is_some())
        );
        // A process restored from saved state starts with no news pending.
        while restored.poll_event().is_some() {}
        let node = hearsay_net::NetNode::start(
            restored,
            common::net_config("restored", vec![]),
            keyring(12),
        )
        .await
        .expect("node starts");
        set(&node, "k", "restored").await;
        assert!(
            wait_for(&mut changes, 1, "k", "restored", DEADLINE).await,
            "node 2 never heard from node 1"
        );
    });
}
