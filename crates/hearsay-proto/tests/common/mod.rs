//! Shared helpers of the proto crate's integration tests: reproducible proptest configurations,
//! store snapshots, small-alphabet strategies, a receiving node fed untrusted datagrams.

pub mod cluster;
pub mod deltas;
pub mod messages;

use hearsay_proto::{
    ClusterId, Config, Direction, Entry, Error, Generation, Message, Mode, Node, NodeId, Store,
    Strategy as Reconciliation, Value, Version,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed, TestCaseError};
use std::collections::BTreeMap;
use std::time::Instant;

// --- configuration ---------------------------------------------------------------------------

/// A reproducible proptest configuration: fixed seed, ChaCha RNG, no regression files.
/// `release` cases in optimised builds, `debug` cases otherwise.
pub fn cases(release: u32, debug: u32, seed: u64) -> ProptestConfig {
    let cases = if cfg!(debug_assertions) {
        debug
    } else {
        release
    };
    ProptestConfig {
        cases,
        // `rumors_die_out` sets aside about a sixth of its cases (a known bug).
        max_global_rejects: cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

// --- store snapshots -------------------------------------------------------------------------

/// Everything observable about one origin in a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginSnap {
    pub generation: Generation,
    pub heartbeat: u64,
    pub watermark: Version,
    pub max_version: Version,
    pub entries: Vec<(String, Entry)>,
    /// The by-version index, as `entries_after(ZERO)` walks it.
    pub index: Vec<(String, Version)>,
}

/// Everything observable about a store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSnap {
    pub origins: BTreeMap<NodeId, OriginSnap>,
    pub clock: Version,
}

pub fn snapshot(store: &Store) -> StoreSnap {
    let origins = store
        .origins()
        .map(|(id, o)| {
            let snap = OriginSnap {
                generation: o.generation(),
                heartbeat: o.heartbeat(),
                watermark: o.watermark(),
                max_version: o.max_version(),
                entries: o
                    .entries()
                    .map(|(k, e)| (k.to_owned(), e.clone()))
                    .collect(),
                index: o
                    .entries_after(Version::ZERO)
                    .map(|(k, e)| (k.to_owned(), e.version))
                    .collect(),
            };
            (id, snap)
        })
        .collect();
    StoreSnap {
        origins,
        clock: store.clock(),
    }
}

pub fn small_or_any(small: std::ops::Range<u64>) -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        4 => small,
        1 => prop_oneof![Just(0u64), Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()],
    ]
}

pub fn arbitrary_value() -> impl Strategy<Value = Option<Value>> + Clone {
    prop::option::weighted(
        0.8,
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Value::from),
    )
}

pub fn cluster_id() -> ClusterId {
    Config::default().cluster
}

/// Node `id` of `config` with peers 1..=5 that has run its first round at the instant returned,
/// its outputs drained: a node about to write, for the tests of what its writes send.
pub fn started(id: u64, config: Config, seed: u64) -> (Node, Instant) {
    let now = Instant::now();
    let mut node = Node::new(NodeId(id), Generation(1), config, seed).expect("valid config");
    for peer in 1..=5 {
        node.add_peer(NodeId(peer));
    }
    node.handle_timeout(now);
    while node.poll_transmit().is_some() {}
    (node, now)
}

/// A node to feed datagrams to: not a member of the corpus clusters, with entries of its own.
pub fn receiver(strategy: Reconciliation, direction: Direction, mode: Mode, mtu: usize) -> Node {
    let now = Instant::now();
    let config = Config {
        strategy,
        direction,
        mode,
        mtu,
        ..Config::default()
    };
    let mut node = Node::new(NodeId(99), Generation(1), config, 5).expect("valid config");
    for peer in 0..4 {
        node.add_peer(NodeId(peer));
    }
    for k in 0..3 {
        node.set(now, &format!("key-{k}"), Value::from("mine"))
            .expect("small entries fit");
    }
    // The writes' relays leave now: what the node sends later answers the tests' datagrams.
    while node.poll_transmit().is_some() {}
    node
}

pub fn any_receiver() -> BoxedStrategy<Node> {
    (
        prop::sample::select(Reconciliation::ALL.to_vec()),
        prop::sample::select(Direction::ALL.to_vec()),
        prop::sample::select(vec![
            Mode::AntiEntropy,
            Mode::Rumor,
            Mode::Combined {
                anti_entropy_every: 2,
            },
        ]),
        256usize..1400,
    )
        .prop_map(|(s, d, m, mtu)| receiver(s, d, m, mtu))
        .boxed()
}

/// Feeds one datagram to `node`; checks that a rejected datagram leaves its state untouched and
/// that everything it sends in answer is within its MTU and decodable.
pub fn feed(
    node: &mut Node,
    now: Instant,
    bytes: &[u8],
) -> Result<Result<(), Error>, TestCaseError> {
    let before = snapshot(node.store());
    let hot = node.rumors().len();
    let result = node.handle_datagram(now, bytes);
    if result.is_err() {
        prop_assert_eq!(
            &snapshot(node.store()),
            &before,
            "a rejected datagram changed the store"
        );
        prop_assert_eq!(
            node.rumors().len(),
            hot,
            "a rejected datagram changed the rumors"
        );
    }
    drain(node)?;
    Ok(result)
}

/// Drains a node's outputs, checking its datagrams.
pub fn drain(node: &mut Node) -> Result<(), TestCaseError> {
    let (mtu, cluster, id) = (node.config().mtu, node.config().cluster, node.id());
    while let Some(t) = node.poll_transmit() {
        prop_assert!(
            t.payload.len() <= mtu,
            "answer of {} bytes over {mtu}",
            t.payload.len()
        );
        let answer = Message::decode(&t.payload, cluster, mtu);
        prop_assert!(
            answer.as_ref().is_ok_and(|m| m.from == id),
            "bad answer {:?}",
            answer
        );
    }
    while node.poll_event().is_some() {}
    Ok(())
}

/// Byte strings that look like msgpack often enough to get past the first marker: random bytes
/// mixed with container and length markers followed by small lengths.
pub fn msgpackish_bytes() -> BoxedStrategy<Vec<u8>> {
    let chunk = prop_oneof![
        3 => any::<u8>().prop_map(|b| vec![b]),
        2 => (0x80u8..=0x9f).prop_map(|b| vec![b]),
        2 => (0xa0u8..=0xbf).prop_map(|b| vec![b]),
        1 => (prop::sample::select(vec![0xc4u8, 0xc7, 0xd9]), 0u8..8).prop_map(|(m, l)| vec![m, l]),
        1 => (prop::sample::select(vec![0xc5u8, 0xc8, 0xda, 0xdc, 0xde]), 0u8..8)
            .prop_map(|(m, l)| vec![m, 0, l]),
        1 => (prop::sample::select(vec![0xc6u8, 0xc9, 0xdb, 0xdd, 0xdf]), 0u8..8)
            .prop_map(|(m, l)| vec![m, 0, 0, 0, l]),
        1 => (0xc0u8..=0xdf).prop_map(|b| vec![b]),
    ];
    prop::collection::vec(chunk, 0..40)
        .prop_map(|chunks| chunks.concat())
        .boxed()
}

pub fn any_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        msgpackish_bytes()
    ]
    .boxed()
}
