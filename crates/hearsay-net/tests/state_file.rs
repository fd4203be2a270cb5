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
        after_write: None,
        ..StateFile::new(dir.join("node-1.state"))
    };
    let often = StateFile {
        every: Duration::from_secs(1),
        after_write: None,
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
            first.shutdown_and_flush(DEADLINE).await.clean(),
            "saved and flushed"
        );
        assert!(holds_address(&rarely, 2));
        let first_addr = first.local_addr();
        // The process ends: its state file's lock goes with it.
        drop(first);
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

/// A state file that is not a regular file (a directory, a device) is refused before it is
/// read; one reached through a symbolic link is saved through it: the link stays and the file
/// it points to holds the state (a volume mounted elsewhere, linked into place).
#[test]
fn a_state_file_is_a_regular_file_and_saved_through_a_link() {
    let dir = temp_dir("kinds");
    let protocol = || protocol("state", 1, 1).config().clone();
    let directory = StateFile::new(&dir);
    match directory.load(NodeId(1), Generation(1), protocol(), 1) {
        Err(Error::State { reason, .. }) => assert!(reason.contains("not a regular file")),
        other => panic!("{:?}", other.map(|n| n.generation())),
    }
    #[cfg(unix)]
    {
        let device = StateFile::new("/dev/zero");
        match device.saved() {
            Err(Error::State { reason, .. }) => assert!(reason.contains("not a regular file")),
            other => panic!("{other:?}"),
        }
        let real = dir.join("real.state");
        let link = dir.join("link.state");
        std::fs::write(&real, b"").expect("written");
        std::os::unix::fs::symlink(&real, &link).expect("linked");
        let state = StateFile::new(&link);
        let mut saved = protocol_node();
        saved
            .set(std::time::Instant::now(), "k", Value::from("v"))
            .expect("fits");
        state.save(&saved.snapshot()).expect("saved");
        let kind = std::fs::symlink_metadata(&link)
            .expect("exists")
            .file_type();
        assert!(kind.is_symlink(), "the link is still a link");
        let node = StateFile::new(&real)
            .load(NodeId(1), Generation(2), protocol(), 1)
            .expect("the target holds the state");
        assert_eq!(node.get("k"), Some(&Value::from("v")));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two processes running as one saved node erase each other's entries everywhere (the newer
/// generation wins): a node takes its state file's lock at start, and a second node given the
/// same file does not start — until the first is gone.
#[test]
fn a_state_file_runs_one_node_at_a_time() {
    let dir = temp_dir("lock");
    let state = StateFile::new(dir.join("node-1.state"));
    run(async {
        let config = || with_state(net_config("state", vec![]), &state);
        let first = start_with_config(1, 1, keyring(17), config()).await;
        match NetNode::start(protocol("state", 1, 2), config(), keyring(17)).await {
            Err(Error::State { path, reason }) => {
                assert_eq!(path, state.path);
                assert!(reason.contains("in use"), "{reason}");
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("two nodes run from one state file"),
        }
        drop(first);
        let second = NetNode::start(protocol("state", 1, 2), config(), keyring(17))
            .await
            .expect("the first is gone");
        drop(second);
        // A process that reads the file takes the lock first, and starts with it.
        let lock = state.lock().expect("free again");
        assert!(matches!(state.lock(), Err(Error::State { .. })), "held");
        let other = StateFile::new(dir.join("other.state"));
        let refused = NetNode::start_locked(
            protocol("state", 1, 3),
            with_state(net_config("state", vec![]), &other),
            keyring(17),
            lock,
        )
        .await;
        assert!(matches!(refused, Err(Error::Config(m)) if m.contains("not of NetConfig::state")));
        let lock = state.lock().expect("released with the refusal");
        let node = state
            .load(
                NodeId(1),
                Generation(3),
                protocol("state", 1, 3).config().clone(),
                1,
            )
            .expect("loads");
        let third = NetNode::start_locked(node, config(), keyring(17), lock)
            .await
            .expect("starts with its lock");
        assert!(
            matches!(state.lock(), Err(Error::State { .. })),
            "held by the node"
        );
        drop(third);
    });
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
    for after_write in [
        Duration::ZERO,
        Duration::from_millis(9),
        Duration::from_secs(31),
    ] {
        let config = NetConfig {
            state: Some(StateFile {
                after_write: Some(after_write),
                ..StateFile::new("x.state")
            }),
            ..NetConfig::new("state", loopback())
        };
        assert!(
            matches!(config.validate(), Err(Error::Config(m)) if m.contains("state.after_write"))
        );
    }
}

/// What a node saved holds its own write.
fn holds_own(state: &StateFile, key: &str, value: &str) -> bool {
    std::fs::read(&state.path)
        .ok()
        .and_then(|bytes| Snapshot::decode(&bytes).ok())
        .is_some_and(|snapshot| {
            (snapshot.origins.first()).is_some_and(|own| {
                own.origin == snapshot.id
                    && (own.deltas.iter())
                        .any(|d| d.key == key && d.value == Some(Value::from(value)))
            })
        })
}

/// A restored node comes back as a new generation, which replaces the old one everywhere — the
/// copies its peers held of its entries included — so its own writes are saved soon after they
/// are made (`StateFile::after_write`, 1 s by default), not at the next periodic save: node 1,
/// whose period is a day, writes, its peer takes the write, and node 1's process dies without
/// a shutdown. Started again from its file, it still has the write, and the peer holds it under
/// the new generation. Before session 30 the write was erased from both (a hostile user's
/// report: an acknowledged write lost cluster-wide).
#[test]
fn an_own_write_is_saved_within_a_second_and_outlives_a_crash() {
    let dir = temp_dir("after-write");
    let state = StateFile {
        every: Duration::from_secs(86_400),
        ..StateFile::new(dir.join("node-1.state"))
    };
    run(async {
        let peer = start("state", 2, 1, keyring(16), vec![]).await;
        let mut changes = watch(&peer, "important").await;
        let config = with_state(net_config("state", vec![peer.local_addr()]), &state);
        let first = start_with_config(1, 1, keyring(16), config).await;
        set(&first, "important", "42").await;
        assert!(wait_for(&mut changes, 1, "important", "42", DEADLINE).await);
        let until = tokio::time::Instant::now() + DEADLINE;
        while !holds_own(&state, "important", "42") {
            assert!(
                tokio::time::Instant::now() < until,
                "the write was never saved"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The process dies: no leave, no shutdown, no last save. The next one takes the lock
        // once the old one lets go of it (a save may be finishing), then reads the file.
        first.shutdown();
        drop(first);
        let until = tokio::time::Instant::now() + DEADLINE;
        let lock = loop {
            match state.lock() {
                Ok(lock) => break lock,
                Err(error) => assert!(tokio::time::Instant::now() < until, "{error}"),
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let settings = protocol("state", 1, 1).config().clone();
        let node = state
            .load(NodeId(1), Generation(1), settings, 1)
            .expect("loads");
        assert_eq!(node.get("important"), Some(&Value::from("42")));
        let config = with_state(net_config("state", vec![peer.local_addr()]), &state);
        let second = NetNode::start_locked(node, config, keyring(16), lock)
            .await
            .expect("starts");
        set(&second, "after", "restart").await;
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let held = peer.node().send(Inspect).await.expect("answered");
            let origin = held.store.origin(NodeId(1)).expect("node 1 known");
            if origin.generation() == Generation(2) && origin.get("after").is_some() {
                assert_eq!(
                    origin.get("important").and_then(|e| e.value.clone()),
                    Some(Value::from("42")),
                    "the write outlived the crash"
                );
                break;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "node 2 never took generation 2"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(second);
    });
    let _ = std::fs::remove_dir_all(&dir);
}
