//! The hand-written codec of the anti-entropy messages against rmp-serde: it writes the same
//! bytes, measures the same length, reads back the same message, and whatever it reads from
//! arbitrary or corrupted bytes, serde reads the same (what it does not read, serde decides).

#[allow(dead_code)]
mod common;

use common::messages::*;
use common::*;

use hearsay_proto::wire::{codec, validate};
use hearsay_proto::{
    Body, Bounds, Delta, Digest, Generation, ItemId, Message, NodeId, OriginDelta, OriginItems,
    OriginSummary, PROTOCOL_VERSION, Value, Version,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// What rmp-serde writes for `message` (the reference: `Message::encode` now takes the codec).
fn serde_bytes(message: &Message) -> Vec<u8> {
    rmp_serde::to_vec(message).unwrap_or_default()
}

fn anti_entropy(body: &Body) -> bool {
    matches!(
        body,
        Body::Syn { .. } | Body::SynAck { .. } | Body::Ack { .. }
    )
}

/// If the codec reads `bytes`, serde reads the same message from them, and the structural check
/// that the codec's messages skip accepts them whole.
fn agrees_with_serde(bytes: &[u8]) -> Result<bool, TestCaseError> {
    match codec::decode(bytes) {
        Some(message) => {
            prop_assert_eq!(validate(bytes), Ok(bytes.len()), "bytes {:02x?}", bytes);
            let serde = rmp_serde::from_slice::<Message>(bytes).ok();
            prop_assert_eq!(serde, Some(message), "bytes {:02x?}", bytes);
            Ok(true)
        }
        None => Ok(false),
    }
}

/// One corruption of an encoded message.
#[derive(Clone, Debug)]
enum Mutation {
    Set(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

/// A byte, often a msgpack marker (so that corruptions change types and widths, not only
/// values).
fn byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        1 => any::<u8>(),
        2 => prop::sample::select(vec![
            0x00, 0x7f, 0x80, 0x81, 0x82, 0x8f, 0x90, 0x91, 0x92, 0x95, 0x96, 0x9f, 0xa0, 0xa1,
            0xbf, 0xc0, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0,
            0xd1, 0xd2, 0xd3, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
        ]),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<Index>(), byte()).prop_map(|(at, byte)| Mutation::Set(at, byte)),
        1 => (any::<Index>(), byte()).prop_map(|(at, byte)| Mutation::Insert(at, byte)),
        1 => any::<Index>().prop_map(Mutation::Remove),
        1 => any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match mutation {
        Mutation::Set(at, byte) => {
            let at = at.index(bytes.len());
            bytes[at] = *byte;
        }
        Mutation::Insert(at, byte) => bytes.insert(at.index(bytes.len() + 1), *byte),
        Mutation::Remove(at) => {
            bytes.remove(at.index(bytes.len()));
        }
        Mutation::Truncate(at) => bytes.truncate(at.index(bytes.len())),
    }
}

/// One msgpack item of a canonical encoding: a scalar, or the header of an array or map.
#[derive(Clone, Debug)]
enum Token {
    UInt(u64),
    Nil,
    Bool(bool),
    Str(Vec<u8>),
    Bin(Vec<u8>),
    Array(usize),
    Map(usize),
}

/// The tokens of what rmp-serde writes for hearsay's messages (which use no other types).
fn tokens(bytes: &[u8]) -> Option<Vec<Token>> {
    let mut at = 0;
    let mut out = Vec::new();
    let be = |at: &mut usize, width: usize| -> Option<u64> {
        let field = bytes.get(*at..*at + width)?;
        *at += width;
        Some(field.iter().fold(0, |acc, b| (acc << 8) | u64::from(*b)))
    };
    while at < bytes.len() {
        let marker = bytes[at];
        at += 1;
        let token = match marker {
            0x00..=0x7f => Token::UInt(u64::from(marker)),
            0xcc => Token::UInt(be(&mut at, 1)?),
            0xcd => Token::UInt(be(&mut at, 2)?),
            0xce => Token::UInt(be(&mut at, 4)?),
            0xcf => Token::UInt(be(&mut at, 8)?),
            0xc0 => Token::Nil,
            0xc2 => Token::Bool(false),
            0xc3 => Token::Bool(true),
            0x80..=0x8f => Token::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f => Token::Array(usize::from(marker & 0x0f)),
            0xdc => Token::Array(be(&mut at, 2)? as usize),
            0xdd => Token::Array(be(&mut at, 4)? as usize),
            0xa0..=0xbf | 0xd9 | 0xda | 0xdb | 0xc4 | 0xc5 | 0xc6 => {
                let len = match marker {
                    0xa0..=0xbf => u64::from(marker & 0x1f),
                    0xd9 | 0xc4 => be(&mut at, 1)?,
                    0xda | 0xc5 => be(&mut at, 2)?,
                    _ => be(&mut at, 4)?,
                } as usize;
                let data = bytes.get(at..at + len)?.to_vec();
                at += len;
                if (0xc4..=0xc6).contains(&marker) {
                    Token::Bin(data)
                } else {
                    Token::Str(data)
                }
            }
            _ => return None,
        };
        out.push(token);
    }
    Some(out)
}

/// Writes a token in one of its valid encodings (`form` picks which; 0 is the canonical one).
fn write_token(out: &mut Vec<u8>, token: &Token, form: u8) {
    let sized = |out: &mut Vec<u8>, markers: [u8; 3], fix: Option<(u8, usize)>, len: usize| match (
        fix,
        form % 4,
    ) {
        (Some((base, limit)), 0) if len < limit => out.push(base | len as u8),
        (_, 0 | 1) if len <= 0xff && markers[0] != 0 => {
            out.push(markers[0]);
            out.push(len as u8);
        }
        (_, 0..=2) if len <= 0xffff => {
            out.push(markers[1]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(markers[2]);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    };
    match token {
        Token::UInt(v) => match form % 6 {
            0 => rmp::encode::write_uint(out, *v)
                .map(drop)
                .unwrap_or_default(),
            // A wider unsigned marker than needed.
            1 if *v <= 0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(*v as u16).to_be_bytes());
            }
            2 => {
                out.push(0xcf);
                out.extend_from_slice(&v.to_be_bytes());
            }
            // A signed marker: the same value if it fits, a negative one if not.
            3 => {
                out.push(0xd0);
                out.push(*v as u8);
            }
            4 => {
                out.push(0xd3);
                out.extend_from_slice(&v.to_be_bytes());
            }
            _ => out.push(0xe0 | (*v as u8 & 0x1f)),
        },
        Token::Nil => out.push(0xc0),
        Token::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Token::Str(data) => {
            sized(out, [0xd9, 0xda, 0xdb], Some((0xa0, 32)), data.len());
            out.extend_from_slice(data);
        }
        Token::Bin(data) => {
            sized(out, [0xc4, 0xc5, 0xc6], None, data.len());
            out.extend_from_slice(data);
        }
        Token::Array(len) => sized(out, [0, 0xdc, 0xdd], Some((0x90, 16)), *len),
        Token::Map(len) => sized(out, [0, 0xde, 0xdf], Some((0x80, 16)), *len),
    }
}

/// A change to one token: another encoding of it, or another token in its place.
#[derive(Clone, Debug)]
enum Rewrite {
    Form(u8),
    StrAsBin,
    BinAsStr,
    BadUtf8,
    Length(i8),
    Swap(u8),
}

fn rewrite() -> impl Strategy<Value = Rewrite> {
    prop_oneof![
        4 => (1u8..24).prop_map(Rewrite::Form),
        1 => Just(Rewrite::StrAsBin),
        1 => Just(Rewrite::BinAsStr),
        1 => Just(Rewrite::BadUtf8),
        2 => prop::sample::select(vec![-2i8, -1, 1, 2]).prop_map(Rewrite::Length),
        2 => (0u8..4).prop_map(Rewrite::Swap),
    ]
}

/// `bytes` with token `at` rewritten.
fn rewritten(bytes: &[u8], at: &Index, rewrite: &Rewrite) -> Option<Vec<u8>> {
    let mut tokens = tokens(bytes)?;
    let at = at.index(tokens.len());
    let mut form = vec![0u8; tokens.len()];
    let token = &mut tokens[at];
    match (rewrite, &*token) {
        (Rewrite::Form(f), _) => form[at] = *f,
        (Rewrite::StrAsBin, Token::Str(data)) => *token = Token::Bin(data.clone()),
        (Rewrite::BinAsStr, Token::Bin(data)) => *token = Token::Str(data.clone()),
        (Rewrite::BadUtf8, Token::Str(data)) => {
            let mut data = data.clone();
            data.push(0xff);
            *token = Token::Str(data);
        }
        (Rewrite::Length(d), Token::Array(n)) => {
            *token = Token::Array(n.checked_add_signed(isize::from(*d))?)
        }
        (Rewrite::Length(d), Token::Map(n)) => {
            *token = Token::Map(n.checked_add_signed(isize::from(*d))?)
        }
        (Rewrite::Swap(k), _) => {
            *token = match k {
                0 => Token::Nil,
                1 => Token::Bool(true),
                2 => Token::UInt(300),
                _ => Token::Str(b"s".to_vec()),
            }
        }
        _ => return None,
    }
    let mut out = Vec::new();
    for (token, form) in tokens.iter().zip(form) {
        write_token(&mut out, token, form);
    }
    Some(out)
}

proptest! {
    #![proptest_config(cases(4096, 512, 0x0063_6f64_6563))]

    /// The codec writes rmp-serde's bytes for the anti-entropy messages (and nothing for the
    /// others), counts their length, and reads the message back.
    #[test]
    fn writes_and_reads_what_rmp_serde_does(message in message()) {
        let reference = serde_bytes(&message);
        if anti_entropy(&message.body) {
            prop_assert_eq!(codec::encode(&message), Some(reference.clone()));
            prop_assert_eq!(codec::encoded_len(&message), Some(reference.len()));
            prop_assert_eq!(codec::decode(&reference), Some(message.clone()));
        } else {
            prop_assert_eq!(codec::encode(&message), None);
            prop_assert_eq!(codec::encoded_len(&message), None);
            prop_assert_eq!(codec::decode(&reference), None);
        }
        // Through the public entry points, either way.
        prop_assert_eq!(message.encode().ok(), Some(reference.clone()));
        prop_assert_eq!(Message::decode(&reference, cluster_id(), usize::MAX), Ok(message));
    }

    /// Corrupted encodings: whatever the codec still reads, serde reads the same.
    #[test]
    fn reads_only_what_serde_reads_the_same(
        message in message(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut bytes = serde_bytes(&message);
        for mutation in &mutations {
            mutate(&mut bytes, mutation);
        }
        agrees_with_serde(&bytes)?;
    }

    /// Encodings rewritten a token at a time (an integer in a wider or signed marker, a string as
    /// bytes, a length off by one, a token of another type): the same.
    #[test]
    fn reads_rewritten_encodings_only_as_serde_does(
        message in message(),
        at in any::<Index>(),
        rewrite in rewrite(),
    ) {
        if let Some(bytes) = rewritten(&serde_bytes(&message), &at, &rewrite) {
            agrees_with_serde(&bytes)?;
        }
    }

    /// Arbitrary bytes, msgpack-like or not: the same.
    #[test]
    fn reads_arbitrary_bytes_only_as_serde_does(bytes in any_bytes()) {
        agrees_with_serde(&bytes)?;
    }
}

/// Lengths past the fix forms: arrays of 16 and 65,536 elements, strings of 32 / 256 / 65,536
/// bytes, values of 256 and 65,536 bytes, integers at every width's edge.
#[test]
fn long_forms_match_rmp_serde() {
    let edges = [
        0,
        0x7f,
        0x80,
        0xff,
        0x100,
        0xffff,
        0x1_0000,
        0xffff_ffff,
        0x1_0000_0000,
        u64::MAX,
    ];
    let summaries = (0..70_000u64)
        .map(|i| OriginSummary {
            origin: NodeId(edges[i as usize % edges.len()]),
            generation: Generation(i),
            heartbeat: edges[(i as usize + 3) % edges.len()],
            rate: u32::MAX - i as u32,
            watermark: Version(edges[(i as usize + 7) % edges.len()]),
        })
        .collect::<Vec<_>>();
    let group = |keys: &[usize], value: usize| OriginDelta {
        origin: NodeId(u64::MAX),
        generation: Generation(0x100),
        heartbeat: 0xffff,
        from: Version(0x7f),
        to: Version(0x80),
        deltas: keys
            .iter()
            .map(|&len| Delta {
                key: "k".repeat(len),
                version: Version(len as u64),
                value: (len % 2 == 0).then(|| Value::new(vec![7u8; value])),
            })
            .collect(),
    };
    let messages = [
        Body::Syn {
            digest: Some(Digest::Scuttlebutt {
                range: Some(Bounds {
                    from: Some(NodeId(0x80)),
                    to: None,
                }),
                origins: summaries[..16].to_vec(),
            }),
            reply_digest: true,
            more: 0,
        },
        Body::Syn {
            digest: Some(Digest::Scuttlebutt {
                range: None,
                origins: summaries.clone(),
            }),
            reply_digest: false,
            more: 0,
        },
        // A chain's pull: the third field only there, in both of its short forms.
        Body::Syn {
            digest: Some(Digest::Scuttlebutt {
                range: None,
                origins: summaries[..3].to_vec(),
            }),
            reply_digest: false,
            more: 1,
        },
        Body::Syn {
            digest: None,
            reply_digest: false,
            more: 200,
        },
        Body::SynAck {
            deltas: vec![group(&[0, 31, 32, 255, 256, 65_535, 65_536], 256)],
            digest: Some(Digest::Precise {
                range: Some(Bounds {
                    from: Some(ItemId {
                        origin: NodeId(3),
                        key: "é".repeat(40),
                    }),
                    to: Some(ItemId {
                        origin: NodeId(0xffff_ffff),
                        key: String::new(),
                    }),
                }),
                origins: vec![OriginItems {
                    origin: NodeId(1),
                    generation: Generation(2),
                    heartbeat: 3,
                    rate: 0x1_0000,
                    items: (0..20)
                        .map(|i| ("x".repeat(i), Version(i as u64)))
                        .collect(),
                }],
            }),
        },
        Body::Ack {
            deltas: vec![group(&[2, 4], 65_536), group(&[], 0)],
        },
    ];
    for body in messages {
        let message = Message {
            version: PROTOCOL_VERSION,
            cluster: cluster_id(),
            from: NodeId(0x1_0000_0000),
            body,
        };
        let reference = serde_bytes(&message);
        assert_eq!(codec::encode(&message).as_ref(), Some(&reference));
        assert_eq!(codec::encoded_len(&message), Some(reference.len()));
        assert_eq!(codec::decode(&reference).as_ref(), Some(&message));
    }
}
