//! Node actors with partial views: each joins through one earlier node with `Join`, and a write
//! still reaches every actor (in-process router, paused virtual time).

use actix::Actor;
use hearsay_actor::{Get, GossipNode, Join, Router, Set, simulate};
use hearsay_proto::{Config, Generation, Node, NodeId, Value, ViewConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

#[test]
fn actors_with_partial_views_spread_a_write_to_all() {
    const N: u64 = 500;
    let outcome = simulate(|| async {
        let router = Router::new();
        let config = Config {
            view: Some(ViewConfig::default()),
            heartbeats: false,
            ..Config::default()
        };
        let mut nodes = Vec::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for id in 0..N {
            let node = Node::new(NodeId(id), Generation(1), config.clone(), id).expect("node");
            let phase = Duration::from_millis(rng.random_range(0..1000));
            let addr = GossipNode::new(node, router.clone())
                .with_first_round_after(phase)
                .start();
            router.register(NodeId(id), addr.clone().recipient());
            if id > 0 {
                addr.send(Join(NodeId(rng.random_range(0..id))))
                    .await
                    .expect("join");
            }
            nodes.push(addr);
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
        nodes[0]
            .send(Set {
                key: "k".into(),
                value: Value::from("v"),
            })
            .await
            .expect("mailbox")
            .expect("write");
        let mut missing = N as usize;
        for _ in 0..60 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            missing = 0;
            for node in &nodes {
                let got = node
                    .send(Get {
                        origin: Some(NodeId(0)),
                        key: "k".into(),
                    })
                    .await
                    .expect("mailbox")
                    .expect("up");
                missing += usize::from(got.is_none());
            }
            if missing == 0 {
                break;
            }
        }
        missing
    })
    .expect("runtime");
    assert_eq!(outcome, 0, "{outcome} actors never got the write");
}
