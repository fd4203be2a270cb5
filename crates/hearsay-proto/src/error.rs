//! The crate's one error type, and who can act on each error ([`ErrorKind`]).

use crate::{ClusterId, Generation, NodeId};

/// Who can act on an [`Error`]: each variant's documentation names its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A peer sent something this node refuses (bad bytes, another cluster, another protocol
    /// version). The runtime counts it and drops the message; the node's state is untouched, and
    /// the error is never the caller's.
    Peer,
    /// The caller asked for something the node cannot do (a write too large, a reserved key, a
    /// generation not above the current one). Nothing changed; the caller can fix the request.
    Caller,
    /// The configuration is inconsistent: fix the named field.
    Config,
    /// The operating system failed an operation the runtime needed — a file not written (a full
    /// disk, a permission), a terminal closed, the random source: the operator can act. Not the
    /// protocol core's (it does no I/O); the runtimes' errors have it.
    System,
    /// A bug in hearsay: please report it.
    Internal,
}

/// Everything that can go wrong in the protocol core. [`Error::kind`] says who can act on it.
///
/// Errors caused by peers ([`ErrorKind::Peer`]) are returned to the runtime, which drops the
/// message; they never corrupt the node's state.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed message. [`ErrorKind::Peer`].
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The frame holds more bytes than the message it encodes. [`ErrorKind::Peer`].
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message is larger than this node accepts. [`ErrorKind::Peer`].
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the rejected message.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The message speaks another protocol version. [`ErrorKind::Peer`].
    #[error("unsupported protocol version {got} (this node speaks {supported})")]
    UnsupportedVersion {
        /// The version found in the message.
        got: u8,
        /// The version this build speaks.
        supported: u8,
    },
    /// The message belongs to another cluster. [`ErrorKind::Peer`].
    #[error("message from cluster {got}, this node belongs to cluster {expected}")]
    WrongCluster {
        /// The cluster named in the message.
        got: ClusterId,
        /// This node's cluster.
        expected: ClusterId,
    },
    /// A node received a message that claims to come from itself. [`ErrorKind::Peer`].
    #[error("message claims to come from this node ({0})")]
    FromSelf(NodeId),
    /// A message claims another sender than the peer the transport authenticated.
    /// [`ErrorKind::Peer`].
    #[error("message claims to come from {claimed}, but the transport's peer is {sender}")]
    SenderMismatch {
        /// The message's `from`.
        claimed: NodeId,
        /// Who the transport says sent it.
        sender: NodeId,
    },
    /// A local write too large to ever fit in one message, or a key too long.
    /// [`ErrorKind::Caller`].
    #[error("{}", too_large(*size, *limit, *key, *max_key))]
    EntryTooLarge {
        /// Bytes a message carrying it may need (every header at its widest), or for a key too
        /// long, what three copies of it need in a precise digest.
        size: usize,
        /// The configured MTU.
        limit: usize,
        /// The key's length.
        key: usize,
        /// The longest key the MTU allows ([`crate::Config::max_key_len`]).
        max_key: usize,
    },
    /// The origin has used every version (only reachable by 2^64 writes, or a forged history).
    /// [`ErrorKind::Caller`]: the node refuses further writes under this generation; a restart
    /// under a new generation starts the versions afresh.
    #[error("origin {0} has no versions left")]
    VersionsExhausted(NodeId),
    /// A key reserved for the protocol (the `hearsay/` prefix) was written or deleted by the
    /// caller. [`ErrorKind::Caller`].
    #[error(
        "key {0:?} is reserved: keys starting with {prefix:?} belong to the protocol",
        prefix = crate::membership::RESERVED_PREFIX
    )]
    ReservedKey(String),
    /// A restart asked for a generation that is not above the current one.
    /// [`ErrorKind::Caller`].
    #[error("a restart needs a generation above {}, not {}", .current.0, .requested.0)]
    StaleGeneration {
        /// The node's current generation.
        current: Generation,
        /// The generation asked for.
        requested: Generation,
    },
    /// A snapshot given to [`crate::Node::restore`] or [`crate::Snapshot::decode`] that cannot be
    /// restored: bytes that are not a snapshot, another format, or a snapshot that contradicts
    /// itself. [`ErrorKind::Caller`]: nothing was changed.
    #[error("invalid snapshot: {0}")]
    InvalidSnapshot(String),
    /// The configuration is inconsistent: `field` is the offending field (as written in
    /// [`crate::Config`] or its sub-configurations), `reason` what is wrong with it.
    /// [`ErrorKind::Config`].
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The field at fault.
        field: &'static str,
        /// What is wrong, in words.
        reason: String,
    },
    /// Encoding failed (a bug: every message type is encodable). [`ErrorKind::Internal`].
    #[error("encoding failed: {0}")]
    Encode(String),
}

impl Error {
    /// Who can act on this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Malformed(_)
            | Error::TrailingBytes(_)
            | Error::TooLarge { .. }
            | Error::UnsupportedVersion { .. }
            | Error::WrongCluster { .. }
            | Error::FromSelf(_)
            | Error::SenderMismatch { .. } => ErrorKind::Peer,
            Error::EntryTooLarge { .. }
            | Error::VersionsExhausted(_)
            | Error::ReservedKey(_)
            | Error::StaleGeneration { .. }
            | Error::InvalidSnapshot(_) => ErrorKind::Caller,
            Error::Config { .. } => ErrorKind::Config,
            Error::Encode(_) => ErrorKind::Internal,
        }
    }

    /// A configuration error on `field`.
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Error {
        Error::Config {
            field,
            reason: reason.into(),
        }
    }
}

/// [`Error::EntryTooLarge`] said for what is too large: the key, or the entry.
fn too_large(size: usize, limit: usize, key: usize, max_key: usize) -> String {
    if key > max_key {
        format!(
            "a key of {key} bytes is longer than the {max_key} bytes a message of at most \
             {limit} bytes (Config::mtu) allows: a digest may name a key three times"
        )
    } else {
        format!(
            "entry of {size} bytes (its key of {key} bytes, its value and the message's headers) \
             does not fit in a message of at most {limit} bytes (Config::mtu)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Error;

    /// The size error says what is too large: a key past `max_key`, or the entry as a whole.
    #[test]
    fn an_entry_too_large_says_whether_the_key_or_the_entry_is() {
        let key = Error::EntryTooLarge {
            size: 4061,
            limit: 1400,
            key: 1300,
            max_key: 444,
        };
        assert!(
            key.to_string()
                .starts_with("a key of 1300 bytes is longer than the 444 bytes")
        );
        let entry = Error::EntryTooLarge {
            size: 2100,
            limit: 1400,
            key: 5,
            max_key: 444,
        };
        assert!(
            entry
                .to_string()
                .starts_with("entry of 2100 bytes (its key of 5 bytes")
        );
    }
}
