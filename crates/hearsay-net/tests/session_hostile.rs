//! What a hostile peer can do to a [`Session`], sans I/O: replay, reorder, drop, tamper, a wrong
//! key, hellos in the wrong state; and hellos refused with their reason (cluster, id, version, key).

mod common;

use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use common::session::*;
use hearsay_net::Error;
use hearsay_net::frame::{self, HELLO, Hello, NONCE_LEN, RANDOM_LEN, REFUSED};
use hearsay_net::session::Local;
use hearsay_proto::{Generation, NodeId, PROTOCOL_VERSION};

// --- hostile frames inside a session ---------------------------------------------------------

#[test]
fn a_replayed_sealed_frame_fails() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let first = gossip(&mut pair.dialer, &keys, b"once");
    assert_delivers(&mut pair.acceptor, &keys, &first, b"once");
    assert_fails(&mut pair.acceptor, &keys, &first, is_auth, "replay");
    // The confirming ping, too.
    let confirm = pair.dialer_frames[1].clone();
    assert_fails(
        &mut pair.acceptor,
        &keys,
        &confirm,
        is_auth,
        "replayed confirm",
    );
    // And the acceptor's hello replayed to the established dialer is out of place.
    let reply = pair.reply.clone();
    assert_fails(
        &mut pair.dialer,
        &keys,
        &reply,
        |error| matches!(error, Error::Unexpected(_)),
        "replayed reply",
    );
}

#[test]
fn swapped_frames_fail() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let first = gossip(&mut pair.dialer, &keys, b"first");
    let second = gossip(&mut pair.dialer, &keys, b"second");
    assert_fails(&mut pair.acceptor, &keys, &second, is_auth, "second first");
    // The failed frame did not move the counter: the first still opens; the second then too.
    assert_delivers(&mut pair.acceptor, &keys, &first, b"first");
    assert_delivers(&mut pair.acceptor, &keys, &second, b"second");
}

#[test]
fn a_dropped_frame_makes_the_next_fail() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let _lost = gossip(&mut pair.dialer, &keys, b"lost");
    let next = gossip(&mut pair.dialer, &keys, b"next");
    assert_fails(&mut pair.acceptor, &keys, &next, is_auth, "after a gap");
}

#[test]
fn a_flipped_bit_fails() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let body = gossip(&mut pair.dialer, &keys, b"0123456789");
    // Every bit of the ciphertext and tag.
    for bit in 8..body.len() * 8 {
        let mut tampered = body.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        assert_fails(&mut pair.acceptor, &keys, &tampered, is_auth, "flipped bit");
    }
    assert_delivers(&mut pair.acceptor, &keys, &body, b"0123456789");
}

#[test]
fn a_truncated_or_extended_frame_fails() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let body = gossip(&mut pair.dialer, &keys, b"payload");
    for len in 0..body.len() {
        let (out, result) = feed(&mut pair.acceptor, &keys, &body[..len]);
        assert!(result.is_err(), "truncated to {len}");
        assert!(!delivers(&out));
    }
    let mut longer = body.clone();
    longer.push(0);
    assert_fails(&mut pair.acceptor, &keys, &longer, is_auth, "extended");
    assert_delivers(&mut pair.acceptor, &keys, &body, b"payload");
}

#[test]
fn a_frame_under_a_key_not_in_the_ring_fails() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let foreign = gossip(&mut pair.dialer, &ring(&[8]), b"sealed with 8");
    assert_fails(&mut pair.acceptor, &keys, &foreign, is_auth, "foreign key");
    // A ring that lacks the session's key cannot open a good frame either.
    let good = gossip(&mut pair.dialer, &keys, b"good");
    assert_fails(
        &mut pair.acceptor,
        &ring(&[8, 9]),
        &good,
        is_auth,
        "ring lost the key",
    );
}

#[test]
fn a_recorded_dialer_stream_replayed_to_a_new_acceptor_fails() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let mut recorded = pair.dialer_frames.clone();
    for message in [b"one".as_slice(), b"two", b"three"] {
        let body = gossip(&mut pair.dialer, &keys, message);
        assert_delivers(&mut pair.acceptor, &keys, &body, message);
        recorded.push(body);
    }
    // The same acceptor node later, with a fresh random for the new connection.
    let mut replayed = accept(local(CLUSTER, 2), random(0xa2));
    // The hello is just a hello: accepted and answered.
    let (out, result) = feed(&mut replayed, &keys, &recorded[0]);
    result.expect("the recorded hello opens");
    assert_eq!(sends(&out).len(), 1);
    assert!(!delivers(&out));
    // The confirmation is bound to the old acceptor random: authentication fails.
    assert_fails(
        &mut replayed,
        &keys,
        &recorded[1],
        is_auth,
        "replayed confirm",
    );
    // Nothing after it opens either.
    for body in &recorded[2..] {
        assert_fails(&mut replayed, &keys, body, is_auth, "replayed gossip");
    }
    assert!(!replayed.is_established());
    assert!(replayed.peer().is_none());
}

#[test]
fn a_recorded_acceptor_reply_replayed_to_a_new_dialer_fails() {
    let keys = ring(&[7]);
    let pair = handshake(&keys, &keys);
    let (mut dialer, _) = dial(local(CLUSTER, 1), &keys, random(0xd2));
    assert_fails(&mut dialer, &keys, &pair.reply, is_auth, "replayed reply");
}

#[test]
fn a_hello_in_the_wrong_state_or_of_an_unknown_kind_fails() {
    let keys = ring(&[7]);
    let mut pair = handshake(&keys, &keys);
    let hello = pair.dialer_frames[0].clone();
    assert_fails(
        &mut pair.acceptor,
        &keys,
        &hello,
        |error| matches!(error, Error::Unexpected(_)),
        "second hello",
    );
    let mut fresh = accept(local(CLUSTER, 2), random(3));
    for body in [
        &b""[..],
        b"X",
        b"Sxxxxxxxxxxxxxxxxxxxxxxxxxx",
        b"Rsomething",
    ] {
        let (out, result) = feed(&mut fresh, &keys, body);
        assert!(result.is_err(), "{body:?}");
        assert!(out.is_empty(), "{body:?}: {out:?}");
    }
}

// --- refused hellos --------------------------------------------------------------------------

/// A dialer `dialer` greets an acceptor of `CLUSTER` with id 2; both must refuse with `cause`
/// in the reason, and the acceptor must still answer so that the dialer learns why.
fn assert_mismatch(dialer: Local, cause: &str) {
    let keys = ring(&[7]);
    let (mut dialer, hello) = dial(dialer, &keys, random(0xd1));
    let mut acceptor = accept(local(CLUSTER, 2), random(0xa1));
    let (out, result) = feed(&mut acceptor, &keys, &hello);
    match result {
        Err(error @ (Error::Refused(_) | Error::SelfConnection(_))) => {
            assert!(error.to_string().contains(cause), "{error}")
        }
        other => panic!("acceptor: {other:?}"),
    }
    assert!(!delivers(&out));
    assert!(!acceptor.is_established());
    let replies = sends(&out);
    assert_eq!(
        replies.len(),
        1,
        "the acceptor answers a mismatched hello: {out:?}"
    );
    assert_eq!(replies[0][0], HELLO);
    let (out, result) = feed(&mut dialer, &keys, &replies[0]);
    match result {
        Err(error @ (Error::Refused(_) | Error::SelfConnection(_))) => {
            assert!(error.to_string().contains(cause), "{error}")
        }
        other => panic!("dialer: {other:?}"),
    }
    assert!(out.is_empty(), "the dialer confirms nothing: {out:?}");
    assert!(!dialer.is_established());
}

#[test]
fn a_hello_from_another_cluster_is_refused_with_the_reason() {
    assert_mismatch(local("other", 1), "cluster mismatch");
}

#[test]
fn a_hello_with_the_own_id_is_refused_with_the_reason() {
    assert_mismatch(local(CLUSTER, 2), "own id");
}

#[test]
fn a_hello_of_another_protocol_version_is_refused_with_the_reason() {
    // Sealed by hand as a peer of another version would (the layout in `session`'s docs).
    let keys = ring(&[7]);
    let hello = Hello {
        version: PROTOCOL_VERSION.wrapping_add(1),
        cluster: CLUSTER.into(),
        id: NodeId(1),
        generation: Generation(1),
        listen: "127.0.0.1:1".into(),
        random: random(0xd1),
    };
    let mut nonce = [0; NONCE_LEN];
    nonce[..RANDOM_LEN].copy_from_slice(&hello.random);
    let sealed = XChaCha20Poly1305::new(key(7).as_bytes().into())
        .encrypt(
            XNonce::from_slice(&nonce),
            AeadPayload {
                msg: &hello.encode(),
                aad: b"hearsay/hello",
            },
        )
        .expect("seal");
    let mut body = vec![HELLO];
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&sealed);
    let mut acceptor = accept(local(CLUSTER, 2), random(0xa1));
    let (out, result) = feed(&mut acceptor, &keys, &body);
    match result {
        Err(Error::Refused(reason)) => assert!(reason.contains("version mismatch"), "{reason}"),
        other => panic!("acceptor: {other:?} {out:?}"),
    }
    assert_eq!(sends(&out).len(), 1);
    assert!(!delivers(&out));
}

#[test]
fn a_wrong_key_hello_gets_a_plaintext_refusal() {
    let (mut dialer, hello) = dial(local(CLUSTER, 1), &ring(&[8]), random(0xd1));
    let mut acceptor = accept(local(CLUSTER, 2), random(0xa1));
    let keys = ring(&[7]);
    let (out, result) = feed(&mut acceptor, &keys, &hello);
    assert!(matches!(result, Err(Error::Auth)), "{result:?}");
    let [Output::Send(refusal)] = out.as_slice() else {
        panic!("acceptor outputs {out:?}");
    };
    assert_eq!(refusal[0], REFUSED);
    let reason = std::str::from_utf8(&refusal[1..]).expect("UTF-8");
    assert!(reason.contains("authentication failed"), "{reason}");
    assert!(refusal.len() <= 1 + frame::MAX_REASON);
    assert!(!acceptor.is_established());
    // The dialer reads the refusal and gives up with the reason.
    let (out, result) = feed(&mut dialer, &ring(&[8]), refusal);
    match result {
        Err(Error::Refused(reason)) => assert!(reason.contains("authentication failed")),
        other => panic!("dialer: {other:?}"),
    }
    assert!(out.is_empty());
    // A refusal is only for a dialer awaiting its answer.
    let (_, result) = feed(&mut acceptor, &keys, refusal);
    assert!(matches!(result, Err(Error::Unexpected(_))), "{result:?}");
}

#[test]
fn refusals_are_truncated_on_a_character_boundary() {
    let reason = "é".repeat(150);
    let body = frame::refused(&reason);
    assert_eq!(body[0], REFUSED);
    assert!(body.len() <= 1 + frame::MAX_REASON);
    let text = std::str::from_utf8(&body[1..]).expect("still UTF-8");
    assert_eq!(text, "é".repeat(100));
}
