//! [`Mesh`]: the actor that keeps a networked node linked to its peers.
//!
//! With [`crate::TransportKind::Stream`], it accepts connections (up to `max_connections`), dials
//! every address it learns — the seeds, the listen address in each authenticated hello, the
//! reserved key [`ADDR_KEY`] (the heartbeat detector's nodes gossip it), and the address
//! membership gives a message to a member not linked yet (SWIM's nodes carry theirs in their
//! updates: [`Wanted`]) — and redials lost links with jittered exponential backoff. Links are
//! one-way for gossip: a node sends on the connections it dialed and receives on those it
//! accepted, so two nodes never race to keep one of two connections. A peer joins the node's
//! gossip peers when its link comes up and leaves them when the link goes down. Every address
//! learnt stays in the book, a forgotten one as the last resort: a message to a member the mesh
//! no longer dials (one removed, told of its removal) dials it on demand, and that target is
//! dropped when its link ends or its dial fails.
//!
//! With partial views the links are on demand: the mesh dials each seed until the node has
//! joined through it (every seed that links is a `Join`: the view's contacts), then only a peer
//! the node has something to send to ([`Wanted`]: the message waits, bounded, until the link is
//! up), and a dialed link unused for `unused_after` closes. A link that fails, or a dial that
//! does, is the view's failure signal (`PeerFailed`).

use crate::address_book::AddressBook;
use crate::connection::{Connection, Limits, Setup, Writers};
use crate::link::{Close, LinkDown, LinkUp, Links, Rekey, SendGossip};
use crate::session::{Local, Role};
use crate::stats::{Counter, NetStats};
use crate::transport::{Routes, read_routes, write_routes};
use crate::{ADDR_KEY, Keyring, NetConfig};
use actix::{
    Actor, ActorFutureExt, Addr, AsyncContext, Context, Handler, Message, ResponseFuture,
    SpawnHandle, WrapFuture,
};
use hearsay_actor::{AddPeer, GossipNode, Join, KeyChanged, MemberChanged, PeerFailed, RemovePeer};
use hearsay_proto::MemberStatus;
use hearsay_proto::{Generation, NodeId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// An accepted socket.
#[derive(Message)]
#[rtype(result = "()")]
struct Accepted(TcpStream, SocketAddr);

/// A dial finished connecting (or failed to).
#[derive(Message)]
#[rtype(result = "()")]
struct Dialed {
    target: SocketAddr,
    connection: u64,
    result: std::io::Result<TcpStream>,
}

/// A gossip message for a peer without a link: the mesh dials the peer (at the address
/// membership gave, else the one its hello or reserved key announced) and sends the message once
/// the link is up. Without partial views the address is then kept and redialed like any other
/// (session 24: before, a SWIM member's address was never dialed, and a node linked to its
/// seeds alone); with them the link is on demand.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Wanted {
    pub to: NodeId,
    pub addr: Option<SocketAddr>,
    pub payload: Vec<u8>,
}

/// Messages held for one address while its link comes up; more are dropped (and counted).
pub const MAX_WAITING: usize = 16;

/// Adds an address to dial (and keep dialing).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddSeed(pub SocketAddr);

/// Reads the links the mesh keeps: one per address it dials.
#[derive(Message)]
#[rtype(result = "Vec<Link>")]
pub struct GetLinks;

/// Replaces the keyring (key rotation): new connections start with it, and every open one gets
/// it; answered once all have, so that every frame sealed afterwards uses the new primary.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SetKeyring(pub Keyring);

/// Says goodbye on every link and stops.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// One address the mesh dials, and the state of its link (not a membership entry: that is
/// [`hearsay_proto::membership::Member`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Link {
    /// The address dialed.
    pub addr: SocketAddr,
    /// The peer's id, once a handshake told it.
    pub id: Option<u64>,
    /// The peer's generation, once known.
    pub generation: Option<u64>,
    /// Whether this node's link to it is up.
    pub connected: bool,
    /// Failed dials since the last success.
    pub failures: u32,
    /// Why the last link ended, if one did.
    pub last_error: Option<String>,
}

struct Target {
    id: Option<NodeId>,
    generation: Option<Generation>,
    /// The dial or connection in flight for this address.
    connection: Option<u64>,
    up: bool,
    failures: u32,
    retry: Option<SpawnHandle>,
    /// This address is the node itself: not dialed again until `NetConfig::self_redial` passed.
    is_self: bool,
    /// This address reaches a node already linked through another address: not dialed while
    /// that link is up.
    alias: bool,
    /// A configured seed (dialed with backoff forever); learned addresses are dialed only every
    /// `NetConfig::unreachable_redial` after [`MAX_LEARNED_FAILURES`] failed dials in a row.
    seed: bool,
    /// With partial views, a seed this process joined through (its link came up): dialed
    /// again only when the node has something to send it, or once it left or was removed.
    joined: bool,
    last_error: Option<String>,
    /// Messages waiting for the link (on-demand links), with the peer each is for.
    waiting: Vec<(NodeId, Vec<u8>)>,
    /// A full mesh dialed it only for a message (`Wanted`: a member it no longer dials, such as
    /// one removed, told of its removal): forgotten when its link ends or its dial fails, as
    /// the views' on-demand links are, rather than redialed for good; a dead removed member
    /// costs one dial per reconnect. Learnt for good (a dial target) once an address key or a
    /// hello names it.
    on_demand: bool,
}

/// Accepted connections that may be in their handshake at once: a quarter of
/// `max_connections` (at least one). Beyond it a new connection is closed at once (`over_limit`).
/// Before session 26 unauthenticated connections could take every slot: this node's own dials
/// then failed for want of room, and after 8 such failures it forgot its peers' addresses.
pub fn handshake_budget(max_connections: usize) -> usize {
    (max_connections / 4).max(1)
}

/// Of the [`handshake_budget`], what connections from one IP address may hold at once: an
/// eighth of it (at least 2, at most all of it; 32 of the default 256). Before session 30 one
/// host holding idle connections without a key took the whole budget, and no node could join
/// until it let go (a hostile user's report: ~300 idle connections refreshed every 5 s).
pub fn handshake_budget_per_source(max_connections: usize) -> usize {
    let budget = handshake_budget(max_connections);
    (budget / 8).max(2).min(budget)
}

/// Dials `addr` after `delay` (its `Target::retry`); a verdict that the address is this node
/// expires with it (`NetConfig::self_redial`), its count of failures starting afresh.
fn redial_after(addr: SocketAddr, delay: Duration, ctx: &mut Context<Mesh>) -> SpawnHandle {
    ctx.run_later(delay, move |mesh, ctx| {
        if let Some(target) = mesh.targets.get_mut(&addr) {
            target.retry = None;
            if std::mem::take(&mut target.is_self) {
                target.failures = 0;
            }
        }
        mesh.dial(addr, ctx);
    })
}

/// Failed dials in a row after which a learned (not seed) address is dialed only every
/// `NetConfig::unreachable_redial`. (Before session 27 it was forgotten: after a partition of
/// about 45 s — eight timed-out dials — two nodes that had learnt each other's address from
/// gossip never dialed each other again, nothing teaching the address anew, and a full mesh
/// shrank to a star around its seeds.)
pub const MAX_LEARNED_FAILURES: u32 = 8;

/// Most addresses the mesh keeps dialing (new ones beyond are ignored until some are forgotten).
pub const MAX_TARGETS: usize = 4_096;

/// What the mesh shares with the node and its connections.
pub(crate) struct Wiring {
    pub node: Addr<GossipNode>,
    /// Written here, read by the node's transport.
    pub routes: Routes,
    pub stats: Arc<NetStats>,
    /// Waited on by [`crate::NetNode::shutdown_and_flush`].
    pub writers: Arc<Writers>,
    /// Partial views pick the peers: every seed linked is a `Join` contact, and a link that goes
    /// down is reported as `PeerFailed`.
    pub views: bool,
}

/// Keeps a node linked to its peers. Started by [`crate::NetNode::start`].
pub struct Mesh {
    config: NetConfig,
    local: Local,
    /// Given to each new connection; replaced by [`SetKeyring`], which every open one also gets.
    keyring: Arc<Keyring>,
    node: Addr<GossipNode>,
    routes: Routes,
    stats: Arc<NetStats>,
    writers: Arc<Writers>,
    /// Which connection each route goes through, and the generation its peer's hello gave.
    route_owners: BTreeMap<NodeId, (u64, Generation)>,
    /// Every connection started, by id, until it ends (told goodbye at shutdown).
    connections: BTreeMap<u64, Addr<Connection>>,
    listener: Option<TcpListener>,
    targets: BTreeMap<SocketAddr, Target>,
    /// Connections open (dialed or accepted, handshake done or not).
    open: usize,
    /// Accepted connections whose peer has not authenticated yet: at most
    /// [`handshake_budget`] of them, so that whoever can open connections without a key holds
    /// at most that share of `max_connections` and never the room authenticated links and this
    /// node's own dials use.
    handshaking: BTreeMap<u64, IpAddr>,
    next_connection: u64,
    rng: ChaCha8Rng,
    advertised: SocketAddr,
    /// See [`Wiring::views`]; also makes the links on demand.
    views: bool,
    /// Where peers are reached when membership does not say (on-demand links): hellos and the
    /// reserved address key.
    book: AddressBook,
}

impl Mesh {
    pub(crate) fn new(
        config: NetConfig,
        local: Local,
        keyring: Keyring,
        wiring: Wiring,
        listener: TcpListener,
        advertised: SocketAddr,
        jitter_seed: u64,
    ) -> Mesh {
        let Wiring {
            node,
            routes,
            stats,
            writers,
            views,
        } = wiring;
        Mesh {
            config,
            local,
            keyring: Arc::new(keyring),
            node,
            routes,
            stats,
            writers,
            route_owners: BTreeMap::new(),
            connections: BTreeMap::new(),
            listener: Some(listener),
            targets: BTreeMap::new(),
            open: 0,
            handshaking: BTreeMap::new(),
            next_connection: 0,
            rng: ChaCha8Rng::seed_from_u64(jitter_seed),
            advertised,
            views,
            book: AddressBook::default(),
        }
    }

    /// Starts a connection over `stream`, remembered until it ends.
    fn connect(
        &mut self,
        id: u64,
        stream: TcpStream,
        role: Role,
        remote: SocketAddr,
        ctx: &mut Context<Self>,
    ) -> Result<(), crate::Error> {
        let me = ctx.address();
        let setup = Setup {
            limits: Limits {
                unused_after: self.views.then_some(self.config.unused_after),
                ..Limits::of(&self.config)
            },
            local: self.local.clone(),
            keyring: self.keyring.clone(),
            node: self.node.clone().recipient(),
            links: Links {
                up: me.clone().recipient(),
                down: me.recipient(),
            },
            stats: self.stats.clone(),
            writers: self.writers.clone(),
        };
        let address = Connection::start(id, setup, stream, role, remote)?;
        self.connections.insert(id, address);
        Ok(())
    }

    fn add_target(&mut self, addr: SocketAddr, seed: bool, ctx: &mut Context<Self>) {
        if let Some(target) = self.targets.get_mut(&addr) {
            target.on_demand = false;
            target.seed |= seed;
        }
        if self.insert_target(addr, seed) {
            self.dial(addr, ctx);
        }
    }

    /// Starts keeping `addr`, not dialed yet; answers whether it is new.
    fn insert_target(&mut self, addr: SocketAddr, seed: bool) -> bool {
        if addr == self.advertised || self.targets.contains_key(&addr) {
            return false;
        }
        if self.targets.len() >= MAX_TARGETS {
            tracing::warn!(%addr, "too many addresses to dial: ignoring a new one");
            return false;
        }
        self.targets.insert(
            addr,
            Target {
                id: None,
                generation: None,
                connection: None,
                up: false,
                failures: 0,
                retry: None,
                is_self: false,
                alias: false,
                seed,
                joined: false,
                last_error: None,
                waiting: Vec::new(),
                on_demand: false,
            },
        );
        true
    }

    /// A dial or a link to `addr` ended: redialed with backoff (a full mesh), or released
    /// (on-demand links). What waited for the link is dropped (gossip repairs it).
    fn ended(&mut self, addr: SocketAddr, reason: String, ctx: &mut Context<Self>) {
        if let Some(target) = self.targets.get_mut(&addr) {
            let dropped = std::mem::take(&mut target.waiting).len();
            self.stats.add(Counter::Dropped, dropped as u64);
        }
        // (This node's own address stays: its verdict is what stops dialing it.)
        let on_demand = (self.targets.get(&addr)).is_some_and(|t| t.on_demand && !t.is_self);
        if self.views || on_demand {
            self.release(addr, reason, ctx);
        } else {
            self.schedule_retry(addr, reason, ctx);
        }
    }

    /// Forgets a learned address whose link ended (on-demand links: it is dialed again when
    /// needed); a seed is kept, redialed only while the node has not joined through it.
    fn release(&mut self, addr: SocketAddr, reason: String, ctx: &mut Context<Self>) {
        let Some(target) = self.targets.get_mut(&addr) else {
            return;
        };
        if target.seed && !target.joined {
            self.schedule_retry(addr, reason, ctx);
        } else if target.seed {
            target.last_error = Some(reason);
        } else {
            self.targets.remove(&addr);
        }
    }

    fn dial(&mut self, addr: SocketAddr, ctx: &mut Context<Self>) {
        let Some(target) = self.targets.get_mut(&addr) else {
            return;
        };
        if target.connection.is_some() || target.is_self || target.alias {
            return;
        }
        if self.open >= self.config.max_connections {
            // This node's own limit, not the address's failure: tried again later, never
            // counted toward forgetting it.
            self.stats.add(Counter::OverLimit, 1);
            if self.views {
                self.ended(addr, "too many connections".into(), ctx);
            } else {
                self.postpone(addr, ctx);
            }
            return;
        }
        self.next_connection += 1;
        let connection = self.next_connection;
        target.connection = Some(connection);
        target.retry = None;
        self.open += 1;
        self.stats.add(Counter::Dials, 1);
        let timeout = self.config.handshake_timeout;
        let connect = async move {
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(result) => result,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timed out",
                )),
            }
        };
        ctx.spawn(connect.into_actor(self).map(move |result, _, ctx| {
            ctx.notify(Dialed {
                target: addr,
                connection,
                result,
            })
        }));
    }

    /// Dials `addr` again after `backoff_max`, its failures untouched: this node had no room.
    fn postpone(&mut self, addr: SocketAddr, ctx: &mut Context<Self>) {
        let Some(target) = self.targets.get_mut(&addr) else {
            return;
        };
        target.last_error = Some("too many connections open here".into());
        if target.retry.is_none() {
            target.retry = Some(redial_after(addr, self.config.backoff_max, ctx));
        }
    }

    fn schedule_retry(&mut self, addr: SocketAddr, reason: String, ctx: &mut Context<Self>) {
        let config = &self.config;
        let (initial, max) = (config.backoff_initial, config.backoff_max);
        let Some(target) = self.targets.get_mut(&addr) else {
            return;
        };
        target.last_error = Some(reason);
        if target.is_self || target.alias || target.retry.is_some() {
            return;
        }
        let delay = if !target.seed && target.failures >= MAX_LEARNED_FAILURES {
            if target.failures == MAX_LEARNED_FAILURES {
                tracing::info!(%addr, failures = target.failures, "an unreachable address: dialed less often");
            }
            config.unreachable_redial
        } else {
            crate::backoff::delay(&mut self.rng, target.failures, initial, max)
        };
        target.failures = target.failures.saturating_add(1);
        if target.seed && target.failures == crate::backoff::SEED_SILENT_AFTER {
            tracing::warn!(
                seed = %addr,
                failures = target.failures,
                last_error = target.last_error.as_deref().unwrap_or_default(),
                "a seed does not link: check its address, and that it runs the stream transport \
                 with this cluster's name and key (retrying)"
            );
        }
        target.retry = Some(redial_after(addr, delay, ctx));
    }

    /// The node runs `generation` now (it restarted itself above another incarnation of its
    /// id): hellos of new connections say so, so that peers hold the generation that runs and a
    /// late Left or Removed of the old one does not close their links to it. Links up stay.
    fn follow(&mut self, generation: Generation) {
        self.local.generation = self.local.generation.max(generation);
    }

    fn links(&self) -> Vec<Link> {
        self.targets
            .iter()
            .filter(|(_, target)| !target.is_self)
            .map(|(&addr, target)| Link {
                addr,
                id: target.id.map(|id| id.0),
                generation: target.generation.map(|generation| generation.0),
                connected: target.up,
                failures: target.failures,
                last_error: target.last_error.clone(),
            })
            .collect()
    }
}

impl Actor for Mesh {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(listener) = self.listener.take() {
            let me = ctx.address();
            ctx.spawn(
                async move {
                    loop {
                        match listener.accept().await {
                            Ok((stream, remote)) => me.do_send(Accepted(stream, remote)),
                            Err(error) => {
                                // Out of descriptors, typically: pause instead of spinning.
                                tracing::warn!(%error, "accept failed");
                                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                            }
                        }
                    }
                }
                .into_actor(self),
            );
        }
        for seed in self.config.seeds.clone() {
            self.add_target(seed, true, ctx);
        }
    }
}

impl Handler<Accepted> for Mesh {
    type Result = ();

    fn handle(&mut self, Accepted(stream, remote): Accepted, ctx: &mut Context<Self>) {
        let budget = handshake_budget(self.config.max_connections);
        let per_source = handshake_budget_per_source(self.config.max_connections);
        let from_source = (self.handshaking.values())
            .filter(|ip| **ip == remote.ip())
            .count();
        if self.open >= self.config.max_connections
            || self.handshaking.len() >= budget
            || from_source >= per_source
        {
            self.stats.add(Counter::OverLimit, 1);
            tracing::warn!(%remote, "refusing a connection: too many open or handshaking");
            return;
        }
        self.next_connection += 1;
        self.open += 1;
        self.handshaking.insert(self.next_connection, remote.ip());
        self.stats.add(Counter::Accepted, 1);
        if let Err(error) = self.connect(self.next_connection, stream, Role::Acceptor, remote, ctx)
        {
            self.open -= 1;
            self.handshaking.remove(&self.next_connection);
            tracing::warn!(%remote, %error, "cannot start a connection");
        }
    }
}

impl Handler<Dialed> for Mesh {
    type Result = ();

    fn handle(&mut self, dialed: Dialed, ctx: &mut Context<Self>) {
        let still_wanted = self
            .targets
            .get(&dialed.target)
            .is_some_and(|target| target.connection == Some(dialed.connection));
        let failure = match dialed.result {
            Ok(stream) if still_wanted => {
                match self.connect(dialed.connection, stream, Role::Dialer, dialed.target, ctx) {
                    Ok(()) => return,
                    Err(error) => error.to_string(),
                }
            }
            Ok(_) => "no longer wanted".to_owned(),
            Err(error) => format!("connect: {error}"),
        };
        self.open -= 1;
        if let Some(target) = self.targets.get_mut(&dialed.target)
            && target.connection == Some(dialed.connection)
        {
            target.connection = None;
        }
        tracing::debug!(target = %dialed.target, %failure, "dial failed");
        if self.views {
            // The peers whose messages wait here cannot be reached: the view's failure signal.
            let failed: BTreeSet<NodeId> = self
                .targets
                .get(&dialed.target)
                .map(|target| target.waiting.iter().map(|(id, _)| *id).collect())
                .unwrap_or_default();
            for id in failed {
                self.node.do_send(PeerFailed(id));
            }
        }
        self.ended(dialed.target, failure, ctx);
    }
}

impl Handler<LinkUp> for Mesh {
    type Result = ();

    fn handle(&mut self, up: LinkUp, ctx: &mut Context<Self>) {
        self.handshaking.remove(&up.connection);
        let id = up.hello.id;
        match up.role {
            Role::Acceptor => {
                let Ok(listen) = up.hello.listen.parse::<SocketAddr>() else {
                    return;
                };
                // Whoever reaches the node can be answered: with views dialed back when there
                // is something to send, and either way once the peer is forgotten (removed
                // while its link to us stays up: `Wanted` dials its last known address, so that
                // it hears of its removal).
                self.book.learn(id, up.hello.generation, listen);
                if !self.views {
                    // The peer dialed us: dial it back, so that gossip flows both ways.
                    self.add_target(listen, false, ctx);
                }
            }
            Role::Dialer => {
                let Some(target) = self.targets.get_mut(&up.remote) else {
                    up.handle.close.do_send(Close("no longer wanted".into()));
                    return;
                };
                if target.connection != Some(up.connection) {
                    up.handle.close.do_send(Close("superseded".into()));
                    return;
                }
                if self
                    .route_owners
                    .get(&id)
                    .is_some_and(|&(owner, _)| owner != up.connection)
                {
                    // The same node through a second address (another interface, NAT): keep the
                    // link it already has; this address is dialed again only if that one fails.
                    target.id = Some(id);
                    target.alias = true;
                    up.handle.close.do_send(Close(format!(
                        "node {} is already linked through another address",
                        id.0
                    )));
                    return;
                }
                target.id = Some(id);
                target.generation = Some(up.hello.generation);
                target.up = true;
                self.book.learn(id, up.hello.generation, up.remote);
                target.failures = 0;
                target.last_error = None;
                // What waited for this link goes first (in order).
                for (to, payload) in std::mem::take(&mut target.waiting) {
                    let sent = to == id && up.handle.gossip.try_send(SendGossip(payload)).is_ok();
                    if !sent {
                        self.stats.add(Counter::Dropped, 1);
                    }
                }
                let replaced = write_routes(&self.routes).insert(id, up.handle);
                self.route_owners
                    .insert(id, (up.connection, up.hello.generation));
                if let Some(old) = replaced {
                    old.close
                        .do_send(Close("superseded by a newer link".into()));
                }
                self.node.do_send(AddPeer(id));
                // Through every seed that links, as the datagram transport joins through every
                // seed that answers: the view keeps them as its contacts, which is what a clique
                // a partition left apart finds the rest through when it knows nobody outside
                // (session 25: joined through the first seed alone, a node whose seed crashed
                // for good had no live contact, and a partition split the overlay for good).
                if self.views && target.seed && !target.joined {
                    target.joined = true;
                    self.node.do_send(Join(id));
                }
            }
        }
    }
}

impl Handler<LinkDown> for Mesh {
    type Result = ();

    fn handle(&mut self, down: LinkDown, ctx: &mut Context<Self>) {
        self.open = self.open.saturating_sub(1);
        self.handshaking.remove(&down.connection);
        self.connections.remove(&down.connection);
        if down.role == Role::Acceptor {
            return;
        }
        let Some(target) = self.targets.get_mut(&down.remote) else {
            return;
        };
        if target.connection != Some(down.connection) {
            return;
        }
        target.connection = None;
        target.up = false;
        // Only an authenticated hello can say so: a forged plaintext refusal cannot. Whoever
        // sits at the address can still reflect this node's own hello back to it (no key check
        // tells that from a genuine self-connection), so the verdict expires: the address is
        // dialed again after `self_redial` (before, never: an address once reflected was lost
        // for good, even after a real node took it).
        if down.self_connection && !target.is_self {
            target.is_self = true;
            target.retry = Some(redial_after(down.remote, self.config.self_redial, ctx));
        }
        if let Some(id) = down.peer {
            if self
                .route_owners
                .get(&id)
                .is_some_and(|&(owner, _)| owner == down.connection)
            {
                self.route_owners.remove(&id);
                write_routes(&self.routes).remove(&id);
                self.node.do_send(RemovePeer(id));
                if self.views && !down.unused {
                    self.node.do_send(PeerFailed(id));
                }
                // Addresses kept back as aliases of this node may reach it now.
                let aliases: Vec<SocketAddr> = self
                    .targets
                    .iter()
                    .filter(|(_, t)| t.alias && t.id == Some(id))
                    .map(|(&addr, _)| addr)
                    .collect();
                for alias in aliases {
                    if let Some(target) = self.targets.get_mut(&alias) {
                        target.alias = false;
                    }
                    self.dial(alias, ctx);
                }
            }
            tracing::info!(peer = id.0, reason = %down.reason, "link down");
        }
        self.ended(down.remote, down.reason, ctx);
    }
}

impl Handler<KeyChanged> for Mesh {
    type Result = ();

    fn handle(&mut self, changed: KeyChanged, ctx: &mut Context<Self>) {
        if changed.key != ADDR_KEY {
            return;
        }
        if changed.origin == self.local.id {
            self.follow(changed.generation);
            return;
        }
        let Some(value) = changed.value else {
            return;
        };
        let Some(addr) = std::str::from_utf8(value.as_bytes())
            .ok()
            .and_then(|text| text.parse::<SocketAddr>().ok())
        else {
            return;
        };
        // Kept either way: the last resort a message to the member is dialed at once it is
        // forgotten (`Wanted`).
        self.book.learn(changed.origin, changed.generation, addr);
        if !self.views {
            self.add_target(addr, false, ctx);
        }
    }
}

impl Handler<MemberChanged> for Mesh {
    type Result = ();

    /// A member that left, or was removed after being down, is no longer dialed; its link is
    /// closed. A newer generation of it comes back through its hello or its gossiped address.
    /// A configured seed's address stays, dialed again with backoff like any seed: after a
    /// partition that outlasted the removal each side holds the other removed, and the seeds
    /// are what reconnects them (the node at the other end is told of its removal when the link
    /// comes up, `Node::add_peer`). Before, the seed went too, and nobody ever dialed across.
    fn handle(&mut self, changed: MemberChanged, ctx: &mut Context<Self>) {
        if changed.member == self.local.id {
            self.follow(changed.generation);
            return;
        }
        if !matches!(changed.status, MemberStatus::Left | MemberStatus::Removed) {
            return;
        }
        // A target not linked yet (an address key replayed at start, a member Down since it
        // was learnt) has no id: its address in the book names it.
        let held = self.book.get(changed.member);
        let known = held.filter(|_| self.book.forget(changed.member, changed.generation));
        let gone: Vec<SocketAddr> = self
            .targets
            .iter()
            .filter(|&(&addr, target)| {
                let named = target.id.is_none() && known == Some(addr);
                named
                    || target.id == Some(changed.member)
                        && target.generation.is_none_or(|g| g <= changed.generation)
            })
            .map(|(&addr, _)| addr)
            .collect();
        for addr in gone {
            if let Some(seed) = self.targets.get_mut(&addr).filter(|target| target.seed) {
                seed.id = None;
                seed.generation = None;
                // With views, joined through again once it links (as a datagram node greets a
                // forgotten seed again): what runs there next is a new member.
                seed.joined = false;
                if self.views && seed.connection.is_none() && seed.retry.is_none() {
                    self.dial(addr, ctx);
                }
                continue;
            }
            if let Some(target) = self.targets.remove(&addr) {
                tracing::info!(peer = changed.member.0, status = changed.status.name(), %addr, "member gone: no longer dialed");
                drop(target);
            }
        }
        // Only a link to that generation or an older one: a link to a newer generation of the
        // member is a restart this node already reached (before session 27 any link to the id
        // was closed, and the live member taken out of the peers).
        let gone = self
            .route_owners
            .get(&changed.member)
            .is_some_and(|&(_, generation)| generation <= changed.generation);
        if gone && self.route_owners.remove(&changed.member).is_some() {
            let route = write_routes(&self.routes).remove(&changed.member);
            if let Some(link) = route {
                link.close
                    .do_send(Close(format!("member {}", changed.status.name())));
            }
            self.node.do_send(RemovePeer(changed.member));
        }
    }
}

impl Handler<Wanted> for Mesh {
    type Result = ();

    fn handle(&mut self, Wanted { to, addr, payload }: Wanted, ctx: &mut Context<Self>) {
        let from_membership = addr.is_some();
        let route = read_routes(&self.routes).get(&to).cloned();
        // The link came up while the message travelled here.
        if let Some(link) = route {
            if link.gossip.try_send(SendGossip(payload)).is_err() {
                self.stats.add(Counter::Dropped, 1);
            }
            return;
        }
        let Some(addr) = addr.or_else(|| self.book.last_known(to)) else {
            // No address yet (membership off, the reserved key not arrived): dropped; an active
            // peer never heard from is taken out by the view's own silence rule.
            self.stats.add(Counter::Unaddressed, 1);
            return;
        };
        let new = self.insert_target(addr, false);
        let Some(target) = self.targets.get_mut(&addr) else {
            self.stats.add(Counter::Dropped, 1);
            return;
        };
        // A full mesh does not dial this address otherwise (membership did not give it, the
        // book's last resort did): only for this message.
        target.on_demand |= new && !self.views && !from_membership;
        // An address linked to another node, this node's own, or a full queue: dropped, and
        // gossip repairs it.
        if target.up || target.is_self || target.waiting.len() >= MAX_WAITING {
            self.stats.add(Counter::Dropped, 1);
            return;
        }
        target.waiting.push((to, payload));
        if target.retry.is_none() {
            self.dial(addr, ctx);
        }
    }
}

impl Handler<AddSeed> for Mesh {
    type Result = ();

    fn handle(&mut self, AddSeed(addr): AddSeed, ctx: &mut Context<Self>) {
        self.add_target(addr, true, ctx);
    }
}

impl Handler<GetLinks> for Mesh {
    type Result = actix::MessageResult<GetLinks>;

    fn handle(&mut self, _: GetLinks, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.links())
    }
}

impl Handler<SetKeyring> for Mesh {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, SetKeyring(keyring): SetKeyring, _: &mut Context<Self>) -> Self::Result {
        self.keyring = Arc::new(keyring);
        let sent: Vec<_> = self
            .connections
            .values()
            .map(|connection| connection.send(Rekey(self.keyring.clone())))
            .collect();
        Box::pin(async move {
            for applied in sent {
                // A connection that ended meanwhile needs no key.
                let _ = applied.await;
            }
        })
    }
}

impl Handler<Shutdown> for Mesh {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        let routes = std::mem::take(&mut *write_routes(&self.routes));
        self.route_owners.clear();
        drop(routes);
        // Every connection, established or still in its handshake, is closed.
        for connection in std::mem::take(&mut self.connections).values() {
            connection.do_send(Close("node shutting down".into()));
        }
        actix::ActorContext::stop(ctx);
    }
}
