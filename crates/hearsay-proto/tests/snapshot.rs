//! A node saved as a `Snapshot` and restored in a new process comes back as a new incarnation
//! holding what the old one held — the same as a restart that keeps its state — supersedes the
//! old one everywhere, knows its members without a seed, and bytes that are not a snapshot are
//! refused with an error.

use hearsay_proto::{
    Config, Error, Generation, Lockstep, MemberStatus, Mode, Node, NodeId, Snapshot, Value,
};
use std::time::Instant;

const RESTORED: usize = 3;

/// 10 converged nodes; node 3 also wrote `kept` and deleted `gone`.
fn cluster(config: &Config, start: Instant) -> Lockstep {
    let mut cluster = Lockstep::new(10, config.clone(), 9, start).expect("valid config");
    for i in 0..10 {
        let node = cluster.node_mut(i).expect("node");
        node.set(start, "owner", Value::from(format!("n{i}")))
            .expect("fits");
    }
    let node = cluster.node_mut(RESTORED).expect("node");
    node.set(start, "kept", Value::from("still here"))
        .expect("fits");
    node.set(start, "gone", Value::from("deleted"))
        .expect("fits");
    node.delete(start, "gone").expect("fits");
    assert!(cluster.run_until(300, |c| c.converged()).is_some());
    cluster
}

fn node(cluster: &mut Lockstep, i: usize) -> &mut Node {
    cluster.node_mut(i).expect("node")
}

/// Two identical clusters (same seed, same inputs): in one, node 3 restarts keeping its state;
/// in the other, it is replaced by a node restored from the bytes of its snapshot. The restored
/// node holds exactly what the restarted one does, and each cluster converges on node 3's new
/// generation with its live entries and without its deleted one.
#[test]
fn a_restored_node_is_the_old_one_restarted_with_its_state() {
    for mode in [Mode::AntiEntropy, Mode::default()] {
        let config = Config {
            mode,
            ..Config::default()
        };
        let start = Instant::now();
        let mut restarted = cluster(&config, start);
        let mut restored = cluster(&config, start);
        let now = restarted.now();
        node(&mut restarted, RESTORED)
            .restart(now, Generation(2), true)
            .expect("a higher generation");
        let bytes = node(&mut restored, RESTORED)
            .snapshot()
            .encode()
            .expect("encodes");
        let snapshot = Snapshot::decode(&bytes).expect("decodes");
        let mut back =
            Node::restore(snapshot, Generation(2), config.clone(), 77, now).expect("restores");
        assert_eq!(back.generation(), Generation(2));
        assert!(
            back.store()
                .same_entries(restarted.nodes()[RESTORED].store()),
            "{mode:?}: the restored node holds what the restarted one does"
        );
        assert!(back.poll_event().is_none(), "no event pending");
        assert_eq!(back.stats().deltas_applied, 0, "fresh counters");
        *node(&mut restored, RESTORED) = back;
        for cluster in [&mut restarted, &mut restored] {
            assert!(cluster.run_until(300, |c| c.converged()).is_some());
            for node in cluster.nodes() {
                let origin = node.store().origin(NodeId(3)).expect("known origin");
                assert_eq!(origin.generation(), Generation(2), "{mode:?}");
                assert_eq!(
                    node.get_from(NodeId(3), "kept"),
                    Some(&Value::from("still here"))
                );
                assert_eq!(node.get_from(NodeId(3), "owner"), Some(&Value::from("n3")));
                assert_eq!(node.get_from(NodeId(3), "gone"), None);
                assert_eq!(node.get_from(NodeId(8), "owner"), Some(&Value::from("n8")));
            }
        }
    }
}

/// With membership on, a restored node knows every member its snapshot held — they are its
/// gossip peers with no seed given — and the others take its new incarnation Up.
#[test]
fn a_restored_member_knows_its_peers_without_a_seed() {
    let config = Config::lan();
    let start = Instant::now();
    let mut cluster = cluster(&config, start);
    let now = cluster.now();
    let snapshot = node(&mut cluster, RESTORED).snapshot();
    let back = Node::restore(snapshot, Generation(5), config, 77, now).expect("restores");
    for other in (0..10).filter(|i| *i != RESTORED as u64) {
        assert!(
            back.peers().contains(NodeId(other)),
            "node {other} is a gossip peer"
        );
        assert!(matches!(
            back.member_status(NodeId(other)),
            Some(MemberStatus::Joining | MemberStatus::Up)
        ));
    }
    *node(&mut cluster, RESTORED) = back;
    let settled = cluster.run_until(300, |c| {
        c.converged()
            && c.nodes().iter().all(|n| {
                n.members().iter().any(|m| {
                    m.id == NodeId(3)
                        && m.generation == Generation(5)
                        && m.status == MemberStatus::Up
                })
            })
    });
    assert!(settled.is_some(), "the new incarnation is Up everywhere");
}

/// Saved bytes are untrusted: every truncation, trailing bytes, another format, a declared
/// length beyond the bytes and a snapshot that contradicts itself are errors, never panics; a
/// generation not above the snapshot's is refused as a restart's is.
#[test]
fn bytes_that_are_not_a_snapshot_are_refused() {
    let config = Config::default();
    let start = Instant::now();
    let mut cluster = cluster(&config, start);
    let snapshot = node(&mut cluster, RESTORED).snapshot();
    let bytes = snapshot.encode().expect("encodes");
    assert_eq!(Snapshot::decode(&bytes), Ok(snapshot.clone()));
    for cut in 0..bytes.len() {
        assert!(
            matches!(
                Snapshot::decode(&bytes[..cut]),
                Err(Error::InvalidSnapshot(_))
            ),
            "{cut} bytes"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Snapshot::decode(&longer),
        Err(Error::InvalidSnapshot(m)) if m.contains("1 bytes after")
    ));
    let other_format = rmp_serde::to_vec(&(3u32, &snapshot)).expect("encodes");
    assert!(matches!(
        Snapshot::decode(&other_format),
        Err(Error::InvalidSnapshot(m)) if m.contains("format 3")
    ));
    // An array of 4 G elements in five bytes.
    assert!(Snapshot::decode(&[0xdd, 0xff, 0xff, 0xff, 0xff]).is_err());
    let now = cluster.now();
    let mut forged = snapshot.clone();
    forged.generation = Generation(7);
    assert!(matches!(
        Node::restore(forged, Generation(8), config.clone(), 1, now),
        Err(Error::InvalidSnapshot(m)) if m.contains("generation 1")
    ));
    assert_eq!(
        Node::restore(snapshot, Generation(1), config, 1, now).err(),
        Some(Error::StaleGeneration {
            current: Generation(1),
            requested: Generation(1)
        })
    );
}

/// A member held Down is on its way out: the snapshot leaves its state out, so the next process
/// does not take it for a member just heard of and spread its state again.
#[test]
fn a_member_held_down_is_left_out_of_the_snapshot() {
    let config = Config::lan();
    let start = Instant::now();
    let mut cluster = cluster(&config, start);
    cluster.crash(7);
    let down = cluster.run_until(300, |c| {
        c.nodes()[RESTORED].member_status(NodeId(7)) == Some(MemberStatus::Down)
    });
    assert!(down.is_some(), "node 3 holds node 7 Down");
    let node = &cluster.nodes()[RESTORED];
    assert!(node.store().origin(NodeId(7)).is_some(), "still held");
    let snapshot = node.snapshot();
    assert!(snapshot.origins.iter().all(|g| g.origin != NodeId(7)));
    assert!(snapshot.origins.iter().any(|g| g.origin == NodeId(8)));
    assert!(snapshot.members.iter().all(|m| m.id != NodeId(7)));
    assert!(snapshot.members.iter().any(|m| m.id == NodeId(8)));
    let back = Node::restore(snapshot, Generation(2), config, 1, cluster.now()).expect("restores");
    assert_eq!(back.member_status(NodeId(7)), None);
    assert!(!back.peers().contains(NodeId(7)));
}

/// Under SWIM a member's address lives in the member table, not in the store: the snapshot
/// keeps the members with their addresses, and the restored node sends to each where it said it
/// is reached. Before session 30 the snapshot held the store alone, and a networked node
/// restored without a seed reached no one (a hostile user's report: every message unaddressed).
#[test]
fn a_restored_swim_member_knows_where_its_peers_are() {
    let config = Config::lan();
    let start = Instant::now();
    let mut cluster = Lockstep::new(10, config.clone(), 9, start).expect("valid config");
    let addr = |i: u64| format!("10.0.0.{i}:7000");
    for i in 0..10 {
        let node = cluster.node_mut(i).expect("node");
        node.advertise(start, &addr(i as u64)).expect("short");
    }
    let known = cluster.run_until(300, |c| {
        (c.nodes()[RESTORED].members().iter())
            .filter(|m| m.address.is_some())
            .count()
            == 10
    });
    assert!(known.is_some(), "node 3 learns every address");
    let snapshot = node(&mut cluster, RESTORED).snapshot();
    assert!(
        snapshot.origins.iter().all(|g| g
            .deltas
            .iter()
            .all(|d| { d.key != hearsay_proto::membership::ADDR_KEY })),
        "the addresses are not in the store"
    );
    assert_eq!(snapshot.members.len(), 9, "every member but itself");
    let bytes = snapshot.encode().expect("encodes");
    let snapshot = Snapshot::decode(&bytes).expect("decodes");
    let now = cluster.now();
    let back = Node::restore(snapshot, Generation(2), config, 77, now).expect("restores");
    for other in (0..10).filter(|i| *i != RESTORED as u64) {
        assert_eq!(
            back.address(NodeId(other)).as_deref(),
            Some(addr(other).as_str()),
            "node {other}"
        );
        assert_eq!(back.member_status(NodeId(other)), Some(MemberStatus::Up));
    }
}

/// A snapshot names its cluster: restoring it into another is refused (the node would gossip
/// one cluster's state into another). A format-1 snapshot (session 29's: no cluster, no
/// members) still reads, and restores.
#[test]
fn a_snapshot_of_another_cluster_is_refused_and_format_1_still_reads() {
    let config = Config::lan();
    let start = Instant::now();
    let mut cluster = cluster(&config, start);
    let now = cluster.now();
    let snapshot = node(&mut cluster, RESTORED).snapshot();
    assert_eq!(snapshot.cluster, Some(config.cluster));
    let elsewhere = Config {
        cluster: hearsay_proto::ClusterId::from_name("elsewhere"),
        ..config.clone()
    };
    assert!(matches!(
        Node::restore(snapshot.clone(), Generation(2), elsewhere, 1, now),
        Err(Error::InvalidSnapshot(m)) if m.contains("cluster")
    ));
    let format_1 =
        rmp_serde::to_vec(&(1u32, (snapshot.id, snapshot.generation, &snapshot.origins)))
            .expect("encodes");
    let old = Snapshot::decode(&format_1).expect("format 1 reads");
    assert_eq!(old.origins, snapshot.origins);
    assert_eq!((old.cluster, old.members.len()), (None, 0));
    let back = Node::restore(old, Generation(2), config, 1, now).expect("restores");
    assert_eq!(back.get("kept"), Some(&Value::from("still here")));
}
