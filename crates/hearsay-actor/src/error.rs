//! The crate's one error type.

/// What can go wrong when talking to node actors.
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
}
