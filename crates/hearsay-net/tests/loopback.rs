//! Nodes on loopback with real sockets: convergence, refusals, key rotation.

mod common;

use common::*;
use hearsay_actor::Set;
use hearsay_net::{Counter, Key, Keyring};

#[test]
fn three_nodes_converge() {
    run(async {
        let first = start("t3", 1, 1, keyring(7), vec![]).await;
        let seed = first.local_addr();
        let second = start("t3", 2, 1, keyring(7), vec![seed]).await;
        let third = start("t3", 3, 1, keyring(7), vec![seed]).await;
        let mut at_second = watch(&second, "color").await;
        let mut at_third = watch(&third, "color").await;
        first
            .node()
            .send(Set {
                key: "color".into(),
                value: "blue".into(),
            })
            .await
            .expect("mailbox")
            .expect("write");
        assert!(wait_for(&mut at_second, 1, "color", "blue", DEADLINE).await);
        assert!(wait_for(&mut at_third, 1, "color", "blue", DEADLINE).await);
        // The third node learned about the second from gossip alone, and linked to it.
        let mut at_first = watch(&first, "shape").await;
        third
            .node()
            .send(Set {
                key: "shape".into(),
                value: "round".into(),
            })
            .await
            .expect("mailbox")
            .expect("write");
        assert!(wait_for(&mut at_first, 3, "shape", "round", DEADLINE).await);
        for node in [&first, &second, &third] {
            assert_eq!(node.stats().get(Counter::AuthFailures), 0);
            assert!(node.stats().get(Counter::GossipIn) > 0);
        }
        let links = third.links().await.expect("links");
        assert!(
            links.iter().filter(|link| link.connected).count() >= 2,
            "{links:?}"
        );
    });
}

#[test]
fn ten_nodes_converge() {
    run(async {
        let first = start("t10", 1, 1, keyring(3), vec![]).await;
        let seed = first.local_addr();
        let mut nodes = vec![first];
        for id in 2..=10 {
            nodes.push(start("t10", id, 1, keyring(3), vec![seed]).await);
        }
        let mut watchers = Vec::new();
        for node in &nodes[1..] {
            watchers.push(watch(node, "k").await);
        }
        nodes[4]
            .node()
            .send(Set {
                key: "k".into(),
                value: "from five".into(),
            })
            .await
            .expect("mailbox")
            .expect("write");
        for (index, changes) in watchers.iter_mut().enumerate() {
            if index + 2 == 5 {
                continue;
            }
            assert!(
                wait_for(changes, 5, "k", "from five", DEADLINE).await,
                "node {} never got the write",
                index + 2
            );
        }
        for node in &nodes {
            assert_eq!(get(node, 5, "k").await.as_deref(), Some("from five"));
        }
    });
}

/// Starts a node of `(cluster, key)` holding a secret, and an outsider of `(cluster, key)` seeded
/// with it; checks that the outsider never gets the secret and says why it was refused. Answers
/// both nodes for more checks.
async fn outsider_is_refused(
    good: (&str, u8),
    outsider: (&str, u8),
    reason: &str,
) -> (hearsay_net::NetNode, hearsay_net::NetNode) {
    let good = start_stream(good.0, 1, 1, keyring(good.1), vec![]).await;
    good.node()
        .send(Set {
            key: "secret".into(),
            value: "42".into(),
        })
        .await
        .expect("mailbox")
        .expect("write");
    let outsider = start_stream(
        outsider.0,
        2,
        1,
        keyring(outsider.1),
        vec![good.local_addr()],
    )
    .await;
    let mut changes = watch(&outsider, "secret").await;
    // Refused at several redials (an event, not a span of time): had a handshake let anything
    // through, the secret would have come with it.
    assert!(until(|| outsider.stats().get(Counter::Refused) >= 3).await);
    assert!(changes.try_recv().is_err());
    assert_eq!(get(&outsider, 1, "secret").await, None);
    assert_eq!(good.stats().get(Counter::GossipIn), 0);
    // The outsider counts the refusal and keeps the reason.
    assert!(outsider.stats().get(Counter::Refused) > 0);
    let links = outsider.links().await.expect("links");
    assert!(
        links.iter().any(|link| link
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(reason))),
        "{links:?}"
    );
    (good, outsider)
}

#[test]
fn wrong_key_is_refused_and_gets_no_data() {
    run(async {
        let (good, _) = outsider_is_refused(("tk", 1), ("tk", 2), "authentication failed").await;
        assert!(good.stats().get(Counter::AuthFailures) > 0);
    });
}

#[test]
fn wrong_cluster_is_refused_with_reason_on_both_sides() {
    run(async {
        let (good, _) = outsider_is_refused(("alpha", 1), ("beta", 1), "cluster mismatch").await;
        assert!(good.stats().get(Counter::Refused) > 0);
    });
}

#[test]
fn keys_rotate_on_a_live_cluster() {
    run(async {
        let (old, new) = (Key::from_bytes([1; 32]), Key::from_bytes([2; 32]));
        let ring = |keys: &[&Key]| {
            Keyring::from_keys(keys.iter().map(|&key| key.clone()).collect()).expect("ring")
        };
        let first = start("rot", 1, 1, ring(&[&old]), vec![]).await;
        let seed = first.local_addr();
        let second = start("rot", 2, 1, ring(&[&old]), vec![seed]).await;
        let third = start("rot", 3, 1, ring(&[&old]), vec![seed]).await;
        let nodes = [&first, &second, &third];
        let mut watchers = Vec::new();
        for node in nodes {
            watchers.push(watch(node, "step").await);
        }
        let steps: [(&str, Vec<Keyring>); 5] = [
            ("old", vec![ring(&[&old]), ring(&[&old]), ring(&[&old])]),
            // 1. Every node accepts both (the old still primary).
            (
                "both",
                vec![
                    ring(&[&old, &new]),
                    ring(&[&old, &new]),
                    ring(&[&old, &new]),
                ],
            ),
            // 2. New primary, one node at a time: a mixed cluster still talks.
            (
                "mixed",
                vec![
                    ring(&[&new, &old]),
                    ring(&[&old, &new]),
                    ring(&[&new, &old]),
                ],
            ),
            (
                "primary",
                vec![
                    ring(&[&new, &old]),
                    ring(&[&new, &old]),
                    ring(&[&new, &old]),
                ],
            ),
            // 3. Old key dropped everywhere.
            ("new", vec![ring(&[&new]), ring(&[&new]), ring(&[&new])]),
        ];
        for (round, (step, rings)) in steps.into_iter().enumerate() {
            for (node, ring) in nodes.iter().zip(rings) {
                node.set_keyring(ring).await.expect("keyring set");
            }
            let writer = nodes[round % 3];
            let origin = (round % 3) as u64 + 1;
            writer
                .node()
                .send(Set {
                    key: "step".into(),
                    value: step.into(),
                })
                .await
                .expect("mailbox")
                .expect("write");
            for (index, changes) in watchers.iter_mut().enumerate() {
                if index == round % 3 {
                    continue;
                }
                assert!(
                    wait_for(changes, origin, "step", step, DEADLINE).await,
                    "step {step}: node {} did not get it",
                    index + 1
                );
            }
        }
        // Each step waited until a write had spread, so when the old key went, nothing sealed
        // with it was still in flight: no frame failed, no link dropped.
        for node in nodes {
            assert_eq!(node.stats().get(Counter::AuthFailures), 0);
            assert_eq!(node.stats().get(Counter::BadFrames), 0);
        }
    });
}

#[test]
fn a_member_that_leaves_is_no_longer_dialed() {
    use hearsay_actor::{MemberChanged, SubscribeMembership};
    use hearsay_proto::{MemberStatus, MembershipConfig, Mode, NodeId};

    struct Events(tokio::sync::mpsc::UnboundedSender<MemberChanged>);
    impl actix::Actor for Events {
        type Context = actix::Context<Self>;
    }
    impl actix::Handler<MemberChanged> for Events {
        type Result = ();
        fn handle(&mut self, change: MemberChanged, _: &mut actix::Context<Self>) {
            let _ = self.0.send(change);
        }
    }

    run(async {
        let start_member = |id: u64, seeds| async move {
            let mut protocol = protocol("mem", id, 1);
            let config = hearsay_proto::Config {
                mode: Mode::AntiEntropy,
                membership: Some(MembershipConfig::default()),
                ..protocol.config().clone()
            };
            protocol =
                hearsay_proto::Node::new(NodeId(id), hearsay_proto::Generation(1), config, id)
                    .expect("valid");
            hearsay_net::NetNode::start(protocol, net_config("mem", seeds), keyring(9))
                .await
                .expect("starts")
        };
        let first = start_member(1, vec![]).await;
        let seed = first.local_addr();
        let second = start_member(2, vec![seed]).await;
        let third = start_member(3, vec![seed]).await;
        let (sender, mut events) = tokio::sync::mpsc::unbounded_channel();
        let events_actor = actix::Actor::start(Events(sender));
        first
            .node()
            .send(SubscribeMembership {
                recipient: events_actor.recipient(),
            })
            .await
            .expect("subscribed");
        let mut at_first = watch(&first, "ready").await;
        third
            .node()
            .send(Set {
                key: "ready".into(),
                value: "yes".into(),
            })
            .await
            .expect("mailbox")
            .expect("write");
        assert!(wait_for(&mut at_first, 3, "ready", "yes", DEADLINE).await);
        let dialed =
            |links: &[hearsay_net::Link]| links.iter().any(|link| link.addr == third.local_addr());
        assert!(dialed(&first.links().await.expect("links")));
        // The member table says where each member is reached: what it advertised.
        let advertised = third.advertised().to_string();
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            let members = first
                .node()
                .send(hearsay_actor::GetMembers)
                .await
                .expect("mailbox")
                .expect("members");
            let held = members.iter().find(|m| m.id == NodeId(3));
            if held.and_then(|m| m.address.as_deref()) == Some(advertised.as_str()) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < until,
                "node 1 never held node 3's address: {held:?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // Leave, then stop: `NetNode::leave`.
        assert!(
            third
                .leave(std::time::Duration::from_secs(2))
                .await
                .expect("leave")
                .clean()
        );
        let until = tokio::time::Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(until, events.recv()).await {
                Ok(Some(change))
                    if change.member == NodeId(3) && change.status == MemberStatus::Left =>
                {
                    break;
                }
                Ok(Some(_)) => {}
                _ => panic!("node 1 never saw node 3 leave"),
            }
        }
        // The mesh heard the same event first (it subscribed at start): node 3 is not dialed.
        let links = first.links().await.expect("links");
        assert!(!dialed(&links), "{links:?}");
        drop(second);
    });
}
