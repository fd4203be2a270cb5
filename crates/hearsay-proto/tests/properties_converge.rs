//! Property tests of convergence: small clusters on the [`Lockstep`] driver in every way of
//! working (anti-entropy, combined, rumors), with loss and restarts, every datagram checked.

#[allow(dead_code)]
mod common;

use common::*;

use hearsay_proto::{
    ClusterId, Config, Direction, Generation, Lockstep, LossOfInterest, Message, Mode, NodeId,
    Strategy as Reconciliation, Termination, Transmit, Value,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;
use std::time::Instant;

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
    (any::<bool>(), 0u8..3, 1u32..4).prop_map(|(feedback, rule, k)| Termination {
        feedback,
        rule: match rule {
            0 => LossOfInterest::Counter(k),
            1 => LossOfInterest::Contacts(k),
            _ => LossOfInterest::Coin(k),
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
                    // The new incarnation holds the old one's entries, deletes included, carried
                    // at their versions (session 31), or nothing.
                    model.retain(|(o, _), _| *o != origin || *keep_state);
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
    /// counter, contacts or coin, `k` in 1..=3), direction and eager-send setting, with up to 30 % loss,
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
