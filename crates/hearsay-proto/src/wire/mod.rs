//! The wire format: serde message types encoded with rmp-serde (compact: structs as arrays,
//! values as msgpack `bin`), each carrying the protocol version and the cluster id.
//!
//! Decoding untrusted bytes never panics, and what it allocates grows with what it has decoded,
//! never with a length the bytes declare. The anti-entropy messages, most of the traffic, are
//! read by a hand-written [`codec`] that checks every length against the bytes left as it goes
//! (no capacity reserved beyond their size in memory, no read past them, nothing left over).
//! Anything it declines is first walked by a structural check ([`validate`]) that rejects
//! any declared length larger than what the frame still holds, nesting deeper than
//! [`MAX_DEPTH`], and trailing bytes; only then does serde decode it.

pub mod codec;
mod validate;

pub use validate::{MAX_DEPTH, validate};

use crate::{
    ClusterId, Digest, Error, FdMessage, Generation, NodeId, OriginDelta, Version, ViewMessage,
};
use serde::{Deserialize, Serialize};

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 3;

/// The buffer [`Message::encode`] starts with: room for an anti-entropy opening or a probe.
const ENCODE_CAPACITY: usize = 128;

/// One gossip message, as encoded in one datagram or frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Always [`PROTOCOL_VERSION`] when sent by this build.
    pub version: u8,
    /// The sender's cluster.
    pub cluster: ClusterId,
    /// The sender.
    pub from: NodeId,
    /// What the message says.
    pub body: Body,
}

/// The kinds of message and what they carry.
///
/// On the wire a variant is a one-entry map from a one-letter tag (`s`, `a`, `k`, `r`, `v`, `p`) to the
/// array of its fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Opens an anti-entropy exchange. Pull: `digest`, no `reply_digest`. Push-pull: `digest` and
    /// `reply_digest`. Push: no `digest`, `reply_digest` (the peer answers with its own digest).
    #[serde(rename = "s")]
    Syn {
        /// The initiator's digest, to be answered with deltas.
        digest: Option<Digest>,
        /// Whether the peer should answer with a digest of its own (push and push-pull).
        reply_digest: bool,
        /// Answer datagrams the initiator takes beyond the first: a catch-up chain's pull with a
        /// large digest (`docs/protocol.md` §6.8) lets the peer answer with up to `1 + more`
        /// `SynAck`s, each continuing where the one before stopped. 0 in every other `Syn`, and
        /// then absent on the wire: the common `Syn` keeps its two fields.
        #[serde(default, skip_serializing_if = "is_zero")]
        more: u8,
    },
    /// Answers a `Syn`: the deltas the initiator lacks, and (push, push-pull) a digest to be
    /// answered with an `Ack`.
    #[serde(rename = "a")]
    SynAck {
        /// Deltas for the initiator.
        deltas: Vec<OriginDelta>,
        /// The responder's digest or request.
        digest: Option<Digest>,
    },
    /// Closes an exchange: the deltas the responder asked for.
    #[serde(rename = "k")]
    Ack {
        /// Deltas for the responder.
        deltas: Vec<OriginDelta>,
    },
    /// Rumor mongering: hot rumors (with their values, or offered by id only), requests for
    /// offered rumors, feedback, and requests for rumors or feedback.
    ///
    /// A newtype over [`RumorMessage`]: it encodes exactly as a variant with those six fields.
    #[serde(rename = "r")]
    Rumor(RumorMessage),
    /// Partial-view maintenance (HyParView), when [`crate::Config::view`] is on.
    #[serde(rename = "v")]
    View(ViewMessage),
    /// Failure detection (SWIM): a probe step and piggybacked membership updates, when
    /// membership runs [`crate::Detector::Swim`].
    #[serde(rename = "p")]
    Probe(FdMessage),
}

/// What a [`Body::Rumor`] carries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RumorMessage {
    /// Rumors sent with their values.
    pub deltas: Vec<OriginDelta>,
    /// Rumors offered by id only; the receiver asks for those it lacks with `wants`.
    pub offers: Vec<RumorIds>,
    /// Rumors the receiver offered that the sender lacks: answer with their deltas.
    pub wants: Vec<RumorIds>,
    /// Feedback: rumors of the receiver's last message (sent or offered) already known.
    pub known: Vec<RumorIds>,
    /// Whether the receiver should answer with its own hot rumors (pull, push-pull).
    pub want_rumors: bool,
    /// Whether the receiver should say which of `deltas` and `offers` it already knew (or,
    /// under [`crate::LossOfInterest::Counter`], which were news to it).
    pub want_feedback: bool,
    /// Feedback under [`crate::LossOfInterest::Counter`]: rumors of the receiver's earlier
    /// message (deltas or offers) that were news to the sender when its round began, the
    /// evidence of a useful contact. Absent (empty) in messages of earlier versions.
    #[serde(default)]
    pub news: Vec<RumorIds>,
}

/// Rumor ids of one origin and generation: a version names one write of its origin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RumorIds {
    /// The rumors' origin.
    pub origin: NodeId,
    /// The origin's generation the writes belong to.
    pub generation: Generation,
    /// The versions, one per rumor.
    pub versions: Vec<Version>,
}

fn is_zero(more: &u8) -> bool {
    *more == 0
}

/// The kind of a message, for counting traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// [`Body::Syn`].
    Syn,
    /// [`Body::SynAck`].
    SynAck,
    /// [`Body::Ack`].
    Ack,
    /// [`Body::Rumor`].
    Rumor,
    /// [`Body::View`].
    View,
    /// [`Body::Probe`].
    Probe,
}

impl MessageKind {
    /// Every kind, in wire order.
    pub const ALL: [MessageKind; MessageKind::COUNT] = [
        MessageKind::Syn,
        MessageKind::SynAck,
        MessageKind::Ack,
        MessageKind::Rumor,
        MessageKind::View,
        MessageKind::Probe,
    ];

    /// Number of kinds.
    pub const COUNT: usize = 6;

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            MessageKind::Syn => "syn",
            MessageKind::SynAck => "synack",
            MessageKind::Ack => "ack",
            MessageKind::Rumor => "rumor",
            MessageKind::View => "view",
            MessageKind::Probe => "probe",
        }
    }
}

impl Body {
    /// The message kind.
    pub fn kind(&self) -> MessageKind {
        match self {
            Body::Syn { .. } => MessageKind::Syn,
            Body::SynAck { .. } => MessageKind::SynAck,
            Body::Ack { .. } => MessageKind::Ack,
            Body::Rumor(_) => MessageKind::Rumor,
            Body::View(_) => MessageKind::View,
            Body::Probe(_) => MessageKind::Probe,
        }
    }

    /// The deltas the message carries.
    pub fn deltas(&self) -> &[OriginDelta] {
        match self {
            Body::Syn { .. } | Body::View(_) | Body::Probe(_) => &[],
            Body::SynAck { deltas, .. } | Body::Ack { deltas } => deltas,
            Body::Rumor(rumor) => &rumor.deltas,
        }
    }
}

/// The fields every version of the protocol starts with.
#[derive(Deserialize)]
struct Header(u8, ClusterId, serde::de::IgnoredAny, serde::de::IgnoredAny);

impl Message {
    /// Encodes the message.
    ///
    /// ```
    /// use hearsay_proto::{Body, ClusterId, Message, NodeId, PROTOCOL_VERSION};
    /// let message = Message {
    ///     version: PROTOCOL_VERSION,
    ///     cluster: ClusterId::from_name("demo"),
    ///     from: NodeId(7),
    ///     body: Body::Ack { deltas: vec![] },
    /// };
    /// let bytes = message.encode()?;
    /// assert_eq!(Message::decode(&bytes, ClusterId::from_name("demo"), 1400)?, message);
    /// # Ok::<(), hearsay_proto::Error>(())
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>, Error> {
        // The anti-entropy messages have a hand-written encoder (the same bytes, faster).
        if let Some(bytes) = codec::encode(self) {
            return Ok(bytes);
        }
        // Most messages are small: one allocation for them instead of a doubling from 8 bytes.
        let mut bytes = Vec::with_capacity(ENCODE_CAPACITY);
        rmp_serde::encode::write(&mut bytes, self).map_err(|e| Error::Encode(e.to_string()))?;
        Ok(bytes)
    }

    /// Decodes untrusted bytes: checks the size limit and the structure, decodes the message, and
    /// rejects another protocol version or cluster (a message whose body does not decode is
    /// reported as of another version or cluster if its header says so, malformed otherwise).
    pub fn decode(bytes: &[u8], cluster: ClusterId, limit: usize) -> Result<Message, Error> {
        if bytes.len() > limit {
            return Err(Error::TooLarge {
                size: bytes.len(),
                limit,
            });
        }
        // An anti-entropy message in its canonical encoding is read by the codec (what it reads
        // is well-formed: `validate` would accept it whole), and returned without a move through
        // the slow path's results. Anything else is checked, then decoded by serde; only when
        // that fails is the header decoded alone, to tell an unknown version (whose body may not
        // parse) from garbage.
        if let Some(message) = codec::decode(bytes) {
            check_header(message.version, message.cluster, cluster)?;
            return Ok(message);
        }
        let decoded = validate(bytes).and_then(|used| {
            if used < bytes.len() {
                return Err(Error::TrailingBytes(bytes.len() - used));
            }
            Ok(rmp_serde::from_slice::<Message>(bytes))
        })?;
        let (version, their_cluster, message) = match decoded {
            Ok(message) => (message.version, message.cluster, Ok(message)),
            Err(error) => {
                let Header(version, cluster, _, _) =
                    rmp_serde::from_slice(bytes).map_err(|e| Error::Malformed(e.to_string()))?;
                (version, cluster, Err(Error::Malformed(error.to_string())))
            }
        };
        check_header(version, their_cluster, cluster)?;
        message
    }
}

/// A message of another protocol version, or of another cluster, is refused (the version first:
/// another version's cluster field may mean something else).
fn check_header(version: u8, theirs: ClusterId, ours: ClusterId) -> Result<(), Error> {
    if version != PROTOCOL_VERSION {
        return Err(Error::UnsupportedVersion {
            got: version,
            supported: PROTOCOL_VERSION,
        });
    }
    if theirs != ours {
        return Err(Error::WrongCluster {
            got: theirs,
            expected: ours,
        });
    }
    Ok(())
}
