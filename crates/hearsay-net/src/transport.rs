//! [`NetTransport`]: the [`hearsay_actor::Transport`] of a networked node. It seals each datagram
//! and sends it on the node's UDP socket, or hands it to the connection dialed to its peer,
//! without waiting: a full queue, an unknown address or a missing link drops the datagram (gossip
//! repairs it in a later round) and counts it.

use crate::datagram::{Body, Sealer};
use crate::link::{LinkHandle, SendGossip};
use crate::mesh::Wanted;
use crate::stats::{Counter, NetStats};
use crate::udp::Outbox;
use actix::Recipient;
use hearsay_proto::{NodeId, Transmit};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Peer id to the connection that carries this node's datagrams to it.
///
/// Shared on purpose, like the [`Outbox`]: the mesh writes it when a link goes up or down, and
/// the transport reads it inside the node actor's synchronous [`hearsay_actor::Transport::send`],
/// once per datagram. A message instead would route every datagram through the mesh's unbounded
/// mailbox: a hop per datagram, and the connection's bounded mailbox (drop when full) no longer
/// the first queue a datagram meets. Held for a map lookup or insert only, never across an await.
pub(crate) type Routes = Arc<RwLock<BTreeMap<NodeId, LinkHandle>>>;

/// The routes, to read. Every hold is one map operation, so a panic elsewhere cannot have left
/// the map half-changed: a poisoned lock is used as it is.
pub(crate) fn read_routes(routes: &Routes) -> RwLockReadGuard<'_, BTreeMap<NodeId, LinkHandle>> {
    routes.read().unwrap_or_else(PoisonError::into_inner)
}

/// The routes, to change (see [`read_routes`]).
pub(crate) fn write_routes(routes: &Routes) -> RwLockWriteGuard<'_, BTreeMap<NodeId, LinkHandle>> {
    routes.write().unwrap_or_else(PoisonError::into_inner)
}

/// How a node's datagrams leave it.
enum Route {
    /// Over the connections the mesh dialed; a datagram without one goes to the mesh, which
    /// dials its peer and sends it once linked.
    Stream {
        routes: Routes,
        mesh: Recipient<Wanted>,
    },
    /// Sealed, on the node's UDP socket.
    Datagram { outbox: Arc<Outbox>, sealer: Sealer },
}

/// Sends a node's datagrams over UDP or its dialed connections.
pub struct NetTransport {
    route: Route,
    stats: Arc<NetStats>,
}

impl NetTransport {
    pub(crate) fn stream(
        routes: Routes,
        mesh: Recipient<Wanted>,
        stats: Arc<NetStats>,
    ) -> NetTransport {
        NetTransport {
            route: Route::Stream { routes, mesh },
            stats,
        }
    }

    pub(crate) fn datagram(
        outbox: Arc<Outbox>,
        sealer: Sealer,
        stats: Arc<NetStats>,
    ) -> NetTransport {
        NetTransport {
            route: Route::Datagram { outbox, sealer },
            stats,
        }
    }
}

impl hearsay_actor::Transport for NetTransport {
    fn send(&mut self, _from: NodeId, transmit: Transmit) {
        let sent = match &mut self.route {
            Route::Stream { routes, mesh } => {
                let route = read_routes(routes).get(&transmit.to).cloned();
                match route {
                    Some(link) => link.gossip.try_send(SendGossip(transmit.payload)).is_ok(),
                    // The mesh dials the peer, or counts what it cannot deliver.
                    None => {
                        mesh.do_send(Wanted {
                            to: transmit.to,
                            addr: transmit.addr.as_deref().and_then(|a| a.parse().ok()),
                            payload: transmit.payload,
                        });
                        return;
                    }
                }
            }
            // The address membership carries (current with the member's generation), else the
            // book's (hellos, the reserved key).
            Route::Datagram { outbox, sealer } => {
                // Sealed under the generation the node runs now (a refutation moves it up).
                sealer.follow(outbox.generation());
                match transmit
                    .addr
                    .as_deref()
                    .and_then(|addr| addr.parse::<SocketAddr>().ok())
                    .or_else(|| outbox.last_known(transmit.to))
                {
                    Some(addr) => {
                        let sent = outbox.send(sealer, addr, &Body::Gossip(transmit.payload));
                        if sent {
                            self.stats.add(Counter::GossipOut, 1);
                        }
                        // A datagram the outbox refused is counted there.
                        return;
                    }
                    None => {
                        self.stats.add(Counter::Unaddressed, 1);
                        return;
                    }
                }
            }
        };
        if !sent {
            self.stats.add(Counter::Dropped, 1);
        }
    }
}
