//! Where a node's outgoing datagrams go. A node never knows where its peers are: it hands every
//! [`Transmit`] to its transport, which may be the in-process [`Router`], the simulated
//! `Network` (feature `sim`), or a remote link.

use crate::Datagram;
use actix::Recipient;
use hearsay_proto::{NodeId, Transmit};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Carries a node's datagrams to their destination.
pub trait Transport: 'static {
    /// Sends one datagram from `from`. Must not block.
    fn send(&mut self, from: NodeId, transmit: Transmit);
}

/// The in-process transport: mailbox to mailbox, no delay, no loss.
///
/// Clones share one routing table; register every node's [`Datagram`] recipient in it.
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<RwLock<Routes>>,
}

/// Small ids index a vector (in-process clusters number their nodes densely); others a map.
#[derive(Default)]
struct Routes {
    dense: Vec<Option<Recipient<Datagram>>>,
    sparse: BTreeMap<NodeId, Recipient<Datagram>>,
}

/// Ids below this are routed through the vector.
const DENSE_IDS: u64 = 1 << 22;

impl Routes {
    fn get(&self, id: NodeId) -> Option<&Recipient<Datagram>> {
        if id.0 < DENSE_IDS {
            self.dense.get(id.0 as usize)?.as_ref()
        } else {
            self.sparse.get(&id)
        }
    }

    fn set(&mut self, id: NodeId, recipient: Option<Recipient<Datagram>>) {
        if id.0 < DENSE_IDS {
            let at = id.0 as usize;
            if self.dense.len() <= at {
                self.dense.resize(at + 1, None);
            }
            if let Some(slot) = self.dense.get_mut(at) {
                *slot = recipient;
            }
        } else if let Some(recipient) = recipient {
            self.sparse.insert(id, recipient);
        } else {
            self.sparse.remove(&id);
        }
    }

    fn len(&self) -> usize {
        self.dense.iter().flatten().count() + self.sparse.len()
    }
}

impl Router {
    /// An empty routing table.
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes datagrams for `id` to `recipient`.
    pub fn register(&self, id: NodeId, recipient: Recipient<Datagram>) {
        if let Ok(mut routes) = self.routes.write() {
            routes.set(id, Some(recipient));
        }
    }

    /// Stops routing to `id`.
    pub fn unregister(&self, id: NodeId) {
        if let Ok(mut routes) = self.routes.write() {
            routes.set(id, None);
        }
    }

    /// Delivers `payload` to `to`, if routed; returns whether it was.
    pub fn deliver(&self, to: NodeId, payload: Vec<u8>) -> bool {
        let Ok(routes) = self.routes.read() else {
            return false;
        };
        match routes.get(to) {
            Some(recipient) => {
                recipient.do_send(Datagram {
                    payload,
                    sender: None,
                });
                true
            }
            None => false,
        }
    }
}

impl Transport for Router {
    fn send(&mut self, _from: NodeId, transmit: Transmit) {
        self.deliver(transmit.to, transmit.payload);
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes = self.routes.read().map(|r| r.len()).unwrap_or(0);
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}
