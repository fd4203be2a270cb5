//! The messages that cross between a connection actor and whoever keeps its links (the
//! [`Mesh`](crate::Mesh)): neither side names the other's actor type, so a connection can be
//! started, and tested, with any pair of recipients.
//!
//! Upward, a connection reports [`LinkUp`] (handshake done) and [`LinkDown`] (it ended) to its
//! [`Links`]. Downward, a [`LinkHandle`] carries [`SendGossip`] and [`Close`] to one connection;
//! [`Rekey`] replaces its keyring.

use crate::Keyring;
use crate::frame::Hello;
use crate::session::Role;
use actix::{Message, Recipient};
use hearsay_proto::NodeId;
use std::net::SocketAddr;
use std::sync::Arc;

/// Sends one gossip message to the connection's peer (dropped, and counted, when the queue is
/// full or the handshake is not done).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SendGossip(pub Vec<u8>);

/// Closes the connection after telling the peer why.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close(pub String);

/// Replaces the connection's keyring (key rotation): its next frames are sealed with the new
/// primary and opened with any key of the new ring. Answered once applied.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Rekey(pub Arc<Keyring>);

/// What the keeper of links may tell one established connection.
#[derive(Clone)]
pub(crate) struct LinkHandle {
    pub gossip: Recipient<SendGossip>,
    pub close: Recipient<Close>,
}

/// A connection completed its handshake.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LinkUp {
    pub connection: u64,
    pub role: Role,
    pub remote: SocketAddr,
    pub hello: Hello,
    pub handle: LinkHandle,
}

/// A connection ended.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct LinkDown {
    pub connection: u64,
    pub role: Role,
    pub remote: SocketAddr,
    pub peer: Option<NodeId>,
    pub reason: String,
    /// The authenticated peer was this node itself.
    pub self_connection: bool,
    /// A dialed link closed because it carried no gossip for [`NetConfig::unused_after`]
    /// (on-demand links): no failure of the peer.
    ///
    /// [`NetConfig::unused_after`]: crate::NetConfig::unused_after
    pub unused: bool,
}

/// Where a connection reports its link going up and down.
#[derive(Clone)]
pub(crate) struct Links {
    pub up: Recipient<LinkUp>,
    pub down: Recipient<LinkDown>,
}
