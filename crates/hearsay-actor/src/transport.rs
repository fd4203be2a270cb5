//! Where a node's outgoing datagrams go. A node never knows where its peers are: it hands every
//! [`Transmit`] to its transport, which may be the in-process [`Router`], the simulated
//! `Network` (feature `sim`), or a remote link.

use crate::{Datagram, GossipNode, NodeInbox};
use actix::{Addr, Recipient};
use hearsay_proto::{NodeId, Transmit};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

/// Carries a node's datagrams to their destination.
pub trait Transport: 'static {
    /// Sends one datagram from `from`. Must not block.
    fn send(&mut self, from: NodeId, transmit: Transmit);

    /// This transport as the in-process [`Router`], if it is one: a [`GossipNode`] then holds
    /// the router in place instead of in a box of its own (at 100,000 nodes, one cache miss
    /// less per datagram sent). Other transports keep the default, `None`.
    fn as_router(&self) -> Option<&Router> {
        None
    }
}

/// The in-process transport: to each node's [`NodeInbox`] (or mailbox), no delay, no loss.
///
/// Clones share one routing table; register every node's [`Datagram`] recipient in it.
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<RwLock<Routes>>,
}

/// Where the [`Router`] delivers one node's datagrams: a [`GossipNode`]'s address, or any
/// recipient of [`Datagram`]s (a network adapter's, a test's).
///
/// Register a node's `Addr` itself where you have it: delivery then goes straight to its
/// mailbox, where a `Recipient` first follows a boxed pointer (a cache miss per datagram in a
/// cluster of 100,000 nodes) and costs a 24-byte allocation per node.
///
/// ```
/// use actix::Actor;
/// use hearsay_actor::{GossipNode, Router};
/// use hearsay_proto::{Config, Generation, Node, NodeId};
///
/// actix_rt::System::new().block_on(async {
///     let router = Router::new();
///     let node = Node::new(NodeId(1), Generation(1), Config::default(), 7)?;
///     let addr = GossipNode::new(node, router.clone()).start();
///     router.register(NodeId(1), addr.clone()); // or `addr.recipient()`
///     Ok::<(), hearsay_actor::Error>(())
/// })?;
/// # Ok::<(), hearsay_actor::Error>(())
/// ```
#[derive(Clone)]
pub struct Route(RouteTo);

#[derive(Clone)]
enum RouteTo {
    Inbox(NodeInbox),
    Node(Addr<GossipNode>),
    Recipient(Recipient<Datagram>),
}

impl Route {
    fn do_send(&self, datagram: Datagram) {
        match &self.0 {
            RouteTo::Inbox(inbox) => {
                inbox.push(datagram.payload);
            }
            RouteTo::Node(addr) => addr.do_send(datagram),
            RouteTo::Recipient(recipient) => recipient.do_send(datagram),
        }
    }
}

impl From<NodeInbox> for Route {
    fn from(inbox: NodeInbox) -> Route {
        Route(RouteTo::Inbox(inbox))
    }
}

impl From<Addr<GossipNode>> for Route {
    fn from(addr: Addr<GossipNode>) -> Route {
        Route(RouteTo::Node(addr))
    }
}

impl From<Recipient<Datagram>> for Route {
    fn from(recipient: Recipient<Datagram>) -> Route {
        Route(RouteTo::Recipient(recipient))
    }
}

/// Small ids index vectors (in-process clusters number their nodes densely); others a map.
/// Inboxes, the harness's route to every node, have a vector of their own: 8 bytes a node, where
/// a [`Route`] takes 32 (at 100,000 nodes the table is read at random once per datagram).
#[derive(Default)]
struct Routes {
    inboxes: Vec<Option<NodeInbox>>,
    dense: Vec<Option<Route>>,
    sparse: BTreeMap<NodeId, Route>,
}

/// Ids below this are routed through the vectors.
const DENSE_IDS: u64 = 1 << 22;

/// Where one datagram goes.
enum Found<'a> {
    Inbox(&'a NodeInbox),
    Route(&'a Route),
}

/// `slots[at] = value`, growing `slots` only for a value.
fn put<T: Clone>(slots: &mut Vec<Option<T>>, at: usize, value: Option<T>) {
    if value.is_some() && slots.len() <= at {
        slots.resize(at + 1, None);
    }
    if let Some(slot) = slots.get_mut(at) {
        *slot = value;
    }
}

impl Routes {
    fn get(&self, id: NodeId) -> Option<Found<'_>> {
        if id.0 >= DENSE_IDS {
            return self.sparse.get(&id).map(Found::Route);
        }
        let at = id.0 as usize;
        match self.inboxes.get(at) {
            Some(Some(inbox)) => Some(Found::Inbox(inbox)),
            _ => self.dense.get(at)?.as_ref().map(Found::Route),
        }
    }

    fn set(&mut self, id: NodeId, route: Option<Route>) {
        if id.0 >= DENSE_IDS {
            match route {
                Some(route) => self.sparse.insert(id, route),
                None => self.sparse.remove(&id),
            };
            return;
        }
        let at = id.0 as usize;
        let (inbox, route) = match route {
            Some(Route(RouteTo::Inbox(inbox))) => (Some(inbox), None),
            other => (None, other),
        };
        put(&mut self.inboxes, at, inbox);
        put(&mut self.dense, at, route);
    }

    fn len(&self) -> usize {
        self.inboxes.iter().flatten().count()
            + self.dense.iter().flatten().count()
            + self.sparse.len()
    }
}

impl Router {
    /// An empty routing table.
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes datagrams for `id` to `route`: a node's `Addr<GossipNode>` (the direct way) or a
    /// `Recipient<Datagram>`.
    pub fn register(&self, id: NodeId, route: impl Into<Route>) {
        if let Ok(mut routes) = self.routes.write() {
            routes.set(id, Some(route.into()));
        }
    }

    /// Stops routing to `id`.
    pub fn unregister(&self, id: NodeId) {
        if let Ok(mut routes) = self.routes.write() {
            routes.set(id, None);
        }
    }

    /// Delivers `payload` to `to`, if routed (and, for an inbox, its node still runs); returns
    /// whether it was.
    pub fn deliver(&self, to: NodeId, payload: Vec<u8>) -> bool {
        let Ok(routes) = self.routes.read() else {
            return false;
        };
        match routes.get(to) {
            Some(Found::Inbox(inbox)) => inbox.push(payload),
            Some(Found::Route(route)) => {
                route.do_send(Datagram {
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

    fn as_router(&self) -> Option<&Router> {
        Some(self)
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let routes = self.routes.read().map(|r| r.len()).unwrap_or(0);
        f.debug_struct("Router").field("routes", &routes).finish()
    }
}
