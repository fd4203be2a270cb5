//! Digests larger than a message: the state of 10,000 members, spread over 10 nodes, reaches all of
//! them through 1,400-byte messages (chitchat's digest stops fitting one message past ~500 nodes).

use hearsay_proto::{Config, Generation, Mode, Node, NodeId, Value};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

const MEMBERS: u64 = 10_000;
const CARRIERS: u64 = 10;

/// Delivers datagrams among `nodes` (ids `0..len`) until none is in flight; answers the largest.
fn deliver(nodes: &mut [Node], now: Instant, mut in_flight: VecDeque<(usize, Vec<u8>)>) -> usize {
    let mut largest = 0;
    while let Some((to, payload)) = in_flight.pop_front() {
        largest = largest.max(payload.len());
        let node = &mut nodes[to];
        let _ = node.handle_datagram(now, &payload);
        while let Some(t) = node.poll_transmit() {
            in_flight.push_back((t.to.0 as usize, t.payload));
        }
        while node.poll_event().is_some() {}
    }
    largest
}

#[test]
fn ten_thousand_members_state_converges_at_a_1400_byte_mtu() {
    let now = Instant::now();
    let start = Instant::now();
    let config = Config {
        mode: Mode::AntiEntropy,
        ..Config::default()
    };
    let mut carriers: Vec<Node> = (0..CARRIERS)
        .map(|id| {
            let mut node = Node::new(NodeId(id), Generation(1), config.clone(), id).expect("node");
            for peer in 0..CARRIERS {
                node.add_peer(NodeId(peer));
            }
            node
        })
        .collect();
    // Each member (ids 10..10,010) writes its address and hands its state to one carrier, then
    // goes away: carriers start with 1,000 members each.
    for member in CARRIERS..CARRIERS + MEMBERS {
        let mut node =
            Node::new(NodeId(member), Generation(1), config.clone(), member).expect("node");
        node.set(
            now,
            "addr",
            Value::from(format!("10.0.{}.{}:7000", member / 256, member % 256)),
        )
        .expect("write");
        let carrier = (member % CARRIERS) as usize;
        node.add_peer(NodeId(carrier as u64));
        for round in 0..3 {
            node.handle_timeout(start + config.gossip_interval * round);
            let mut in_flight = VecDeque::new();
            while let Some(t) = node.poll_transmit() {
                in_flight.push_back(t.payload);
            }
            // Only the member and its carrier talk: answers to the member go back to it.
            while let Some(payload) = in_flight.pop_front() {
                let c = &mut carriers[carrier];
                let _ = c.handle_datagram(start, &payload);
                while let Some(t) = c.poll_transmit() {
                    if t.to == NodeId(member) {
                        let _ = node.handle_datagram(start, &t.payload);
                        while let Some(back) = node.poll_transmit() {
                            in_flight.push_back(back.payload);
                        }
                    }
                }
                while c.poll_event().is_some() {}
            }
        }
    }
    for carrier in &carriers {
        assert!(carrier.store().origins().count() >= 1_000);
    }
    let mut now = start;
    let mut largest = 0;
    let mut rounds = 0;
    let holds_all = |nodes: &[Node]| {
        nodes
            .iter()
            .all(|n| n.store().origins().count() as u64 >= MEMBERS + CARRIERS)
    };
    while !holds_all(&carriers) {
        rounds += 1;
        assert!(rounds <= 600, "not converged after 600 rounds");
        now += Duration::from_secs(1);
        let mut in_flight = VecDeque::new();
        for node in carriers.iter_mut() {
            node.handle_timeout(now);
            while let Some(t) = node.poll_transmit() {
                in_flight.push_back((t.to.0 as usize, t.payload));
            }
        }
        largest = largest.max(deliver(&mut carriers, now, in_flight));
    }
    assert!(largest <= 1_400, "a message of {largest} bytes");
    for member in [CARRIERS, CARRIERS + 4_999, CARRIERS + MEMBERS - 1] {
        let expected = format!("10.0.{}.{}:7000", member / 256, member % 256);
        for carrier in &carriers {
            assert_eq!(
                carrier.get_from(NodeId(member), "addr"),
                Some(&Value::from(expected.as_str()))
            );
        }
    }
    eprintln!(
        "10,000 members' state on 10 nodes converged in {rounds} rounds, largest message {largest} B"
    );
}
