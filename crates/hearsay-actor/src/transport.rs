//! Where a node's outgoing datagrams go. A node never knows where its peers are: it hands every
//! [`Transmit`] to its transport, which may be the in-process [`Router`], the simulated
//! `Network` (feature `sim`), or a remote link.

use crate::node_inbox::{InboxReader, Slot, Waiting};
use crate::{Datagram, GossipNode};
use actix::{Addr, Recipient};
use hearsay_proto::{NodeId, Transmit};
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::Waker;

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

/// The in-process transport: to each node's inbox ([`Router::start`]) or mailbox, no delay, no
/// loss.
///
/// Clones share one routing table. Start every node through it ([`Router::start`]), or
/// register an address or recipient that takes [`Datagram`]s ([`Router::register`]).
#[derive(Clone, Default)]
pub struct Router {
    routes: Arc<RwLock<Routes>>,
}

/// Where the [`Router`] delivers one node's datagrams: a [`GossipNode`]'s address, or any
/// recipient of [`Datagram`]s (a network adapter's, a test's).
///
/// A node started by [`Router::start`] needs no route registered (it reads an inbox in the
/// table, the fastest path). Otherwise register a node's `Addr` itself where you have it:
/// delivery then goes straight to its mailbox, where a `Recipient` first follows a boxed pointer
/// (a cache miss per datagram in a cluster of 100,000 nodes) and costs a 24-byte allocation per
/// node.
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
    Node(Addr<GossipNode>),
    Recipient(Recipient<Datagram>),
}

impl Route {
    fn do_send(&self, datagram: Datagram) {
        match &self.0 {
            RouteTo::Node(addr) => addr.do_send(datagram),
            RouteTo::Recipient(recipient) => recipient.do_send(datagram),
        }
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
/// Nodes started by [`Router::start`] have their inbox in the table itself (a slab indexed by
/// id: a datagram's delivery reads one place; at 100,000 nodes each read is a cache miss).
#[derive(Default)]
struct Routes {
    inboxes: Vec<Slot>,
    dense: Vec<Option<Route>>,
    sparse: BTreeMap<NodeId, Route>,
}

/// Ids below this are routed through the vectors (and the recorder keeps them as bits): what
/// an in-process cluster numbered densely uses.
pub(crate) const DENSE_IDS: u64 = 1 << 22;

/// How far past twice its length the inbox table grows for one id ([`Router::start`]).
const SLAB_GROWTH: usize = 1 << 16;

impl Routes {
    fn route(&self, id: NodeId) -> Option<&Route> {
        if id.0 < DENSE_IDS {
            self.dense.get(id.0 as usize)?.as_ref()
        } else {
            self.sparse.get(&id)
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
        if let Some(slot) = self.inboxes.get_mut(at) {
            slot.close();
        }
        if route.is_some() && self.dense.len() <= at {
            self.dense.resize(at + 1, None);
        }
        if let Some(slot) = self.dense.get_mut(at) {
            *slot = route;
        }
    }

    /// Routes `id` to a fresh inbox; answers the reader's ticket. `None` for an id the slab
    /// does not reach: beyond [`DENSE_IDS`], or so far past the table's end that growing to it
    /// would cost more than [`SLAB_GROWTH`] slots besides doubling (a lone id of 4,000,000 would
    /// take 400 MB of empty slots).
    fn open_inbox(&mut self, id: NodeId) -> Option<u32> {
        let at = usize::try_from(id.0).ok().filter(|&at| {
            id.0 < DENSE_IDS && at <= self.inboxes.len().saturating_mul(2) + SLAB_GROWTH
        })?;
        self.set(id, None);
        if self.inboxes.len() <= at {
            self.inboxes.resize_with(at + 1, Slot::default);
        }
        self.inboxes.get_mut(at).map(Slot::open)
    }

    fn len(&self) -> usize {
        self.inboxes.iter().filter(|slot| slot.is_open()).count()
            + self.dense.iter().flatten().count()
            + self.sparse.len()
    }
}

impl Router {
    /// An empty routing table.
    pub fn new() -> Router {
        Router::default()
    }

    /// Starts `node` and routes its id to it: for ids below 2^22 through an inbox in this
    /// table that the node's own task drains, ahead of its timer in each poll — no mailbox
    /// message per datagram (at 100,000 nodes, a fifth of the wall time); for larger ids
    /// through its mailbox. Its address takes every other message, and [`Datagram`]s too.
    ///
    /// The inbox and the mailbox are two queues: within one poll of the node the mailbox's
    /// messages are taken first, then the datagrams waiting, each queue in its own order (in
    /// one thread a poll follows every virtual instant's pushes, so this orders only what
    /// reaches the node in the same instant). Do not also [`Router::register`] the address it
    /// answers: that moves the id back to the mailbox (and drops what waits in the inbox). The
    /// node runs on the calling thread's arbiter. Ids below 2^22 get an inbox unless the table
    /// would grow by more than twice its length and 65,536 slots for them (a lone id of
    /// millions would take hundreds of MB of empty slots): those, and larger ids, go through
    /// the mailbox.
    ///
    /// ```
    /// use hearsay_actor::{GossipNode, Router, Set};
    /// use hearsay_proto::{Config, Generation, Node, NodeId, Value};
    ///
    /// actix_rt::System::new().block_on(async {
    ///     let router = Router::new();
    ///     let node = Node::new(NodeId(1), Generation(1), Config::default(), 7)?;
    ///     let addr = router.start(GossipNode::new(node, router.clone()));
    ///     addr.send(Set { key: "k".into(), value: Value::from("v") }).await??;
    ///     Ok::<(), hearsay_actor::Error>(())
    /// })?;
    /// # Ok::<(), hearsay_actor::Error>(())
    /// ```
    pub fn start(&self, node: GossipNode) -> Addr<GossipNode> {
        use actix::Actor;
        let id = node.id();
        let ticket = self
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .open_inbox(id);
        match ticket {
            Some(ticket) => node.start_reading(InboxReader::new(self.clone(), id.0 as u32, ticket)),
            None => {
                let addr = node.start();
                self.register(id, addr.clone());
                addr
            }
        }
    }

    /// Routes datagrams for `id` to `route`: a node's `Addr<GossipNode>` (its mailbox) or a
    /// `Recipient<Datagram>`. Replaces the route [`Router::start`] gave the id.
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

    /// Delivers `payload` to `to`, if routed (to a node that still runs, for an inbox); returns
    /// whether it was.
    pub fn deliver(&self, to: NodeId, payload: Vec<u8>) -> bool {
        let Ok(routes) = self.routes.read() else {
            return false;
        };
        let payload = match routes.inboxes.get(to.0 as usize) {
            Some(slot) if to.0 < DENSE_IDS => match slot.push(payload) {
                Ok(()) => return true,
                Err(payload) => payload,
            },
            _ => payload,
        };
        match routes.route(to) {
            Some(route) => {
                route.do_send(Datagram {
                    payload,
                    sender: None,
                });
                true
            }
            None => false,
        }
    }

    /// What waits in the inbox at `at` for the reader holding `ticket`.
    pub(crate) fn take(&self, at: usize, ticket: u32, waker: &Waker) -> Waiting {
        self.routes
            .read()
            .ok()
            .and_then(|routes| Some(routes.inboxes.get(at)?.take(ticket, waker)))
            .unwrap_or_default()
    }

    /// The reader holding `ticket` stopped: its inbox takes nothing more.
    pub(crate) fn close_inbox(&self, at: usize, ticket: u32) {
        if let Ok(mut routes) = self.routes.write()
            && let Some(slot) = routes.inboxes.get_mut(at)
        {
            slot.close_for(ticket);
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
