//! Hostile peers against real nodes on loopback: raw sockets sending junk, absurd lengths,
//! stalled frames, replayed recordings, and floods of idle connections. Every wait is for an
//! event (a closed socket, a change at a node), bounded by a deadline that only a broken build
//! reaches; nothing sleeps, and no assertion depends on how fast the machine is: "closed at once"
//! is checked with every timer of the node set beyond the deadline ([`patient`]), so that only the
//! frame itself could have closed the connection, and "closed by this timer" with the other timers
//! set beyond it.

mod common;

use common::*;
use hearsay_net::frame::{HELLO, NONCE_LEN, REFUSED, SEALED, TAG_LEN};
use hearsay_net::session::{Local, Session, Timeouts};
use hearsay_net::{
    Counter, MAX_HANDSHAKE_FRAME, NetConfig, NetNode, handshake_budget, handshake_budget_per_source,
};
use hearsay_proto::{Generation, NodeId};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The tests' handshake timeout (`net_config`).
const HANDSHAKE: Duration = Duration::from_secs(2);
/// The tests' idle timeout (`net_config`).
const IDLE: Duration = Duration::from_secs(3);
/// Slack below a timeout, for a close measured from a little after the connection started (a
/// lower bound: a slow machine only makes the close later).
const SLACK: Duration = Duration::from_millis(400);
/// Longer than any wait of the tests: a timer set to this never fires during one.
const NEVER: Duration = Duration::from_secs(4 * DEADLINE.as_secs());

/// The tests' settings with the handshake and idle timers that never fire during a test: a
/// connection such a node closes within [`DEADLINE`] was closed for what its peer sent.
fn patient(cluster: &str) -> NetConfig {
    NetConfig {
        handshake_timeout: NEVER,
        idle_timeout: NEVER,
        ..stream_config(cluster, vec![])
    }
}

async fn start_with(cluster: &str, config: NetConfig, keys: u8) -> NetNode {
    NetNode::start(protocol(cluster, 1, 1), config, keyring(keys))
        .await
        .expect("node starts")
}

/// A write at each node reaches the other.
async fn converge(first: (&NetNode, u64), second: (&NetNode, u64), key: &str, value: &str) {
    let mut at_first = watch(first.0, key).await;
    let mut at_second = watch(second.0, key).await;
    set(first.0, key, value).await;
    assert!(
        wait_for(&mut at_second, first.1, key, value, DEADLINE).await,
        "{key}={value} from node {} never arrived",
        first.1
    );
    set(second.0, key, value).await;
    assert!(
        wait_for(&mut at_first, second.1, key, value, DEADLINE).await,
        "{key}={value} from node {} never arrived",
        second.1
    );
}

/// Seeded random bytes: 1 to `max` of them.
fn junk(seed: u64, max: usize) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let len = 1 + rng.random::<u32>() as usize % max;
    let mut bytes = vec![0; len];
    rng.fill(&mut bytes[..]);
    bytes
}

/// Sends `bytes` and half-closes: whatever is left of a frame is cut off by the end of file.
async fn send_and_finish(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = connect(addr).await;
    if write_all(&mut stream, bytes).await {
        let _ = stream.shutdown().await;
    }
    stream
}

/// A length prefix of 100 and 10 bytes of the body, then nothing.
async fn stall(addr: SocketAddr) -> TcpStream {
    let mut stream = connect(addr).await;
    let mut bytes = 100u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(&[b'H'; 10]);
    assert!(write_all(&mut stream, &bytes).await);
    stream
}

/// Waits in a task of its own until the node closes the connection.
fn closes(mut stream: TcpStream) -> actix_rt::task::JoinHandle<Option<Closed>> {
    actix_rt::spawn(async move { wait_closed(&mut stream, DEADLINE).await })
}

fn attack_counters(node: &NetNode) -> u64 {
    node.stats().get(Counter::BadFrames) + node.stats().get(Counter::AuthFailures)
}

#[test]
fn random_bytes_are_refused_and_counted() {
    run(async {
        let node = start_with("junk", patient("junk"), 1).await;
        let addr = node.local_addr();
        let mut attacks = Vec::new();
        // Raw random streams: a random length prefix, almost surely over the limit.
        for seed in 0..8 {
            attacks.push((None, closes(send_and_finish(addr, &junk(seed, 4096)).await)));
        }
        // Well-framed random bodies behind each kind byte, and behind a random one.
        let mut hellos = 0;
        for seed in 0..16u64 {
            let mut body = junk(1000 + seed, 1000);
            match seed % 4 {
                0 => body[0] = HELLO,
                1 => body[0] = SEALED,
                2 => body[0] = REFUSED,
                _ => {}
            }
            // A hello long enough to be opened, and no longer than the largest hello, fails
            // authentication and is answered in clear; a longer frame is refused unread.
            let opened = body[0] == HELLO
                && (1 + NONCE_LEN + TAG_LEN..=MAX_HANDSHAKE_FRAME).contains(&body.len());
            hellos += u64::from(opened);
            let stream = send_and_finish(addr, &frame(&body)).await;
            attacks.push((Some(opened), closes(stream)));
        }
        let count = attacks.len() as u64;
        for (opened, attack) in attacks {
            let closed = attack.await.expect("task").expect("closed by the node");
            if opened == Some(true) {
                let bodies = frame_bodies(&closed.received);
                assert_eq!(bodies.len(), 1, "{closed:?}");
                assert_eq!(bodies[0][0], REFUSED);
                let reason = String::from_utf8_lossy(&bodies[0][1..]);
                assert!(reason.contains("authentication failed"), "{reason}");
            }
        }
        assert!(hellos > 0);
        let stats = node.stats();
        // Seeded junk: each connection is counted once, as exactly one of the two (measured:
        // 4 authentication failures and 20 bad frames of 24 connections).
        assert_eq!(
            stats.get(Counter::AuthFailures),
            hellos,
            "{:?}",
            stats.snapshot()
        );
        assert_eq!(
            stats.get(Counter::BadFrames),
            count - hellos,
            "{:?}",
            stats.snapshot()
        );
        assert_eq!(stats.get(Counter::Established), 0);
        assert_eq!(stats.get(Counter::GossipIn), 0);
        assert_eq!(stats.get(Counter::Accepted), count);
        assert_eq!(stats.get(Counter::Timeouts), 0, "{:?}", stats.snapshot());
    });
}

#[test]
fn an_oversized_length_prefix_is_refused_at_once() {
    run(async {
        let node = start_with("huge", patient("huge"), 1).await;
        let addr = node.local_addr();
        let max_frame = stream_config("huge", vec![]).max_frame as u32;
        // 4 GiB, the first length over the limit, and — before the peer has authenticated —
        // the first length over the largest hello: none is ever followed by a body, and none
        // may make the node wait for (and reserve) a body that long (before the handshake's
        // own limit, the third waited for 205 bytes until the handshake timed out).
        let handshake = MAX_HANDSHAKE_FRAME as u32 + 1;
        for (round, len) in [u32::MAX, max_frame + 1, handshake].into_iter().enumerate() {
            let mut stream = connect(addr).await;
            assert!(write_all(&mut stream, &len.to_be_bytes()).await);
            let closed = wait_closed(&mut stream, DEADLINE)
                .await
                .expect("closed by the node");
            assert!(closed.received.is_empty(), "{closed:?}");
            assert_eq!(node.stats().get(Counter::BadFrames), round as u64 + 1);
        }
        assert_eq!(node.stats().get(Counter::Timeouts), 0);
    });
}

#[test]
fn a_stalled_half_frame_times_out() {
    run(async {
        // Only the handshake timer can close it: the idle one never fires during the test.
        let config = NetConfig {
            idle_timeout: NEVER,
            ..stream_config("stall", vec![])
        };
        let node = start_with("stall", config, 1).await;
        let mut stream = stall(node.local_addr()).await;
        let closed = wait_closed(&mut stream, DEADLINE)
            .await
            .expect("closed by the node");
        assert!(closed.after >= HANDSHAKE - SLACK, "{closed:?}");
        assert!(closed.received.is_empty());
        let stats = node.stats();
        assert_eq!(stats.get(Counter::Timeouts), 1, "{:?}", stats.snapshot());
        assert_eq!(stats.get(Counter::BadFrames), 0);
        assert_eq!(stats.get(Counter::FramesIn), 0);
    });
}

#[test]
fn an_authenticated_peer_that_stalls_is_closed_when_idle() {
    run(async {
        let keys = keyring(2);
        let node = start_stream("idle", 1, 1, keys.clone(), vec![]).await;
        let mut stream = connect(node.local_addr()).await;
        // A raw client that holds the key: a full handshake, then garbage gossip.
        let local = Local {
            cluster: "idle".into(),
            id: NodeId(77),
            generation: Generation(1),
            listen: "127.0.0.1:1".into(),
        };
        let now = std::time::Instant::now();
        let mut session =
            Session::dial(now, local, &keys, [0x77; 16], Timeouts::default()).expect("dial");
        let hello = session.poll_transmit().expect("a hello");
        assert!(write_all(&mut stream, &frame(&hello)).await);
        let reply = read_frame(&mut stream).await;
        session
            .handle_frame(now, &keys, &reply)
            .expect("the node's hello");
        assert!(session.is_established());
        let gossip = |session: &mut Session, seed| {
            let gossip = hearsay_net::frame::Payload::Gossip(junk(seed, 2000));
            session.send(&keys, &gossip).expect("seal");
        };
        for seed in 0..3 {
            gossip(&mut session, seed);
        }
        let mut bytes = Vec::new();
        // The confirming ping, then the gossip.
        while let Some(body) = session.poll_transmit() {
            bytes.extend(frame(&body));
        }
        // Then the start of a frame that never ends.
        bytes.extend_from_slice(&100u32.to_be_bytes());
        bytes.extend_from_slice(&[b'S'; 10]);
        assert!(write_all(&mut stream, &bytes).await);
        let closed = wait_closed(&mut stream, DEADLINE)
            .await
            .expect("closed by the node");
        // Established, so only the idle timer (or a write timeout, which would leave the node's
        // keep-alives unread: this client reads them) can close it.
        assert!(closed.after >= IDLE - SLACK, "{closed:?}");
        let stats = node.stats();
        assert_eq!(stats.get(Counter::Established), 1, "{:?}", stats.snapshot());
        assert_eq!(stats.get(Counter::GossipIn), 3);
        assert_eq!(stats.get(Counter::Timeouts), 1, "{:?}", stats.snapshot());
        assert_eq!(attack_counters(&node), 0);
        // The garbage reached the node actor, which shrugged it off.
        assert!(get(&node, 1, hearsay_net::ADDR_KEY).await.is_some());
    });
}

#[test]
fn good_nodes_converge_while_under_attack() {
    run(async {
        let target = start_stream("siege", 1, 1, keyring(3), vec![]).await;
        let addr = target.local_addr();
        // Every hostile connection is open before the good node starts.
        let mut attacks = Vec::new();
        for seed in 0..4 {
            attacks.push(closes(send_and_finish(addr, &junk(seed, 4096)).await));
        }
        let mut huge = connect(addr).await;
        assert!(write_all(&mut huge, &u32::MAX.to_be_bytes()).await);
        attacks.push(closes(huge));
        let mut slow = Vec::new();
        for _ in 0..2 {
            slow.push(closes(stall(addr).await));
        }
        for _ in 0..2 {
            slow.push(closes(connect(addr).await));
        }
        let friend = start_stream("siege", 2, 1, keyring(3), vec![addr]).await;
        converge((&target, 1), (&friend, 2), "during", "siege").await;
        for attack in attacks {
            attack.await.expect("task").expect("closed by the node");
        }
        for attack in slow {
            let closed = attack.await.expect("task").expect("closed by the node");
            assert!(closed.after >= HANDSHAKE - SLACK, "{closed:?}");
        }
        let stats = target.stats();
        // One bad frame per junk stream and the 4 GiB prefix; one timeout per stalled or silent
        // connection (measured: exactly these).
        assert_eq!(stats.get(Counter::BadFrames), 5, "{:?}", stats.snapshot());
        assert_eq!(stats.get(Counter::Timeouts), 4, "{:?}", stats.snapshot());
        // After all of that, the link still carries writes both ways.
        converge((&target, 1), (&friend, 2), "after", "siege").await;
        for node in [&target, &friend] {
            assert_eq!(node.stats().get(Counter::AuthFailures), 0);
        }
        assert_eq!(friend.stats().get(Counter::BadFrames), 0);
    });
}

#[test]
fn a_recorded_session_replayed_through_a_proxy_fails() {
    run(async {
        // The first node advertises the proxy: everything the second sends it goes through it.
        let proxy = RecordingProxy::start().await;
        let config = NetConfig {
            advertise: Some(proxy.addr),
            ..patient("replay")
        };
        let first = NetNode::start(protocol("replay", 1, 1), config, keyring(6))
            .await
            .expect("node starts");
        proxy.forward_to(first.local_addr());
        let second = start_stream("replay", 2, 1, keyring(6), vec![proxy.addr]).await;
        // The second node's write reaches the first: through the proxy, the only way there.
        converge((&second, 2), (&first, 1), "k", "through the proxy").await;
        assert!(proxy.connections() >= 1);
        let recorded = proxy.client_bytes(0);
        let bodies = frame_bodies(&recorded);
        assert!(bodies.len() >= 3, "hello, confirmation, gossip: {bodies:?}");
        assert_eq!(bodies[0][0], HELLO);
        assert!(bodies[1..].iter().all(|body| body[0] == SEALED));

        let auth_failures = first.stats().get(Counter::AuthFailures);
        let established = first.stats().get(Counter::Established);
        let mut replay = connect(first.local_addr()).await;
        write_all(&mut replay, &recorded).await;
        let closed = wait_closed(&mut replay, DEADLINE)
            .await
            .expect("closed by the node");
        assert_eq!(first.stats().get(Counter::Timeouts), 0);
        // The recorded hello is accepted and answered (when the reply beats the reset) ...
        if let Some(reply) = frame_bodies(&closed.received).first() {
            assert_eq!(reply[0], HELLO);
        }
        // ... but the confirmation is bound to the old session: authentication fails.
        assert!(first.stats().get(Counter::AuthFailures) > auth_failures);
        assert_eq!(first.stats().get(Counter::Established), established);
        // The real link is unharmed.
        converge((&second, 2), (&first, 1), "k", "after the replay").await;
    });
}

#[test]
fn a_connection_flood_is_limited_and_recovers() {
    run(async {
        const LIMIT: usize = 8;
        const FLOOD: usize = 20;
        // Unauthenticated connections get a quarter of the slots.
        let handshakes = handshake_budget(LIMIT);
        assert_eq!(handshakes, 2);
        // The held connections are never timed out during the test: every close before the
        // flood gives up is the limit's doing.
        let config = NetConfig {
            max_connections: LIMIT,
            ..patient("flood")
        };
        let node = start_with("flood", config, 4).await;
        let addr = node.local_addr();
        let (sender, mut closed) = mpsc::unbounded_channel();
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            let mut stream = connect(addr).await;
            let sender = sender.clone();
            flood.push(actix_rt::spawn(async move {
                let _ = sender.send(wait_closed(&mut stream, DEADLINE).await);
            }));
        }
        // The connections over the budget are closed, without waiting for any timer.
        for _ in handshakes..FLOOD {
            let early = closed.recv().await.expect("channel");
            assert!(early.is_some(), "closed by the node");
        }
        let stats = node.stats();
        assert_eq!(stats.get(Counter::OverLimit), (FLOOD - handshakes) as u64);
        assert_eq!(stats.get(Counter::Accepted), handshakes as u64);
        assert_eq!(stats.get(Counter::Timeouts), 0, "{:?}", stats.snapshot());
        // The node's own dials still find room: the flood holds the handshakes' share only
        // (before session 26 it held every slot, and the node's dials failed "too many
        // connections" until it forgot the addresses it had learnt). Its link carries a write.
        let seed = start_stream("flood", 3, 1, keyring(4), vec![]).await;
        let mut at_seed = watch(&seed, "k").await;
        node.add_seed(seed.local_addr());
        set(&node, "k", "during the flood").await;
        assert!(wait_for(&mut at_seed, 1, "k", "during the flood", DEADLINE).await);
        // A good node dials while every handshake slot is held: refused, it backs off and
        // redials.
        let over = stats.get(Counter::OverLimit);
        let friend = start_stream("flood", 2, 1, keyring(4), vec![addr]).await;
        assert!(until(|| node.stats().get(Counter::OverLimit) > over).await);
        // The flood gives up (its sockets close): the slots free, the good node gets in.
        for attacker in &flood {
            attacker.abort();
        }
        converge((&node, 1), (&friend, 2), "k", "after the flood").await;
        assert_eq!(attack_counters(&node), 0);
    });
}

/// One host holding idle connections without a key takes at most its share of the handshake
/// budget (`handshake_budget_per_source`): connections from another address still get in.
/// Before session 30 one host could hold the whole budget, and no node could join while it did.
#[test]
fn one_host_holds_at_most_its_share_of_the_handshakes() {
    run(async {
        const LIMIT: usize = 64;
        let (budget, share) = (handshake_budget(LIMIT), handshake_budget_per_source(LIMIT));
        assert_eq!((budget, share), (16, 2));
        let config = NetConfig {
            max_connections: LIMIT,
            ..patient("share")
        };
        let node = start_with("share", config, 5).await;
        let addr = node.local_addr();
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(connect(addr).await);
        }
        let stats = node.stats();
        assert!(until(|| stats.get(Counter::OverLimit) == 8).await);
        assert_eq!(stats.get(Counter::Accepted), 2);
        // Another address of this host (all of 127/8 is loopback on Linux) is another source.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        if socket.bind("127.0.0.2:0".parse().expect("addr")).is_ok() {
            let _other = socket.connect(addr).await.expect("connects");
            assert!(until(|| node.stats().get(Counter::Accepted) == 3).await);
            assert_eq!(node.stats().get(Counter::OverLimit), 8);
        }
        drop(held);
    });
}
