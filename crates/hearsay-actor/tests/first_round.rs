//! A node actor's first round, delayed with `GossipNode::with_first_round_after`: any delay a
//! user can write runs, `Duration::MAX` included (taken as a day; adding it to the clock
//! panicked in the actor's start before session 27).

use actix::Actor;
use hearsay_actor::{GetMetrics, GossipNode, Router, simulate};
use hearsay_proto::{Config, Generation, Node, NodeId};
use std::time::Duration;

#[test]
fn a_first_round_delayed_without_limit_comes_after_a_day() {
    let rounds = simulate(|| async {
        let node = Node::new(NodeId(1), Generation(1), Config::default(), 1).expect("node");
        let addr = GossipNode::new(node, Router::new())
            .with_first_round_after(Duration::MAX)
            .start();
        let rounds = || async { addr.send(GetMetrics).await.expect("mailbox").stats.rounds };
        tokio::time::sleep(Duration::from_secs(23 * 3_600)).await;
        let before = rounds().await;
        tokio::time::sleep(Duration::from_secs(2 * 3_600)).await;
        (before, rounds().await)
    })
    .expect("runtime");
    assert_eq!(rounds.0, 0, "a round before the day was over");
    assert!(rounds.1 > 0, "no round after a day");
}
