//! Minimal regressions of the divergence classes the randomized fault search found
//! (`hearsay sim chaos`, docs/testing.md). Each states the rule it checks; each failed before the
//! fix that restored the rule.
//!
//! These are the classes of sync, watermarks and the GC horizon; the generation classes are in
//! `faults_generations.rs`.

#[allow(dead_code)]
mod common;

use common::deltas::*;
use hearsay_proto::{
    Body, Config, Generation, Lockstep, Message, Mode, Node, NodeId, OriginDelta, Peers, Store,
    Strategy, Value, Version,
};
use std::time::{Duration, Instant};

/// Class A. Rule: a watermark only ever covers entries the node holds, or a GC horizon it holds.
/// A node that knows origin 0's horizon (3) refuses a lagging peer's deltas at or below it; the
/// range that peer vouches must not count there either, or the watermark passes the live `a`
/// that the node does not hold and nobody sends it again.
#[test]
fn a_range_from_a_sender_behind_the_horizon_counts_only_above_it() {
    let mut store = Store::default();
    // The GC entry (horizon 3) arrives alone: this store resets and knows the horizon.
    store.merge(&group(0, 0, vec![gc(4, 3)]));
    assert_eq!(
        store.origin(NodeId(0)).map(|o| o.horizon()),
        Some(Version(3))
    );
    // A peer that never heard of the horizon vouches (0, 4] with a and b below it.
    let report = store.merge(&group(
        0,
        4,
        vec![delta("b", 1, Some("old")), delta("a", 2, Some("live"))],
    ));
    assert_eq!(
        report.changes.len(),
        0,
        "deltas below the horizon are refused"
    );
    let origin = store.origin(NodeId(0)).expect("known origin");
    assert!(
        origin.watermark() < Version(2),
        "the watermark ({}) passed `a`, which is not held",
        origin.watermark().0
    );
    // A sender that shows the horizon is believed, and fills the gap.
    store.merge(&group(0, 4, vec![gc(4, 3), delta("a", 2, Some("live"))]));
    let origin = store.origin(NodeId(0)).expect("known origin");
    assert_eq!(origin.watermark(), Version(4));
    assert_eq!(
        store.get(NodeId(0), "a").map(|e| e.version),
        Some(Version(2))
    );
}

/// Class E. Rule: only a rumor chain says which writes a range holds. A re-sync answer (anti-
/// entropy) vouches what its sender holds, which leaves out writes that were collected or
/// overwritten; a node that learned entries from it must not forward them as a chain, or a
/// receiver that still holds a deleted value has its watermark moved past the delete and keeps
/// the value for good.
#[test]
fn an_anti_entropy_range_is_not_forwarded_as_a_rumor_chain() {
    let now = Instant::now();
    let config = Config {
        mode: Mode::Combined {
            anti_entropy_every: 1000,
        },
        ..Config::default()
    };
    let mut relay = Node::new(NodeId(1), Generation(1), config.clone(), 1).expect("valid");
    let mut stale = Node::new(NodeId(2), Generation(1), config, 2).expect("valid");
    // `stale` holds origin 0's b = "deleted" at 2 (vouched (0, 2]); the origin deleted it at 5 and
    // collected the tombstone (horizon 5, GC entry at 50).
    deliver(
        &mut stale,
        0,
        Body::Ack {
            deltas: vec![group(0, 2, vec![delta("b", 2, Some("deleted"))])],
        },
        now,
    );
    // `relay` is re-synced by an anti-entropy answer: the GC entry first, then the live entries.
    deliver(
        &mut relay,
        0,
        Body::Ack {
            deltas: vec![group(
                0,
                60,
                vec![
                    gc(50, 5),
                    delta("a", 3, Some("x")),
                    delta("c", 45, Some("y")),
                    delta("d", 60, Some("z")),
                ],
            )],
        },
        now,
    );
    // `relay` spreads what it learned as rumors, to `stale` only.
    relay.set_peers(Peers::Own(vec![NodeId(2)]));
    for round in 0..10 {
        relay.handle_timeout(now + Duration::from_secs(round));
        while let Some(t) = relay.poll_transmit() {
            if t.to == NodeId(2) {
                stale.handle_datagram(now, &t.payload).expect("accepted");
            }
        }
        while stale.poll_transmit().is_some() {}
    }
    let origin = stale.store().origin(NodeId(0)).expect("known origin");
    let holds_deleted = stale.get_from(NodeId(0), "b").is_some();
    assert!(
        !(holds_deleted && origin.watermark() >= Version(5)),
        "the watermark ({}) passed the collected delete while `b` is still held",
        origin.watermark().0
    );
}

/// Class D. Rule: the GC entry is the protocol's own metadata and rides free of `max_deltas`, so
/// a re-sync, which must open with it, still carries data when a message holds one delta.
#[test]
fn a_resync_makes_progress_with_one_delta_per_message() {
    let now = Instant::now();
    for strategy in [Strategy::ScuttleDepth, Strategy::PreciseRandom] {
        let config = Config {
            mode: Mode::AntiEntropy,
            strategy,
            max_deltas: Some(1),
            tombstone_grace: Some(Duration::from_secs(2)),
            ..Config::default()
        };
        let start = Instant::now();
        let mut cluster = Lockstep::new(4, config.clone(), 5, start).expect("valid");
        let origin = cluster.node_mut(0).expect("node");
        for i in 0..5 {
            origin
                .set(now, &format!("k{i}"), Value::from("v"))
                .expect("fits");
        }
        assert!(cluster.run_until(100, |c| c.converged()).is_some());
        // Node 3 misses everything while the delete is made and its tombstone collected (a
        // stand-in takes its place), then comes back behind the horizon, holding k0.
        let stand_in = Node::new(NodeId(3), Generation(1), config.clone(), 77).expect("valid");
        let stale = std::mem::replace(cluster.node_mut(3).expect("node"), stand_in);
        cluster
            .node_mut(0)
            .expect("node")
            .delete(now, "k0")
            .expect("fits");
        let spread = cluster.run_until(400, |c| {
            c.nodes().iter().all(|n| {
                n.store()
                    .origin(NodeId(0))
                    .is_some_and(|o| o.horizon() > Version(0))
            })
        });
        assert!(spread.is_some(), "{strategy:?}: the horizon never spread");
        let peers = cluster.nodes()[3].peers().clone();
        *cluster.node_mut(3).expect("node") = stale;
        cluster.node_mut(3).expect("node").set_peers(peers);
        assert!(cluster.nodes()[3].get_from(NodeId(0), "k0").is_some());
        let converged = cluster.run_until(400, |c| c.converged());
        assert!(converged.is_some(), "{strategy:?}: no convergence");
        assert_eq!(cluster.nodes()[3].get_from(NodeId(0), "k0"), None);
        for node in cluster.nodes() {
            for i in 1..5 {
                assert_eq!(
                    node.get_from(NodeId(0), &format!("k{i}")),
                    Some(&Value::from("v")),
                    "{strategy:?}: n{} lacks k{i}",
                    node.id().0
                );
            }
        }
    }
}

/// Class B. Rule: what a node can vouch for is served before what it cannot. Origin 1 crashed
/// after its writes 7 and 9 reached this node but 6 did not (its watermark is stuck at 5, as is
/// the peer's); origin 2 is live and the peer lacks its write. With one delta per message, the
/// answer must carry origin 2's write, not resend origin 1's unvouchable entries, which
/// depth-first would otherwise pick first every time (they are the most outstanding).
#[test]
fn vouchable_news_is_served_before_entries_above_a_stuck_watermark() {
    let now = Instant::now();
    let config = Config {
        mode: Mode::AntiEntropy,
        strategy: Strategy::ScuttleDepth,
        max_deltas: Some(1),
        ..Config::default()
    };
    let stuck = |from, to, deltas| OriginDelta {
        origin: NodeId(1),
        ..group(from, to, deltas)
    };
    let mut node = Node::new(NodeId(3), Generation(1), config, 4).expect("valid");
    deliver(
        &mut node,
        1,
        Body::Ack {
            deltas: vec![
                stuck(0, 5, vec![delta("a", 5, Some("x"))]),
                stuck(
                    0,
                    0,
                    vec![delta("b", 7, Some("y")), delta("c", 9, Some("z"))],
                ),
                OriginDelta {
                    origin: NodeId(2),
                    ..group(0, 4, vec![delta("live", 4, Some("news"))])
                },
            ],
        },
        now,
    );
    for attempt in 0..20 {
        let summary = |origin, watermark| hearsay_proto::OriginSummary {
            origin: NodeId(origin),
            generation: Generation(1),
            heartbeat: 0,
            rate: 0,
            watermark: Version(watermark),
        };
        let digest = hearsay_proto::Digest::Scuttlebutt {
            range: Some(hearsay_proto::Bounds::all()),
            origins: vec![summary(1, 5), summary(2, 0), summary(3, 0)],
        };
        deliver(
            &mut node,
            9,
            Body::Syn {
                digest: Some(digest),
                reply_digest: false,
                more: 0,
            },
            now,
        );
        let answer = node.poll_transmit().expect("an answer");
        let message =
            Message::decode(&answer.payload, node.config().cluster, 65_507).expect("decodes");
        let Body::SynAck { deltas, .. } = message.body else {
            panic!("not a SynAck");
        };
        let live = deltas
            .iter()
            .any(|g| g.origin == NodeId(2) && g.deltas.iter().any(|d| d.key == "live"));
        assert!(
            live,
            "attempt {attempt}: the live write was starved: {deltas:?}"
        );
        while node.poll_transmit().is_some() {}
    }
}

/// Class C. A Scuttlebutt answer cut short vouches for a range in which a write was overwritten
/// by a newer version the answer left out; if every holder of that newer version then dies (here
/// with its origin, node 0), two live nodes keep different older versions under the same
/// watermark, and watermarks alone never show it. Rule: Scuttlebutt nodes send a precise repair
/// digest every `repair_every`-th time, which compares versions item by item.
#[test]
fn a_repair_digest_settles_what_watermarks_cannot_see() {
    let now = Instant::now();
    for repair_every in [Some(10), None] {
        let config = Config {
            mode: Mode::AntiEntropy,
            repair_every,
            ..Config::default()
        };
        let mut a = Node::new(NodeId(1), Generation(1), config.clone(), 1).expect("valid");
        let mut b = Node::new(NodeId(2), Generation(1), config, 2).expect("valid");
        a.add_peer(NodeId(2));
        b.add_peer(NodeId(1));
        // `a` got k at 5 and the range up to 11; `b` got k at 2, then (2, 11] from an answer that
        // left out k's newer version 12 (held by nodes now dead).
        let newer = group(
            0,
            11,
            vec![delta("k", 5, Some("newer")), delta("x", 11, Some("x"))],
        );
        deliver(
            &mut a,
            0,
            Body::Ack {
                deltas: vec![newer],
            },
            now,
        );
        let older = group(0, 2, vec![delta("k", 2, Some("older"))]);
        let rest = group(2, 11, vec![delta("x", 11, Some("x"))]);
        deliver(
            &mut b,
            0,
            Body::Ack {
                deltas: vec![older, rest],
            },
            now,
        );
        for round in 0..40 {
            let at = now + Duration::from_secs(round);
            a.handle_timeout(at);
            b.handle_timeout(at);
            loop {
                let to_b: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
                let to_a: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
                if to_a.is_empty() && to_b.is_empty() {
                    break;
                }
                for t in to_b {
                    b.handle_datagram(at, &t.payload).expect("accepted");
                }
                for t in to_a {
                    a.handle_datagram(at, &t.payload).expect("accepted");
                }
            }
        }
        let held = b.get_from(NodeId(0), "k").cloned();
        match repair_every {
            Some(_) => assert_eq!(held, Some(Value::from("newer")), "no repair"),
            // Without repair the divergence stays: the reason the repair is on by default.
            None => assert_eq!(held, Some(Value::from("older"))),
        }
    }
}

/// A sender behind a GC horizon. Rule: a node that refuses deltas at or below an origin's horizon
/// because their sender did not show it tells the sender the horizon (the origin's GC entry,
/// alone). Otherwise the sender offers the same refused delta at every exchange: with
/// oldest-first and one delta per message it is always the one chosen, and nothing else ever
/// moves (seed 3446 of the search: 14 of 16 nodes kept collected tombstones for good).
#[test]
fn a_sender_behind_the_horizon_is_told_it() {
    let now = Instant::now();
    let config = Config {
        mode: Mode::AntiEntropy,
        ..Config::default()
    };
    let mut knows = Node::new(NodeId(1), Generation(1), config.clone(), 1).expect("valid");
    let mut behind = Node::new(NodeId(2), Generation(1), config, 2).expect("valid");
    // Origin 0 deleted k at 1 and collected the tombstone: horizon 1, GC entry at 4.
    deliver(
        &mut knows,
        0,
        Body::Ack {
            deltas: vec![group(0, 0, vec![gc(4, 1)])],
        },
        now,
    );
    deliver(
        &mut behind,
        0,
        Body::Ack {
            deltas: vec![group(0, 1, vec![delta("k", 1, None)])],
        },
        now,
    );
    // The lagging node offers its tombstone; it is refused, and the horizon comes back.
    deliver(
        &mut knows,
        2,
        Body::Ack {
            deltas: vec![group(0, 0, vec![delta("k", 1, None)])],
        },
        now,
    );
    let told = knows
        .poll_transmit()
        .expect("the sender is told the horizon");
    assert_eq!(told.to, NodeId(2));
    behind
        .handle_datagram(now, &told.payload)
        .expect("accepted");
    let origin = behind.store().origin(NodeId(0)).expect("known origin");
    assert_eq!(origin.horizon(), Version(1));
    assert!(origin.get("k").is_none(), "the collected tombstone is gone");
}
