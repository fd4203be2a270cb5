//! A node's state on disk across restarts, on real sockets: saved now and then and at shutdown,
//! read back by the next process, which reaches the cluster without a seed; and state files
//! that cannot be restored refused with an error naming them.

mod common;

use common::*;
use hearsay_actor::Inspect;
use hearsay_net::{Error, NetConfig, NetNode, StateFile};
use hearsay_proto::{Generation, NodeId, Snapshot, Value};
use std::path::PathBuf;
use std::time::Duration;

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-state-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn with_state(config: NetConfig, state: &StateFile) -> NetConfig {
    NetConfig {
        state: Some(state.clone()),
        ..config
    }
}

/// Whether the node's saved state holds `peer`'s address entry.
fn holds_address(state: &StateFile, peer: u64) -> bool {
    std::fs::read(&state.path)
        .ok()
        .and_then(|bytes| Snapshot::decode(&bytes).ok())
        .is_some_and(|snapshot| {
            snapshot.origins.iter().any(|group| {
                group.origin == NodeId(peer)
                    && group.deltas.iter().any(|d| d.key == hearsay_net::ADDR_KEY)
            })
        })
}

/// Node 1 saves its state only at shutdown (its period is a day); the next process loads it —
/// a new generation although it asks for the same one, every entry back, the last one written
/// just before the exit included — and, started without a seed on another port, reaches node 2
/// through the address the file held. Restarted with a one-second period, it saves without being
/// asked.
#[test]
fn a_node_started_from_its_state_file_rejoins_without_a_seed() {
    use hearsay_actor::TakeSnapshot;
    let dir = temp_dir("rejoin");
    let rarely = StateFile {
        every: Duration::from_secs(86_400),
        ..StateFile::new(dir.join("node-1.state"))
    };
    let often = StateFile {
        every: Duration::from_secs(1),
        ..rarely.clone()
    };
    run(async {
        let peer = start("state", 2, 1, keyring(15), vec![]).await;
        let mut changes = watch(&peer, "k").await;
        let config = with_state(net_config("state", vec![peer.local_addr()]), &rarely);
        let first = start_with_config(1, 1, keyring(15), config).await;
        set(&first, "kept", "before").await;
        set(&first, "k", "before").await;
        assert!(wait_for(&mut changes, 1, "k", "before", DEADLINE).await);
        // Node 1 holds node 2's address entry (anti-entropy brings it).
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let snapshot = first.node().send(TakeSnapshot).await.expect("answered");
            let holds = snapshot.origins.iter().any(|group| {
                group.origin == NodeId(2)
                    && group.deltas.iter().any(|d| d.key == hearsay_net::ADDR_KEY)
            });
            if holds {
                break;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "node 1 never learnt node 2's address"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        set(&first, "last", "words").await;
        assert!(!rarely.path.exists(), "no save before the shutdown");
        assert!(
            first.shutdown_and_flush(DEADLINE).await,
            "saved and flushed"
        );
        assert!(holds_address(&rarely, 2));
        let first_addr = first.local_addr();
        let settings = protocol("state", 1, 1).config().clone();
        let node = rarely
            .load(NodeId(1), Generation(1), settings.clone(), 1)
            .expect("loads");
        assert_eq!(node.generation(), Generation(2));
        assert_eq!(node.get("kept"), Some(&Value::from("before")));
        assert_eq!(node.get("last"), Some(&Value::from("words")));
        let config = with_state(net_config("state", vec![]), &often);
        let second = NetNode::start(node, config, keyring(15))
            .await
            .expect("starts");
        assert_ne!(second.local_addr(), first_addr);
        set(&second, "k", "after").await;
        assert!(
            wait_for(&mut changes, 1, "k", "after", DEADLINE).await,
            "node 2 never heard from the restored node"
        );
        let held = peer.node().send(Inspect).await.expect("answered");
        let origin = held.store.origin(NodeId(1)).expect("node 1 known");
        assert_eq!(origin.generation(), Generation(2));
        // The periodic save (none asked for) comes to hold the write after the restart.
        let saved_after = || {
            std::fs::read(&often.path)
                .ok()
                .and_then(|bytes| Snapshot::decode(&bytes).ok())
                .is_some_and(|snapshot| {
                    snapshot.generation == Generation(2)
                        && snapshot.origins.iter().any(|group| {
                            group.origin == NodeId(1)
                                && group
                                    .deltas
                                    .iter()
                                    .any(|d| d.key == "k" && d.value == Some(Value::from("after")))
                        })
                })
        };
        let until = tokio::time::Instant::now() + DEADLINE;
        while !saved_after() {
            assert!(
                tokio::time::Instant::now() < until,
                "no periodic save of the restored node"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // An explicit save, then the next start runs generation 3.
        second.save_state().await.expect("saved");
        let third = often
            .load(NodeId(1), Generation(1), settings, 1)
            .expect("loads");
        assert_eq!(third.generation(), Generation(3));
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// No file: a new node at the generation asked for. A file that is not a state, is cut short,
/// or is another node's: an [`Error::State`] naming it, and nothing started over it.
#[test]
fn a_state_file_that_cannot_be_restored_is_refused() {
    let dir = temp_dir("refused");
    let state = StateFile::new(dir.join("node.state"));
    let protocol = || protocol("state", 1, 1).config().clone();
    let node = state
        .load(NodeId(1), Generation(4), protocol(), 1)
        .expect("no file: a new node");
    assert_eq!(node.generation(), Generation(4));
    assert!(node.store().is_empty());
    let refused = |state: &StateFile, id: u64, what: &str| match state.load(
        NodeId(id),
        Generation(9),
        protocol(),
        1,
    ) {
        Err(Error::State { path, reason }) => {
            assert_eq!(path, state.path);
            assert!(reason.contains(what), "{reason}");
            assert_eq!(
                Error::State {
                    path,
                    reason: reason.clone()
                }
                .kind(),
                hearsay_proto::ErrorKind::Config
            );
        }
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("a node started over a bad state file"),
    };
    std::fs::write(&state.path, b"not a snapshot").expect("written");
    refused(&state, 1, "invalid snapshot");
    let mut saved = protocol_node();
    saved
        .set(std::time::Instant::now(), "k", Value::from("v"))
        .expect("fits");
    let bytes = saved.snapshot().encode().expect("encodes");
    std::fs::write(&state.path, &bytes[..bytes.len() - 1]).expect("written");
    refused(&state, 1, "invalid snapshot");
    state.save(&saved.snapshot()).expect("saved");
    refused(&state, 3, "n1's state, not n3's");
    assert!(
        !dir.join("node.state.tmp").exists(),
        "the save renamed its file"
    );
    let node = state
        .load(NodeId(1), Generation(9), protocol(), 1)
        .expect("loads");
    assert_eq!(node.get("k"), Some(&Value::from("v")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Node 1 of cluster "state" at generation 1.
fn protocol_node() -> hearsay_proto::Node {
    protocol("state", 1, 1)
}

/// A state file saved more often than once a second, or never, is refused at start.
#[test]
fn state_file_settings_are_checked() {
    for every in [
        Duration::ZERO,
        Duration::from_millis(999),
        Duration::from_secs(86_401),
    ] {
        let config = NetConfig {
            state: Some(StateFile {
                every,
                ..StateFile::new("x.state")
            }),
            ..NetConfig::new("state", loopback())
        };
        assert!(matches!(config.validate(), Err(Error::Config(m)) if m.contains("state.every")));
    }
    let config = NetConfig {
        state: Some(StateFile::new("")),
        ..NetConfig::new("state", loopback())
    };
    assert!(config.validate().is_err());
}
