//! Fuzzing of every [`Session`] state and of the frame decoders with arbitrary and mutated
//! bytes: no panic, no delivery, round trips of hellos and payloads.

mod common;

use common::session::*;
use hearsay_net::frame::{HELLO, Hello, Payload, RANDOM_LEN, REFUSED, SEALED};
use hearsay_net::session::Session;
use hearsay_proto::{Generation, NodeId};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, RngSeed};

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
