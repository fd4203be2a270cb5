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
