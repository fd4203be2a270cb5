//! The handshake and the sealing, sans I/O: two [`Session`]s driven by hand, each fed the other's
//! frame bodies, then gossip both ways; timers as data; key rotation.

mod common;

use common::session::*;
use hearsay_net::Error;
use hearsay_net::frame::Payload;
use hearsay_net::session::{Session, Timeouts};
use std::time::Duration;

// --- the handshake ---------------------------------------------------------------------------

#[test]
fn handshake_by_hand_then_gossip_both_ways() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    for round in 0..5u8 {
        let out = vec![round; usize::from(round) * 100];
        let body = gossip(&mut pair.dialer, &keys, &out);
        assert_delivers(&mut pair.acceptor, &keys, &body, &out);
        let back = vec![round ^ 0xff; 3];
        let body = gossip(&mut pair.acceptor, &keys, &back);
        assert_delivers(&mut pair.dialer, &keys, &body, &back);
    }
    // Pings keep the counters in step and deliver nothing; a goodbye carries its reason.
    let ping = seal(&mut pair.dialer, &keys, &Payload::Ping).expect("seal");
    let (out, result) = feed(&mut pair.acceptor, &keys, &ping);
    result.expect("ping");
    assert!(out.is_empty(), "{out:?}");
    let bye = seal(
        &mut pair.acceptor,
        &keys,
        &Payload::Bye("shutting down".into()),
    )
    .expect("seal");
    let (out, result) = feed(&mut pair.dialer, &keys, &bye);
    result.expect("bye");
    assert_eq!(out, vec![Output::Bye("shutting down".into())]);
}

#[test]
fn nothing_is_sealed_before_the_handshake() {
    let keys = ring(&[7]);
    let (mut dialer, _) = dial(local(CLUSTER, 1), &keys, random(1));
    let mut acceptor = accept(local(CLUSTER, 2), random(2));
    for session in [&mut dialer, &mut acceptor] {
        let sealed = seal(session, &keys, &Payload::Ping);
        assert!(matches!(sealed, Err(Error::Unexpected(_))), "{sealed:?}");
    }
}

#[test]
fn timers_are_data() {
    let keys = ring(&[7]);
    // The pair below runs with the defaults: handshake 5 s, idle 10 s, keep-alive 2 s.
    let timeouts = Timeouts::default();
    let start = now();
    // Before the handshake: the handshake deadline, then a timeout error.
    let mut waiting = Session::accept(start, local(CLUSTER, 2), random(1), timeouts);
    assert_eq!(waiting.poll_timeout(), Some(start + timeouts.handshake));
    waiting
        .handle_timeout(start + Duration::from_secs(1), &keys)
        .expect("not yet");
    let late = waiting.handle_timeout(start + timeouts.handshake, &keys);
    assert!(matches!(late, Err(Error::Timeout(_))), "{late:?}");
    // Established: keep-alives at their interval (sealed pings the peer opens), and the idle
    // deadline moving with each frame received.
    let mut pair = handshake(&keys, &keys);
    let dialer = &mut pair.dialer;
    assert_eq!(dialer.poll_timeout(), Some(start + timeouts.keepalive));
    for tick in 1..=4u32 {
        let at = start + timeouts.keepalive * tick;
        assert_eq!(dialer.poll_timeout(), Some(at));
        dialer.handle_timeout(at, &keys).expect("keep-alive");
        let ping = dialer.poll_transmit().expect("a keep-alive");
        let (out, result) = feed(&mut pair.acceptor, &keys, &ping);
        result.expect("the keep-alive opens");
        assert!(out.is_empty(), "{out:?}");
    }
    // No frame since `start` (the handshake ran at `start`): idle at start + 10 s.
    let idle = dialer.handle_timeout(start + timeouts.idle, &keys);
    assert!(matches!(idle, Err(Error::Timeout(_))), "{idle:?}");
    let body = gossip(&mut pair.acceptor, &keys, b"late");
    let later = start + Duration::from_secs(20);
    pair.dialer
        .handle_frame(later, &keys, &body)
        .expect("a frame");
    // The overdue keep-alive fires at once; the next is one interval on.
    pair.dialer
        .handle_timeout(later, &keys)
        .expect("keep-alive");
    assert!(pair.dialer.poll_transmit().is_some());
    assert_eq!(pair.dialer.poll_timeout(), Some(later + timeouts.keepalive));
    pair.dialer
        .handle_timeout(later + timeouts.idle - Duration::from_millis(1), &keys)
        .expect("not idle yet");
}

// --- key rotation ----------------------------------------------------------------------------

#[test]
fn a_rotating_receiver_opens_frames_under_the_old_and_the_new_key() {
    const OLD: u8 = 1;
    const NEW: u8 = 2;
    let receiver = ring(&[NEW, OLD]);
    // A sender that still seals with the old key (it accepts both, to open the reply).
    let sender_accepts = ring(&[OLD, NEW]);
    let mut pair = handshake(&sender_accepts, &receiver);
    let mut sealed = Vec::new();
    for round in 0..6u8 {
        // Alternate keys: the receiver's "last key that worked" must not get stuck.
        let sender = if round % 2 == 0 {
            ring(&[OLD])
        } else {
            ring(&[NEW])
        };
        let body = gossip(&mut pair.dialer, &sender, &[round]);
        assert_delivers(&mut pair.acceptor, &receiver, &body, &[round]);
        sealed.push(body);
    }
    // The receiver seals with its primary, the new key: the sender opens with a ring holding it.
    let back = gossip(&mut pair.acceptor, &receiver, b"back");
    assert_delivers(&mut pair.dialer, &sender_accepts, &back, b"back");
    // A sender already on the new key only.
    let (mut dialer, hello) = dial(local(CLUSTER, 3), &ring(&[NEW]), random(0xd3));
    let mut acceptor = accept(local(CLUSTER, 2), random(0xa3));
    let (out, result) = feed(&mut acceptor, &receiver, &hello);
    result.expect("hello under the new key");
    let (out, result) = feed(&mut dialer, &ring(&[NEW]), &sends(&out)[0]);
    result.expect("reply under the new key");
    feed(&mut acceptor, &receiver, &sends(&out)[0])
        .1
        .expect("confirm");
    let body = gossip(&mut dialer, &ring(&[NEW]), b"new");
    assert_delivers(&mut acceptor, &receiver, &body, b"new");
    // Once the old key is gone, a frame sealed under it fails.
    let stale = gossip(&mut pair.dialer, &ring(&[OLD]), b"stale");
    assert_fails(
        &mut pair.acceptor,
        &ring(&[NEW]),
        &stale,
        is_auth,
        "old key gone",
    );
}
