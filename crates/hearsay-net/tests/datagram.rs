//! The datagram transport on loopback with real sockets: outsiders (another key, another
//! cluster) get nothing and are counted, the reserved address key is out of users' reach, and a
//! flood of datagrams is dropped at the node's bounded queue, counted, while the node goes on.

mod common;

use common::*;
use hearsay_net::datagram::{Body, Sealer};
use hearsay_net::{ADDR_KEY, Counter, NetConfig};
use hearsay_proto::{Generation, NodeId};
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// A node holding `secret` = 42, and an outsider seeded with it; the outsider's hellos are
/// rejected (counted at the good node) and it never gets the secret.
async fn outsider_gets_nothing(outsider_cluster: &str, outsider_key: u8) {
    let good = start("dg", 1, 1, keyring(1), vec![]).await;
    set(&good, "secret", "42").await;
    let outsider = start(
        outsider_cluster,
        2,
        1,
        keyring(outsider_key),
        vec![good.local_addr()],
    )
    .await;
    // Several hellos rejected (an event, not a span of time): had one been let through, the good
    // node would have answered and gossiped the secret.
    assert!(until(|| good.stats().get(Counter::AuthFailures) >= 3).await);
    assert_eq!(get(&outsider, 1, "secret").await, None);
    assert_eq!(good.stats().get(Counter::GossipIn), 0);
    assert_eq!(outsider.stats().get(Counter::Established), 0);
    let links = outsider.links().await.expect("links");
    assert!(links.iter().all(|link| !link.connected), "{links:?}");
}

#[test]
fn another_key_gets_nothing_and_is_counted() {
    run(outsider_gets_nothing("dg", 2));
}

#[test]
fn another_cluster_with_the_same_key_gets_nothing_and_is_counted() {
    // The cluster name is bound into every seal: the same key does not open another cluster's.
    run(outsider_gets_nothing("other", 1));
}

#[test]
fn users_cannot_rewire_the_transport() {
    run(async {
        let first = start("rewire", 1, 1, keyring(3), vec![]).await;
        let second = start("rewire", 2, 1, keyring(3), vec![first.local_addr()]).await;
        let mut at_second = watch(&second, "k").await;
        // The reserved key is refused to users.
        let refused = first
            .node()
            .send(hearsay_actor::Set {
                key: ADDR_KEY.into(),
                value: "127.0.0.1:9".into(),
            })
            .await
            .expect("mailbox");
        assert!(refused.is_err(), "{refused:?}");
        // The old key is a plain user key: gossiped as data, never dialed.
        set(&first, "hearsay.addr", "127.0.0.1:9").await;
        set(&first, "k", "after").await;
        assert!(wait_for(&mut at_second, 1, "k", "after", DEADLINE).await);
        assert_eq!(
            get(&second, 1, "hearsay.addr").await.as_deref(),
            Some("127.0.0.1:9")
        );
        let bogus: SocketAddr = "127.0.0.1:9".parse().expect("addr");
        let links = second.links().await.expect("links");
        assert!(links.iter().all(|link| link.addr != bogus), "{links:?}");
        assert!(
            links
                .iter()
                .any(|link| link.id == Some(1) && link.addr == first.local_addr()),
            "{links:?}"
        );
    });
}

#[test]
fn a_flood_of_datagrams_is_dropped_at_a_bounded_queue_and_counted() {
    run(async {
        const FLOOD: u64 = 20_000;
        let config = NetConfig {
            inbound_queue: 4,
            ..net_config("flood", vec![])
        };
        let node = start_with_config(1, 1, keyring(4), config).await;
        // A key holder floods it with sealed gossip (not valid protocol messages: each one costs
        // the node a decode) and with garbage.
        let flooder = UdpSocket::bind(loopback()).await.expect("bind");
        let mut sealer = Sealer::new("flood", NodeId(66), Generation(1), [7; 16]);
        let gossip = sealer
            .seal(&keyring(4), &Body::Gossip(vec![0xc1; 1_000]))
            .expect("sealed");
        let target = node.local_addr();
        for at in 0..FLOOD {
            let datagram: &[u8] = if at % 2 == 0 { &gossip } else { b"garbage" };
            flooder.send_to(datagram, target).await.expect("sent");
            if at % 256 == 0 {
                tokio::task::yield_now().await;
            }
        }
        let stats = node.stats();
        // Every datagram the socket delivered is counted as one thing: handed to the node,
        // dropped at its full queue, or rejected as malformed.
        assert!(
            until(|| stats.get(Counter::BadFrames) >= 1 && stats.get(Counter::GossipIn) >= 1).await
        );
        let received = stats.get(Counter::FramesIn);
        assert!(received <= FLOOD);
        assert_eq!(
            received,
            stats.get(Counter::GossipIn) + stats.get(Counter::BadFrames)
        );
        assert!(
            stats.get(Counter::InboundDropped) > 0,
            "{:?}",
            stats.snapshot()
        );
        assert!(stats.get(Counter::InboundDropped) <= stats.get(Counter::GossipIn));
        // The node goes on: a peer that joins now gets its writes.
        set(&node, "k", "still here").await;
        let friend = start("flood", 2, 1, keyring(4), vec![target]).await;
        let mut at_friend = watch(&friend, "k").await;
        if get(&friend, 1, "k").await.as_deref() != Some("still here") {
            assert!(wait_for(&mut at_friend, 1, "k", "still here", DEADLINE).await);
        }
    });
}
