//! [`NetTransport`]: the [`hearsay_actor::Transport`] of a networked node. It hands each datagram
//! to the connection dialed to its peer, without waiting: a full queue or a missing link drops the
//! datagram (gossip repairs it in a later round) and counts it.

use crate::link::{LinkHandle, SendGossip};
use crate::stats::{Counter, NetStats};
use hearsay_proto::{NodeId, Transmit};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Peer id to the connection that carries this node's datagrams to it.
///
/// The one lock of the crate, kept on purpose: the mesh writes it when a link goes up or down,
/// and the transport reads it inside the node actor's synchronous [`hearsay_actor::Transport::send`],
/// once per datagram. A message instead would route every datagram through the mesh's unbounded
/// mailbox: a hop per datagram, and the connection's bounded mailbox (drop when full) no longer
/// the first queue a datagram meets. Held for a map lookup or insert only, never across an await.
pub(crate) type Routes = Arc<RwLock<BTreeMap<NodeId, LinkHandle>>>;

/// Sends a node's datagrams over its dialed connections.
pub struct NetTransport {
    routes: Routes,
    stats: Arc<NetStats>,
}

impl NetTransport {
    pub(crate) fn new(routes: Routes, stats: Arc<NetStats>) -> NetTransport {
        NetTransport { routes, stats }
    }
}

impl hearsay_actor::Transport for NetTransport {
    fn send(&mut self, _from: NodeId, transmit: Transmit) {
        let route = match self.routes.read() {
            Ok(routes) => routes.get(&transmit.to).cloned(),
            Err(poisoned) => poisoned.into_inner().get(&transmit.to).cloned(),
        };
        let sent =
            route.is_some_and(|link| link.gossip.try_send(SendGossip(transmit.payload)).is_ok());
        if !sent {
            self.stats.add(Counter::Dropped, 1);
        }
    }
}
