//! Bulk loads (`docs/protocol.md` §9.9): a node holding more than 16 hot rumors offers them by id
//! from the first send, and a round whose rumor messages cannot hold them all runs anti-entropy
//! too; a few writes spread as before.

#[allow(dead_code)]
mod common;

use common::started;
use hearsay_proto::{Config, Lockstep, MessageKind, Mode, NodeId, Transmit, Value};
use std::time::Instant;

/// Writes `keys` keys, drops what the writes send at once (relays), then runs the second round
/// (not an anti-entropy round of the default's every-10th) and returns what it sends.
fn second_round(config: Config, keys: usize) -> Vec<Transmit> {
    let (mut node, now) = started(0, config, 11);
    for key in 0..keys {
        node.set(
            now,
            &format!("key-{key:04}"),
            Value::from("a value of 32 bytes, or near it"),
        )
        .expect("fits");
    }
    while node.poll_transmit().is_some() {}
    let next = now + node.config().gossip_interval;
    node.handle_timeout(next);
    std::iter::from_fn(|| node.poll_transmit()).collect()
}

fn of_kind(sent: &[Transmit], kind: MessageKind) -> Vec<&Transmit> {
    sent.iter().filter(|t| t.kind == kind).collect()
}

#[test]
fn a_few_writes_are_pushed_with_their_values_and_no_anti_entropy_runs() {
    let sent = second_round(Config::default(), 3);
    let rumors = of_kind(&sent, MessageKind::Rumor);
    assert_eq!(rumors.len(), 1, "{sent:?}");
    assert_eq!(rumors[0].deltas, 3, "the first send is eager");
    assert!(of_kind(&sent, MessageKind::Syn).is_empty(), "{sent:?}");
}

#[test]
fn in_a_bulk_load_rumors_are_offered_by_id_from_the_first_send() {
    // 17 hot rumors: a bulk load, whose offers still fit one message.
    let sent = second_round(Config::default(), 17);
    let rumors = of_kind(&sent, MessageKind::Rumor);
    assert_eq!(rumors.len(), 1, "{sent:?}");
    assert_eq!(rumors[0].deltas, 0, "offers only");
    assert!(of_kind(&sent, MessageKind::Syn).is_empty(), "{sent:?}");
}

#[test]
fn a_round_whose_rumor_message_overflows_runs_anti_entropy_too() {
    // 200 hot rumors: more than the peer could ask for and receive in one 1,400-byte message.
    let sent = second_round(Config::default(), 200);
    assert_eq!(of_kind(&sent, MessageKind::Rumor).len(), 1, "{sent:?}");
    assert_eq!(of_kind(&sent, MessageKind::Syn).len(), 1, "{sent:?}");
}

#[test]
fn pure_rumor_mongering_runs_no_anti_entropy_on_overflow() {
    let config = Config {
        mode: Mode::Rumor,
        ..Config::default()
    };
    let sent = second_round(config, 200);
    assert_eq!(of_kind(&sent, MessageKind::Rumor).len(), 1, "{sent:?}");
    assert!(of_kind(&sent, MessageKind::Syn).is_empty(), "{sent:?}");
}

/// chitchat's W2: 100 nodes write 10 keys each at once, at a 1,400-byte MTU; the rounds until
/// every node holds every key.
fn bulk_rounds(seed: u64) -> u64 {
    let config = Config::default();
    let start = Instant::now();
    let mut cluster = Lockstep::new(100, config, seed, start).expect("a valid configuration");
    cluster
        .run_until(200, |c| {
            c.nodes()
                .iter()
                .all(|node| node.store().origins().count() == 100)
        })
        .expect("the warm-up converges");
    let now = cluster.now();
    for i in 0..100 {
        let node = cluster.node_mut(i).expect("a node");
        for key in 0..10 {
            node.set(now, &format!("key-{key:012}"), Value::from("v".repeat(32)))
                .expect("fits");
        }
    }
    cluster
        .run_until(100, |c| {
            c.nodes().iter().all(|node| {
                (0..100).all(|origin| {
                    (0..10).all(|key| {
                        node.get_from(NodeId(origin), &format!("key-{key:012}"))
                            .is_some()
                    })
                })
            })
        })
        .expect("the bulk load converges")
}

#[test]
fn a_bulk_load_at_a_small_mtu_converges_in_a_few_rounds() {
    // 37 rounds on average before the bulk rules (rumor messages carry one MTU per exchange);
    // about 5 with them (`docs/performance.md`, W2). Push-pull needs log3(100) + ln ln(100) =
    // 5.7 rounds for one update.
    let rounds: Vec<u64> = (0..3).map(bulk_rounds).collect();
    assert!(rounds.iter().all(|&r| r <= 9), "{rounds:?}");
}
