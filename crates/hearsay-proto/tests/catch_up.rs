//! Catch-up ([`Config::catch_up`]): a peer far behind receives up to the byte budget per link and
//! round in chained exchanges, not one MTU-sized answer per exchange; the chain stops when the
//! budget is spent or answers bring nothing new, and flow control sees congestion only then.

use hearsay_proto::{
    Body, Config, DEFAULT_CATCH_UP, Digest, FlowControl, Generation, Lockstep, Message,
    MessageKind, Mode, Node, NodeId, OriginSummary, PROTOCOL_VERSION, Value, Version,
};
use std::time::Instant;

/// Values of 1 KB: one per 1,400-byte message.
fn backlog(cluster: &mut Lockstep, keys: usize) -> u64 {
    let now = Instant::now();
    let value = Value::from(vec![7u8; 1024]);
    let node = cluster.node_mut(0).expect("node 0");
    for i in 0..keys {
        node.set(now, &format!("k{i:05}"), value.clone())
            .expect("fits");
    }
    (keys * 1024) as u64
}

fn anti_entropy(catch_up: Option<usize>) -> Config {
    Config {
        mode: Mode::AntiEntropy,
        catch_up,
        flow_control: Some(FlowControl::default()),
        ..Config::default()
    }
}

#[test]
fn a_peer_far_behind_catches_up_at_the_budget_per_round() {
    let mut cluster =
        Lockstep::new(2, anti_entropy(Some(DEFAULT_CATCH_UP)), 1, Instant::now()).expect("valid");
    let payload = backlog(&mut cluster, 3_000);
    // 3 MB over one link at the receiver's budget of 1 MiB a round: 3 rounds.
    let rounds = cluster.run_until(10, |c| c.converged()).expect("converges");
    assert!(rounds <= 4, "took {rounds} rounds");
    assert!(
        cluster.nodes()[1].stats().congested_rounds >= 2,
        "each round's chain ended on the budget"
    );
    let catch_ups = cluster.nodes()[1].stats().catch_up_exchanges;
    assert!(catch_ups > 1_000, "{catch_ups} chained exchanges");
    // The chain's overhead: digests and headers, under a third of the payload.
    let bytes = cluster.total().bytes;
    assert!(
        bytes < payload * 4 / 3,
        "{bytes} bytes sent for {payload} of values"
    );
    // Without catch-up: one answer per exchange, two exchanges per round.
    let mut slow = Lockstep::new(2, anti_entropy(None), 1, Instant::now()).expect("valid");
    backlog(&mut slow, 3_000);
    assert_eq!(slow.run_until(20, |c| c.converged()), None);
    assert_eq!(slow.nodes()[1].stats().catch_up_exchanges, 0);
}

#[test]
fn a_spent_budget_resumes_next_round_and_signals_congestion() {
    let budget = 64 * 1024;
    let mut cluster =
        Lockstep::new(2, anti_entropy(Some(budget)), 1, Instant::now()).expect("valid");
    backlog(&mut cluster, 1_000);
    cluster.round();
    cluster.round();
    let stats = cluster.nodes()[1].stats().clone();
    // About 64 KiB of 1.1 KB answers a round (58), and the chain resumed in the second round.
    assert!(
        (100..=130).contains(&stats.catch_up_exchanges),
        "{} chained exchanges in two rounds",
        stats.catch_up_exchanges
    );
    assert!(stats.congested_rounds >= 1, "a spent budget is congestion");
    let rounds = cluster.run_until(40, |c| c.converged()).expect("converges");
    // 1 MB at 64 KiB per round: about 14 rounds more.
    assert!((10..=18).contains(&rounds), "took {rounds} more rounds");
}

#[test]
fn the_budget_must_hold_a_message() {
    let config = Config {
        catch_up: Some(100),
        ..Config::default()
    };
    let error = Node::new(NodeId(1), Generation(1), config, 1).expect_err("refused");
    assert!(error.to_string().contains("catch_up"), "{error}");
}

/// `n` nodes that know each other, each having just written `keys` keys of 16 bytes with
/// 32-byte values, at a 1,400-byte MTU (W2 of the chitchat baseline at `n` = 100).
fn bulk_load(n: usize, keys: usize, seed: u64) -> Lockstep {
    let config = Config {
        mtu: 1_400,
        ..Config::default()
    };
    let mut cluster = Lockstep::new(n, config, seed, Instant::now()).expect("valid");
    cluster.run_until(50, |c| {
        c.nodes()
            .iter()
            .all(|node| node.store().origins().count() == n)
    });
    let now = Instant::now();
    for id in 0..n {
        let node = cluster.node_mut(id).expect("a node");
        for key in 0..keys {
            node.set(
                now,
                &format!("{id:04}-{key:011}"),
                Value::from("x".repeat(32)),
            )
            .expect("fits");
        }
    }
    cluster
}

/// Whether every node holds every key [`bulk_load`] wrote.
fn holds_all(cluster: &Lockstep, n: usize, keys: usize) -> bool {
    cluster.nodes().iter().all(|node| {
        (0..n as u64).all(|origin| {
            (0..keys).all(|key| {
                let key = format!("{origin:04}-{key:011}");
                node.store().get(NodeId(origin), &key).is_some()
            })
        })
    })
}

/// [`bulk_load`] run until every node holds every key (within 30 rounds), with the rounds taken.
fn converged_bulk_load(n: usize, keys: usize, seed: u64) -> (Lockstep, u64) {
    let mut cluster = bulk_load(n, keys, seed);
    let rounds = cluster
        .run_until(30, |c| holds_all(c, n, keys))
        .expect("converges");
    (cluster, rounds)
}

/// Chained exchanges pull: the node behind asks for what it lacks and pushes nothing back, so a
/// bulk load (every node writing at once at a small MTU, every link chaining) sends each delta
/// to a node about once, not once from the node's own chain and again from every peer's.
#[test]
fn chains_in_a_bulk_load_send_few_redundant_deltas() {
    let (n, keys) = (30, 10);
    let (cluster, rounds) = converged_bulk_load(n, keys, 3);
    let (applied, redundant, chained) = cluster.nodes().iter().fold((0, 0, 0), |acc, node| {
        let stats = node.stats();
        (
            acc.0 + stats.deltas_applied,
            acc.1 + stats.deltas_redundant,
            acc.2 + stats.catch_up_exchanges,
        )
    });
    assert_eq!(applied, (n * (n - 1) * keys) as u64);
    assert!(chained > 0, "no chain ran: the test tests nothing");
    assert!(
        redundant * 4 < applied,
        "{redundant} redundant deltas for {applied} applied in {rounds} rounds"
    );
}

/// A chain's pull whose digest is a large share of the MTU (here 100 origins, ≈ 640 of 1,400
/// bytes) is answered in two datagrams: more answers arrive than exchanges are opened, where
/// without parts each `Syn` gets one `SynAck` at most.
#[test]
fn a_chain_pull_with_a_large_digest_is_answered_in_two_parts() {
    let (n, keys) = (100, 10);
    let (cluster, rounds) = converged_bulk_load(n, keys, 5);
    assert!(rounds <= 8, "took {rounds} rounds");
    let (syn, syn_ack) = (MessageKind::Syn as usize, MessageKind::SynAck as usize);
    let (pulls, answers) = cluster.nodes().iter().fold((0, 0), |acc, node| {
        let stats = node.stats();
        (
            acc.0 + stats.sent[syn].messages,
            acc.1 + stats.sent[syn_ack].messages,
        )
    });
    assert!(
        answers > pulls,
        "{answers} answers to {pulls} exchanges: not answered in parts"
    );
}

/// `more` comes from the network: however many further parts a `Syn` asks for, a node answers
/// with at most the one further part it would ask for itself (no hundredfold answer to a
/// datagram of a few bytes).
#[test]
fn a_pull_asking_for_many_parts_gets_two() {
    let now = Instant::now();
    let config = anti_entropy(Some(DEFAULT_CATCH_UP));
    let mut holder = Node::new(NodeId(0), Generation(1), config.clone(), 1).expect("valid");
    let value = Value::from(vec![7u8; 1024]);
    for i in 0..100 {
        holder
            .set(now, &format!("k{i:05}"), value.clone())
            .expect("fits");
    }
    while holder.poll_transmit().is_some() {}
    let pull = Body::Syn {
        digest: Some(Digest::Scuttlebutt {
            range: None,
            origins: vec![OriginSummary {
                origin: NodeId(0),
                generation: holder.generation(),
                heartbeat: 0,
                rate: 0,
                watermark: Version(0),
            }],
        }),
        reply_digest: false,
        more: 200,
    };
    let bytes = Message {
        version: PROTOCOL_VERSION,
        cluster: config.cluster,
        from: NodeId(1),
        body: pull,
    }
    .encode()
    .expect("encodes");
    holder.handle_datagram(now, &bytes).expect("accepted");
    let answers: Vec<_> = std::iter::from_fn(|| holder.poll_transmit())
        .filter(|t| t.kind == MessageKind::SynAck)
        .collect();
    assert_eq!(answers.len(), 2, "{} answers", answers.len());
    assert!(
        answers.iter().all(|t| t.deltas == 1),
        "one 1 KB value per answer"
    );
}
