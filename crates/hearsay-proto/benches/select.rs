//! Delta selection cost: Scuttlebutt answers a digest in O(origins in the digest + deltas sent),
//! independent of the total state held.
//!
//! Two stores of the same shape but 100× different size are answered for the same peer digest:
//!
//! - `10k`: 100 origins × 100 keys = 10,000 entries;
//! - `1m`: 100 origins × 10,000 keys = 1,000,000 entries.
//!
//! Keys are 16 bytes, values 32 bytes. The peer's digest covers the whole origin space
//! (`range: Some(Bounds::all())`) and names all 100 origins: it is up to date on 90 of them and
//! exactly 10 deltas behind on the other 10 (its watermark is the version of that origin's
//! 11th-newest entry). The answer must fit one 1400-byte message, so only part of the 100
//! outstanding deltas is sent; the number sent is the same for both stores.
//!
//! Bench ids:
//!
//! - `scuttle_depth/{10k,1m}`, `scuttle_breadth/{10k,1m}`: the claim under test;
//! - `precise_random/request_100_items/{10k,1m}`: **contrast only**, precise reconciliation
//!   answering an explicit request (`range: None`) that names the same 100 outstanding items.
//!   Its cost grows with the items named, which is not the Scuttlebutt claim.
//!
//! Stores, digests and expectations are built once, outside the timed closures; each timed
//! iteration builds a fresh [`Budget`] and calls [`reconcile::deltas`].

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hearsay_proto::reconcile::{self, Strategy};
use hearsay_proto::{
    Body, Bounds, Budget, ClusterId, Delta, Digest, Generation, Message, NodeId, OriginDelta,
    OriginItems, OriginSummary, PROTOCOL_VERSION, Store, Value, Version,
};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

/// The message size every answer must fit.
const MTU: usize = 1400;
/// Origins in both stores (and named in the peer's digest).
const ORIGINS: u64 = 100;
/// Origins the peer is behind on.
const BEHIND: usize = 10;
/// Deltas the peer lacks per origin it is behind on.
const LAG: usize = 10;
/// Bytes a msgpack array header may grow beyond one byte (`ARRAY_GROWTH`, crate-private).
const ARRAY_GROWTH: usize = 4;
/// The smallest delta a budget must still hold not to be exhausted (`MIN_DELTA_BYTES`).
const MIN_DELTA_BYTES: usize = 4;
const GENERATION: Generation = Generation(1);
const SEED: u64 = 0x5eed;

fn key(origin: u64, k: u64) -> String {
    let key = format!("o{origin:03}/k{k:010}");
    debug_assert_eq!(key.len(), 16);
    key
}

fn value(origin: u64, k: u64) -> Value {
    let value = format!("{:0>32}", origin * 100_000_000 + k);
    debug_assert_eq!(value.len(), 32);
    Value::from(value)
}

/// A store holding `ORIGINS × keys` entries, written round-robin over the origins (as a Lamport
/// clock interleaves them in a live cluster).
///
/// Before that, one key is rewritten 2^16 times, so that every entry's version needs the same
/// msgpack width (u32) in both stores: all deltas then have the same encoded size and the same
/// number of them fits in a message for both stores. The rewritten key is overwritten again by
/// the main loop, so the store still holds exactly `ORIGINS × keys` entries.
fn build_store(keys: u64) -> Store {
    let mut store = Store::default();
    for _ in 0..=u16::MAX {
        store
            .write(NodeId(1), GENERATION, &key(1, 0), Some(value(1, 0)))
            .expect("versions left");
    }
    for k in 0..keys {
        for origin in 1..=ORIGINS {
            store
                .write(
                    NodeId(origin),
                    GENERATION,
                    &key(origin, k),
                    Some(value(origin, k)),
                )
                .expect("versions left");
        }
    }
    let expected = usize::try_from(ORIGINS * keys).expect("entry count fits usize");
    assert_eq!(store.len(), expected, "store holds exactly origins × keys");
    store
}

/// One origin the peer is behind on.
struct Lagging {
    origin: NodeId,
    /// The peer's watermark for it.
    watermark: Version,
    /// The `LAG` entries above the watermark, `(key, version)` in ascending version.
    missing: Vec<(String, Version)>,
}

/// A store with the peer digests that it is benchmarked against.
struct Fixture {
    label: &'static str,
    store: Store,
    lagging: Vec<Lagging>,
    scuttle: Digest,
    precise: Digest,
}

fn fixture(label: &'static str, keys: u64) -> Fixture {
    let started = Instant::now();
    let store = build_store(keys);
    let built = started.elapsed();
    // Every tenth origin, spread over the id space: 5, 15, …, 95.
    let lagging_ids: Vec<NodeId> = (1..=ORIGINS).filter(|o| o % 10 == 5).map(NodeId).collect();
    assert_eq!(lagging_ids.len(), BEHIND);

    let mut lagging = Vec::new();
    let mut summaries = Vec::new();
    for (origin, state) in store.origins() {
        assert_eq!(
            state.watermark(),
            state.max_version(),
            "the store is complete"
        );
        let watermark = if lagging_ids.contains(&origin) {
            // Setup only (O(entries of the origin)): the version of the 11th-newest entry.
            let versions: Vec<Version> = state
                .entries_after(Version::ZERO)
                .map(|(_, e)| e.version)
                .collect();
            let watermark = versions[versions.len() - LAG - 1];
            let missing: Vec<(String, Version)> = state
                .entries_after(watermark)
                .map(|(k, e)| (k.to_owned(), e.version))
                .collect();
            assert_eq!(missing.len(), LAG);
            assert_eq!(state.count_after(watermark, usize::MAX), LAG);
            assert_eq!(missing.last().map(|m| m.1), Some(state.max_version()));
            lagging.push(Lagging {
                origin,
                watermark,
                missing,
            });
            watermark
        } else {
            state.watermark()
        };
        summaries.push(OriginSummary {
            origin,
            generation: state.generation(),
            heartbeat: state.heartbeat(),
            rate: 0,
            watermark,
        });
    }
    assert_eq!(summaries.len(), 100);
    let scuttle = Digest::Scuttlebutt {
        range: Some(Bounds::all()),
        origins: summaries,
    };

    // The explicit precise request for the same 100 items: version 0, "not held", in key order.
    let precise = Digest::Precise {
        range: None,
        origins: lagging
            .iter()
            .map(|l| {
                let mut items: Vec<(String, Version)> = l
                    .missing
                    .iter()
                    .map(|(k, _)| (k.clone(), Version::ZERO))
                    .collect();
                items.sort();
                OriginItems {
                    origin: l.origin,
                    generation: GENERATION,
                    heartbeat: 0,
                    rate: 0,
                    items,
                }
            })
            .collect(),
    };
    eprintln!(
        "select/{label}: {} entries over {} origins built in {built:.2?}; peer behind on {} \
         origins by {LAG} deltas each",
        store.len(),
        store.origins().count(),
        lagging.len(),
    );
    Fixture {
        label,
        store,
        lagging,
        scuttle,
        precise,
    }
}

/// The envelope a message of deltas is sent in.
fn envelope(deltas: Vec<OriginDelta>) -> Message {
    Message {
        version: PROTOCOL_VERSION,
        cluster: ClusterId::from_name("hearsay-bench"),
        from: NodeId(1),
        body: Body::Ack { deltas },
    }
}

fn encoded(deltas: Vec<OriginDelta>) -> usize {
    envelope(deltas).encode().expect("messages encode").len()
}

/// The byte budget left for deltas in one `MTU`-byte message, as `Node::budget` computes it.
fn byte_budget() -> usize {
    MTU - (encoded(Vec::new()) + 4 * ARRAY_GROWTH)
}

fn budget() -> Budget {
    Budget::new(byte_budget(), usize::MAX)
}

/// Encoded size of an origin group's header as the packer charges it (`to` at its widest), and
/// of each of its deltas. Asserts that all of an origin's missing deltas have the same size.
fn sizes(fixture: &Fixture, lagging: &Lagging, from: Version) -> (usize, usize) {
    let mut group = OriginDelta {
        origin: lagging.origin,
        generation: GENERATION,
        heartbeat: 0,
        from,
        to: Version(u64::MAX),
        deltas: Vec::new(),
    };
    let header = encoded(vec![group.clone()]) - encoded(Vec::new());
    let origin = fixture
        .store
        .origin(lagging.origin)
        .expect("lagging origin is held");
    let mut delta = None;
    for (key, _) in &lagging.missing {
        let entry = origin.get(key).expect("missing key is held");
        group.deltas = vec![Delta {
            key: key.clone(),
            version: entry.version,
            value: entry.value.clone(),
        }];
        let with_one = encoded(vec![group.clone()]) - encoded(Vec::new()) - header;
        assert!(delta.is_none_or(|d| d == with_one), "uniform delta size");
        delta = Some(with_one);
    }
    (header, delta.expect("LAG > 0"))
}

/// Header and delta size shared by every lagging origin (asserted uniform, so the number of
/// deltas that fit does not depend on the order the origins are served in).
fn uniform_sizes(fixture: &Fixture, precise: bool) -> (usize, usize) {
    let all: Vec<(usize, usize)> = fixture
        .lagging
        .iter()
        .map(|l| {
            sizes(
                fixture,
                l,
                if precise { Version::ZERO } else { l.watermark },
            )
        })
        .collect();
    assert!(all.windows(2).all(|w| w[0] == w[1]), "uniform group sizes");
    all[0]
}

/// How many of the outstanding deltas a Scuttlebutt answer carries: opening a group costs its
/// header, `ARRAY_GROWTH` and its first delta; each further delta its own size. Depth-first
/// serves one origin after another, breadth-first one delta of every origin per round.
fn expected_scuttle(fixture: &Fixture, breadth: bool) -> Vec<usize> {
    let (header, delta) = uniform_sizes(fixture, false);
    let mut left = byte_budget();
    let mut taken = [0; BEHIND];
    let mut closed = [false; BEHIND];
    // One `take_one`: the origin's next delta if it has one and it fits, else the origin closes.
    let mut take = |i: usize, left: &mut usize, closed: &mut [bool; BEHIND]| {
        let cost = delta
            + if taken[i] == 0 {
                header + ARRAY_GROWTH
            } else {
                0
            };
        if taken[i] == LAG || cost > *left {
            closed[i] = true;
        } else {
            *left -= cost;
            taken[i] += 1;
        }
    };
    if breadth {
        while closed.iter().any(|c| !c) && left >= MIN_DELTA_BYTES {
            for i in 0..BEHIND {
                if !closed[i] {
                    take(i, &mut left, &mut closed);
                }
            }
        }
    } else {
        for i in 0..BEHIND {
            while !closed[i] && left >= MIN_DELTA_BYTES {
                take(i, &mut left, &mut closed);
            }
        }
    }
    let mut taken = taken.to_vec();
    taken.retain(|n| *n > 0);
    taken
}

/// How many deltas a random precise answer carries: the candidates in the order the seeded shuffle
/// puts them (a shuffle's permutation depends only on the length and the RNG), packed greedily.
fn expected_precise(fixture: &Fixture) -> usize {
    let (header, delta) = uniform_sizes(fixture, true);
    let mut order: Vec<usize> = (0..BEHIND * LAG).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(SEED));
    let mut left = byte_budget();
    let mut open = [false; BEHIND];
    let mut count = 0;
    for candidate in order {
        if left < MIN_DELTA_BYTES {
            break;
        }
        let origin = candidate / LAG;
        let cost = delta
            + if open[origin] {
                0
            } else {
                header + ARRAY_GROWTH
            };
        if cost <= left {
            left -= cost;
            open[origin] = true;
            count += 1;
        }
    }
    count
}

/// Checks one answer (outside timing): non-empty, within the MTU, made of the peer's missing
/// deltas only, and carrying exactly the expected number of them.
fn check(fixture: &Fixture, strategy: Strategy) -> usize {
    let label = fixture.label;
    let precise = strategy.is_precise();
    let digest = if precise {
        &fixture.precise
    } else {
        &fixture.scuttle
    };
    let lagging: BTreeMap<NodeId, &Lagging> =
        fixture.lagging.iter().map(|l| (l.origin, l)).collect();

    // With no byte limit, the answer is exactly the 100 outstanding deltas.
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let all = reconcile::deltas(
        &fixture.store,
        digest,
        strategy,
        &mut rng,
        &mut Budget::new(usize::MAX / 2, usize::MAX),
    );
    let mut sent: Vec<(NodeId, String, Version)> = all
        .iter()
        .flat_map(|g| {
            g.deltas
                .iter()
                .map(|d| (g.origin, d.key.clone(), d.version))
        })
        .collect();
    sent.sort();
    let mut outstanding: Vec<(NodeId, String, Version)> = fixture
        .lagging
        .iter()
        .flat_map(|l| l.missing.iter().map(|(k, v)| (l.origin, k.clone(), *v)))
        .collect();
    outstanding.sort();
    assert_eq!(sent, outstanding, "{label} {strategy:?}: unlimited answer");

    // Within one message.
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let answer = reconcile::deltas(&fixture.store, digest, strategy, &mut rng, &mut budget());
    let count: usize = answer.iter().map(|g| g.deltas.len()).sum();
    assert!(count > 0, "{label} {strategy:?}: empty answer");
    let size = envelope(answer.clone()).encode().expect("encodes").len();
    assert!(size <= MTU, "{label} {strategy:?}: {size} bytes");
    for group in &answer {
        let l = lagging
            .get(&group.origin)
            .expect("only origins the peer is behind on");
        if precise {
            for d in &group.deltas {
                assert!(l.missing.contains(&(d.key.clone(), d.version)));
            }
        } else {
            // Scuttlebutt: a prefix of the missing deltas in version order, vouched up to just
            // below the first one left out.
            let got: Vec<(String, Version)> = group
                .deltas
                .iter()
                .map(|d| (d.key.clone(), d.version))
                .collect();
            assert_eq!(
                got[..],
                l.missing[..got.len()],
                "{label}: version-order prefix"
            );
            assert_eq!(group.from, l.watermark);
            let expected_to = l
                .missing
                .get(got.len())
                .map_or(l.missing[LAG - 1].1, |next| Version(next.1.0 - 1));
            assert_eq!(group.to, expected_to, "{label}: vouched watermark");
        }
    }
    if precise {
        assert_eq!(count, expected_precise(fixture), "{label} precise count");
    } else {
        let mut per_group: Vec<usize> = answer.iter().map(|g| g.deltas.len()).collect();
        let mut expected = expected_scuttle(fixture, strategy == Strategy::ScuttleBreadth);
        // Which origins get served is random; how many deltas each gets is not.
        per_group.sort_unstable();
        expected.sort_unstable();
        assert_eq!(
            per_group, expected,
            "{label} {strategy:?}: deltas per origin"
        );
    }
    eprintln!(
        "select/{label} {}: {count} of {} outstanding deltas in {} groups, {size} of {MTU} bytes",
        strategy.name(),
        BEHIND * LAG,
        answer.len(),
    );
    count
}

fn select(c: &mut Criterion) {
    let fixtures = [fixture("10k", 100), fixture("1m", 10_000)];

    for (group, strategy) in [
        ("scuttle_depth", Strategy::ScuttleDepth),
        ("scuttle_breadth", Strategy::ScuttleBreadth),
    ] {
        let counts: Vec<usize> = fixtures.iter().map(|f| check(f, strategy)).collect();
        assert!(
            counts.windows(2).all(|w| w[0] == w[1]),
            "{group}: same number of deltas sent for every store size: {counts:?}"
        );
        let mut g = c.benchmark_group(group);
        for f in &fixtures {
            let mut rng = ChaCha8Rng::seed_from_u64(SEED);
            g.bench_function(f.label, |b| {
                b.iter(|| {
                    reconcile::deltas(
                        black_box(&f.store),
                        black_box(&f.scuttle),
                        strategy,
                        &mut rng,
                        &mut budget(),
                    )
                });
            });
        }
        g.finish();
    }

    // Contrast, not the claim: precise reconciliation answering an explicit request that names
    // the same 100 outstanding items (cost grows with the items named).
    let strategy = Strategy::PreciseRandom;
    for f in &fixtures {
        check(f, strategy);
    }
    let mut g = c.benchmark_group("precise_random");
    for f in &fixtures {
        let mut rng = ChaCha8Rng::seed_from_u64(SEED);
        g.bench_function(BenchmarkId::new("request_100_items", f.label), |b| {
            b.iter(|| {
                reconcile::deltas(
                    black_box(&f.store),
                    black_box(&f.precise),
                    strategy,
                    &mut rng,
                    &mut budget(),
                )
            });
        });
    }
    g.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);
