//! The relay of fresh rumors (`Config::relay`): a write crosses the cluster within the round its
//! first rumor message arrives in, every node relays at most once per round, and off it leaves
//! Demers' round-by-round spreading as it was.

use hearsay_proto::{Config, Error, Lockstep, NodeId, Value};
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
        // Each node relays once, to 3 peers; the writer sends its rumor in a round, not a relay.
        assert!(relayed <= 99 * 3, "seed {seed}: {relayed} relay messages");
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
