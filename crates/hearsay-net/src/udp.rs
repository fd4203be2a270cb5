//! The datagram transport: one UDP socket per node, every datagram sealed ([`crate::datagram`]).
//!
//! - [`Outbox`], shared by the node's [`crate::NetTransport`] (which seals and sends gossip
//!   inside the node actor, without a hop) and the [`Udp`] actor: the socket, the keyring, the
//!   [`AddressBook`].
//! - [`Udp`] reads the socket, opens each datagram and hands gossip to the node with `try_send`
//!   (its mailbox is bounded: a flood is dropped and counted, never queued); it says hello to the
//!   seeds until they answer, learns addresses from hellos and from the reserved key
//!   [`ADDR_KEY`], and forgets members that left or were removed. Replayed hellos and welcomes
//!   are refused ([`crate::replay`]). Gossip sealed by an older generation of a peer than the
//!   book holds, from another socket, gets a notice back ([`Body::Superseded`]): another
//!   process runs the id, and the older one, which hears nothing else, logs it.
//!
//! No connection is kept: a peer is an address. Failure detection is the protocol's (SWIM probes
//! ride the same datagrams).

use crate::address_book::AddressBook;
use crate::datagram::{Body, Notice, Opener, Sealer};
use crate::mesh::{AddSeed, GetLinks, Link, SetKeyring, Shutdown};
use crate::replay::{Awaited, HelloWindow};
use crate::stats::{Counter, NetStats};
use crate::{Error, Keyring, NetConfig};
use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, StreamHandler};
use hearsay_actor::throttle::{LOG_EVERY, Throttle};
use hearsay_actor::{
    AddPeer, Datagram, GossipNode, Join, KeyChanged, MemberChanged, MoveAbove, RemovePeer,
};
use hearsay_proto::membership::ADDR_KEY;
use hearsay_proto::{Generation, MemberStatus, NodeId};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;
use tokio::net::UdpSocket;

/// A lock's guard whether or not a holder panicked (the data is plain values, valid either way).
fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the node's transport and the [`Udp`] actor share. The locks are held for a map lookup
/// or a pointer copy, never across an await.
pub(crate) struct Outbox {
    socket: Arc<UdpSocket>,
    keyring: RwLock<Arc<Keyring>>,
    book: RwLock<AddressBook>,
    stats: Arc<NetStats>,
    /// Largest datagram sent.
    max_datagram: usize,
    /// Cleared at shutdown: nothing is sent afterwards.
    open: AtomicBool,
    /// The generation the node runs: the transport's sealer follows it (a refutation moves it
    /// up), so that peers see the generation that runs.
    generation: AtomicU64,
}

impl Outbox {
    pub(crate) fn new(
        socket: Arc<UdpSocket>,
        keyring: Keyring,
        stats: Arc<NetStats>,
        max_datagram: usize,
        generation: Generation,
    ) -> Outbox {
        Outbox {
            socket,
            keyring: RwLock::new(Arc::new(keyring)),
            book: RwLock::default(),
            stats,
            max_datagram,
            open: AtomicBool::new(true),
            generation: AtomicU64::new(generation.0),
        }
    }

    /// The generation the node runs.
    pub(crate) fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::Relaxed))
    }

    fn keyring(&self) -> Arc<Keyring> {
        read(&self.keyring).clone()
    }

    /// Where `id` is reached, if known.
    pub(crate) fn address(&self, id: NodeId) -> Option<SocketAddr> {
        read(&self.book).get(id)
    }

    /// Where to send to `id`: its address, or the one it had when it was forgotten (a removed
    /// member that speaks again is answered there, and hears of its removal), or where its
    /// datagrams last came from (`AddressBook::heard_from`).
    pub(crate) fn last_known(&self, id: NodeId) -> Option<SocketAddr> {
        read(&self.book).last_known(id)
    }

    fn learn(&self, id: NodeId, generation: Generation, addr: SocketAddr) -> bool {
        write(&self.book).learn(id, generation, addr)
    }

    /// Seals `body` and sends it to `to` without waiting: a full socket buffer, a datagram over
    /// the size limit or a closed outbox drops it (counted). Answers whether it was sent.
    pub(crate) fn send(&self, sealer: &mut Sealer, to: SocketAddr, body: &Body) -> bool {
        if !self.open.load(Ordering::Relaxed) {
            return false;
        }
        let sealed = match sealer.seal(&self.keyring(), body) {
            Ok(sealed) if sealed.len() <= self.max_datagram => sealed,
            Ok(sealed) => {
                tracing::debug!(
                    len = sealed.len(),
                    max = self.max_datagram,
                    "datagram too large: dropped"
                );
                self.stats.add(Counter::Dropped, 1);
                return false;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot seal a datagram");
                self.stats.add(Counter::Dropped, 1);
                return false;
            }
        };
        match self.socket.try_send_to(&sealed, to) {
            Ok(_) => {
                self.stats.add(Counter::FramesOut, 1);
                self.stats.add(Counter::BytesOut, sealed.len() as u64);
                true
            }
            Err(error) => {
                tracing::trace!(%to, %error, "datagram not sent");
                self.stats.add(Counter::Dropped, 1);
                false
            }
        }
    }
}

/// A seed address and what its hellos brought.
struct Seed {
    /// The node that answered from it.
    id: Option<NodeId>,
    /// Hellos sent since the last answer.
    attempts: u32,
    /// The hellos whose answer would count.
    awaited: Awaited,
}

/// Rejected datagrams by cause, each logged at most once per [`hearsay_actor::throttle::LOG_EVERY`].
#[derive(Default)]
struct Rejections {
    unauthenticated: Throttle,
    malformed: Throttle,
    inbound_full: Throttle,
    replayed: Throttle,
    same_id: Throttle,
    superseded: Throttle,
}

/// Most peers [`Udp::tell_if_superseded`] remembers a notice to at once.
const MAX_NOTICED: usize = 1024;

/// Reads a node's socket and keeps its address book. Started by [`crate::NetNode::start`].
pub struct Udp {
    outbox: Arc<Outbox>,
    /// Seals this node's hellos and welcomes under the generation its node runs (which moves up
    /// when the node restarts itself: a refutation).
    sealer: Sealer,
    opener: Opener,
    node: Addr<GossipNode>,
    me: NodeId,
    advertised: SocketAddr,
    config: NetConfig,
    /// Partial views pick the peers: a seed's answer is a `Join`, never an `AddPeer`.
    views: bool,
    seeds: BTreeMap<SocketAddr, Seed>,
    /// The newest hello taken from each peer.
    hellos: HelloWindow,
    rng: ChaCha8Rng,
    rejections: Rejections,
    /// When each peer last got a [`Body::Superseded`] notice ([`Udp::tell_if_superseded`]): at
    /// most one per [`LOG_EVERY`] each.
    noticed: BTreeMap<NodeId, Instant>,
    /// Bytes read per datagram at most.
    buffer: usize,
}

/// What a [`Udp`] actor is started with.
pub(crate) struct UdpSetup {
    pub outbox: Arc<Outbox>,
    pub node: Addr<GossipNode>,
    pub me: NodeId,
    pub generation: Generation,
    pub advertised: SocketAddr,
    pub config: NetConfig,
    pub views: bool,
    pub jitter_seed: u64,
}

/// The largest datagram read (one more than accepted, so that an oversized one is seen as such).
fn receive_buffer(max_incoming: usize) -> usize {
    (max_incoming + crate::datagram::DATAGRAM_OVERHEAD).min(crate::datagram::MAX_UDP_PAYLOAD) + 1
}

impl Udp {
    pub(crate) fn new(setup: UdpSetup, max_incoming: usize) -> Result<Udp, Error> {
        let cluster = setup.config.cluster.clone();
        Ok(Udp {
            sealer: Sealer::fresh(&cluster, setup.me, setup.generation)?,
            opener: Opener::new(&cluster, receive_buffer(max_incoming) - 1),
            buffer: receive_buffer(max_incoming),
            outbox: setup.outbox,
            node: setup.node,
            me: setup.me,
            advertised: setup.advertised,
            config: setup.config,
            views: setup.views,
            seeds: BTreeMap::new(),
            hellos: HelloWindow::default(),
            rng: ChaCha8Rng::seed_from_u64(setup.jitter_seed),
            rejections: Rejections::default(),
            noticed: BTreeMap::new(),
        })
    }

    fn add_seed(&mut self, addr: SocketAddr, ctx: &mut Context<Self>) {
        if addr == self.advertised || self.seeds.contains_key(&addr) {
            return;
        }
        self.seeds.insert(
            addr,
            Seed {
                id: None,
                attempts: 0,
                awaited: Awaited::default(),
            },
        );
        self.hello(addr, ctx);
    }

    /// Says hello to a seed unless a node answered from it and is still in the book, and
    /// checks again after a jittered, growing delay.
    fn hello(&mut self, addr: SocketAddr, ctx: &mut Context<Self>) {
        let Some(seed) = self.seeds.get_mut(&addr) else {
            return;
        };
        let answered = seed.id.is_some_and(|id| self.outbox.address(id).is_some());
        if !answered {
            seed.id = None;
            let hello = Body::Hello {
                addr: self.advertised.to_string(),
                to: addr.to_string(),
            };
            self.outbox.send(&mut self.sealer, addr, &hello);
            seed.awaited.sent(self.sealer.last_nonce());
            self.outbox.stats.add(Counter::Dials, 1);
        }
        let attempt = if answered { 31 } else { seed.attempts };
        seed.attempts = seed.attempts.saturating_add(1);
        if !answered && seed.attempts == crate::backoff::SEED_SILENT_AFTER {
            tracing::warn!(
                seed = %addr,
                hellos = seed.attempts,
                "a seed does not answer: check its address, and that it runs the datagram \
                 transport with this cluster's name and key (retrying)"
            );
        }
        let (initial, max) = (self.config.backoff_initial, self.config.backoff_max);
        let delay = crate::backoff::delay(&mut self.rng, attempt, initial, max).max(initial);
        ctx.run_later(delay, move |udp, ctx| udp.hello(addr, ctx));
    }

    /// Records an address; a peer new to the book becomes a gossip peer (unless views pick them).
    fn learn(&mut self, id: NodeId, generation: Generation, addr: SocketAddr) -> bool {
        if id == self.me {
            return false;
        }
        let new = self.outbox.learn(id, generation, addr);
        if new && !self.views {
            self.node.do_send(AddPeer(id));
        }
        new
    }

    fn received(&mut self, bytes: &[u8], source: SocketAddr) {
        let stats = self.outbox.stats.clone();
        stats.add(Counter::FramesIn, 1);
        stats.add(Counter::BytesIn, bytes.len() as u64);
        let now = Instant::now();
        let opened = match self.opener.open(&self.outbox.keyring(), bytes) {
            Ok(opened) => opened,
            Err(error) => {
                let (counter, throttle) = match error {
                    Error::Auth => (Counter::AuthFailures, &mut self.rejections.unauthenticated),
                    _ => (Counter::BadFrames, &mut self.rejections.malformed),
                };
                stats.add(counter, 1);
                if let Some(held_back) = throttle.allow(now) {
                    tracing::warn!(%source, %error, held_back, "datagram rejected");
                }
                return;
            }
        };
        if opened.from == self.me {
            // Its own datagram come back (a seed list that names the node itself), or, at
            // another generation, another process running with this node's id: the two would
            // erase each other's entries everywhere, so it is said, not only dropped.
            if opened.generation != self.sealer.generation()
                && let Some(held_back) = self.rejections.same_id.allow(now)
            {
                tracing::warn!(
                    %source,
                    id = %self.me,
                    theirs = opened.generation.0,
                    ours = self.sealer.generation().0,
                    held_back,
                    "another process running with the same id: ids must be unique"
                );
            }
            return;
        }
        let address = |addr: &str| addr.parse::<SocketAddr>().unwrap_or(source);
        match opened.body {
            Body::Gossip(payload) => {
                stats.add(Counter::GossipIn, 1);
                // Whoever reaches the node can be answered (`AddressBook::heard_from`): a peer
                // outside the book, at its newest source.
                let stale = {
                    let book = read(&self.outbox.book);
                    book.get(opened.from).is_none() && book.last_known(opened.from) != Some(source)
                };
                if stale {
                    write(&self.outbox.book).heard_from(opened.from, source);
                }
                self.tell_if_superseded(opened.from, opened.generation, source, now);
                let datagram = Datagram {
                    payload,
                    sender: Some(opened.from),
                };
                if self.node.try_send(datagram).is_err() {
                    stats.add(Counter::InboundDropped, 1);
                    if let Some(held_back) = self.rejections.inbound_full.allow(now) {
                        tracing::warn!(%source, held_back, "node's inbound queue full: datagram dropped");
                    }
                }
            }
            Body::Hello { addr, to } => {
                if !self
                    .hellos
                    .take(opened.from, opened.generation, opened.nonce)
                {
                    // An older generation of a peer than the newest hello taken: a replay, or a
                    // process of the id that does not know a newer one runs (or ran) — told.
                    self.tell_if_superseded(opened.from, opened.generation, source, now);
                    self.replayed(source, "hello", now);
                    return;
                }
                let addr = address(&addr);
                self.learn(opened.from, opened.generation, addr);
                let welcome = Body::Welcome {
                    addr: self.advertised.to_string(),
                    to,
                    echo: opened.nonce,
                };
                self.outbox.send(&mut self.sealer, addr, &welcome);
            }
            Body::Welcome { addr, to, echo } => {
                let seed = to.parse().ok().and_then(|to| self.seeds.get_mut(&to));
                let Some(seed) = seed.and_then(|seed| seed.awaited.answered(echo).then_some(seed))
                else {
                    self.replayed(source, "welcome", now);
                    return;
                };
                let first = seed.id.is_none();
                seed.id = Some(opened.from);
                seed.attempts = 0;
                stats.add(Counter::Established, u64::from(first));
                let new = self.learn(opened.from, opened.generation, address(&addr));
                if self.views && (first || new) {
                    self.node.do_send(Join(opened.from));
                }
            }
            Body::Superseded(notice) => self.superseded(&notice, opened.from, now),
        }
    }

    /// Gossip or a hello from `from` sealed under `generation`, older than the generation the
    /// book holds for it, from `source`: another process runs `from`'s id at the newer
    /// generation (with membership, whose updates carry the newer one's address, every answer
    /// to the id goes there), and the older hears nothing that would tell it — a silent zombie
    /// whose writes reach no one (sessions 31–33). Or older than the generation the id had when
    /// it left or was removed ([`AddressBook::departed`]): what is left of the id, ignored by
    /// every peer until it moves above. `source` is told ([`Body::Superseded`]). Not when the
    /// gossip comes from the address the book holds for the newer generation: that is the same
    /// process, whose transport sealed it before its node moved up (a second process has a
    /// socket of its own). At most one notice per peer per [`LOG_EVERY`].
    ///
    /// A notice of a live generation tells without refuting: session 33 tried making the older
    /// process move above the newer (the protocol's refute rule), and a hostile user showed it
    /// only moved the zombie to the newer process, locked out for good once the older stopped.
    fn tell_if_superseded(
        &mut self,
        from: NodeId,
        generation: Generation,
        source: SocketAddr,
        now: Instant,
    ) {
        let told = {
            let book = read(&self.outbox.book);
            match (book.generation(from), book.get(from)) {
                (Some(held), Some(at)) if held > generation && at != source => {
                    Some((held, Some(at)))
                }
                (Some(_), _) => None,
                (None, _) => book
                    .departed(from)
                    .filter(|&gone| gone > generation)
                    .map(|gone| (gone, None)),
            }
        };
        let Some((held, at)) = told else {
            return;
        };
        if self
            .noticed
            .get(&from)
            .is_some_and(|&told| now < told + LOG_EVERY)
        {
            return;
        }
        if self.noticed.len() >= MAX_NOTICED {
            self.noticed.retain(|_, &mut told| now < told + LOG_EVERY);
            if self.noticed.len() >= MAX_NOTICED {
                return;
            }
        }
        self.noticed.insert(from, now);
        self.outbox.stats.add(Counter::SupersededNotices, 1);
        tracing::debug!(
            %source,
            peer = from.0,
            theirs = generation.0,
            held = held.0,
            departed = at.is_none(),
            "a peer's older generation, from another socket: told it is superseded"
        );
        let notice = Body::Superseded(Notice {
            id: from,
            generation: held,
            departed: at.is_none(),
            yours: generation,
            addr: at.map(|at| at.to_string()).unwrap_or_default(),
        });
        self.outbox.send(&mut self.sealer, source, &notice);
    }

    /// A peer (`by`) says this node's id runs at `generation` at `addr` (or ran, `departed`).
    /// Newer than the node:
    /// - and departed: the node is what is left of the id, ignored by every peer — it moves
    ///   above ([`MoveAbove`]; the node logs the change of generation);
    /// - and live elsewhere: another process runs the id, and the cluster routes its traffic
    ///   there — said loudly (an ERROR at most once per [`LOG_EVERY`], the counter
    ///   `hearsay_net_superseded_total`, `/health` 503), the node's state untouched.
    ///
    /// Only the process that sealed the answered datagram takes it (`yours`). A notice naming
    /// this node's own address is its own restart seen late; one at or below its generation is
    /// stale.
    fn superseded(&mut self, notice: &Notice, by: NodeId, now: Instant) {
        let ours = self.sealer.generation();
        let Notice {
            id,
            generation,
            departed,
            yours,
            ref addr,
        } = *notice;
        if id != self.me || yours != ours || generation <= ours {
            return;
        }
        if departed {
            tracing::info!(
                id = self.me.0,
                ours = ours.0,
                theirs = generation.0,
                told_by = by.0,
                "this node's id left the cluster or was removed at a newer generation (another \
                 process ran it): moving above it"
            );
            self.node.do_send(MoveAbove(generation));
            return;
        }
        if addr.parse::<SocketAddr>() == Ok(self.advertised) {
            return;
        }
        self.outbox.stats.add(Counter::Superseded, 1);
        if let Some(held_back) = self.rejections.superseded.allow(now) {
            tracing::error!(
                id = self.me.0,
                ours = ours.0,
                theirs = generation.0,
                at = addr,
                told_by = by.0,
                held_back,
                "another process runs this node's id at a newer generation: the cluster sends \
                 the id's traffic there, and this process's writes reach no one — stop one of \
                 them (ids must be unique; one process per state file)"
            );
        }
    }

    /// The node runs `generation` now (it restarted itself above another incarnation of its
    /// id): hellos and welcomes say so from now on, so that peers' books hold the generation
    /// that runs, and a late Left or Removed of the old one does not make them forget it; so
    /// does the transport's gossip ([`Outbox::generation`]).
    fn follow(&mut self, generation: Generation) {
        self.outbox
            .generation
            .fetch_max(generation.0, Ordering::Relaxed);
        if generation <= self.sealer.generation() {
            return;
        }
        match Sealer::fresh(&self.config.cluster, self.me, generation) {
            Ok(sealer) => self.sealer = sealer,
            Err(error) => tracing::warn!(%error, "cannot seal under the new generation"),
        }
    }

    /// Counts and logs (rate-limited) a hello or welcome refused by [`crate::replay`].
    fn replayed(&mut self, source: SocketAddr, kind: &str, now: Instant) {
        self.outbox.stats.add(Counter::Replays, 1);
        if let Some(held_back) = self.rejections.replayed.allow(now) {
            tracing::debug!(%source, kind, held_back, "replayed or duplicate datagram refused");
        }
    }

    fn links(&self) -> Vec<Link> {
        let book = read(&self.outbox.book);
        let answered: Vec<SocketAddr> = book.iter().map(|(_, _, addr)| addr).collect();
        let mut links: Vec<Link> = book
            .iter()
            .map(|(id, generation, addr)| Link {
                addr,
                id: Some(id.0),
                generation: Some(generation.0),
                connected: true,
                failures: 0,
                last_error: None,
            })
            .collect();
        for (&addr, seed) in &self.seeds {
            if seed.id.is_none() && !answered.contains(&addr) {
                links.push(Link {
                    addr,
                    id: None,
                    generation: None,
                    connected: false,
                    failures: seed.attempts,
                    last_error: Some("no answer to hello yet".into()),
                });
            }
        }
        links
    }
}

impl Actor for Udp {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let socket = self.outbox.socket.clone();
        let buffer = vec![0; self.buffer];
        let datagrams =
            futures_util::stream::unfold((socket, buffer), |(socket, mut buffer)| async move {
                let item = socket
                    .recv_from(&mut buffer)
                    .await
                    .map(|(len, source)| (buffer[..len].to_vec(), source));
                Some((item, (socket, buffer)))
            });
        ctx.add_stream(datagrams);
        for seed in self.config.seeds.clone() {
            self.add_seed(seed, ctx);
        }
    }
}

impl StreamHandler<std::io::Result<(Vec<u8>, SocketAddr)>> for Udp {
    fn handle(&mut self, item: std::io::Result<(Vec<u8>, SocketAddr)>, _: &mut Context<Self>) {
        match item {
            Ok((bytes, source)) => self.received(&bytes, source),
            // An ICMP error from an earlier send (a peer gone), reported on this socket.
            Err(error) => tracing::trace!(%error, "socket error"),
        }
    }

    fn finished(&mut self, _: &mut Context<Self>) {
        // The stream never ends while the actor runs.
    }
}

impl Handler<KeyChanged> for Udp {
    type Result = ();

    fn handle(&mut self, changed: KeyChanged, _: &mut Context<Self>) {
        if changed.key != ADDR_KEY {
            return;
        }
        if changed.origin == self.me {
            self.follow(changed.generation);
            return;
        }
        let addr = changed
            .value
            .as_ref()
            .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
            .and_then(|text| text.parse::<SocketAddr>().ok());
        if let Some(addr) = addr {
            self.learn(changed.origin, changed.generation, addr);
        }
    }
}

impl Handler<MemberChanged> for Udp {
    type Result = ();

    /// A member that left, or was removed after being down, is forgotten; a newer generation of
    /// it comes back through its hello or its address key.
    fn handle(&mut self, changed: MemberChanged, _: &mut Context<Self>) {
        if changed.member == self.me {
            self.follow(changed.generation);
            return;
        }
        if !matches!(changed.status, MemberStatus::Left | MemberStatus::Removed) {
            return;
        }
        if write(&self.outbox.book).forget(changed.member, changed.generation) {
            tracing::info!(
                peer = changed.member.0,
                status = changed.status.name(),
                "member gone: address forgotten"
            );
            self.node.do_send(RemovePeer(changed.member));
        }
    }
}

impl Handler<AddSeed> for Udp {
    type Result = ();

    fn handle(&mut self, AddSeed(addr): AddSeed, ctx: &mut Context<Self>) {
        self.add_seed(addr, ctx);
    }
}

impl Handler<GetLinks> for Udp {
    type Result = actix::MessageResult<GetLinks>;

    fn handle(&mut self, _: GetLinks, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.links())
    }
}

impl Handler<SetKeyring> for Udp {
    type Result = ();

    fn handle(&mut self, SetKeyring(keyring): SetKeyring, _: &mut Context<Self>) {
        *write(&self.outbox.keyring) = Arc::new(keyring);
    }
}

impl Handler<Shutdown> for Udp {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        self.outbox.open.store(false, Ordering::Relaxed);
        ctx.stop();
    }
}
