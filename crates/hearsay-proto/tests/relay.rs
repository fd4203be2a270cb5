//! The relay of fresh rumors (`Config::relay`): a write crosses the cluster within the round its
//! first rumor message arrives in, every node relays a rumor at most once (when it first holds
//! it), and off it leaves Demers' round-by-round spreading as it was.

#[allow(dead_code)]
mod common;

use common::started;
use hearsay_proto::{Config, Error, Lockstep, MessageKind, Node, NodeId, Transmit, Value};
use std::time::Instant;

/// A warmed-up cluster of `n` nodes in which node 0 writes one key; the rounds until every node
/// holds it, and the relay messages sent.
fn spread(n: usize, relay: u32, seed: u64) -> (u64, u64) {
    let config = Config {
        relay,
        ..Config::default()
    };
    let now = Instant::now();
    let mut cluster = Lockstep::new(n, config, seed, now).expect("a valid configuration");
    // Warm-up: every node knows every origin, nothing left to reconcile.
    cluster
        .run_until(200, |c| {
            c.nodes()
                .iter()
                .all(|node| node.store().origins().count() == n)
        })
        .expect("the warm-up converges");
    let relayed = |c: &Lockstep| {
        c.nodes()
            .iter()
            .map(|node| node.stats().relayed)
            .sum::<u64>()
    };
    let before = relayed(&cluster);
    cluster
        .node_mut(0)
        .expect("node 0")
        .set(now, "key", Value::from("value"))
        .expect("the write fits");
    let rounds = cluster
        .run_until(100, |c| {
            c.nodes()
                .iter()
                .all(|node| node.get_from(NodeId(0), "key").is_some())
        })
        .expect("the write reaches everyone");
    (rounds, relayed(&cluster) - before)
}

#[test]
fn a_write_reaches_a_hundred_nodes_in_two_rounds_with_the_defaults() {
    for seed in 0..5 {
        let (rounds, relayed) = spread(100, Config::default().relay, seed);
        assert!(rounds <= 2, "seed {seed}: {rounds} rounds");
        // Each node relays once, to 3 peers, the writer included.
        assert!(relayed <= 100 * 3, "seed {seed}: {relayed} relay messages");
        assert!(
            relayed >= 50 * 3,
            "seed {seed}: only {relayed} relay messages"
        );
    }
}

#[test]
fn without_relays_the_write_spreads_round_by_round_and_nothing_is_relayed() {
    let mut total = 0;
    for seed in 0..5 {
        let (rounds, relayed) = spread(100, 0, seed);
        assert_eq!(relayed, 0, "seed {seed}");
        total += rounds;
    }
    // Push-pull rumors with fanout 1 need about log2(100) + ln(100) rounds; relays need two.
    assert!(total >= 5 * 4, "{total} rounds over 5 seeds");
}

#[test]
fn relays_are_bounded() {
    let config = Config {
        relay: hearsay_proto::MAX_RELAY + 1,
        ..Config::default()
    };
    assert!(matches!(config.validate(), Err(Error::Config { .. })));
}

#[test]
fn a_burst_of_writes_is_left_to_the_rounds() {
    let n = 20;
    let now = Instant::now();
    let mut cluster = Lockstep::new(n, Config::default(), 7, now).expect("a valid configuration");
    for id in 0..n {
        let node = cluster.node_mut(id).expect("a node");
        // More hot rumors than a node relays with.
        for key in 0..17 {
            node.set(now, &format!("key-{key}"), Value::from("value"))
                .expect("the write fits");
        }
    }
    cluster
        .run_until(200, |c| {
            c.nodes().iter().all(|node| {
                (0..n as u64).all(|origin| node.get_from(NodeId(origin), "key-16").is_some())
            })
        })
        .expect("the burst converges");
    let relayed: u64 = cluster
        .nodes()
        .iter()
        .map(|node| node.stats().relayed)
        .sum();
    assert_eq!(relayed, 0);
}

/// Node 0 of `config`, peers 1..=5, past its first round.
fn writer(config: Config) -> (Node, Instant) {
    started(0, config, 7)
}

fn outputs(node: &mut Node) -> Vec<Transmit> {
    std::iter::from_fn(|| node.poll_transmit()).collect()
}

#[test]
fn a_local_write_is_relayed_at_once_and_writes_made_together_go_together() {
    let (mut node, now) = writer(Config::default());
    node.set(now, "a", Value::from("1")).expect("fits");
    node.set(now, "b", Value::from("2")).expect("fits");
    let sent = outputs(&mut node);
    // Before the next round: one relay to each of 3 distinct peers, both writes in each.
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(
        sent.iter()
            .all(|t| t.kind == MessageKind::Rumor && t.deltas == 2)
    );
    let mut peers: Vec<NodeId> = sent.iter().map(|t| t.to).collect();
    peers.sort();
    peers.dedup();
    assert_eq!(peers.len(), 3);
    assert_eq!(node.stats().relayed, 3);
    // A later write of the same round leaves at once too, alone: each write is relayed once.
    node.set(now, "c", Value::from("3")).expect("fits");
    let sent = outputs(&mut node);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(
        sent.iter()
            .all(|t| t.kind == MessageKind::Rumor && t.deltas == 1)
    );
    assert_eq!(node.stats().relayed, 6);
}

#[test]
fn a_rumor_heard_again_is_not_relayed_again() {
    // Node 1 writes; node 0 hears the write twice in one round, from two peers' relays.
    let (mut writer, now) = writer(Config::default());
    writer.set(now, "a", Value::from("1")).expect("fits");
    let relays = outputs(&mut writer);
    assert_eq!(relays.len(), 3);
    let (mut node, _) = started(9, Config::default(), 3);
    node.handle_datagram(now, &relays[0].payload)
        .expect("a valid datagram");
    assert_eq!(outputs(&mut node).len(), 3, "the first time, relayed on");
    node.handle_datagram(now, &relays[1].payload)
        .expect("a valid datagram");
    assert!(outputs(&mut node).is_empty(), "the second time, not");
    assert_eq!(node.stats().relayed, 3);
}

#[test]
fn a_burst_of_local_writes_is_left_to_the_rounds() {
    let (mut node, now) = writer(Config::default());
    for key in 0..17 {
        node.set(now, &key.to_string(), Value::from("v"))
            .expect("fits");
    }
    assert!(outputs(&mut node).is_empty());
    assert_eq!(node.stats().relayed, 0);
}

#[test]
fn without_relays_a_local_write_waits_for_the_round() {
    let (mut node, now) = writer(Config {
        relay: 0,
        ..Config::default()
    });
    node.set(now, "a", Value::from("1")).expect("fits");
    assert!(outputs(&mut node).is_empty());
}
