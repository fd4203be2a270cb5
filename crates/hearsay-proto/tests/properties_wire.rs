//! Property tests of the wire format: well-formed messages round-trip and never hurt a node, and
//! the structural check [`validate`] agrees with rmp-serde.

#[allow(dead_code)]
mod common;

use common::messages::*;
use common::*;

use hearsay_proto::wire::{MAX_DEPTH, validate};
use hearsay_proto::{Error, Message};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Instant;

proptest! {
    #![proptest_config(cases(4096, 1024, 0x6d65_7373_6167))]

    /// Well-formed messages round-trip: `decode(encode(m)) == m`, re-encoding is byte-identical,
    /// and a limit below the encoded size gives `TooLarge`.
    #[test]
    fn messages_round_trip(message in message()) {
        let bytes = encode(&message)?;
        let decoded = Message::decode(&bytes, cluster_id(), usize::MAX);
        prop_assert_eq!(decoded.as_ref(), Ok(&message));
        prop_assert_eq!(encode(&message)?, bytes.clone());
        prop_assert_eq!(
            Message::decode(&bytes, cluster_id(), bytes.len() - 1),
            Err(Error::TooLarge { size: bytes.len(), limit: bytes.len() - 1 })
        );
    }

    /// A node fed any sequence of well-formed messages of its cluster and version (arbitrary
    /// digests, ranges, deltas, rumors and feedback; ids, versions and heartbeats up to
    /// `u64::MAX`; keys larger than its MTU), with gossip rounds in between, never panics, accepts
    /// every one not claiming to come from itself, and never sends a datagram over its MTU.
    #[test]
    fn nodes_survive_arbitrary_messages(
        messages in prop::collection::vec(message(), 1..8),
        mut node in any_receiver(),
    ) {
        let mut now = Instant::now();
        for message in &messages {
            let bytes = encode(message)?;
            let result = feed(&mut node, now, &bytes)?;
            if message.from == node.id() {
                prop_assert_eq!(result, Err(Error::FromSelf(node.id())));
            } else {
                prop_assert_eq!(result, Ok(()));
            }
            // A round after each message: time moves on to the one due.
            now = node.poll_timeout().unwrap_or(now).max(now);
            node.handle_timeout(now);
            drain(&mut node)?;
        }
    }
}

// --- wire::validate --------------------------------------------------------------------------

/// A msgpack value, written with the low-level `rmp` encoder so that every family of marker
/// (including ext, which serde never writes) occurs.
#[derive(Clone, Debug)]
enum Mp {
    Nil,
    Bool(bool),
    Int(i64),
    UInt(u64),
    F32(f32),
    F64(f64),
    Str(String),
    Bin(Vec<u8>),
    Ext(i8, Vec<u8>),
    Array(Vec<Mp>),
    Map(Vec<(Mp, Mp)>),
}

fn mp() -> BoxedStrategy<Mp> {
    let leaf = prop_oneof![
        Just(Mp::Nil),
        any::<bool>().prop_map(Mp::Bool),
        any::<i64>().prop_map(Mp::Int),
        any::<u64>().prop_map(Mp::UInt),
        any::<f32>().prop_map(Mp::F32),
        any::<f64>().prop_map(Mp::F64),
        "\\PC{0,40}".prop_map(Mp::Str),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Mp::Bin),
        (any::<i8>(), prop::collection::vec(any::<u8>(), 0..20)).prop_map(|(t, d)| Mp::Ext(t, d)),
    ];
    leaf.prop_recursive(5, 96, 20, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..20).prop_map(Mp::Array),
            prop::collection::vec((inner.clone(), inner), 0..6).prop_map(Mp::Map),
        ]
    })
    .boxed()
}

fn write_mp(out: &mut Vec<u8>, value: &Mp) {
    use rmp::encode as w;
    const OK: &str = "writing to a Vec never fails";
    match value {
        Mp::Nil => w::write_nil(out).expect(OK),
        Mp::Bool(b) => w::write_bool(out, *b).expect(OK),
        Mp::Int(i) => {
            w::write_sint(out, *i).expect(OK);
        }
        Mp::UInt(u) => {
            w::write_uint(out, *u).expect(OK);
        }
        Mp::F32(f) => w::write_f32(out, *f).expect(OK),
        Mp::F64(f) => w::write_f64(out, *f).expect(OK),
        Mp::Str(s) => w::write_str(out, s).expect(OK),
        Mp::Bin(b) => w::write_bin(out, b).expect(OK),
        Mp::Ext(ty, data) => {
            w::write_ext_meta(out, data.len() as u32, *ty).expect(OK);
            out.extend_from_slice(data);
        }
        Mp::Array(items) => {
            w::write_array_len(out, items.len() as u32).expect(OK);
            for item in items {
                write_mp(out, item);
            }
        }
        Mp::Map(pairs) => {
            w::write_map_len(out, pairs.len() as u32).expect(OK);
            for (k, v) in pairs {
                write_mp(out, k);
                write_mp(out, v);
            }
        }
    }
}

fn mp_bytes(value: &Mp) -> Vec<u8> {
    let mut out = Vec::new();
    write_mp(&mut out, value);
    out
}

/// How many bytes rmp-serde takes for the first msgpack value of `bytes`, skipping it as
/// `IgnoredAny` (a reader that allocates nothing beyond what the input holds).
fn rmp_serde_len(bytes: &[u8]) -> Option<usize> {
    let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
    serde::de::IgnoredAny::deserialize(&mut de).ok()?;
    usize::try_from(de.position()).ok()
}

/// A serde value of the shapes hearsay's messages use, encoded with rmp-serde.
type SerdeShape = (
    u8,
    String,
    Vec<(u64, Option<i64>, bool)>,
    Option<Vec<String>>,
    BTreeMap<String, f64>,
);

fn serde_shape() -> BoxedStrategy<SerdeShape> {
    (
        any::<u8>(),
        "\\PC{0,300}",
        prop::collection::vec(
            (any::<u64>(), prop::option::of(any::<i64>()), any::<bool>()),
            0..40,
        ),
        prop::option::of(prop::collection::vec("\\PC{0,4}", 0..20)),
        prop::collection::btree_map("[a-z]{0,3}", any::<f64>(), 0..20),
    )
        .boxed()
}

proptest! {
    #![proptest_config(cases(8192, 2048, 0x7661_6c69_6461))]

    /// `validate` never reports a length larger than its input (nor zero), and the length it
    /// reports is that of a prefix that validates on its own and whatever follows it.
    #[test]
    fn validate_reports_a_prefix(bytes in any_bytes(), suffix in prop::collection::vec(any::<u8>(), 0..8)) {
        if let Ok(len) = validate(&bytes) {
            prop_assert!(len >= 1 && len <= bytes.len(), "validate reported {} of {}", len, bytes.len());
            prop_assert_eq!(validate(&bytes[..len]), Ok(len));
            let mut extended = bytes[..len].to_vec();
            extended.extend_from_slice(&suffix);
            prop_assert_eq!(validate(&extended), Ok(len));
        }
    }

    /// On valid encodings `validate` agrees with rmp-serde: the bytes rmp-serde writes for
    /// hearsay messages and for other serde values validate to exactly their length, also with
    /// trailing bytes after them.
    #[test]
    fn validate_accepts_rmp_serde_encodings(
        message in message(),
        shape in serde_shape(),
        suffix in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        for bytes in [
            encode(&message)?,
            rmp_serde::to_vec(&shape).map_err(|e| TestCaseError::fail(e.to_string()))?,
        ] {
            prop_assert_eq!(validate(&bytes), Ok(bytes.len()));
            prop_assert_eq!(rmp_serde_len(&bytes), Some(bytes.len()));
            let mut extended = bytes.clone();
            extended.extend_from_slice(&suffix);
            prop_assert_eq!(validate(&extended), Ok(bytes.len()));
        }
    }

    /// `validate` measures every msgpack value (all marker families, ext included, nesting within
    /// `MAX_DEPTH`) exactly as rmp-serde skips it; and on damaged encodings (truncated, one byte
    /// replaced, or arbitrary bytes) it accepts exactly the inputs rmp-serde can skip a value of,
    /// with the same length.
    #[test]
    fn validate_agrees_with_rmp_serde(
        value in mp(),
        damage in prop_oneof![
            Just(None),
            (any::<Index>(), any::<u8>()).prop_map(Some),
        ],
        cut in any::<Index>(),
        noise in any_bytes(),
    ) {
        let bytes = mp_bytes(&value);
        prop_assert_eq!(validate(&bytes), Ok(bytes.len()));
        prop_assert_eq!(rmp_serde_len(&bytes), Some(bytes.len()));
        let mut damaged = bytes.clone();
        if let Some((at, byte)) = damage {
            let at = at.index(damaged.len());
            damaged[at] = byte;
        }
        let truncated = &bytes[..cut.index(bytes.len())];
        for input in [&damaged[..], truncated, &noise[..]] {
            let ours = validate(input);
            let theirs = rmp_serde_len(input);
            match (&ours, theirs) {
                (Ok(a), Some(b)) => prop_assert_eq!(*a, b, "lengths differ on {:02x?}", input),
                (Err(_), None) => {}
                _ => prop_assert!(
                    false,
                    "validate {:?} but rmp-serde {:?} on {:02x?}", ours, theirs, input
                ),
            }
        }
    }
}

/// Nesting: `MAX_DEPTH` nested non-empty arrays validate, one more does not, and neither does a
/// declared element count larger than the bytes left.
#[test]
fn validate_limits_depth_and_declared_lengths() {
    let nested = |depth: usize| {
        let mut bytes = vec![0x91; depth];
        bytes.push(0x00);
        bytes
    };
    let ok = nested(MAX_DEPTH);
    assert_eq!(validate(&ok), Ok(ok.len()));
    assert!(matches!(
        validate(&nested(MAX_DEPTH + 1)),
        Err(Error::Malformed(_))
    ));
    // An array32 of 2^32 - 1 elements in a 9-byte frame, and a map32 of as many pairs.
    assert!(validate(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    assert!(validate(&[0xdf, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]).is_err());
    // A bin32 and an ext32 declaring more bytes than follow.
    assert!(validate(&[0xc6, 0, 0, 0, 5, 1, 2, 3, 4]).is_err());
    assert!(validate(&[0xc9, 0, 0, 0, 4, 7, 1, 2, 3]).is_err());
}
