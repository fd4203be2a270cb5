//! Serf's reconnect: a member remembered as Removed is contacted once per
//! `MembershipConfig::reconnect_interval`, drawn from the member table — not from the peers,
//! which `hearsay-net` takes a removed member out of at once.

use hearsay_proto::{
    Config, Detector, Generation, MemberStatus, MembershipConfig, Node, NodeId, Peers, SwimConfig,
};
use std::num::NonZeroU8;
use std::time::{Duration, Instant};

/// Runs `nodes` in 100 ms steps from `from` to `until`, delivering every message while
/// `connected` (losing them all otherwise).
fn run(nodes: &mut [Node], from: Instant, until: Instant, connected: bool) {
    let mut now = from;
    while now < until {
        now += Duration::from_millis(100);
        for node in nodes.iter_mut() {
            node.handle_timeout(now);
        }
        // Answers of answers, until the step is quiet (bounded).
        for _ in 0..16 {
            let mut flying = Vec::new();
            for node in nodes.iter_mut() {
                while let Some(transmit) = node.poll_transmit() {
                    flying.push(transmit);
                }
            }
            if flying.is_empty() {
                break;
            }
            for transmit in flying.into_iter().filter(|_| connected) {
                if let Some(to) = nodes.iter_mut().find(|n| n.id() == transmit.to) {
                    let _ = to.handle_datagram(now, &transmit.payload);
                }
            }
        }
        for node in nodes.iter_mut() {
            while node.poll_event().is_some() {}
        }
    }
}

/// Two nodes partitioned past `removal_after` hold each other removed, and their transports
/// take each other out of the peers (as `hearsay-net` does at a removal). Once the network
/// heals, the next reconnect tells one of them of its removal and it comes back as a new
/// generation (each downs the other alone: with a quorum of 1, so that the Down is confirmed
/// and removes — on the default quorum of 2 it stays unconfirmed, and nobody is removed). Before
/// session 28 the reconnect drew among the peers only, and neither was ever
/// contacted again (fault-search seed 385961: a node every other one had removed waited ~750 s,
/// until a draw among 35 removed peers happened to pick the one it could reach).
#[test]
fn a_removed_member_out_of_the_peers_is_contacted_at_the_next_reconnect() {
    let interval = Duration::from_secs(5);
    let config = Config {
        membership: Some(MembershipConfig {
            detector: Detector::Swim(SwimConfig {
                down_quorum: NonZeroU8::MIN,
                ..SwimConfig::lan()
            }),
            removal_after: Duration::from_secs(1),
            reconnect_interval: interval,
            ..MembershipConfig::lan()
        }),
        ..Config::lan()
    };
    let mut nodes: Vec<Node> = (0..2)
        .map(|id| {
            let mut node =
                Node::new(NodeId(id), Generation(1), config.clone(), id).expect("valid config");
            node.set_peers(Peers::Own(vec![NodeId(1 - id)]));
            node
        })
        .collect();
    let start = Instant::now();
    let partitioned = start + Duration::from_secs(5);
    run(&mut nodes, start, partitioned, true);
    assert_eq!(nodes[0].member_status(NodeId(1)), Some(MemberStatus::Up));
    let healed = partitioned + Duration::from_secs(60);
    run(&mut nodes, partitioned, healed, false);
    for (node, other) in [(0, 1), (1, 0)] {
        assert_eq!(
            nodes[node].member_status(NodeId(other)),
            Some(MemberStatus::Removed)
        );
        nodes[node].remove_peer(NodeId(other));
    }
    run(&mut nodes, healed, healed + 2 * interval, true);
    assert!(
        nodes.iter().any(|node| node.generation() > Generation(1)),
        "nobody was told of its removal within two reconnect intervals of the heal"
    );
    // Counted as a removal's comeback (its runtime says so), not as another process.
    for node in nodes
        .iter()
        .filter(|node| node.generation() > Generation(1))
    {
        assert_eq!(node.stats().removed_restarts, 1);
    }
}
