//! The crate's one error type.

use crate::{ClusterId, NodeId};

/// Everything that can go wrong in the protocol core.
///
/// Errors caused by peers (bad bytes, another cluster, another protocol version) are returned to
/// the runtime, which drops the message; they never corrupt the node's state.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The frame holds more bytes than the message it encodes.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message is larger than this node accepts.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the rejected message.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The message speaks another protocol version.
    #[error("unsupported protocol version {got} (this node speaks {supported})")]
    UnsupportedVersion {
        /// The version found in the message.
        got: u8,
        /// The version this build speaks.
        supported: u8,
    },
    /// The message belongs to another cluster.
    #[error("message from cluster {got}, this node belongs to cluster {expected}")]
    WrongCluster {
        /// The cluster named in the message.
        got: ClusterId,
        /// This node's cluster.
        expected: ClusterId,
    },
    /// A node received a message that claims to come from itself.
    #[error("message claims to come from this node ({0})")]
    FromSelf(NodeId),
    /// A local write too large to ever fit in one message.
    #[error("entry of {size} bytes does not fit in a message of at most {limit} bytes")]
    EntryTooLarge {
        /// Bytes a message carrying it may need (every header at its widest), or for a key too
        /// long, what three copies of it need in a precise digest.
        size: usize,
        /// The configured MTU.
        limit: usize,
    },
    /// The origin has used every version (only reachable by 2^64 writes, or a forged history).
    #[error("origin {0} has no versions left")]
    VersionsExhausted(NodeId),
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Encoding failed (a bug: every message type is encodable).
    #[error("encoding failed: {0}")]
    Encode(String),
}
