//! Robustness of the decoder and the node against untrusted bytes: truncated, corrupted,
//! extended, foreign and arbitrary datagrams are rejected without panics or state changes.

#[allow(dead_code)]
mod common;

use common::messages::*;
use common::*;

use hearsay_proto::{
    ClusterId, Config, Direction, Error, Lockstep, Message, MessageKind, Mode, PROTOCOL_VERSION,
    Strategy as Reconciliation, Value, ViewConfig,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// --- decoder robustness ----------------------------------------------------------------------

/// Real datagrams: every distinct payload sent by small clusters in every way of working, for
/// both digest kinds and every direction, while writes, overwrites and deletes are going on.
fn corpus() -> &'static [Vec<u8>] {
    let now = Instant::now();
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut payloads = std::collections::BTreeSet::new();
        let modes = [
            Mode::AntiEntropy,
            Mode::Rumor,
            Mode::Combined {
                anti_entropy_every: 2,
            },
        ];
        for (i, (strategy, direction)) in [
            (Reconciliation::PreciseRandom, Direction::PushPull),
            (Reconciliation::PreciseOldest, Direction::Pull),
            (Reconciliation::ScuttleDepth, Direction::Push),
            (Reconciliation::ScuttleBreadth, Direction::PushPull),
            (Reconciliation::PreciseNewest, Direction::Push),
            (Reconciliation::ScuttleDepth, Direction::Pull),
        ]
        .into_iter()
        .enumerate()
        {
            let config = Config {
                strategy,
                direction,
                mode: modes[i % modes.len()],
                mtu: 300,
                ..Config::default()
            };
            let mut cluster =
                Lockstep::new(4, config, i as u64, Instant::now()).expect("valid config");
            for round in 0..6usize {
                for node in 0..4usize {
                    let writer = cluster.node_mut(node).expect("node exists");
                    let key = format!("key-{}", (round + node) % 3);
                    let written = if (round + node) % 4 == 3 {
                        writer.delete(now, &key)
                    } else {
                        writer.set(now, &key, Value::from(format!("value {round}/{node} ü")))
                    };
                    written.expect("small entries fit");
                }
                cluster.round_with(|_, t| {
                    payloads.insert(t.payload.clone());
                });
            }
        }
        // Partial views: joins, forwarded joins, links, neighbor requests, pings, shuffles.
        let config = Config {
            mtu: 300,
            view: Some(ViewConfig::default()),
            ..Config::default()
        };
        let mut cluster =
            Lockstep::with_views(12, config, 9, Instant::now()).expect("valid config");
        for _ in 0..12 {
            cluster.round_with(|_, t| {
                payloads.insert(t.payload.clone());
            });
        }
        // SWIM: pings, acks, ping-requests, nacks, gossip, table syncs, with updates.
        let mut cluster = Lockstep::new(8, Config::lan(), 5, Instant::now())
            .expect("valid config")
            .with_step(Duration::from_millis(100));
        cluster.set_loss(0.3);
        for step in 0..400 {
            if step == 100 {
                cluster.crash(3);
            }
            cluster.round_with(|_, t| {
                payloads.insert(t.payload.clone());
            });
        }
        payloads.into_iter().collect()
    })
}

/// The corpus datagram `which` points at.
fn pick(which: &Index) -> &'static [u8] {
    which.get::<Vec<u8>>(corpus())
}

/// Every truncation of every real datagram is rejected by `Message::decode` and by
/// `Node::handle_datagram`, and leaves the receiving node's state untouched. (Deterministic: all
/// prefixes of all corpus datagrams.)
#[test]
fn truncated_datagrams_are_rejected() {
    let corpus = corpus();
    let kinds: std::collections::BTreeSet<MessageKind> = corpus
        .iter()
        .filter_map(|p| Message::decode(p, cluster_id(), usize::MAX).ok())
        .map(|m| m.body.kind())
        .collect();
    assert_eq!(
        kinds.len(),
        MessageKind::ALL.len(),
        "the corpus lacks kinds"
    );
    assert!(
        corpus.len() > 50,
        "the corpus has only {} datagrams",
        corpus.len()
    );
    let now = Instant::now();
    let mut node = receiver(
        Reconciliation::ScuttleDepth,
        Direction::PushPull,
        Mode::default(),
        1400,
    );
    for payload in corpus {
        assert!(
            Message::decode(payload, cluster_id(), usize::MAX).is_ok(),
            "a real datagram does not decode"
        );
        for cut in 0..payload.len() {
            let prefix = &payload[..cut];
            assert!(
                Message::decode(prefix, cluster_id(), usize::MAX).is_err(),
                "a {cut}-byte prefix of a {}-byte datagram decodes",
                payload.len()
            );
            let before = snapshot(node.store());
            assert!(node.handle_datagram(now, prefix).is_err());
            assert_eq!(snapshot(node.store()), before);
            assert!(node.poll_transmit().is_none());
        }
    }
}

proptest! {
    #![proptest_config(cases(8192, 2048, 0x6465_636f_6465))]

    /// Arbitrary bytes (uniform, and msgpack-like) never make `Message::decode` or
    /// `Node::handle_datagram` panic; a rejected datagram leaves the node's state untouched, and
    /// whatever the node answers is within its MTU.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in any_bytes(), mut node in any_receiver()) {
        let _ = Message::decode(&bytes, cluster_id(), usize::MAX);
        let _ = Message::decode(&bytes, cluster_id(), 16);
        let _ = feed(&mut node, Instant::now(), &bytes)?;
    }

    /// A real datagram with one byte replaced never makes the decoder or the node panic; if
    /// rejected, the node's state is untouched; whatever the node answers is within its MTU.
    #[test]
    fn corrupted_datagrams_never_panic(
        which in any::<Index>(),
        at in any::<Index>(),
        byte in any::<u8>(),
        mut node in any_receiver(),
    ) {
        let mut bytes = pick(&which).to_vec();
        let at = at.index(bytes.len());
        bytes[at] = byte;
        let _ = Message::decode(&bytes, cluster_id(), usize::MAX);
        let now = Instant::now();
        let _ = feed(&mut node, now, &bytes)?;
        // A round at once: the one due, whether or not the node has run one.
        node.handle_timeout(node.poll_timeout().unwrap_or(now).max(now));
        drain(&mut node)?;
    }

    /// A real datagram followed by extra bytes is rejected with `TrailingBytes(extra)`, by the
    /// decoder and by the node.
    #[test]
    fn trailing_bytes_are_rejected(
        which in any::<Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..16),
        mut node in any_receiver(),
    ) {
        let mut bytes = pick(&which).to_vec();
        bytes.extend_from_slice(&extra);
        let expected = Error::TrailingBytes(extra.len());
        let decoded = Message::decode(&bytes, cluster_id(), usize::MAX);
        prop_assert_eq!(decoded.as_ref().err(), Some(&expected));
        prop_assert_eq!(feed(&mut node, Instant::now(), &bytes)?, Err(expected));
    }

    /// A datagram of another cluster is rejected with `WrongCluster`, by the decoder and by the
    /// node; it decodes for the cluster it names.
    #[test]
    fn other_clusters_are_rejected(
        which in any::<Index>(),
        other in any::<u64>().prop_filter("another cluster", |c| *c != cluster_id().0),
        mut node in any_receiver(),
    ) {
        let message = Message::decode(pick(&which), cluster_id(), usize::MAX)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let foreign = Message { cluster: ClusterId(other), ..message };
        let bytes = encode(&foreign)?;
        let expected = Error::WrongCluster { got: ClusterId(other), expected: cluster_id() };
        let decoded = Message::decode(&bytes, cluster_id(), usize::MAX);
        prop_assert_eq!(decoded.as_ref().err(), Some(&expected));
        prop_assert_eq!(feed(&mut node, Instant::now(), &bytes)?, Err(expected));
        prop_assert_eq!(Message::decode(&bytes, ClusterId(other), usize::MAX), Ok(foreign));
    }

    /// A datagram of another protocol version (`PROTOCOL_VERSION + 1`, or any other byte) is
    /// rejected with `UnsupportedVersion`, by the decoder and by the node, before its cluster is
    /// looked at (a future version may lay out its fields differently).
    #[test]
    fn other_versions_are_rejected(
        which in any::<Index>(),
        version in prop_oneof![
            Just(PROTOCOL_VERSION + 1),
            any::<u8>().prop_filter("another version", |v| *v != PROTOCOL_VERSION),
        ],
        other_cluster in any::<bool>(),
        mut node in any_receiver(),
    ) {
        let message = Message::decode(pick(&which), cluster_id(), usize::MAX)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cluster = if other_cluster { ClusterId(!cluster_id().0) } else { cluster_id() };
        let bytes = encode(&Message { version, cluster, ..message })?;
        let expected = Error::UnsupportedVersion { got: version, supported: PROTOCOL_VERSION };
        let decoded = Message::decode(&bytes, cluster_id(), usize::MAX);
        prop_assert_eq!(decoded.as_ref().err(), Some(&expected));
        prop_assert_eq!(feed(&mut node, Instant::now(), &bytes)?, Err(expected));
    }
}
