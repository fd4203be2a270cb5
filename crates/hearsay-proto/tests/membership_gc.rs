//! Tombstone GC with membership: a collected delete never comes back from a peer behind the
//! horizon, and such a peer re-syncs (state larger than one message, precise reconciliation).

#[allow(dead_code)]
mod common;

use common::cluster::*;
use hearsay_proto::{Config, Mode, NodeId, Strategy, Value};
use std::time::{Duration, Instant};

/// A cluster where node `lagging` misses a delete and its collection, then comes back.
fn gc_scenario(strategy: Strategy, mode: Mode, keys: usize) {
    let now = Instant::now();
    let config = Config {
        strategy,
        mode,
        tombstone_grace: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut cluster = Cluster::new(8, config, 51);
    let (writer, lagging) = (0usize, 6usize);
    for k in 0..keys {
        cluster
            .act(writer, |n| {
                n.set(
                    now,
                    &format!("key-{k:04}"),
                    Value::from("some value of twenty"),
                )
            })
            .expect("fits");
    }
    assert!(
        cluster.run_until(200, converged).is_some(),
        "{strategy:?}: initial sync"
    );
    cluster.frozen[lagging] = true;
    // Delete every other key, and rewrite one, while the lagging node is away.
    for k in (0..keys).step_by(2) {
        cluster
            .act(writer, |n| n.delete(now, &format!("key-{k:04}")))
            .expect("deletes");
    }
    cluster
        .act(writer, |n| n.set(now, "key-0001", Value::from("rewritten")))
        .expect("fits");
    // Past the grace period, every live node has collected the tombstones.
    let collected = cluster
        .run_until(200, |c| {
            c.live().all(|i| {
                let state = c.nodes[i].store().origin(NodeId(0));
                state.is_some_and(|s| {
                    s.horizon().0 > 0 && s.entries().all(|(_, e)| !e.is_tombstone())
                })
            }) && converged(c)
        })
        .expect("tombstones collected");
    println!("{strategy:?} {mode:?} {keys} keys: collected everywhere after {collected} rounds");
    // The lagging node comes back with the deleted keys still live.
    assert!(
        cluster.nodes[lagging]
            .get_from(NodeId(0), "key-0000")
            .is_some()
    );
    cluster.frozen[lagging] = false;
    // No live node other than the lagging one ever holds a deleted key's value again. (It may
    // hold a fresh tombstone: the writer deletes anew a live entry of its own below its horizon
    // that the lagging node still spreads.)
    let took = cluster.run_until(300, |c| {
        for i in c.live().filter(|&i| i != lagging) {
            for k in (0..keys).step_by(2) {
                assert!(
                    c.nodes[i]
                        .get_from(NodeId(0), &format!("key-{k:04}"))
                        .is_none(),
                    "{strategy:?}: deleted key-{k:04} came back at node {i}"
                );
            }
        }
        converged(c)
    });
    let took = took.unwrap_or_else(|| panic!("{strategy:?}: the lagging node converges"));
    println!("{strategy:?} {mode:?} {keys} keys: the lagging node re-synced in {took} rounds");
    let lag = &cluster.nodes[lagging];
    for k in 0..keys {
        let key = format!("key-{k:04}");
        let expected = match k {
            1 => Some(Value::from("rewritten")),
            k if k % 2 == 0 => None,
            _ => Some(Value::from("some value of twenty")),
        };
        assert_eq!(lag.get_from(NodeId(0), &key).cloned(), expected, "{key}");
    }
    // A few more rounds: nothing comes back anywhere.
    cluster.run(30);
    assert!(converged(&cluster));
    for i in 0..8 {
        assert!(cluster.nodes[i].get_from(NodeId(0), "key-0000").is_none());
    }
}

fn converged(c: &Cluster) -> bool {
    let live: Vec<usize> = c.live().collect();
    live.windows(2)
        .all(|w| c.nodes[w[0]].store().same_entries(c.nodes[w[1]].store()))
}

#[test]
fn a_collected_delete_does_not_come_back_from_a_peer_behind_the_horizon() {
    gc_scenario(Strategy::ScuttleDepth, Mode::default(), 6);
    gc_scenario(Strategy::ScuttleBreadth, Mode::AntiEntropy, 6);
}

#[test]
fn a_peer_behind_the_horizon_re_syncs_state_larger_than_one_message() {
    // 200 keys of ~40 bytes: the origin's state takes several messages.
    gc_scenario(Strategy::ScuttleDepth, Mode::default(), 200);
}

#[test]
fn precise_reconciliation_re_syncs_behind_the_horizon_too() {
    gc_scenario(Strategy::PreciseRandom, Mode::AntiEntropy, 40);
}
