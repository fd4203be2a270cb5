//! The crate's one error type.

use hearsay_proto::ErrorKind;
use std::net::SocketAddr;

/// What can go wrong in the network adapter. [`Error::kind`] says who can act on it.
///
/// Errors about one connection ([`Error::Frame`], [`Error::Auth`], [`Error::Refused`], …) close that
/// connection only; the node and its other links go on. They are the peer's
/// ([`ErrorKind::Peer`]): counted in [`crate::NetStats`] and logged, never returned to a caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operation of the operating system failed: writing the state file, reading or writing
    /// the control interface, reading the bound address ([`ErrorKind::System`]; a peer's
    /// connection that fails is closed and counted, never returned).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A frame is malformed (too short, unknown kind, bad field).
    #[error("malformed frame: {0}")]
    Frame(&'static str),
    /// A frame failed authentication with every key of the keyring (wrong key, tampered, replayed
    /// or reordered).
    #[error("frame failed authentication (wrong cluster key, tampered or replayed)")]
    Auth,
    /// The peer's hello was refused, or the peer refused ours.
    #[error("handshake refused: {0}")]
    Refused(String),
    /// The authenticated peer has this node's own id: a connection to itself.
    #[error("connected to itself (the peer has this node's own id {0})")]
    SelfConnection(u64),
    /// A frame arrived that the connection's state does not allow.
    #[error("unexpected {0} frame")]
    Unexpected(&'static str),
    /// The handshake did not finish in time, or the link went idle.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A key or keyring could not be read.
    #[error("key: {0}")]
    Key(String),
    /// The configuration is invalid.
    #[error("config: {0}")]
    Config(String),
    /// A control-interface line could not be understood.
    #[error("{0}")]
    Command(String),
    /// The local node refused (protocol or mailbox error).
    #[error(transparent)]
    Node(#[from] hearsay_actor::Error),
    /// The node actor is gone.
    #[error("mailbox error: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// Binding the listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The node's state file ([`crate::StateFile`]) exists but cannot be restored: unreadable,
    /// too large, not a snapshot, or another node's. The node does not start over it.
    #[error("state file {}: {reason}", path.display())]
    State {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
}

impl Error {
    /// Who can act on this error: [`ErrorKind::Peer`] for what one connection's peer did (a bad
    /// frame, a failed authentication, a refusal, a timeout), the node's kind for
    /// [`Error::Node`], [`ErrorKind::Config`] for keys, configuration, the listen address and
    /// the state file read back, [`ErrorKind::Caller`] for a control command not understood,
    /// [`ErrorKind::System`] for what the operating system failed to do (a state file not
    /// written, the random source), [`ErrorKind::Internal`] otherwise.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } | Error::Random(_) => ErrorKind::System,
            Error::Frame(_)
            | Error::Auth
            | Error::Refused(_)
            | Error::SelfConnection(_)
            | Error::Unexpected(_)
            | Error::Timeout(_) => ErrorKind::Peer,
            Error::Key(_) | Error::Config(_) | Error::Bind { .. } | Error::State { .. } => {
                ErrorKind::Config
            }
            Error::Command(_) => ErrorKind::Caller,
            Error::Node(error) => error.kind(),
            Error::Mailbox(_) => ErrorKind::Internal,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
