//! The view messages that introduce a node carry where it is reached, so that a node told of a
//! stranger by a join's walk or a shuffle can reach it before membership (or the reserved address
//! entry) has announced it: every datagram to the joiner leaves with its address.

use hearsay_proto::{
    Body, ClusterId, Config, Generation, MAX_ADDRESS_LEN, MAX_SHUFFLE, Message, Node, NodeId,
    PROTOCOL_VERSION, Transmit, ViewConfig, ViewMessage,
};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

const JOINER: NodeId = NodeId(9);
const JOINER_ADDR: &str = "10.0.0.9:7000";

fn config(mtu: usize) -> Config {
    Config {
        cluster: ClusterId::from_name("addresses"),
        view: Some(ViewConfig {
            active: 3,
            passive: 6,
            ..ViewConfig::default()
        }),
        heartbeats: false,
        mtu,
        ..Config::default()
    }
}

/// Nodes driven by hand: every datagram is delivered at once, in send order, and logged.
struct Cluster {
    nodes: Vec<Node>,
    now: Instant,
    queue: VecDeque<(NodeId, Transmit)>,
    log: Vec<(NodeId, Transmit)>,
}

impl Cluster {
    fn new(ids: &[u64], mtu: usize) -> Cluster {
        let nodes = ids
            .iter()
            .map(|&id| Node::new(NodeId(id), Generation(1), config(mtu), id).expect("valid"))
            .collect();
        Cluster {
            nodes,
            now: Instant::now(),
            queue: VecDeque::new(),
            log: Vec::new(),
        }
    }

    fn node(&mut self, id: NodeId) -> &mut Node {
        self.nodes
            .iter_mut()
            .find(|node| node.id() == id)
            .expect("a node of the cluster")
    }

    fn collect(&mut self) {
        for node in &mut self.nodes {
            while let Some(transmit) = node.poll_transmit() {
                self.queue.push_back((node.id(), transmit));
            }
        }
    }

    fn deliver(&mut self) {
        self.collect();
        while let Some((from, transmit)) = self.queue.pop_front() {
            let now = self.now;
            if let Some(node) = self.nodes.iter_mut().find(|n| n.id() == transmit.to) {
                node.handle_datagram_from(now, &transmit.payload, Some(from))
                    .expect("a valid message");
            }
            self.log.push((from, transmit));
            self.collect();
        }
    }

    fn join(&mut self, who: NodeId, contact: NodeId) {
        let now = self.now;
        self.node(who).join(now, contact);
        self.deliver();
    }

    fn rounds(&mut self, rounds: u32) {
        for _ in 0..rounds {
            self.now += Duration::from_secs(1);
            let now = self.now;
            for node in &mut self.nodes {
                node.handle_timeout(now);
            }
            self.deliver();
        }
    }

    /// The view messages logged so far, with their sender, receiver and address.
    fn view_messages(&self) -> Vec<(NodeId, NodeId, Option<Arc<str>>, ViewMessage)> {
        self.log
            .iter()
            .filter_map(|(from, transmit)| {
                let message = Message::decode(&transmit.payload, config(1_400).cluster, 1 << 20);
                match message.expect("decodes").body {
                    Body::View(view) => Some((*from, transmit.to, transmit.addr.clone(), view)),
                    _ => None,
                }
            })
            .collect()
    }
}

/// Nodes 1–4 joined through node 1, then the joiner, whose runtime announced its address.
fn joined() -> Cluster {
    let mut cluster = Cluster::new(&[1, 2, 3, 4, JOINER.0], 1_400);
    for id in 2..=4 {
        cluster.join(NodeId(id), NodeId(1));
    }
    cluster.log.clear();
    let now = cluster.now;
    cluster
        .node(JOINER)
        .advertise(now, JOINER_ADDR)
        .expect("a short address");
    cluster.join(JOINER, NodeId(1));
    cluster
}

#[test]
fn the_end_of_a_join_walk_reaches_the_joiner_at_its_address() {
    let cluster = joined();
    let messages = cluster.view_messages();
    // The join carried the address, and the walks carried it on.
    assert!(messages.iter().any(|(_, to, _, m)| *to == NodeId(1)
        && *m
            == ViewMessage::Join {
                addr: Some(JOINER_ADDR.into())
            }));
    let walks: Vec<_> = messages
        .iter()
        .filter_map(|(_, _, _, m)| match m {
            ViewMessage::ForwardJoin { joiner, addr, .. } => Some((*joiner, addr.clone())),
            _ => None,
        })
        .collect();
    assert!(!walks.is_empty());
    assert!(
        walks
            .iter()
            .all(|(joiner, addr)| *joiner == JOINER && addr.as_deref() == Some(JOINER_ADDR))
    );
    // Somebody besides the contact linked to the joiner, and nothing went to it without its
    // address (no node but the joiner itself had any other way to know it).
    let to_joiner: Vec<_> = messages
        .iter()
        .filter(|(_, to, ..)| *to == JOINER)
        .collect();
    assert!(
        to_joiner
            .iter()
            .any(|(from, _, _, m)| *from != NodeId(1) && matches!(m, ViewMessage::Link { .. })),
        "{to_joiner:?}"
    );
    for (from, _, addr, message) in &to_joiner {
        assert_eq!(
            addr.as_deref(),
            Some(JOINER_ADDR),
            "{message:?} from {from:?} went without the joiner's address"
        );
    }
}

#[test]
fn gossip_to_a_joiner_known_only_from_the_view_carries_its_address() {
    let mut cluster = joined();
    cluster.log.clear();
    let now = cluster.now;
    cluster
        .node(NodeId(3))
        .set(now, "k", hearsay_proto::Value::from("v"))
        .expect("a write");
    cluster.rounds(6);
    let to_joiner: Vec<&Transmit> = cluster
        .log
        .iter()
        .map(|(_, transmit)| transmit)
        .filter(|transmit| transmit.to == JOINER)
        .collect();
    assert!(!to_joiner.is_empty());
    assert!(
        to_joiner
            .iter()
            .all(|t| t.addr.as_deref() == Some(JOINER_ADDR))
    );
}

#[test]
fn a_shuffle_carries_the_origins_address_and_its_reply_goes_there() {
    let mut cluster = joined();
    cluster.log.clear();
    // Shuffles run every `shuffle_every` rounds (5 by default).
    cluster.rounds(10);
    let messages = cluster.view_messages();
    let shuffles: Vec<_> = messages
        .iter()
        .filter_map(|(_, _, _, m)| match m {
            ViewMessage::Shuffle {
                origin: JOINER,
                addrs,
                ..
            } => Some(addrs.clone()),
            _ => None,
        })
        .collect();
    assert!(!shuffles.is_empty(), "the joiner never shuffled");
    for addrs in &shuffles {
        assert!(addrs.contains(&(JOINER, JOINER_ADDR.into())), "{addrs:?}");
    }
    let replies: Vec<_> = messages
        .iter()
        .filter(|(_, to, _, m)| *to == JOINER && matches!(m, ViewMessage::ShuffleReply { .. }))
        .collect();
    assert!(!replies.is_empty(), "no shuffle of the joiner was answered");
    assert!(
        replies
            .iter()
            .all(|(_, _, addr, _)| addr.as_deref() == Some(JOINER_ADDR))
    );
}

/// Encodes a view message from `from` for the test cluster.
fn view_datagram(from: NodeId, message: ViewMessage) -> Vec<u8> {
    Message {
        version: PROTOCOL_VERSION,
        cluster: config(1_400).cluster,
        from,
        body: Body::View(message),
    }
    .encode()
    .expect("encodes")
}

#[test]
fn addresses_over_the_limit_or_in_excess_are_ignored_and_strangers_forgotten() {
    let mut cluster = Cluster::new(&[1, 2], 1_400);
    cluster.join(NodeId(2), NodeId(1));
    let now = cluster.now;
    let long: Arc<str> = "9".repeat(MAX_ADDRESS_LEN + 1).into();
    // A join with an address over the limit: the joiner is taken in, its address is not.
    cluster
        .node(NodeId(1))
        .handle_datagram(
            now,
            &view_datagram(NodeId(7), ViewMessage::Join { addr: Some(long) }),
        )
        .expect("valid");
    let view = cluster.node(NodeId(1)).view().expect("views on");
    assert!(view.active().contains(&NodeId(7)));
    assert_eq!(view.address(NodeId(7)), None);
    // A shuffle reply naming more addresses than a shuffle may: ignored altogether.
    let flood: Vec<(NodeId, Arc<str>)> = (0..=MAX_SHUFFLE as u64 + 1)
        .map(|i| (NodeId(100 + i), Arc::from("10.0.0.1:1")))
        .collect();
    let peers = vec![NodeId(100)];
    let node = cluster.node(NodeId(1));
    node.handle_datagram(
        now,
        &view_datagram(
            NodeId(2),
            ViewMessage::ShuffleReply {
                peers: peers.clone(),
                addrs: flood,
            },
        ),
    )
    .expect("valid");
    let view = node.view().expect("views on");
    assert!(!view.passive().contains(&NodeId(100)));
    assert_eq!(view.address(NodeId(100)), None);
    // Addresses of nodes the view does not keep are forgotten by the next input.
    let strangers: Vec<(NodeId, Arc<str>)> = (0..20)
        .map(|i| (NodeId(200 + i), Arc::from("10.0.0.2:2")))
        .collect();
    node.handle_datagram(
        now,
        &view_datagram(
            NodeId(2),
            ViewMessage::ShuffleReply {
                peers: vec![NodeId(200)],
                addrs: strangers,
            },
        ),
    )
    .expect("valid");
    node.handle_timeout(now + Duration::from_secs(1));
    let view = node.view().expect("views on");
    assert!(view.passive().contains(&NodeId(200)));
    assert_eq!(view.address(NodeId(200)).map(|a| &**a), Some("10.0.0.2:2"));
    assert!((201..220).all(|i| view.address(NodeId(i)).is_none()));
}

#[test]
fn a_view_message_too_large_with_its_addresses_goes_without_them() {
    // 256 bytes (the least MTU) hold a shuffle of 8 ids, not their 64-byte addresses as well.
    let mut cluster = Cluster::new(&[1, 2, 3, 4, JOINER.0], 256);
    for id in 2..=4 {
        cluster.join(NodeId(id), NodeId(1));
    }
    let now = cluster.now;
    let long = "9".repeat(MAX_ADDRESS_LEN);
    for id in [1, 2, 3, 4, JOINER.0] {
        cluster
            .node(NodeId(id))
            .advertise(now, &long)
            .expect("an address of the limit's length");
    }
    cluster.join(JOINER, NodeId(1));
    cluster.log.clear();
    cluster.rounds(10);
    let messages = cluster.view_messages();
    assert!(cluster.log.iter().all(|(_, t)| t.payload.len() <= 256));
    let shuffles = messages
        .iter()
        .filter(|(.., m)| matches!(m, ViewMessage::Shuffle { .. }))
        .count();
    assert!(shuffles > 0, "no shuffle went out");
    for node in &cluster.nodes {
        assert_eq!(node.stats().over_mtu, 0);
    }
}

#[test]
fn when_every_node_announced_its_address_every_message_but_to_the_contact_carries_one() {
    let addr_of = |id: NodeId| format!("10.0.0.{}:7000", id.0);
    let ids: Vec<u64> = (1..=12).collect();
    let mut cluster = Cluster::new(&ids, 1_400);
    let now = cluster.now;
    for &id in &ids {
        cluster
            .node(NodeId(id))
            .advertise(now, &addr_of(NodeId(id)))
            .expect("a short address");
    }
    // Everyone joins through node 1, the contact, which the runtime reaches through its seed
    // address (no view message names it with an address).
    for &id in &ids[1..] {
        cluster.join(NodeId(id), NodeId(1));
    }
    for round in 0..20_u64 {
        let writer = NodeId(2 + round % 11);
        let now = cluster.now;
        cluster
            .node(writer)
            .set(now, "k", hearsay_proto::Value::from(format!("{round}")))
            .expect("a write");
        cluster.rounds(1);
    }
    let messages = cluster.view_messages();
    // Links, neighbor requests and shuffles all went out: the paths under test were taken.
    assert!(
        messages
            .iter()
            .any(|(.., m)| matches!(m, ViewMessage::Link { .. }))
    );
    assert!(
        messages
            .iter()
            .any(|(.., m)| matches!(m, ViewMessage::Neighbor { .. }))
    );
    assert!(
        messages
            .iter()
            .any(|(.., m)| matches!(m, ViewMessage::ShuffleReply { .. }))
    );
    let unaddressed: Vec<_> = cluster
        .log
        .iter()
        .filter(|(_, t)| t.to != NodeId(1) && t.addr.as_deref() != Some(addr_of(t.to).as_str()))
        .map(|(from, t)| (*from, t.to, t.kind))
        .collect();
    assert!(unaddressed.is_empty(), "{unaddressed:?}");
}

#[test]
fn a_shuffle_walk_too_large_for_this_nodes_mtu_ends_here_instead_of_tripping_the_budget_check() {
    // A peer with a larger MTU (or longer lists) starts a walk whose peers alone, 257 ids of
    // nine bytes, are over this node's MTU: forwarding it is dropped and counted (before, `send`
    // took it for a budget bug: a debug assertion a peer's message could reach).
    let mut cluster = joined();
    let node = cluster.node(NodeId(1));
    assert!(node.view().expect("views on").active().len() > 1);
    let peers: Vec<NodeId> = (0..MAX_SHUFFLE as u64)
        .map(|i| NodeId(u64::MAX - i))
        .collect();
    let walk = view_datagram(
        NodeId(2),
        ViewMessage::Shuffle {
            origin: NodeId(3),
            ttl: 3,
            peers,
            addrs: Vec::new(),
        },
    );
    assert!(walk.len() > 1_400);
    let now = cluster.now;
    let node = cluster.node(NodeId(1));
    let before = node.stats().over_mtu;
    node.handle_datagram_from(now, &walk, Some(NodeId(2)))
        .expect("a valid message");
    let mut sent = 0;
    while let Some(transmit) = node.poll_transmit() {
        assert!(transmit.payload.len() <= 1_400);
        sent += 1;
    }
    assert_eq!(sent, 0, "the walk went on");
    assert_eq!(node.stats().over_mtu, before + 1);
}
