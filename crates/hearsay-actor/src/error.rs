//! The crate's one error type.

use hearsay_proto::ErrorKind;

/// What can go wrong when talking to node actors. [`Error::kind`] says who can act on it.
///
/// A peer's bad datagram is never one of these: the node counts it
/// ([`hearsay_proto::Stats::rejected`]) and drops it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The protocol refused (a bad configuration, an entry too large, …).
    #[error(transparent)]
    Protocol(#[from] hearsay_proto::Error),
    /// The node is crashed (simulated) and answers nothing.
    #[error("node {0} is down")]
    Down(hearsay_proto::NodeId),
    /// No node with this index or id.
    #[error("no node {0}")]
    NoSuchNode(u64),
    /// The actor's mailbox is closed (the actor stopped).
    #[error("mailbox error: {0}")]
    Mailbox(#[from] actix::MailboxError),
    /// The runtime could not be built.
    #[error("runtime: {0}")]
    Runtime(String),
    /// A fault-search scenario asks for what the harness cannot run (a node it does not have,
    /// sizes over the limits): `Scenario::validate`.
    #[error("invalid scenario: {0}")]
    InvalidScenario(String),
}

impl Error {
    /// Who can act on this error: the protocol's kind for [`Error::Protocol`];
    /// [`ErrorKind::Caller`] for a node that is down or does not exist, or a scenario that cannot
    /// run; [`ErrorKind::Internal`]
    /// for a closed mailbox or a runtime that could not be built.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Protocol(error) => error.kind(),
            Error::Down(_) | Error::NoSuchNode(_) | Error::InvalidScenario(_) => ErrorKind::Caller,
            Error::Mailbox(_) | Error::Runtime(_) => ErrorKind::Internal,
        }
    }
}
