//! Size limits hold at their edges: the largest accepted entry travels with the widest headers,
//! long keys from peers are refused, and precise digests page through many empty origins.

use hearsay_proto::reconcile::{self, DigestCursor};
use hearsay_proto::{
    Body, Bounds, Budget, Config, Delta, Digest, Direction, Error, Generation, Lockstep, Message,
    Mode, Node, NodeId, OriginDelta, PROTOCOL_VERSION, Store, Strategy, Value, Version,
};
use std::collections::BTreeSet;
use std::time::Instant;

/// The longest value `node` accepts under `key`, by bisection.
fn largest_value(node: &mut Node, key: &str) -> usize {
    let now = Instant::now();
    let (mut fits, mut too_big) = (0usize, 4096usize);
    while too_big - fits > 1 {
        let mid = (fits + too_big) / 2;
        match node.set(now, key, Value::from(vec![7u8; mid])) {
            Ok(_) => fits = mid,
            Err(Error::EntryTooLarge { .. }) => too_big = mid,
            Err(other) => panic!("unexpected error {other}"),
        }
    }
    fits
}

#[test]
fn the_largest_accepted_entry_travels_in_every_message_kind() {
    for direction in Direction::ALL {
        for mode in [Mode::AntiEntropy, Mode::Rumor] {
            let config = Config {
                direction,
                mode,
                heartbeats: true,
                ..Config::default()
            };
            // Widest ids and counters: every header field takes its most bytes.
            let mut a = Node::new(NodeId(u64::MAX - 1), Generation(1 << 40), config.clone(), 1)
                .expect("valid config");
            let mut b = Node::new(NodeId(u64::MAX - 2), Generation(1 << 40), config.clone(), 2)
                .expect("valid config");
            a.add_peer(b.id());
            b.add_peer(a.id());
            let size = largest_value(&mut a, "k");
            assert!(size > 1000, "only {size} bytes accepted at MTU 1400");
            let mut delivered = false;
            for _ in 0..30 {
                exchange_checked(&mut a, &mut b, 1, |t| {
                    assert!(t.payload.len() <= config.mtu, "{} bytes", t.payload.len());
                });
                if b.get_from(a.id(), "k").is_some_and(|v| v.len() == size) {
                    delivered = true;
                    break;
                }
            }
            assert!(
                delivered,
                "{direction:?} {mode:?}: the largest entry never arrived"
            );
        }
    }
}

#[test]
fn keys_longer_than_a_node_accepts_are_refused_and_counted() {
    let now = Instant::now();
    let config = Config::default();
    let mut node = Node::new(NodeId(1), Generation(1), config.clone(), 1).expect("valid config");
    let long = "k".repeat(config.max_key_len() + 1);
    assert!(matches!(
        node.set(now, &long, Value::from("v")),
        Err(Error::EntryTooLarge { .. })
    ));
    node.set(now, &"k".repeat(config.max_key_len()), Value::from("v"))
        .expect("the longest key fits");
    // A peer with a larger MTU sends a long key and a short one.
    let message = Message {
        version: PROTOCOL_VERSION,
        cluster: config.cluster,
        from: NodeId(2),
        body: Body::Ack {
            deltas: vec![OriginDelta {
                origin: NodeId(2),
                generation: Generation(1),
                heartbeat: 0,
                from: Version(0),
                to: Version(2),
                deltas: vec![
                    Delta {
                        key: long.clone(),
                        version: Version(1),
                        value: Some(Value::from("x")),
                    },
                    Delta {
                        key: "short".into(),
                        version: Version(2),
                        value: Some(Value::from("y")),
                    },
                ],
            }],
        },
    };
    let bytes = message.encode().expect("encodes");
    node.handle_datagram(Instant::now(), &bytes)
        .expect("accepted");
    assert_eq!(node.get_from(NodeId(2), &long), None);
    assert_eq!(node.get_from(NodeId(2), "short"), Some(&Value::from("y")));
    assert_eq!(node.stats().deltas_refused, 1);
    // The trimmed group still vouches for its range: the refused delta is not asked for again.
    let origin = node.store().origin(NodeId(2)).expect("origin known");
    assert_eq!(origin.watermark(), Version(2));
}

#[test]
fn precise_digests_page_through_many_empty_origins() {
    // 300 origins without entries (heard of through heartbeats) and one writer after them.
    let mut quiet = Lockstep::new(301, Config::default(), 3, Instant::now()).expect("valid");
    for _ in 0..3 {
        quiet.round();
    }
    let known = quiet.nodes()[0].store().clone();
    for (origin, state) in known.origins() {
        if origin != NodeId(300) {
            assert!(state.is_empty());
        }
    }
    let mut store = Store::clone(&known);
    for key in ["a", "b", "c"] {
        store
            .write(NodeId(300), Generation(1), key, Some(Value::from("v")))
            .expect("versions left");
    }
    let mut cursor = DigestCursor::default();
    let mut named_origins = BTreeSet::new();
    let mut named_items = BTreeSet::new();
    for _ in 0..20 {
        let mut budget = Budget::new(1300, usize::MAX);
        let digest = reconcile::digest(&store, Strategy::PreciseRandom, &mut cursor, &mut budget);
        let Digest::Precise { range, origins } = digest else {
            panic!("a precise digest");
        };
        let range = range.expect("a range digest");
        for o in &origins {
            // Everything named lies in the range the digest claims.
            assert!(
                range.keys_of(o.origin).is_some(),
                "{:?} outside {range:?}",
                o.origin
            );
            named_origins.insert(o.origin);
            for (key, _) in &o.items {
                named_items.insert((o.origin, key.clone()));
            }
        }
        if range
            == (Bounds {
                from: None,
                to: None,
            })
        {
            break;
        }
    }
    assert_eq!(
        named_origins.len(),
        store.origins().count(),
        "some origins never named"
    );
    for key in ["a", "b", "c"] {
        assert!(
            named_items.contains(&(NodeId(300), key.to_owned())),
            "item {key} never named"
        );
    }
}

/// Delivers datagrams between two nodes until none is in flight, `rounds` times.
fn exchange(a: &mut Node, b: &mut Node, rounds: usize) {
    exchange_checked(a, b, rounds, |_| {});
}

/// [`exchange`], showing every datagram to `check` before it is delivered.
fn exchange_checked(
    a: &mut Node,
    b: &mut Node,
    rounds: usize,
    mut check: impl FnMut(&hearsay_proto::Transmit),
) {
    // One round per gossip interval (each node's first call runs one at once).
    let mut now = Instant::now();
    let interval = a.config().gossip_interval.max(b.config().gossip_interval);
    for _ in 0..rounds {
        a.handle_timeout(now);
        b.handle_timeout(now);
        loop {
            let to_b: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
            let to_a: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
            if to_a.is_empty() && to_b.is_empty() {
                break;
            }
            for t in to_b.iter().chain(&to_a) {
                check(t);
            }
            for t in to_b {
                b.handle_datagram(now, &t.payload).expect("accepted");
            }
            for t in to_a {
                a.handle_datagram(now, &t.payload).expect("accepted");
            }
        }
        now += interval;
    }
}

#[test]
fn a_refused_long_key_does_not_stall_the_rest_of_its_origin() {
    let now = Instant::now();
    for strategy in [Strategy::ScuttleDepth, Strategy::PreciseOldest] {
        for direction in Direction::ALL {
            let wide = Config {
                mtu: 4000,
                max_incoming: 65_507,
                mode: Mode::AntiEntropy,
                strategy,
                direction,
                ..Config::default()
            };
            let narrow = Config {
                mtu: 1400,
                ..wide.clone()
            };
            let mut a = Node::new(NodeId(1), Generation(1), wide, 1).expect("valid");
            let mut b = Node::new(NodeId(2), Generation(1), narrow, 2).expect("valid");
            a.add_peer(b.id());
            b.add_peer(a.id());
            for i in 0..100 {
                let key = if i == 3 {
                    "L".repeat(500)
                } else {
                    format!("key-{i:03}")
                };
                a.set(now, &key, Value::from("v".repeat(60)))
                    .expect("fits the wide MTU");
            }
            exchange(&mut a, &mut b, 60);
            let held = b.store().origin(a.id()).map_or(0, |o| o.len());
            assert_eq!(
                held, 99,
                "{strategy:?} {direction:?}: {held} of 99 entries arrived"
            );
            assert!(b.stats().deltas_refused >= 1);
        }
    }
}
