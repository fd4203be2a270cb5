//! Plain tests pinning library bugs the properties once found: feedback for rumors sent back to
//! their origin, local writes after a hostile maximal version, precise digests and long keys.

#[allow(dead_code)]
mod common;

use common::*;

use hearsay_proto::reconcile::{self, DigestCursor};
use hearsay_proto::{
    Body, Bounds, Budget, Config, Delta, Digest, Direction, Error, Generation, Lockstep,
    LossOfInterest, Message, Mode, Node, NodeId, OriginDelta, PROTOCOL_VERSION, Store,
    Strategy as Reconciliation, Termination, Value, Version,
};
use std::time::Instant;

/// Regression test for a library bug found by these properties: with feedback termination and eager
/// sends only, a rumor that node 1 learned from its origin, node 0, is never counted when node 1
/// sends it back to node 0, because `Node::apply` skips groups of the node's own origin without
/// reporting them as already known, so node 0 never gives feedback on them (offers, by contrast,
/// are answered as known by their origin). A node whose sends keep going to the origins of its
/// rumors keeps them hot forever: always in a 2-node cluster (every direction), and in a 3-node
/// cluster with fanout 2 and one delta per message when nodes 0 and 2 each write once (push and
/// pull; node 1 sends node 0's rumor to node 0 and node 2's to node 2, round after round).
#[test]
fn rumors_sent_back_to_their_origin_get_feedback() {
    let now = Instant::now();
    let eager_feedback = Config {
        mode: Mode::Rumor,
        termination: Termination {
            feedback: true,
            rule: LossOfInterest::Counter(1),
        },
        eager_rumor_sends: u32::MAX,
        heartbeats: false,
        ..Config::default()
    };
    let mut stuck = Vec::new();
    for direction in Direction::ALL {
        let scenarios = [
            (
                2,
                Config {
                    direction,
                    ..eager_feedback.clone()
                },
                vec![0],
            ),
            (
                3,
                Config {
                    direction,
                    fanout: 2,
                    max_deltas: Some(1),
                    ..eager_feedback.clone()
                },
                vec![0, 2],
            ),
        ];
        for (n, config, writers) in scenarios {
            let mut cluster = Lockstep::new(n, config, 0, Instant::now()).expect("valid config");
            for writer in writers {
                cluster
                    .node_mut(writer)
                    .expect("writer exists")
                    .set(now, &format!("key of {writer}"), Value::from("v"))
                    .expect("fits");
            }
            let rounds =
                cluster.run_until(400, |c| c.nodes().iter().all(|n| n.rumors().is_empty()));
            if rounds.is_none() {
                let hot: Vec<usize> = cluster.nodes().iter().map(|n| n.rumors().len()).collect();
                stuck.push(format!(
                    "{n} nodes, {direction:?}: hot rumors per node {hot:?}"
                ));
            }
        }
    }
    assert!(stuck.is_empty(), "rumors never die out in: {stuck:#?}");
}

/// Regression test for a library bug found by these properties: a peer's delta with version
/// `u64::MAX` (for any origin, e.g. one corrupted byte) raises the receiver's Lamport clock to
/// `u64::MAX`, and its next local write computes `clock + 1` in `Store::write`: a panic
/// ("attempt to add with overflow") in debug builds; in release the write gets `Version(0)`, is
/// dropped as older than the value it should replace, and lowers the node's own watermark.
#[test]
fn a_local_write_after_a_maximal_version_is_newer() {
    let now = Instant::now();
    let mut node = Node::new(NodeId(1), Generation(1), Config::default(), 1).expect("valid config");
    let before = node.set(now, "k", Value::from("old")).expect("fits");
    let hostile = Message {
        version: PROTOCOL_VERSION,
        cluster: cluster_id(),
        from: NodeId(2),
        body: Body::Ack {
            deltas: vec![OriginDelta {
                origin: NodeId(2),
                generation: Generation(1),
                heartbeat: 0,
                from: Version::ZERO,
                to: Version::ZERO,
                deltas: vec![Delta {
                    key: "x".into(),
                    version: Version(u64::MAX),
                    value: None,
                }],
            }],
        },
    };
    let bytes = hostile.encode().expect("encodes");
    node.handle_datagram(Instant::now(), &bytes)
        .expect("a well-formed message is accepted");
    let after = node.set(now, "k", Value::from("new")).expect("fits");
    assert!(
        after > before,
        "the write got {after:?}, not above {before:?}"
    );
    assert_eq!(node.get("k"), Some(&Value::from("new")));
}

/// Regression test for a library bug found by these properties: a precise digest whose first item
/// does not fit in the budget. `Node::set` admits a key as long as the entry fits in one
/// message, but a precise digest item costs about twice the key (the item, and the range's end
/// just after it), so at the default MTU of 1400 keys of about 670 to 1300 bytes pass
/// `check_fits` yet never fit in a digest. `precise::digest` then returns `range: [None, None)`
/// with no origins (claiming the whole space and naming nothing) and leaves the cursor where it
/// was, so every later digest is the same: the node never describes anything it holds, and with
/// oldest- or newest-first selection the peer answers with the same deltas every round. Here a
/// 2-node cluster never converges in any direction.
#[test]
fn precise_reconciliation_copes_with_long_keys() {
    let now = Instant::now();
    let mut store = Store::default();
    store
        .write(
            NodeId(0),
            Generation(1),
            &"a".repeat(80),
            Some(Value::from("x")),
        )
        .expect("versions left");
    let mut budget = Budget::new(150, usize::MAX);
    let digest = reconcile::digest(
        &store,
        Reconciliation::PreciseOldest,
        &mut DigestCursor::default(),
        &mut budget,
    );
    let claims_all_names_nothing = matches!(
        &digest,
        Digest::Precise { range: Some(Bounds { from: None, to: None }), origins } if origins.is_empty()
    );

    // Keys that could not fit a precise digest are refused at the write; the longest accepted
    // ones still converge under every precise order and direction.
    let probe = Node::new(NodeId(0), Generation(1), Config::default(), 1).expect("valid config");
    let mut refused = probe;
    let too_long = refused.set(now, &"a".repeat(680), Value::from("x"));
    let refused_long_key = matches!(too_long, Err(Error::EntryTooLarge { .. }));
    let longest = (1..1400)
        .rev()
        .find(|len| {
            refused
                .set(now, &"k".repeat(*len), Value::from("x"))
                .is_ok()
        })
        .expect("some key length fits");
    let mut stuck = Vec::new();
    for strategy in [Reconciliation::PreciseOldest, Reconciliation::PreciseNewest] {
        for direction in Direction::ALL {
            let config = Config {
                strategy,
                direction,
                mode: Mode::AntiEntropy,
                ..Config::default()
            };
            let mut cluster = Lockstep::new(2, config, 1, Instant::now()).expect("valid config");
            let node = cluster.node_mut(0).expect("node 0");
            node.set(now, &"a".repeat(longest), Value::from("x"))
                .expect("the longest accepted key fits");
            let node = cluster.node_mut(1).expect("node 1");
            for k in 0..4 {
                node.set(now, &format!("b{k}"), Value::from("y".repeat(466)))
                    .expect("fits");
            }
            if cluster.run_until(400, Lockstep::converged).is_none() {
                stuck.push(format!("{strategy:?} {direction:?}"));
            }
        }
    }
    assert!(
        !claims_all_names_nothing && refused_long_key && stuck.is_empty(),
        "a digest of one long-keyed entry: {digest:?}; 680-byte key refused: {refused_long_key}; \
         never converge: {stuck:?}"
    );
}
