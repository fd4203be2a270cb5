//! The handshake and the sealing, sans I/O: two [`Session`]s driven by hand, each fed the other's
//! frame bodies; then what a hostile peer can do to one (replay, reorder, tamper, wrong key,
//! mismatched hellos), and fuzzing of every state and decoder with arbitrary bytes.

use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hearsay_net::frame::{self, HELLO, Hello, NONCE_LEN, Payload, RANDOM_LEN, REFUSED, SEALED};
use hearsay_net::session::{Event, Local, Role, Session, Timeouts};
use hearsay_net::{Error, Key, Keyring};
use hearsay_proto::{Generation, NodeId, PROTOCOL_VERSION};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};
use std::time::{Duration, Instant};

// --- fixtures --------------------------------------------------------------------------------

const CLUSTER: &str = "sessions";

fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

fn ring(bytes: &[u8]) -> Keyring {
    Keyring::from_keys(bytes.iter().map(|&byte| key(byte)).collect()).expect("ring")
}

fn local(cluster: &str, id: u64) -> Local {
    Local {
        cluster: cluster.into(),
        id: NodeId(id),
        generation: Generation(100 + id),
        listen: format!("127.0.0.1:{}", 7000 + id),
    }
}

/// A session random: distinct fills stand for distinct draws from the OS.
fn random(byte: u8) -> [u8; RANDOM_LEN] {
    [byte; RANDOM_LEN]
}

/// What one input made a session say: its events, then its frames (both drained).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Output {
    Send(Vec<u8>),
    Established(Hello),
    Gossip(Vec<u8>),
    Bye(String),
}

/// Drains a session: events first, then frame bodies.
fn drain(session: &mut Session) -> Vec<Output> {
    let mut out = Vec::new();
    while let Some(event) = session.poll_event() {
        out.push(match event {
            Event::Established(hello) => Output::Established(hello),
            Event::Gossip(bytes) => Output::Gossip(bytes),
            Event::Bye(reason) => Output::Bye(reason),
        });
    }
    while let Some(body) = session.poll_transmit() {
        out.push(Output::Send(body));
    }
    out
}

/// The sessions' clock: these tests fire no timer (but `timers_are_data`).
fn now() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A dialer and its hello.
fn dial(local: Local, keyring: &Keyring, random: [u8; RANDOM_LEN]) -> (Session, Vec<u8>) {
    let mut session =
        Session::dial(now(), local, keyring, random, Timeouts::default()).expect("dial");
    let hello = session.poll_transmit().expect("a hello");
    assert_eq!(session.poll_transmit(), None);
    (session, hello)
}

fn accept(local: Local, random: [u8; RANDOM_LEN]) -> Session {
    Session::accept(now(), local, random, Timeouts::default())
}

/// Seals one payload: sent, then drained.
fn seal(session: &mut Session, keyring: &Keyring, payload: &Payload) -> Result<Vec<u8>, Error> {
    session.send(keyring, payload)?;
    Ok(session.poll_transmit().expect("the sealed frame"))
}

/// Feeds one body; returns the outputs and the result.
fn feed(session: &mut Session, keyring: &Keyring, body: &[u8]) -> (Vec<Output>, Result<(), Error>) {
    let result = session.handle_frame(now(), keyring, body);
    (drain(session), result)
}

/// The frame bodies among outputs.
fn sends(out: &[Output]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|output| match output {
            Output::Send(body) => Some(body.clone()),
            _ => None,
        })
        .collect()
}

/// Whether outputs hand the node anything (gossip, or a newly authenticated peer).
fn delivers(out: &[Output]) -> bool {
    out.iter()
        .any(|output| matches!(output, Output::Gossip(_) | Output::Established(_)))
}

/// A frame that must fail: the right error, nothing delivered, the session not (newly)
/// established.
fn assert_fails(
    session: &mut Session,
    keyring: &Keyring,
    body: &[u8],
    expected: fn(&Error) -> bool,
    what: &str,
) {
    let was_established = session.is_established();
    let (out, result) = feed(session, keyring, body);
    match &result {
        Err(error) => assert!(expected(error), "{what}: wrong error {error:?}"),
        Ok(()) => panic!("{what}: accepted, outputs {out:?}"),
    }
    assert!(!delivers(&out), "{what}: delivered {out:?}");
    assert_eq!(session.is_established(), was_established, "{what}");
}

fn is_auth(error: &Error) -> bool {
    matches!(error, Error::Auth)
}

/// Both ends of an established connection, and every frame body the dialer sent.
struct Pair {
    dialer: Session,
    acceptor: Session,
    /// The dialer's frames in order: hello, confirming ping.
    dialer_frames: Vec<Vec<u8>>,
    /// The acceptor's hello.
    reply: Vec<u8>,
}

/// Runs the handshake by hand, checking every step.
fn handshake(dialer_ring: &Keyring, acceptor_ring: &Keyring) -> Pair {
    let (mut dialer, hello) = dial(local(CLUSTER, 1), dialer_ring, random(0xd1));
    assert_eq!(dialer.role(), Role::Dialer);
    assert_eq!(hello[0], HELLO);
    assert!(!dialer.is_established());
    let mut acceptor = accept(local(CLUSTER, 2), random(0xa1));
    assert_eq!(acceptor.role(), Role::Acceptor);

    // 1. The acceptor opens the hello and answers with its own; not established yet.
    let (out, result) = feed(&mut acceptor, acceptor_ring, &hello);
    result.expect("hello accepted");
    assert!(!delivers(&out), "{out:?}");
    let replies = sends(&out);
    assert_eq!(replies.len(), 1, "{out:?}");
    let reply = replies[0].clone();
    assert_eq!(reply[0], HELLO);
    assert!(!acceptor.is_established());
    assert!(acceptor.peer().is_none());

    // 2. The dialer opens the reply: established, and it confirms with a sealed ping.
    let (out, result) = feed(&mut dialer, dialer_ring, &reply);
    result.expect("reply accepted");
    let [Output::Established(peer), Output::Send(confirm)] = out.as_slice() else {
        panic!("dialer outputs {out:?}");
    };
    assert_eq!(confirm[0], SEALED);
    assert_eq!(peer.id, NodeId(2));
    assert_eq!(peer.cluster, CLUSTER);
    assert_eq!(peer.generation, Generation(102));
    assert_eq!(peer.listen, "127.0.0.1:7002");
    assert_eq!(peer.random, random(0xa1));
    assert_eq!(peer.version, PROTOCOL_VERSION);
    assert!(dialer.is_established());
    assert_eq!(dialer.peer(), Some(peer));

    // 3. The acceptor opens the ping: established.
    let (out, result) = feed(&mut acceptor, acceptor_ring, confirm);
    result.expect("confirm accepted");
    let [Output::Established(peer)] = out.as_slice() else {
        panic!("acceptor outputs {out:?}");
    };
    assert_eq!(peer.id, NodeId(1));
    assert_eq!(peer.generation, Generation(101));
    assert_eq!(peer.listen, "127.0.0.1:7001");
    assert_eq!(peer.random, random(0xd1));
    assert!(acceptor.is_established());

    Pair {
        dialer,
        acceptor,
        dialer_frames: vec![hello, confirm.clone()],
        reply,
    }
}

fn gossip(session: &mut Session, keyring: &Keyring, bytes: &[u8]) -> Vec<u8> {
    seal(session, keyring, &Payload::Gossip(bytes.to_vec())).expect("seal")
}

/// Feeds a frame that must deliver exactly this gossip.
fn assert_delivers(session: &mut Session, keyring: &Keyring, body: &[u8], bytes: &[u8]) {
    let (out, result) = feed(session, keyring, body);
    result.expect("frame accepted");
    assert_eq!(out, vec![Output::Gossip(bytes.to_vec())]);
}

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

// --- fuzzing ---------------------------------------------------------------------------------

/// A reproducible proptest configuration: fixed seed, no regression files.
fn cases(cases: u32, seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

/// A session in every state a peer can send to, with the ring it uses.
fn every_state() -> Vec<(&'static str, Session)> {
    let keys = ring(&[7]);
    let pair = handshake(&keys, &keys);
    let (dialer, hello) = dial(local(CLUSTER, 1), &keys, random(0xd5));
    let mut confirming = accept(local(CLUSTER, 2), random(0xa5));
    feed(&mut confirming, &keys, &hello).1.expect("hello");
    vec![
        ("fresh acceptor", accept(local(CLUSTER, 2), random(0xa4))),
        ("fresh dialer", dialer),
        ("established dialer", pair.dialer),
        ("established acceptor", pair.acceptor),
        ("acceptor awaiting confirm", confirming),
    ]
}

/// Arbitrary bytes, and arbitrary bytes behind each kind byte.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2000),
        (
            prop::sample::select(vec![HELLO, SEALED, REFUSED]),
            prop::collection::vec(any::<u8>(), 0..2000),
        )
            .prop_map(|(kind, rest)| {
                let mut body = vec![kind];
                body.extend(rest);
                body
            }),
    ]
}

/// A valid-looking cluster name or address: ASCII up to 64 bytes, or up to 16 characters of
/// anything (at most 64 bytes of UTF-8).
fn short_text() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,64}", ".{0,16}"]
}

fn hellos() -> impl Strategy<Value = Hello> {
    (
        any::<u8>(),
        short_text(),
        any::<u64>(),
        any::<u64>(),
        short_text(),
        any::<[u8; RANDOM_LEN]>(),
    )
        .prop_map(|(version, cluster, id, generation, listen, random)| Hello {
            version,
            cluster,
            id: NodeId(id),
            generation: Generation(generation),
            listen,
            random,
        })
}

proptest! {
    #![proptest_config(cases(256, 0x5e55_1041))]

    #[test]
    fn garbage_never_panics_and_never_delivers(body in garbage()) {
        let keys = ring(&[7]);
        for (state, mut session) in every_state() {
            let was_established = session.is_established();
            let (out, result) = feed(&mut session, &keys, &body);
            // No key but the ring's seals anything: no state can accept random bytes.
            prop_assert!(result.is_err(), "{}: accepted {:?}", state, body);
            prop_assert!(!delivers(&out), "{}: {:?}", state, out);
            prop_assert_eq!(session.is_established(), was_established);
            // The only thing ever answered is a refusal, to a hello no key opens.
            for reply in sends(&out) {
                prop_assert_eq!(reply[0], REFUSED, "{}", state);
            }
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = Hello::decode(&bytes);
        let _ = Payload::decode(&bytes);
        // Decoding what was decoded gives it back.
        if let Ok(hello) = Hello::decode(&bytes) {
            prop_assert_eq!(hello.encode(), bytes.clone());
        }
    }

    #[test]
    fn mutated_hello_encodings_decode_or_fail_cleanly(
        hello in hellos(),
        at in any::<prop::sample::Index>(),
        value in any::<u8>(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Random bytes rarely get past the first length field; a real hello with one byte set
        // to anything (a length, a UTF-8 byte) and then cut reaches every check.
        let mut bytes = hello.encode();
        let len = bytes.len();
        bytes[at.index(len)] = value;
        bytes.truncate(1 + cut.index(len));
        if let Ok(decoded) = Hello::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }

    #[test]
    fn hellos_round_trip(hello in hellos()) {
        let bytes = hello.encode();
        prop_assert_eq!(Hello::decode(&bytes).ok(), Some(hello));
        // Every truncation, and any trailing byte, is refused.
        for len in 0..bytes.len() {
            prop_assert!(Hello::decode(&bytes[..len]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(Hello::decode(&longer).is_err());
    }

    #[test]
    fn payloads_round_trip(
        gossip in prop::collection::vec(any::<u8>(), 0..500),
        reason in "[ -~]{0,200}",
    ) {
        for payload in [Payload::Gossip(gossip), Payload::Ping, Payload::Bye(reason)] {
            prop_assert_eq!(Payload::decode(&payload.encode()).ok(), Some(payload));
        }
    }

    #[test]
    fn any_mutated_byte_of_a_sealed_frame_fails(
        message in prop::collection::vec(any::<u8>(), 0..300),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let keys = ring(&[7]);
        let mut pair = handshake(&keys, &keys);
        let body = gossip(&mut pair.dialer, &keys, &message);
        let mut tampered = body.clone();
        tampered[at.index(body.len())] ^= mask;
        let (out, result) = feed(&mut pair.acceptor, &keys, &tampered);
        prop_assert!(result.is_err());
        prop_assert!(out.is_empty(), "{:?}", out);
        // The original still opens afterwards.
        let (out, result) = feed(&mut pair.acceptor, &keys, &body);
        prop_assert!(result.is_ok());
        prop_assert_eq!(out, vec![Output::Gossip(message)]);
    }

    #[test]
    fn any_mutated_byte_of_a_hello_fails(
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
    ) {
        let keys = ring(&[7]);
        let (_, hello) = dial(local(CLUSTER, 1), &keys, random(0xd6));
        let mut tampered = hello.clone();
        tampered[at.index(hello.len())] ^= mask;
        let mut acceptor = accept(local(CLUSTER, 2), random(0xa6));
        let (out, result) = feed(&mut acceptor, &keys, &tampered);
        prop_assert!(result.is_err());
        prop_assert!(!delivers(&out));
        for reply in sends(&out) {
            prop_assert_eq!(reply[0], REFUSED);
        }
    }
}
