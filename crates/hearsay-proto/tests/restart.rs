//! A restarted node comes back as a new generation: its old state is superseded everywhere and its
//! new writes win.

use hearsay_proto::{Config, Generation, Lockstep, Mode, NodeId, Value};
use std::time::Instant;

fn cluster(mode: Mode) -> Lockstep {
    let now = Instant::now();
    let config = Config {
        mode,
        ..Config::default()
    };
    let mut cluster = Lockstep::new(60, config, 9, Instant::now()).expect("valid config");
    for i in 0..60 {
        cluster
            .node_mut(i)
            .expect("node")
            .set(now, "owner", Value::from(format!("n{i}")))
            .expect("fits");
    }
    cluster
        .node_mut(7)
        .expect("node")
        .set(now, "only-old", Value::from("gone after restart"))
        .expect("fits");
    assert!(cluster.run_until(200, |c| c.converged()).is_some());
    cluster
}

#[test]
fn restart_without_state_supersedes_the_old_generation() {
    let now = Instant::now();
    for mode in [Mode::AntiEntropy, Mode::default()] {
        let mut cluster = cluster(mode);
        let node = cluster.node_mut(7).expect("node");
        node.restart(now, Generation(2), false)
            .expect("newer generation");
        node.set(now, "owner", Value::from("n7 reborn"))
            .expect("fits");
        let rounds = cluster.run_until(300, |c| c.converged());
        assert!(
            rounds.is_some(),
            "{mode:?}: no convergence after the restart"
        );
        for node in cluster.nodes() {
            let origin = node.store().origin(NodeId(7)).expect("known origin");
            assert_eq!(origin.generation(), Generation(2));
            assert_eq!(
                node.get_from(NodeId(7), "owner"),
                Some(&Value::from("n7 reborn"))
            );
            assert_eq!(node.get_from(NodeId(7), "only-old"), None);
        }
    }
}

#[test]
fn restart_keeping_state_rewrites_own_entries_and_keeps_the_rest() {
    let now = Instant::now();
    let mut cluster = cluster(Mode::AntiEntropy);
    let node = cluster.node_mut(7).expect("node");
    node.restart(now, Generation(2), true)
        .expect("newer generation");
    assert_eq!(node.get_from(NodeId(3), "owner"), Some(&Value::from("n3")));
    assert_eq!(
        node.get("only-old"),
        Some(&Value::from("gone after restart"))
    );
    node.set(now, "owner", Value::from("n7 again"))
        .expect("fits");
    assert!(cluster.run_until(300, |c| c.converged()).is_some());
    for node in cluster.nodes() {
        assert_eq!(
            node.get_from(NodeId(7), "owner"),
            Some(&Value::from("n7 again"))
        );
        assert_eq!(
            node.get_from(NodeId(7), "only-old"),
            Some(&Value::from("gone after restart"))
        );
    }
}

#[test]
fn a_restart_must_move_the_generation_forward() {
    let now = Instant::now();
    let mut cluster = cluster(Mode::AntiEntropy);
    let node = cluster.node_mut(1).expect("node");
    assert!(node.restart(now, Generation(1), false).is_err());
}

/// The newest write of `key` by any node, as a reader that compares versions across origins
/// sees it (`hearsay node`'s `get`): `None` for a delete or no write.
fn newest(node: &hearsay_proto::Node, key: &str) -> Option<Value> {
    node.store()
        .origins()
        .filter_map(|(origin, _)| Some((node.store().get(origin, key)?, origin)))
        .max_by_key(|(entry, origin)| (entry.version, *origin))
        .and_then(|(entry, _)| entry.value.clone())
}

/// A restart that keeps the state (in place, or from a snapshot in a new process) changes no
/// write's order with respect to the other nodes': its own writes keep their versions and its
/// deletes stay (session 31, a hostile user: written again at fresh versions, an old value
/// outranked another node's newer write, and a restarted node's delete was lost — the deleted
/// value came back everywhere). Three cases, each converged, restarted, converged again.
#[test]
fn a_restart_keeps_every_write_in_its_place() {
    // (who writes `k` first, who writes it then — `None` a delete —, who restarts)
    let cases: [(usize, Option<&str>, usize); 3] = [
        (2, None, 1),         // the deleter restarts: the delete stays
        (3, None, 3),         // the first writer restarts: its old value stays deleted
        (3, Some("blue"), 3), // the first writer restarts: the newer write stays newest
    ];
    for (first, then, restarts) in cases {
        for from_snapshot in [false, true] {
            let start = Instant::now();
            let config = Config::default();
            let mut cluster = Lockstep::new(5, config.clone(), 3, start).expect("valid config");
            let writer = cluster.node_mut(first).expect("node");
            writer.set(start, "k", Value::from("red")).expect("fits");
            assert!(cluster.run_until(100, |c| c.converged()).is_some());
            let now = cluster.now();
            let second = cluster.node_mut(1).expect("node");
            match then {
                Some(value) => second.set(now, "k", Value::from(value)).map(|_| ()),
                None => second.delete(now, "k").map(|_| ()),
            }
            .expect("fits");
            assert!(cluster.run_until(100, |c| c.converged()).is_some());
            let expected = then.map(Value::from);
            let now = cluster.now();
            let node = cluster.node_mut(restarts).expect("node");
            if from_snapshot {
                let snapshot = node.snapshot();
                *node =
                    hearsay_proto::Node::restore(snapshot, Generation(9), config.clone(), 5, now)
                        .expect("restores");
            } else {
                node.restart(now, Generation(9), true).expect("restarts");
            }
            assert!(cluster.run_until(100, |c| c.converged()).is_some());
            for node in cluster.nodes() {
                assert_eq!(
                    newest(node, "k"),
                    expected,
                    "node {} after node {restarts} restarted (snapshot: {from_snapshot})",
                    node.id()
                );
            }
        }
    }
}

/// A delete carried by a restart keeps the instant its grace period started at: it is collected
/// when it would have been without the restart, not a whole grace period after it.
#[test]
fn a_carried_delete_keeps_its_grace_period() {
    let grace = std::time::Duration::from_secs(10);
    let config = Config {
        tombstone_grace: Some(grace),
        ..Config::default()
    };
    let start = Instant::now();
    let second = std::time::Duration::from_secs(1);
    let mut node = hearsay_proto::Node::new(NodeId(1), Generation(1), config, 3).expect("node");
    node.set(start, "k", Value::from("v")).expect("fits");
    node.delete(start, "k").expect("fits");
    // The next round stamps the tombstone; the restart comes 5 s later.
    node.handle_timeout(start + second);
    node.restart(start + 5 * second, Generation(2), true)
        .expect("restarts");
    assert!(
        node.store().get(NodeId(1), "k").is_some(),
        "the delete is carried"
    );
    let mut now = start + 5 * second;
    while now < start + second + grace + 2 * second {
        now += second;
        node.handle_timeout(now);
    }
    assert!(
        node.store().get(NodeId(1), "k").is_none(),
        "collected a grace period after its first round, not after the restart"
    );
}
