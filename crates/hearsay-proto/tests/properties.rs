//! Property tests of the protocol core: the merge laws of [`Store`], convergence of small
//! clusters on the [`Lockstep`] driver in every way of working (with loss and restarts), faithful
//! digests, robustness of the decoder and the node against untrusted bytes, and agreement of the
//! structural check [`validate`] with rmp-serde.
//!
//! Every proptest runs from a fixed seed and without failure persistence, so runs are
//! reproducible; case counts are lower in debug builds to keep the file fast there too. The
//! plain tests near the end pin bugs these properties once found (feedback for rumors sent back
//! to their origin, local writes after a hostile maximal version, precise digests and long keys).

use hearsay_proto::reconcile::{self, DigestCursor};
use hearsay_proto::wire::{MAX_DEPTH, validate};
use hearsay_proto::{
    Body, Bounds, Budget, ClusterId, Config, Delta, Digest, Direction, Entry, Error, Generation,
    ItemId, Lockstep, LossOfInterest, Message, MessageKind, Mode, Node, NodeId, OriginDelta,
    OriginItems, OriginSummary, PROTOCOL_VERSION, RumorIds, RumorMessage, Store,
    Strategy as Reconciliation, Termination, Transmit, Value, Version, ViewConfig, ViewMessage,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed, TestCaseError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

// --- configuration ---------------------------------------------------------------------------

/// A reproducible proptest configuration: fixed seed, ChaCha RNG, no regression files.
/// `release` cases in optimised builds, `debug` cases otherwise.
fn cases(release: u32, debug: u32, seed: u64) -> ProptestConfig {
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
struct OriginSnap {
    generation: Generation,
    heartbeat: u64,
    watermark: Version,
    max_version: Version,
    entries: Vec<(String, Entry)>,
    /// The by-version index, as `entries_after(ZERO)` walks it.
    index: Vec<(String, Version)>,
}

/// Everything observable about a store.
#[derive(Clone, Debug, PartialEq, Eq)]
struct StoreSnap {
    origins: BTreeMap<NodeId, OriginSnap>,
    clock: Version,
}

fn snapshot(store: &Store) -> StoreSnap {
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

/// The parts of an origin's state that merging must make order-independent: generation,
/// heartbeat, highest version and watermark (vouched ranges that arrive before the range they
/// continue are kept and joined later, so the watermark does not depend on arrival order).
fn commutative_part(snap: &StoreSnap) -> BTreeMap<NodeId, (Generation, u64, Version, Version)> {
    snap.origins
        .iter()
        .map(|(id, o)| (*id, (o.generation, o.heartbeat, o.max_version, o.watermark)))
        .collect()
}

// --- deltas for the merge laws ---------------------------------------------------------------

const KEYS: [&str; 3] = ["a", "b", "c"];

/// A small integer hash, to derive "what the origin wrote" from `(origin, generation, version)`.
fn mix(origin: u64, generation: u64, version: u64) -> u64 {
    let mut h = origin
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(generation.wrapping_mul(0xc2b2_ae3d_27d4_eb4f))
        .wrapping_add(version.wrapping_mul(0x1656_67b1_9e37_79f9));
    h ^= h >> 29;
    h
}

/// The write an honest origin made at `version` of `generation`: versions are unique per origin
/// and generation, so the key and value are functions of them.
fn honest_delta(origin: u64, generation: u64, version: u64) -> Delta {
    let h = mix(origin, generation, version);
    let key = KEYS[(h % 3) as usize].to_owned();
    let value = (h % 5 != 0).then(|| Value::from(format!("{origin}/{generation}/{version}")));
    Delta {
        key,
        version: Version(version),
        value,
    }
}

/// Deltas that respect the wire contract: small alphabets so that origins, generations, keys and
/// versions collide, entries in ascending version, each version carrying the one write the origin
/// made at it.
fn honest_origin_delta() -> BoxedStrategy<OriginDelta> {
    (
        0u64..3,
        0u64..3,
        0u64..4,
        0u64..10,
        0u64..10,
        prop::collection::btree_set(1u64..10, 0..5),
    )
        .prop_map(
            |(origin, generation, heartbeat, from, to, versions)| OriginDelta {
                origin: NodeId(origin),
                generation: Generation(generation),
                heartbeat,
                from: Version(from),
                to: Version(to),
                deltas: versions
                    .into_iter()
                    .map(|v| honest_delta(origin, generation, v))
                    .collect(),
            },
        )
        .boxed()
}

fn small_or_any(small: std::ops::Range<u64>) -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        4 => small,
        1 => prop_oneof![Just(0u64), Just(u64::MAX), Just(u64::MAX - 1), any::<u64>()],
    ]
}

fn arbitrary_key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => prop::sample::select(KEYS.to_vec()).prop_map(str::to_owned),
        1 => "\\PC{0,8}",
    ]
}

fn arbitrary_value() -> impl Strategy<Value = Option<Value>> + Clone {
    prop::option::weighted(
        0.8,
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Value::from),
    )
}

/// Deltas that ignore the wire contract: versions in any order, shared between keys, repeated
/// with different values, at the extremes of `u64`.
fn arbitrary_origin_delta() -> BoxedStrategy<OriginDelta> {
    let delta = (arbitrary_key(), small_or_any(0..10), arbitrary_value()).prop_map(
        |(key, version, value)| Delta {
            key,
            version: Version(version),
            value,
        },
    );
    (
        small_or_any(0..3),
        small_or_any(0..3),
        small_or_any(0..4),
        small_or_any(0..10),
        small_or_any(0..10),
        prop::collection::vec(delta, 0..6),
    )
        .prop_map(
            |(origin, generation, heartbeat, from, to, deltas)| OriginDelta {
                origin: NodeId(origin),
                generation: Generation(generation),
                heartbeat,
                from: Version(from),
                to: Version(to),
                deltas,
            },
        )
        .boxed()
}

fn any_origin_delta() -> BoxedStrategy<OriginDelta> {
    prop_oneof![honest_origin_delta(), arbitrary_origin_delta()].boxed()
}

fn merged(deltas: &[OriginDelta]) -> Store {
    let mut store = Store::default();
    for delta in deltas {
        store.merge(delta);
    }
    store
}

/// Checks that `after` is no step back from `before`: generations never go down; within a
/// generation, heartbeat, watermark and highest version never go down and no entry is lost or
/// moves to a lower version; the clock never goes down.
fn check_monotone(before: &StoreSnap, after: &StoreSnap) -> Result<(), TestCaseError> {
    prop_assert!(after.clock >= before.clock, "clock went down");
    for (id, old) in &before.origins {
        let new = after.origins.get(id);
        prop_assert!(new.is_some(), "origin {id} disappeared");
        let Some(new) = new else { continue };
        prop_assert!(
            new.generation >= old.generation,
            "generation of {id} went down"
        );
        if new.generation > old.generation {
            continue;
        }
        prop_assert!(
            new.heartbeat >= old.heartbeat,
            "heartbeat of {id} went down"
        );
        prop_assert!(
            new.watermark >= old.watermark,
            "watermark of {id} went down"
        );
        prop_assert!(
            new.max_version >= old.max_version,
            "max version of {id} went down"
        );
        let held: BTreeMap<&str, Version> = new
            .entries
            .iter()
            .map(|(k, e)| (k.as_str(), e.version))
            .collect();
        for (key, entry) in &old.entries {
            let now = held.get(key.as_str()).copied();
            prop_assert!(
                now.is_some_and(|v| v >= entry.version),
                "entry {id}/{key} went from {:?} to {now:?}",
                entry.version
            );
        }
    }
    Ok(())
}

/// The Lamport clock is at least every version the store holds, so the next own write is newer
/// than anything held.
fn check_clock(snap: &StoreSnap) -> Result<(), TestCaseError> {
    for (id, o) in &snap.origins {
        prop_assert!(
            o.max_version <= snap.clock,
            "{id} holds version {:?} above the clock {:?}",
            o.max_version,
            snap.clock
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(4096, 1024, 0x6d65_7267_6531))]

    /// Idempotence: merging the same delta a second time changes nothing observable (entries,
    /// generation, heartbeat, watermark, highest version, version index, clock) and reports no
    /// change and no reset. Checked for contract-respecting and arbitrary deltas alike.
    #[test]
    fn merge_is_idempotent(
        prefix in prop::collection::vec(any_origin_delta(), 0..6),
        delta in any_origin_delta(),
    ) {
        let mut store = merged(&prefix);
        store.merge(&delta);
        let once = snapshot(&store);
        let again = store.merge(&delta);
        prop_assert_eq!(&snapshot(&store), &once);
        prop_assert!(again.changes.is_empty(), "second merge changed {:?}", again.changes);
        prop_assert!(!again.reset);
    }

    /// Commutativity: for contract-respecting deltas (one write per origin, generation and
    /// version), merging `a` then `b` or `b` then `a` yields the same entries (`same_entries`),
    /// and the same generation, heartbeat, highest version and watermark for every origin.
    ///
    /// The Lamport clock is *not* part of this law: see `lamport_clock_depends_on_merge_order`.
    #[test]
    fn merge_commutes(
        prefix in prop::collection::vec(honest_origin_delta(), 0..6),
        a in honest_origin_delta(),
        b in honest_origin_delta(),
    ) {
        let mut ab = merged(&prefix);
        let mut ba = ab.clone();
        ab.merge(&a);
        ab.merge(&b);
        ba.merge(&b);
        ba.merge(&a);
        prop_assert!(ab.same_entries(&ba), "entries differ:\n{:?}\n{:?}", snapshot(&ab), snapshot(&ba));
        prop_assert!(ba.same_entries(&ab));
        let (sab, sba) = (snapshot(&ab), snapshot(&ba));
        prop_assert_eq!(commutative_part(&sab), commutative_part(&sba));
        // With one write per version, the version index holds exactly the entries, by version.
        for snap in [&sab, &sba] {
            for (id, o) in &snap.origins {
                let mut expected: Vec<(String, Version)> = o
                    .entries
                    .iter()
                    .filter(|(_, e)| e.version > Version::ZERO)
                    .map(|(k, e)| (k.clone(), e.version))
                    .collect();
                expected.sort_by_key(|(_, v)| *v);
                prop_assert_eq!(&o.index, &expected, "version index of {} is off", id);
            }
        }
    }

    /// Monotonicity: after any merge of any delta (contract-respecting or not), no origin's
    /// generation goes down, and within an unchanged generation no entry's version, heartbeat,
    /// watermark or highest version goes down and no entry disappears; the clock never goes down
    /// and stays at or above every version held. A merge reported stale changes nothing; a reset
    /// raises the generation; every reported change moves its key to a strictly higher version.
    #[test]
    fn merge_is_monotone(deltas in prop::collection::vec(any_origin_delta(), 1..10)) {
        let mut store = Store::default();
        for delta in &deltas {
            let before = snapshot(&store);
            let report = store.merge(delta);
            let after = snapshot(&store);
            check_monotone(&before, &after)?;
            check_clock(&after)?;
            if report.stale_generation {
                prop_assert_eq!(&before, &after, "a stale delta changed the store");
            }
            if report.reset {
                let old = before.origins.get(&delta.origin).map(|o| o.generation);
                prop_assert!(old.is_some_and(|g| g < delta.generation));
            }
            for change in &report.changes {
                prop_assert!(
                    change.previous.as_ref().is_none_or(|p| p.version < change.entry.version),
                    "change {:?} is not an upgrade", change
                );
            }
        }
    }

    /// Merging never panics, whatever the deltas (any ids, versions up to `u64::MAX`, unsorted,
    /// duplicated, arbitrary UTF-8 keys), and every read accessor keeps working afterwards.
    #[test]
    fn merge_never_panics(deltas in prop::collection::vec(arbitrary_origin_delta(), 0..12)) {
        let store = merged(&deltas);
        let other = merged(&deltas.iter().rev().cloned().collect::<Vec<_>>());
        let _ = store.same_entries(&other);
        let _ = (store.len(), store.is_empty(), store.clock());
        for (_, o) in store.origins() {
            for cut in [Version::ZERO, Version(3), Version(u64::MAX)] {
                let _ = o.entries_after(cut).count();
                let _ = o.count_after(cut, 100);
            }
            let _ = o.entries_from("b").count();
        }
    }
}

/// Documents the one thing `Store::merge` does not make order-independent: the Lamport clock.
/// A delta raises the clock only if its generation is not stale when it arrives, so a delta of an
/// old generation at version 100 raises it to 100 when merged before the newer generation, and
/// leaves it at 3 when merged after. (Harmless: the clock stays at or above every version held,
/// which `merge_is_monotone` checks; only the numbering of the node's next own write differs.)
/// Asserts only what must hold in either order, and that chained vouched ranges reach the same
/// watermark in either order.
#[test]
fn lamport_clock_depends_on_merge_order() {
    let group = |generation, from, to, versions: &[u64]| OriginDelta {
        origin: NodeId(1),
        generation: Generation(generation),
        heartbeat: 0,
        from: Version(from),
        to: Version(to),
        deltas: versions
            .iter()
            .map(|v| honest_delta(1, generation, *v))
            .collect(),
    };
    let watermark = |s: &Store| s.origin(NodeId(1)).map(|o| o.watermark());
    let (low, high) = (group(1, 0, 5, &[2, 5]), group(1, 5, 9, &[7, 9]));
    let forward = merged(&[low.clone(), high.clone()]);
    let backward = merged(&[high, low]);
    assert!(forward.same_entries(&backward));
    assert_eq!(watermark(&forward), Some(Version(9)));
    assert_eq!(watermark(&backward), Some(Version(9)));

    let (old, new) = (group(1, 0, 100, &[100]), group(2, 0, 3, &[3]));
    let forward = merged(&[old.clone(), new.clone()]);
    let backward = merged(&[new, old]);
    assert!(forward.same_entries(&backward));
    assert_eq!(forward.clock(), Version(100));
    // Currently `Version(3)`: the stale generation's version 100 is not counted.
    assert!(backward.clock() >= Version(3));
}

// --- clusters --------------------------------------------------------------------------------

/// What a node does in a scenario.
#[derive(Clone, Debug)]
enum Action {
    /// Writes `k<key>` (`None` deletes it).
    Write { key: u8, value: Option<Vec<u8>> },
    /// Restarts as the next generation, keeping what it knows or starting empty.
    Restart { keep_state: bool },
}

/// One step of a scenario: at the start of `round`, node `node % n` does `action`.
#[derive(Clone, Debug)]
struct Op {
    round: u64,
    node: usize,
    action: Action,
}

/// Up to `max - 1` steps over the first four rounds; restarts only if `restarts`.
fn ops(max: usize, restarts: bool) -> BoxedStrategy<Vec<Op>> {
    let write = (
        0u8..8,
        prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..48)),
    )
        .prop_map(|(key, value)| Action::Write { key, value });
    let action = if restarts {
        prop_oneof![
            3 => write,
            1 => any::<bool>().prop_map(|keep_state| Action::Restart { keep_state }),
        ]
        .boxed()
    } else {
        write.boxed()
    };
    let op = (0u64..4, 0usize..64, action).prop_map(|(round, node, action)| Op {
        round,
        node,
        action,
    });
    prop::collection::vec(op, 1..max).boxed()
}

fn loss() -> BoxedStrategy<f64> {
    prop_oneof![2 => Just(0.0), 1 => 0.0f64..0.3].boxed()
}

fn termination() -> impl Strategy<Value = Termination> {
    (any::<bool>(), any::<bool>(), 1u32..4).prop_map(|(feedback, coin, k)| Termination {
        feedback,
        rule: if coin {
            LossOfInterest::Coin(k)
        } else {
            LossOfInterest::Counter(k)
        },
    })
}

fn cluster_config(mode: Mode) -> BoxedStrategy<Config> {
    (
        prop::sample::select(Reconciliation::ALL.to_vec()),
        prop::sample::select(Direction::ALL.to_vec()),
        256usize..1400,
        prop::option::of(1usize..5),
        1usize..3,
        termination(),
        prop::sample::select(vec![1u32, 2, u32::MAX]),
        any::<bool>(),
    )
        .prop_map(
            move |(
                strategy,
                direction,
                mtu,
                max_deltas,
                fanout,
                termination,
                eager,
                heartbeats,
            )| {
                Config {
                    eager_rumor_sends: eager,
                    strategy,
                    direction,
                    mode,
                    mtu,
                    max_deltas,
                    fanout,
                    termination,
                    heartbeats,
                    ..Config::default()
                }
            },
        )
        .boxed()
}

/// Checks every datagram a cluster sends: within the MTU, decodable by the receiver, and
/// describing itself truthfully (sender, kind, number of deltas). (`Node::send` itself drops a
/// message over the MTU, with a `debug_assert!` that panics in debug builds; so an over-MTU bug
/// shows up as a panic in debug runs and, in release, only as missing traffic.)
struct Watch {
    mtu: usize,
    cluster: ClusterId,
    messages: u64,
    problems: Vec<String>,
}

impl Watch {
    fn new(config: &Config) -> Watch {
        Watch {
            mtu: config.mtu,
            cluster: config.cluster,
            messages: 0,
            problems: Vec::new(),
        }
    }

    fn observe(&mut self, from: NodeId, transmit: &Transmit) {
        self.messages += 1;
        if self.problems.len() >= 5 {
            return;
        }
        if transmit.payload.len() > self.mtu {
            self.problems.push(format!(
                "{from} sent {} bytes over an MTU of {}",
                transmit.payload.len(),
                self.mtu
            ));
        }
        match Message::decode(&transmit.payload, self.cluster, self.mtu) {
            Ok(message) => {
                let deltas: usize = message.body.deltas().iter().map(|g| g.deltas.len()).sum();
                if message.from != from
                    || message.body.kind() != transmit.kind
                    || deltas != transmit.deltas
                {
                    self.problems.push(format!(
                        "{from} sent a datagram that misdescribes itself: {transmit:?}"
                    ));
                }
            }
            Err(error) => self
                .problems
                .push(format!("{from} sent an undecodable datagram: {error}")),
        }
    }
}

/// What the writes of a scenario leave, per origin and key: the last value written.
type Model = BTreeMap<(NodeId, String), Option<Value>>;

/// Builds the cluster (dropping datagrams with probability `loss`), applies `ops` in their
/// rounds (running those rounds), and returns the cluster, the expected final state and the
/// datagram watch.
fn run_writes(
    n: usize,
    config: &Config,
    seed: u64,
    loss: f64,
    ops: &[Op],
) -> Result<(Lockstep, Model, Watch), TestCaseError> {
    let now = Instant::now();
    let mut cluster = Lockstep::new(n, config.clone(), seed, Instant::now())
        .map_err(|e| TestCaseError::fail(format!("config rejected: {e}")))?;
    cluster.set_loss(loss);
    let mut model = Model::new();
    let mut watch = Watch::new(config);
    let last = ops.iter().map(|op| op.round).max().unwrap_or(0);
    for round in 0..=last {
        for op in ops.iter().filter(|op| op.round == round) {
            let index = op.node % n;
            let origin = NodeId(index as u64);
            let node = cluster.node_mut(index).expect("index is below n");
            match &op.action {
                Action::Write { key, value } => {
                    let key = format!("k{key}");
                    let written = match value {
                        Some(bytes) => node.set(now, &key, Value::from(bytes.clone())),
                        None => node.delete(now, &key),
                    };
                    prop_assert!(written.is_ok(), "write failed: {:?}", written);
                    model.insert((origin, key), value.clone().map(Value::from));
                }
                Action::Restart { keep_state } => {
                    let next = Generation(node.generation().0 + 1);
                    let restarted = node.restart(now, next, *keep_state);
                    prop_assert!(restarted.is_ok(), "restart failed: {:?}", restarted);
                    // The new incarnation holds the old one's live entries, rewritten, or nothing.
                    model.retain(|(o, _), value| *o != origin || (*keep_state && value.is_some()));
                }
            }
        }
        let report = cluster.round_with(|from, t| watch.observe(from, t));
        prop_assert_eq!(report.rejected, 0, "datagrams rejected in round {}", round);
    }
    Ok((cluster, model, watch))
}

/// Runs rounds until `done` holds or `bound` rounds have run; returns the rounds run if it held.
fn run_until(
    cluster: &mut Lockstep,
    watch: &mut Watch,
    bound: u64,
    done: impl Fn(&Lockstep) -> bool,
) -> Result<Option<u64>, TestCaseError> {
    for round in 0..=bound {
        if done(cluster) {
            return Ok(Some(round));
        }
        if round < bound {
            let report = cluster.round_with(|from, t| watch.observe(from, t));
            prop_assert_eq!(report.rejected, 0, "datagrams rejected");
        }
    }
    Ok(None)
}

/// Every node holds exactly the model: the last write of every origin and key, nothing else.
fn check_model(cluster: &Lockstep, model: &Model) -> Result<(), TestCaseError> {
    for node in cluster.nodes() {
        for ((origin, key), value) in model {
            let held = node.store().get(*origin, key);
            prop_assert_eq!(
                held.map(|e| &e.value),
                Some(value),
                "{} holds {:?} for {}/{}",
                node.id(),
                held,
                origin,
                key
            );
        }
        prop_assert_eq!(
            node.store().len(),
            model.len(),
            "{} holds extra entries",
            node.id()
        );
    }
    Ok(())
}

fn check_watch(watch: &Watch) -> Result<(), TestCaseError> {
    prop_assert!(watch.problems.is_empty(), "{:#?}", watch.problems);
    Ok(())
}

/// Rounds allowed for convergence once the last write is made.
const CONVERGENCE_BOUND: u64 = 400;

proptest! {
    #![proptest_config(cases(3000, 400, 0x636f_6e76_6572_6765))]

    /// Anti-entropy converges: a cluster of 2 to 12 nodes with any reconciliation strategy,
    /// direction, MTU (256..1400), fanout and delta limit, with or without heartbeats and up to
    /// 30 % datagram loss, after a few writes and deletes at random nodes, reaches `converged()`
    /// within a generous bound of rounds; every node then holds exactly the last write of every
    /// key; and every datagram sent on the way is within the MTU, decodable, and accepted by its
    /// receiver.
    #[test]
    fn anti_entropy_converges(
        n in 2usize..=12,
        config in cluster_config(Mode::AntiEntropy),
        seed in any::<u64>(),
        loss in loss(),
        ops in ops(24, false),
    ) {
        let (mut cluster, model, mut watch) = run_writes(n, &config, seed, loss, &ops)?;
        let rounds = run_until(&mut cluster, &mut watch, CONVERGENCE_BOUND, Lockstep::converged)?;
        check_watch(&watch)?;
        prop_assert!(rounds.is_some(), "no convergence within {} rounds", CONVERGENCE_BOUND);
        check_model(&cluster, &model)?;
    }

    /// The combined mode (rumors every round, anti-entropy every `k` rounds, `k` in 1..=5)
    /// converges under every strategy, direction, termination rule and eager-send setting, with
    /// up to 30 % loss, to exactly the last writes, with every datagram within the MTU and
    /// accepted.
    #[test]
    fn combined_mode_converges(
        n in 2usize..=12,
        config in (1u32..=5).prop_flat_map(|every| {
            cluster_config(Mode::Combined { anti_entropy_every: every })
        }),
        seed in any::<u64>(),
        loss in loss(),
        ops in ops(24, false),
    ) {
        let (mut cluster, model, mut watch) = run_writes(n, &config, seed, loss, &ops)?;
        let rounds = run_until(&mut cluster, &mut watch, CONVERGENCE_BOUND, Lockstep::converged)?;
        check_watch(&watch)?;
        prop_assert!(rounds.is_some(), "no convergence within {} rounds", CONVERGENCE_BOUND);
        check_model(&cluster, &model)?;
    }

    /// Pure rumor mongering terminates: under every termination rule (feedback or blind,
    /// counter or coin, `k` in 1..=3), direction and eager-send setting, with up to 30 % loss,
    /// after a few writes every node's hot rumors die out within a bound of rounds, with every
    /// datagram within the MTU and accepted. (Rumor mongering alone may leave a residue, so
    /// convergence is not asserted.)
    #[test]
    fn rumors_die_out(
        n in 2usize..=12,
        config in cluster_config(Mode::Rumor),
        seed in any::<u64>(),
        loss in loss(),
        ops in ops(24, false),
    ) {
        let (mut cluster, _, mut watch) = run_writes(n, &config, seed, loss, &ops)?;
        let quiet = |c: &Lockstep| c.nodes().iter().all(|node| node.rumors().is_empty());
        let rounds = run_until(&mut cluster, &mut watch, CONVERGENCE_BOUND, quiet)?;
        check_watch(&watch)?;
        prop_assert!(rounds.is_some(), "rumors still hot after {} rounds", CONVERGENCE_BOUND);
    }

    /// Restarts converge: nodes restarting as a new generation (keeping their state, whose live
    /// entries they write again, or starting empty) between writes, in anti-entropy or combined
    /// mode, still bring every node to exactly the entries of each origin's newest incarnation
    /// (an incarnation's older entries and tombstones are dropped everywhere).
    #[test]
    fn restarts_converge(
        n in 2usize..=12,
        config in prop_oneof![
            cluster_config(Mode::AntiEntropy),
            (1u32..=5).prop_flat_map(|every| {
                cluster_config(Mode::Combined { anti_entropy_every: every })
            }),
        ],
        seed in any::<u64>(),
        loss in loss(),
        ops in ops(24, true),
    ) {
        let (mut cluster, model, mut watch) = run_writes(n, &config, seed, loss, &ops)?;
        let rounds = run_until(&mut cluster, &mut watch, CONVERGENCE_BOUND, Lockstep::converged)?;
        check_watch(&watch)?;
        prop_assert!(rounds.is_some(), "no convergence within {} rounds", CONVERGENCE_BOUND);
        check_model(&cluster, &model)?;
    }
}

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

// --- digests -------------------------------------------------------------------------------

/// A store with up to a few dozen origins (small and large ids, some without entries) and short
/// keys, built from local writes of each origin and empty groups.
fn digest_store() -> BoxedStrategy<Store> {
    let write = (
        prop_oneof![3 => 0u64..40, 1 => any::<u64>()],
        "[a-e]{0,6}",
        prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..8)),
    );
    (
        prop::collection::vec(write, 0..60),
        prop::collection::btree_set(0u64..16, 0..4),
    )
        .prop_map(|(writes, empty)| {
            let mut store = Store::default();
            for origin in empty {
                store.merge(&OriginDelta {
                    origin: NodeId(origin),
                    generation: Generation(1),
                    heartbeat: 1,
                    from: Version::ZERO,
                    to: Version::ZERO,
                    deltas: Vec::new(),
                });
            }
            for (origin, key, value) in writes {
                store
                    .write(NodeId(origin), Generation(1), &key, value.map(Value::from))
                    .expect("versions left");
            }
            store
        })
        .boxed()
}

/// Checks that a digest is a faithful summary of `store`: everything it names is held as named,
/// and (for a range digest) everything held in its range is named.
fn check_digest(store: &Store, digest: &Digest) -> Result<(), TestCaseError> {
    match digest {
        Digest::Scuttlebutt { range, origins } => {
            for summary in origins {
                let held = store.origin(summary.origin);
                prop_assert!(
                    held.is_some_and(|o| o.generation() == summary.generation
                        && o.watermark() == summary.watermark
                        && o.heartbeat() == summary.heartbeat),
                    "digest misreports {:?}",
                    summary
                );
                if let Some(range) = range {
                    prop_assert!(
                        range.contains(&summary.origin),
                        "{:?} outside the range",
                        summary
                    );
                }
            }
            if let Some(range) = range {
                for (origin, _) in store.origins().filter(|(o, _)| range.contains(o)) {
                    prop_assert!(
                        origins.iter().any(|s| s.origin == origin),
                        "range {:?} covers {} but the digest does not name it",
                        range,
                        origin
                    );
                }
            }
        }
        Digest::Precise { range, origins } => {
            let mut named = BTreeMap::new();
            for group in origins {
                let held = store.origin(group.origin);
                prop_assert!(held.is_some_and(|o| o.generation() == group.generation));
                for (key, version) in &group.items {
                    let entry = store.get(group.origin, key);
                    prop_assert_eq!(entry.map(|e| e.version), Some(*version));
                    named.insert(
                        ItemId {
                            origin: group.origin,
                            key: key.clone(),
                        },
                        *version,
                    );
                }
            }
            if let Some(range) = range {
                for item in named.keys() {
                    prop_assert!(range.contains(item), "{:?} outside the range", item);
                }
                for (origin, state) in store.origins() {
                    for (key, _) in state.entries() {
                        let item = ItemId {
                            origin,
                            key: key.to_owned(),
                        };
                        prop_assert!(
                            !range.contains(&item) || named.contains_key(&item),
                            "range {:?} covers {:?} but the digest does not name it",
                            range,
                            item
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(4096, 1024, 0x6469_6765_7374))]

    /// Digests are faithful and make progress: with any byte budget from what one message has
    /// left at the smallest MTU upwards, each digest a node builds names exactly what it holds in
    /// the range it claims to cover, and successive digests from the cursor name every origin
    /// (Scuttlebutt) or every item (precise) of the store within one pass, after which the cursor
    /// starts over.
    #[test]
    fn digests_are_faithful_and_cover_the_store(
        store in digest_store(),
        precise in any::<bool>(),
        bytes in 90usize..400,
    ) {
        let strategy = if precise {
            Reconciliation::PreciseRandom
        } else {
            Reconciliation::ScuttleDepth
        };
        let mut cursor = DigestCursor::default();
        let mut origins = std::collections::BTreeSet::new();
        let mut items = std::collections::BTreeSet::new();
        let bound = store.len() + store.origins().count() + 2;
        let mut passes = None;
        for digest_no in 1..=bound {
            let mut budget = Budget::new(bytes, usize::MAX);
            let digest = reconcile::digest(&store, strategy, &mut cursor, &mut budget);
            check_digest(&store, &digest)?;
            match &digest {
                Digest::Scuttlebutt { origins: named, .. } => {
                    origins.extend(named.iter().map(|s| s.origin));
                }
                Digest::Precise { origins: named, .. } => {
                    for group in named {
                        origins.insert(group.origin);
                        items.extend(group.items.iter().map(|(k, _)| (group.origin, k.clone())));
                    }
                }
            }
            if cursor == DigestCursor::default() {
                passes = Some(digest_no);
                break;
            }
        }
        prop_assert!(passes.is_some(), "no full pass within {} digests", bound);
        if precise {
            let held: std::collections::BTreeSet<(NodeId, String)> = store
                .origins()
                .flat_map(|(o, s)| s.entries().map(move |(k, _)| (o, k.to_owned())))
                .collect();
            prop_assert_eq!(items, held);
        } else {
            let held: std::collections::BTreeSet<NodeId> = store.origins().map(|(o, _)| o).collect();
            prop_assert_eq!(origins, held);
        }
    }
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

// --- decoder robustness ----------------------------------------------------------------------

fn cluster_id() -> ClusterId {
    Config::default().cluster
}

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
        payloads.into_iter().collect()
    })
}

/// The corpus datagram `which` points at.
fn pick(which: &Index) -> &'static [u8] {
    which.get::<Vec<u8>>(corpus())
}

/// A node to feed datagrams to: not a member of the corpus clusters, with entries of its own.
fn receiver(strategy: Reconciliation, direction: Direction, mode: Mode, mtu: usize) -> Node {
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
    node
}

fn any_receiver() -> BoxedStrategy<Node> {
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
fn feed(node: &mut Node, now: Instant, bytes: &[u8]) -> Result<Result<(), Error>, TestCaseError> {
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
fn drain(node: &mut Node) -> Result<(), TestCaseError> {
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
fn msgpackish_bytes() -> BoxedStrategy<Vec<u8>> {
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

fn any_bytes() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        msgpackish_bytes()
    ]
    .boxed()
}

// Arbitrary well-formed messages, with small alphabets so that they hit state the receiver holds.

fn node_id() -> impl Strategy<Value = NodeId> + Clone {
    small_or_any(0..5).prop_map(NodeId)
}

fn version() -> impl Strategy<Value = Version> + Clone {
    small_or_any(0..12).prop_map(Version)
}

fn generation() -> impl Strategy<Value = Generation> + Clone {
    small_or_any(0..3).prop_map(Generation)
}

fn wire_key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        6 => (0u8..4).prop_map(|k| format!("key-{k}")),
        2 => "\\PC{0,10}",
        1 => "[a-z]{200,400}",
    ]
}

fn wire_delta() -> BoxedStrategy<OriginDelta> {
    let delta =
        (wire_key(), version(), arbitrary_value()).prop_map(|(key, version, value)| Delta {
            key,
            version,
            value,
        });
    (
        node_id(),
        generation(),
        small_or_any(0..20),
        version(),
        version(),
        prop::collection::vec(delta, 0..4),
    )
        .prop_map(
            |(origin, generation, heartbeat, from, to, deltas)| OriginDelta {
                origin,
                generation,
                heartbeat,
                from,
                to,
                deltas,
            },
        )
        .boxed()
}

fn bounds<T: std::fmt::Debug + Clone>(
    end: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Bounds<T>> + Clone {
    (prop::option::of(end.clone()), prop::option::of(end))
        .prop_map(|(from, to)| Bounds { from, to })
}

fn digest() -> BoxedStrategy<Digest> {
    let summary = (
        node_id(),
        generation(),
        small_or_any(0..20),
        any::<u32>(),
        version(),
    )
        .prop_map(
            |(origin, generation, heartbeat, rate, watermark)| OriginSummary {
                origin,
                generation,
                heartbeat,
                rate,
                watermark,
            },
        );
    let item_id = (node_id(), wire_key()).prop_map(|(origin, key)| ItemId { origin, key });
    let items = (
        node_id(),
        generation(),
        small_or_any(0..20),
        any::<u32>(),
        prop::collection::vec((wire_key(), version()), 0..4),
    )
        .prop_map(|(origin, generation, heartbeat, rate, items)| OriginItems {
            origin,
            generation,
            heartbeat,
            rate,
            items,
        });
    prop_oneof![
        (
            prop::option::of(bounds(node_id())),
            prop::collection::vec(summary, 0..5)
        )
            .prop_map(|(range, origins)| Digest::Scuttlebutt { range, origins }),
        (
            prop::option::of(bounds(item_id)),
            prop::collection::vec(items, 0..4)
        )
            .prop_map(|(range, origins)| Digest::Precise { range, origins }),
    ]
    .boxed()
}

fn rumor_ids() -> BoxedStrategy<Vec<RumorIds>> {
    let ids = (
        node_id(),
        generation(),
        prop::collection::vec(version(), 0..4),
    )
        .prop_map(|(origin, generation, versions)| RumorIds {
            origin,
            generation,
            versions,
        });
    prop::collection::vec(ids, 0..3).boxed()
}

fn body() -> BoxedStrategy<Body> {
    prop_oneof![
        (prop::option::of(digest()), any::<bool>()).prop_map(|(digest, reply_digest)| Body::Syn {
            digest,
            reply_digest
        }),
        (
            prop::collection::vec(wire_delta(), 0..4),
            prop::option::of(digest())
        )
            .prop_map(|(deltas, digest)| Body::SynAck { deltas, digest }),
        prop::collection::vec(wire_delta(), 0..4).prop_map(|deltas| Body::Ack { deltas }),
        (
            prop::collection::vec(wire_delta(), 0..4),
            rumor_ids(),
            rumor_ids(),
            rumor_ids(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(deltas, offers, wants, known, want_rumors, want_feedback)| {
                    Body::Rumor(RumorMessage {
                        deltas,
                        offers,
                        wants,
                        known,
                        want_rumors,
                        want_feedback,
                    })
                }
            ),
        view_message().prop_map(Body::View),
    ]
    .boxed()
}

fn view_message() -> BoxedStrategy<ViewMessage> {
    let ids = prop::collection::vec(node_id(), 0..8);
    prop_oneof![
        Just(ViewMessage::Join),
        (node_id(), any::<u8>()).prop_map(|(joiner, ttl)| ViewMessage::ForwardJoin { joiner, ttl }),
        Just(ViewMessage::Link),
        (any::<bool>(), any::<bool>())
            .prop_map(|(high, rotate)| ViewMessage::Neighbor { high, rotate }),
        any::<bool>().prop_map(|accepted| ViewMessage::NeighborReply { accepted }),
        Just(ViewMessage::Disconnect),
        (node_id(), any::<u8>(), ids.clone())
            .prop_map(|(origin, ttl, peers)| ViewMessage::Shuffle { origin, ttl, peers }),
        ids.prop_map(|peers| ViewMessage::ShuffleReply { peers }),
        Just(ViewMessage::Ping),
    ]
    .boxed()
}

fn message() -> BoxedStrategy<Message> {
    (node_id(), body())
        .prop_map(|(from, body)| Message {
            version: PROTOCOL_VERSION,
            cluster: cluster_id(),
            from,
            body,
        })
        .boxed()
}

fn encode(message: &Message) -> Result<Vec<u8>, TestCaseError> {
    message
        .encode()
        .map_err(|e| TestCaseError::fail(format!("encoding failed: {e}")))
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

proptest! {
    #![proptest_config(cases(4096, 1024, 0x6d65_7373_6167))]

    /// Well-formed messages round-trip: `decode(encode(m)) == m`, re-encoding is byte-identical,
    /// and a limit below the encoded size gives `TooLarge`.
    #[test]
    fn messages_round_trip(message in message()) {
        let bytes = encode(&message)?;
        let decoded = Message::decode(&bytes, cluster_id(), usize::MAX);
        prop_assert_eq!(decoded.as_ref(), Ok(&message));
        prop_assert_eq!(encode(&message)?, bytes.clone());
        prop_assert_eq!(
            Message::decode(&bytes, cluster_id(), bytes.len() - 1),
            Err(Error::TooLarge { size: bytes.len(), limit: bytes.len() - 1 })
        );
    }

    /// A node fed any sequence of well-formed messages of its cluster and version (arbitrary
    /// digests, ranges, deltas, rumors and feedback; ids, versions and heartbeats up to
    /// `u64::MAX`; keys larger than its MTU), with gossip rounds in between, never panics, accepts
    /// every one not claiming to come from itself, and never sends a datagram over its MTU.
    #[test]
    fn nodes_survive_arbitrary_messages(
        messages in prop::collection::vec(message(), 1..8),
        mut node in any_receiver(),
    ) {
        let mut now = Instant::now();
        for message in &messages {
            let bytes = encode(message)?;
            let result = feed(&mut node, now, &bytes)?;
            if message.from == node.id() {
                prop_assert_eq!(result, Err(Error::FromSelf(node.id())));
            } else {
                prop_assert_eq!(result, Ok(()));
            }
            // A round after each message: time moves on to the one due.
            now = node.poll_timeout().unwrap_or(now).max(now);
            node.handle_timeout(now);
            drain(&mut node)?;
        }
    }
}

// --- wire::validate --------------------------------------------------------------------------

/// A msgpack value, written with the low-level `rmp` encoder so that every family of marker
/// (including ext, which serde never writes) occurs.
#[derive(Clone, Debug)]
enum Mp {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Str(String),
    Bin(Vec<u8>),
    Ext(i8, Vec<u8>),
    Array(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
}

fn mp() -> BoxedStrategy<Mp> {
    let leaf = prop_oneof![
        Just(Mp::Nil),
        any::<bool>().prop_map(Mp::Bool),
        any::<i64>().prop_map(Mp::Int),
        any::<u64>().prop_map(Mp::UInt),
        any::<f32>().prop_map(Mp::F32),
        any::<f64>().prop_map(Mp::F64),
        "\\PC{0,40}".prop_map(Mp::Str),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Mp::Bin),
        (any::<i8>(), prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Mp::Ext(t, d)),
    ];
    leaf.prop_recursive(5, 96, 20, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..20).prop_map(Mp::Array),
            prop::collection::vec((inner.clone(), inner), 0..6).prop_map(Mp::Map),
        ]
    })
    .boxed()
}

fn write_mp(out: &mut Vec<u8>, value: &Mp) {
    use rmp::encode as w;
    const OK: &str = "writing to a Vec never fails";
    match value {
        Mp::Nil => w::write_nil(out).expect(OK),
        Mp::Bool(b) => w::write_bool(out, *b).expect(OK),
        Mp::Int(i) => {
            w::write_sint(out, *i).expect(OK);
        }
        Mp::UInt(u) => {
            w::write_uint(out, *u).expect(OK);
        }
        Mp::F32(f) => w::write_f32(out, *f).expect(OK),
        Mp::F64(f) => w::write_f64(out, *f).expect(OK),
        Mp::Str(s) => w::write_str(out, s).expect(OK),
        Mp::Bin(b) => w::write_bin(out, b).expect(OK),
        Mp::Ext(ty, data) => {
            w::write_ext_meta(out, data.len() as u32, *ty).expect(OK);
            out.extend_from_slice(data);
        }
        Mp::Array(items) => {
            w::write_array_len(out, items.len() as u32).expect(OK);
            for item in items {
                write_mp(out, item);
            }
        }
        Mp::Map(pairs) => {
            w::write_map_len(out, pairs.len() as u32).expect(OK);
            for (k, v) in pairs {
                write_mp(out, k);
                write_mp(out, v);
            }
        }
    }
}

fn mp_bytes(value: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    write_mp(&mut out, value);
    out
}

/// How many bytes rmp-serde takes for the first msgpack value of `bytes`, skipping it as
/// `IgnoredAny` (a reader that allocates nothing beyond what the input holds).
fn rmp_serde_len(bytes: &[u8]) -> Option<usize> {
    let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
    serde::de::IgnoredAny::deserialize(&mut de).ok()?;
    usize::try_from(de.position()).ok()
}

/// A serde value of the shapes hearsay's messages use, encoded with rmp-serde.
type SerdeShape = (
    u8,
    String,
    Vec<(u64, Option<i64>, bool)>,
    Option<Vec<String>>,
    BTreeMap<String, f64>,
);

fn serde_shape() -> BoxedStrategy<SerdeShape> {
    (
        any::<u8>(),
        "\\PC{0,300}",
        prop::collection::vec(
            (any::<u64>(), prop::option::of(any::<i64>()), any::<bool>()),
            0..40,
        ),
        prop::option::of(prop::collection::vec("\\PC{0,4}", 0..20)),
        prop::collection::btree_map("[a-z]{0,3}", any::<f64>(), 0..20),
    )
        .boxed()
}

proptest! {
    #![proptest_config(cases(8192, 2048, 0x7661_6c69_6461))]

    /// `validate` never reports a length larger than its input (nor zero), and the length it
    /// reports is that of a prefix that validates on its own and whatever follows it.
    #[test]
    fn validate_reports_a_prefix(bytes in any_bytes(), suffix in prop::collection::vec(any::<u8>(), 0..8)) {
        if let Ok(len) = validate(&bytes) {
            prop_assert!(len >= 1 && len <= bytes.len(), "validate reported {} of {}", len, bytes.len());
            prop_assert_eq!(validate(&bytes[..len]), Ok(len));
            let mut extended = bytes[..len].to_vec();
            extended.extend_from_slice(&suffix);
            prop_assert_eq!(validate(&extended), Ok(len));
        }
    }

    /// On valid encodings `validate` agrees with rmp-serde: the bytes rmp-serde writes for
    /// hearsay messages and for other serde values validate to exactly their length, also with
    /// trailing bytes after them.
    #[test]
    fn validate_accepts_rmp_serde_encodings(
        message in message(),
        shape in serde_shape(),
        suffix in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        for bytes in [
            encode(&message)?,
            rmp_serde::to_vec(&shape).map_err(|e| TestCaseError::fail(e.to_string()))?,
        ] {
            prop_assert_eq!(validate(&bytes), Ok(bytes.len()));
            prop_assert_eq!(rmp_serde_len(&bytes), Some(bytes.len()));
            let mut extended = bytes.clone();
            extended.extend_from_slice(&suffix);
            prop_assert_eq!(validate(&extended), Ok(bytes.len()));
        }
    }

    /// `validate` measures every msgpack value (all marker families, ext included, nesting within
    /// `MAX_DEPTH`) exactly as rmp-serde skips it; and on damaged encodings (truncated, one byte
    /// replaced, or arbitrary bytes) it accepts exactly the inputs rmp-serde can skip a value of,
    /// with the same length.
    #[test]
    fn validate_agrees_with_rmp_serde(
        value in mp(),
        damage in prop_oneof![
            Just(None),
            (any::<Index>(), any::<u8>()).prop_map(Some),
        ],
        cut in any::<Index>(),
        noise in any_bytes(),
    ) {
        let bytes = mp_bytes(&value);
        prop_assert_eq!(validate(&bytes), Ok(bytes.len()));
        prop_assert_eq!(rmp_serde_len(&bytes), Some(bytes.len()));
        let mut damaged = bytes.clone();
        if let Some((at, byte)) = damage {
            let at = at.index(damaged.len());
            damaged[at] = byte;
        }
        let truncated = &bytes[..cut.index(bytes.len())];
        for input in [&damaged[..], truncated, &noise[..]] {
            let ours = validate(input);
            let theirs = rmp_serde_len(input);
            match (&ours, theirs) {
                (Ok(a), Some(b)) => prop_assert_eq!(*a, b, "lengths differ on {:02x?}", input),
                (Err(_), None) => {}
                _ => prop_assert!(
                    false,
                    "validate {:?} but rmp-serde {:?} on {:02x?}", ours, theirs, input
                ),
            }
        }
    }
}

/// Nesting: `MAX_DEPTH` nested non-empty arrays validate, one more does not, and neither does a
/// declared element count larger than the bytes left.
#[test]
fn validate_limits_depth_and_declared_lengths() {
    let nested = |depth: usize| {
        let mut bytes = vec![0x91; depth];
        bytes.push(0x00);
        bytes
    };
    let ok = nested(MAX_DEPTH);
    assert_eq!(validate(&ok), Ok(ok.len()));
    assert!(matches!(
        validate(&nested(MAX_DEPTH + 1)),
        Err(Error::Malformed(_))
    ));
    // An array32 of 2^32 - 1 elements in a 9-byte frame, and a map32 of as many pairs.
    assert!(validate(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    assert!(validate(&[0xdf, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    // A bin32 and an ext32 declaring more bytes than follow.
    assert!(validate(&[0xc6, 0, 0, 0, 5, 1, 2, 3, 4]).is_err());
    assert!(validate(&[0xc9, 0, 0, 0, 4, 7, 1, 2, 3]).is_err());
}
