//! The recorder's model against the nodes' real state (read with `Inspect`) where entries leave a
//! store without being overwritten: collected tombstones, removed members, and a node that
//! refutes another incarnation of its id (moves its own generation up by itself).

use hearsay_actor::{Held, NodeSnapshot, RecorderHandle, Simulation, SimulationConfig, simulate};
use hearsay_proto::{
    Body, Change, Config, Entry, Generation, MemberStatus, MembershipConfig, Message, Mode, NodeId,
    OriginDelta, PROTOCOL_VERSION, Value, Version, Via,
};
use std::time::Duration;

const MINUTE: Duration = Duration::from_secs(60);

fn config(nodes: usize, seed: u64, protocol: Config) -> SimulationConfig {
    SimulationConfig {
        nodes,
        seed,
        protocol,
        ..SimulationConfig::default()
    }
}

/// What a node's store really holds: per `(origin, key)`, the generation and version.
fn real(snapshot: &NodeSnapshot) -> Held {
    snapshot
        .store
        .origins()
        .flat_map(|(origin, state)| {
            state.entries().map(move |(key, entry)| {
                (
                    (origin, key.to_owned()),
                    (state.generation(), entry.version),
                )
            })
        })
        .collect()
}

/// Checks the recorder's model of every live node against its real state, its convergence
/// against the real one, and its incremental stale count against a recount.
async fn assert_model_matches_state(sim: &Simulation) {
    let snapshots = sim.inspect_all().await.expect("nodes answer");
    let live: Vec<&NodeSnapshot> = snapshots.iter().filter(|s| !s.down).collect();
    let recorder = sim.recorder();
    for snapshot in &live {
        let recorded = recorder.held(snapshot.id).unwrap_or_default();
        assert_eq!(
            recorded,
            real(snapshot),
            "the recorder's model of node {} drifted from its store",
            snapshot.id
        );
    }
    let converged = live.windows(2).all(|w| real(w[0]) == real(w[1]));
    assert_eq!(recorder.converged(), converged);
    assert_eq!(recorder.stale_now(), recorder.stale_recount());
}

fn no_tombstones(snapshot: &NodeSnapshot) -> bool {
    snapshot
        .store
        .origins()
        .all(|(_, state)| state.entries().all(|(_, e)| !e.is_tombstone()))
}

#[test]
fn collected_tombstones_leave_the_model_too() {
    let protocol = Config {
        tombstone_grace: Some(Duration::from_secs(2)),
        mode: Mode::AntiEntropy,
        ..Config::default()
    };
    simulate(|| async {
        let sim = Simulation::start(config(12, 5, protocol)).expect("starts");
        for i in 0..4 {
            sim.set(i, &format!("a{i}"), Value::from("kept"))
                .await
                .expect("fits");
            sim.set(i, &format!("b{i}"), Value::from("deleted"))
                .await
                .expect("fits");
            sim.delete(i, &format!("b{i}")).await.expect("fits");
        }
        // A delete of a key never written, and a key deleted then written again.
        sim.delete(5, "never").await.expect("fits");
        sim.set(6, "again", Value::from("1")).await.expect("fits");
        sim.delete(6, "again").await.expect("fits");

        // Every tombstone collected everywhere, every store the same.
        let took = sim
            .run_until_state(MINUTE, |nodes| {
                nodes.iter().all(no_tombstones)
                    && nodes
                        .windows(2)
                        .all(|w| w[0].store.same_entries(&w[1].store))
                    && nodes.iter().all(|n| {
                        [0, 1, 2, 3, 5, 6].iter().all(|&o| {
                            n.store
                                .origin(NodeId(o))
                                .is_some_and(|s| s.horizon() > Version::ZERO)
                        })
                    })
            })
            .await
            .expect("nodes answer");
        assert!(took.is_some(), "the tombstones were not all collected");
        assert_model_matches_state(&sim).await;
        {
            let recorder = sim.recorder();
            assert!(recorder.converged());
            // A collected delete is the newest state of its key: holding nothing is up to date.
            assert!(
                recorder.all_hold_latest(),
                "stale: {}",
                recorder.stale_now()
            );
        }

        // A key written again after its tombstone was collected is news again.
        sim.set(6, "again", Value::from("2")).await.expect("fits");
        assert_eq!(sim.recorder().stale_now(), 11);
        let took = sim
            .run_until(MINUTE, |r| r.all_hold_latest() && r.converged())
            .await;
        assert!(took.is_some());
        assert_model_matches_state(&sim).await;
    })
    .expect("runtime");
}

#[test]
fn a_removed_member_leaves_the_model_too() {
    let protocol = Config {
        mode: Mode::AntiEntropy,
        membership: Some(MembershipConfig {
            removal_after: Duration::from_secs(20),
            ..MembershipConfig::default()
        }),
        ..Config::default()
    };
    simulate(|| async {
        let sim = Simulation::start(config(10, 9, protocol)).expect("starts");
        for i in 0..4 {
            sim.set(i, &format!("k{i}"), Value::from("v"))
                .await
                .expect("fits");
        }
        sim.delete(2, "gone").await.expect("fits");
        let took = sim
            .run_until(MINUTE, |r| r.all_hold_latest() && r.converged())
            .await;
        assert!(took.is_some());
        assert_model_matches_state(&sim).await;

        sim.crash(2).await.expect("crashes");
        let crashed = NodeId(2);
        let took = sim
            .run_until_state(10 * MINUTE, |nodes| {
                nodes.iter().filter(|n| !n.down).all(|n| {
                    n.store.origin(crashed).is_none_or(|s| s.is_empty())
                        && n.members
                            .iter()
                            .any(|m| m.id == crashed && m.status == MemberStatus::Removed)
                })
            })
            .await
            .expect("nodes answer");
        assert!(took.is_some(), "the crashed node was not removed");
        assert_model_matches_state(&sim).await;
        let recorder = sim.recorder();
        assert!(recorder.converged());
        // The removed member's writes are nobody's to hold any more.
        assert!(
            recorder.all_hold_latest(),
            "stale: {}",
            recorder.stale_now()
        );
        assert!(
            recorder
                .held(NodeId(0))
                .is_some_and(|held| held.keys().all(|(origin, _)| *origin != crashed))
        );
    })
    .expect("runtime");
}

#[test]
fn a_refutation_moves_the_model_to_the_new_generation() {
    let protocol = Config {
        mode: Mode::AntiEntropy,
        ..Config::default()
    };
    let cluster = protocol.cluster;
    simulate(|| async {
        let sim = Simulation::start(config(8, 3, protocol)).expect("starts");
        sim.set(3, "x", Value::from("v")).await.expect("fits");
        sim.set(3, "y", Value::from("v")).await.expect("fits");
        sim.delete(3, "y").await.expect("fits");
        let took = sim
            .run_until(MINUTE, |r| r.all_hold_latest() && r.converged())
            .await;
        assert!(took.is_some());

        // Another incarnation of node 3, at generation 5, as a peer tells it.
        let zombie = Message {
            version: PROTOCOL_VERSION,
            cluster,
            from: NodeId(0),
            body: Body::Ack {
                deltas: vec![OriginDelta {
                    origin: NodeId(3),
                    generation: Generation(5),
                    heartbeat: 1,
                    from: Version::ZERO,
                    to: Version::ZERO,
                    deltas: Vec::new(),
                }],
            },
        }
        .encode()
        .expect("encodes");
        sim.inject(3, zombie).expect("node 3 exists");
        let snapshot = sim.inspect(3).await.expect("answers");
        assert_eq!(snapshot.stats.refutations, 1);
        assert_eq!(snapshot.generation, Generation(6));
        assert_model_matches_state(&sim).await;

        let took = sim
            .run_until(MINUTE, |r| r.all_hold_latest() && r.converged())
            .await;
        assert!(took.is_some());
        assert_model_matches_state(&sim).await;
        let held = sim.recorder().held(NodeId(5)).expect("registered");
        assert_eq!(
            held.get(&(NodeId(3), "x".to_owned())).map(|s| s.0),
            Some(Generation(6))
        );
        // The delete is carried too, at its version (session 31; before, it was dropped).
        assert_eq!(
            held.get(&(NodeId(3), "y".to_owned())).map(|s| s.0),
            Some(Generation(6))
        );
        let entries = sim.entries(5).await.expect("running");
        let y = entries
            .iter()
            .find(|e| e.origin == NodeId(3) && e.key == "y");
        assert!(y.is_some_and(|e| e.value.is_none()), "{y:?}");
    })
    .expect("runtime");
}

fn traced_run(seed: u64) -> String {
    let protocol = Config {
        mode: Mode::AntiEntropy,
        tombstone_grace: Some(Duration::from_secs(2)),
        membership: Some(MembershipConfig {
            removal_after: Duration::from_secs(20),
            ..MembershipConfig::default()
        }),
        ..Config::default()
    };
    simulate(|| async {
        let mut cfg = config(8, seed, protocol);
        cfg.trace = true;
        let sim = Simulation::start(cfg).expect("starts");
        for i in 0..4 {
            sim.set(i, &format!("k{i}"), Value::from("v"))
                .await
                .expect("fits");
            sim.delete(i, &format!("k{i}")).await.expect("fits");
        }
        sim.run_for(Duration::from_secs(10)).await;
        sim.crash(1).await.expect("crashes");
        sim.run_for(2 * MINUTE).await;
        sim.recorder().trace().unwrap_or_default().to_owned()
    })
    .expect("runtime")
}

#[test]
fn writes_purges_and_removals_are_traced_deterministically() {
    let first = traced_run(4);
    assert_eq!(first, traced_run(4), "same seed, different traces");
    for kind in [" write n0 ", " purge ", " remove "] {
        assert!(first.contains(kind), "no {kind:?} line in the trace");
    }
    // A delete is traced with its key, generation and version, as a tombstone.
    assert!(
        first
            .lines()
            .any(|l| l.contains(" write n2 1 \"k2\" ") && l.ends_with(" tombstone")),
        "no trace line for the delete at node 2"
    );
}

fn change(origin: u64, key: &str, version: u64, value: Option<&str>) -> Change {
    Change {
        origin: NodeId(origin),
        generation: Generation(1),
        key: key.to_owned(),
        entry: Entry {
            version: Version(version),
            value: value.map(Value::from),
        },
        previous: None,
    }
}

#[test]
fn stale_counts_follow_collection_and_removal() {
    let now = tokio::time::Instant::now();
    let handle = RecorderHandle::new(now, Duration::from_secs(1), false);
    let mut r = handle.lock();
    for n in 0..3 {
        r.add_node(NodeId(n));
    }
    let (n0, n1, n2) = (NodeId(0), NodeId(1), NodeId(2));
    r.changed(now, n0, &change(0, "k", 1, Some("v")), Via::Local);
    r.changed(now, n1, &change(0, "k", 1, Some("v")), Via::AntiEntropy(n0));
    r.changed(now, n0, &change(0, "k", 2, None), Via::Local);
    // Node 1 holds the deleted value, node 2 nothing: both stale.
    assert_eq!((r.stale_now(), r.stale_recount()), (2, 2));

    // The origin collects its tombstone: holding nothing is now up to date, an old value is not.
    r.purged(now, n0, n0, Generation(1), "k", Version(2));
    assert_eq!((r.stale_now(), r.stale_recount()), (1, 1));
    r.purged(now, n1, n0, Generation(1), "k", Version(1));
    assert_eq!((r.stale_now(), r.stale_recount()), (0, 0));
    assert!(r.converged());

    // A crash and a restart keep the counts right for keys held by nobody.
    r.crashed(now, n2);
    assert_eq!((r.stale_now(), r.stale_recount()), (0, 0));
    r.restarted(now, n2, Generation(2), false);
    assert_eq!((r.stale_now(), r.stale_recount()), (0, 0));

    // Node 1 writes; node 2 learns it, then removes node 1 (as a member Removed).
    r.changed(now, n1, &change(1, "m", 1, Some("v")), Via::Local);
    r.changed(now, n2, &change(1, "m", 1, Some("v")), Via::Rumor(n1));
    assert_eq!((r.stale_now(), r.stale_recount()), (1, 1));
    r.removed(now, n2, n1, Generation(1));
    assert_eq!(r.held(n2).map(|h| h.len()), Some(0));
    assert_eq!((r.stale_now(), r.stale_recount()), (0, 0));
    assert!(!r.converged());
}

/// The oldest staleness of a live node, through two writes, thousands of nodes catching up (the
/// recorder sweeps the mappings it no longer holds when they outnumber the others), a crash and a
/// resumption: each answer is the one worked out from what each node holds.
#[test]
fn the_oldest_staleness_survives_catching_up_and_sweeps() {
    const NODES: u64 = 6_000;
    let start = tokio::time::Instant::now();
    let at = |secs: u64| start + Duration::from_secs(secs);
    let handle = RecorderHandle::new(start, Duration::from_secs(1), false);
    let mut r = handle.lock();
    for n in 0..NODES {
        r.add_node(NodeId(n));
    }
    let (first, second) = (change(0, "k", 1, Some("a")), change(0, "k", 2, Some("b")));
    r.changed(at(1), NodeId(0), &first, Via::Local);
    assert_eq!(r.max_staleness(at(2)), Duration::from_secs(1));
    // All but the last ten learn the first write at 3 s: only those ten are stale since 1 s.
    for n in 1..NODES - 10 {
        r.changed(at(3), NodeId(n), &first, Via::AntiEntropy(NodeId(0)));
    }
    assert_eq!(r.max_staleness(at(4)), Duration::from_secs(3));
    // The second write at 5 s: the ten still miss the first (since 1 s), the others since 5 s.
    r.changed(at(5), NodeId(0), &second, Via::Local);
    for n in NODES - 10..NODES {
        r.changed(at(6), NodeId(n), &first, Via::AntiEntropy(NodeId(0)));
    }
    // Now all miss only the second: since 5 s.
    assert_eq!(r.max_staleness(at(7)), Duration::from_secs(2));
    for n in 1..NODES - 1 {
        r.changed(at(8), NodeId(n), &second, Via::AntiEntropy(NodeId(0)));
    }
    let last = NodeId(NODES - 1);
    assert_eq!(r.max_staleness(at(9)), Duration::from_secs(4));
    r.crashed(at(9), last);
    assert_eq!(
        r.max_staleness(at(9)),
        Duration::ZERO,
        "no live node is stale"
    );
    r.resumed(at(10), last);
    assert_eq!(r.max_staleness(at(10)), Duration::from_secs(5));
    r.changed(at(11), last, &second, Via::AntiEntropy(NodeId(0)));
    assert_eq!(r.max_staleness(at(12)), Duration::ZERO);
    assert_eq!(r.stale_now(), r.stale_recount());
}
