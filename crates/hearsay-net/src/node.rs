//! [`NetNode`]: a [`GossipNode`] actor on the network — listener, mesh, and transport wired up.

use crate::connection::Writers;
use crate::datagram::Sealer;
use crate::mesh::{AddSeed, GetLinks, Link, Mesh, SetKeyring, Shutdown, Wiring};
use crate::saver::Saver;
use crate::session::Local;
use crate::stats::NetStats;
use crate::transport::{NetTransport, Routes};
use crate::udp::{Outbox, Udp, UdpSetup};
use crate::{
    ADDR_KEY, DATAGRAM_OVERHEAD, Error, Keyring, NetConfig, StateFile, StateLock, TransportKind,
};
use actix::{Actor, Addr, AsyncContext, Recipient};
use hearsay_actor::{GossipNode, KeyChanged, MemberChanged, Subscribe, SubscribeMembership};
use hearsay_proto::{ClusterId, Node};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, UdpSocket};

fn bind_failed(config: &NetConfig, source: std::io::Error) -> Error {
    Error::Bind {
        addr: config.bind,
        source,
    }
}

/// The bound address and the one peers should reach the node at, which the node announces
/// (`Node::advertise`: in its membership updates, or the reserved key).
fn announce(
    node: &mut Node,
    config: &NetConfig,
    bound: std::io::Result<SocketAddr>,
) -> Result<(SocketAddr, SocketAddr), Error> {
    let local_addr = bound.map_err(|error| Error::io("bound address", error))?;
    let advertised = config.advertise.unwrap_or(local_addr);
    // The actor's clock (tokio's, virtual under a paused runtime).
    let now = tokio::time::Instant::now().into_std();
    node.advertise(now, &advertised.to_string())
        .map_err(hearsay_actor::Error::from)?;
    Ok((local_addr, advertised))
}

/// Subscribes the transport to the addresses peers announce and, with membership, to members
/// that leave or are removed.
async fn subscribe(
    node: &Addr<GossipNode>,
    keys: Recipient<KeyChanged>,
    members: Recipient<MemberChanged>,
    membership: bool,
) -> Result<(), Error> {
    node.send(Subscribe {
        prefix: ADDR_KEY.into(),
        recipient: keys,
    })
    .await?;
    if membership {
        node.send(SubscribeMembership { recipient: members })
            .await?;
    }
    Ok(())
}

/// A gossip node that talks to peers over sealed UDP datagrams (the default) or authenticated,
/// encrypted TCP ([`NetConfig::transport`]).
///
/// The node actor is the same [`GossipNode`] that runs in-process: only its transport differs.
/// Talk to it through [`NetNode::node`] with the usual messages (`Set`, `Get`, `Subscribe`, …).
///
/// ```no_run
/// use hearsay_net::{Key, Keyring, NetConfig, NetNode};
/// use hearsay_proto::{ClusterId, Config, Generation, Node, NodeId};
///
/// actix_rt::System::new().block_on(async {
///     // Membership on (SWIM, LAN timings): crashed nodes are detected and, in time, their
///     // state dropped. `Config::default()` has none, for clusters whose members never fail.
///     let mut config = Config::lan();
///     config.cluster = ClusterId::from_name("prod");
///     let node = Node::new(NodeId(2), Generation(1), config, 7)
///         .map_err(hearsay_actor::Error::from)?;
///     let net = NetConfig {
///         seeds: vec!["127.0.0.1:7000".parse().unwrap()],
///         ..NetConfig::new("prod", "127.0.0.1:7001".parse().unwrap())
///     };
///     let keyring = Keyring::new(Key::from_hex(&"11".repeat(32))?);
///     let node = NetNode::start(node, net, keyring).await?;
///     node.node().send(hearsay_actor::Set { key: "k".into(), value: "v".into() }).await??;
///     // Leave the cluster, then stop the transport (with a state file: save it first).
///     node.leave(std::time::Duration::from_secs(2)).await?;
///     Ok::<(), hearsay_net::Error>(())
/// })?;
/// # Ok::<(), hearsay_net::Error>(())
/// ```
///
/// Dropping a `NetNode` ends its periodic state saves and releases its state file's lock
/// ([`StateFile::lock`]) but does not stop its actors, which belong to the actix system: call
/// [`NetNode::leave`] or [`NetNode::shutdown_and_flush`] before letting it go.
pub struct NetNode {
    node: Addr<GossipNode>,
    carrier: Carrier,
    local_addr: SocketAddr,
    advertised: SocketAddr,
    stats: Arc<NetStats>,
    writers: Arc<Writers>,
    /// Saves the node's state, with [`NetConfig::state`]; holds its lock.
    saver: Option<Arc<Saver>>,
}

impl Drop for NetNode {
    /// Ends the periodic saves: a node let go is not saved behind its owner's back.
    fn drop(&mut self) {
        if let Some(saver) = &self.saver {
            saver.stop();
        }
    }
}

/// The actor that links the node to its peers.
enum Carrier {
    Mesh(Addr<Mesh>),
    Udp(Addr<Udp>),
}

impl NetNode {
    /// Binds the socket (or the listener), starts the node actor and its transport, and begins
    /// greeting (or dialing) the seeds. Must run inside an actix system.
    ///
    /// Fails with [`Error::Config`] when the settings disagree: `NetConfig::cluster` must name
    /// the cluster of the node's `Config::cluster` (`ClusterId::from_name`), and the protocol's
    /// messages must fit a datagram (or a frame). With [`NetConfig::state`] it takes the state
    /// file's lock ([`StateFile::lock`]; [`Error::State`] if another node holds it): a process
    /// that reads the file to start its node should take the lock first and hand it to
    /// [`NetNode::start_locked`], so that no other process saves between its read and its start.
    pub async fn start(node: Node, config: NetConfig, keyring: Keyring) -> Result<NetNode, Error> {
        config.validate()?;
        let lock = config.state.as_ref().map(StateFile::lock).transpose()?;
        NetNode::start_with(node, config, keyring, lock).await
    }

    /// [`NetNode::start`] with the state file's lock already taken ([`StateFile::lock`], before
    /// [`StateFile::load`]). A lock of another file than [`NetConfig::state`]'s, or none
    /// configured, is an [`Error::Config`].
    ///
    /// ```no_run
    /// # use hearsay_net::{Keyring, NetConfig, NetNode, StateFile};
    /// # use hearsay_proto::{Config, Generation, NodeId};
    /// # async fn start(net: NetConfig, keyring: Keyring) -> Result<NetNode, hearsay_net::Error> {
    /// let state = StateFile::new("/var/lib/myapp/hearsay.state");
    /// let lock = state.lock()?; // no other process saves from here on
    /// let node = state.load(NodeId(1), Generation(1), Config::lan(), 7)?;
    /// let net = NetConfig { state: Some(state), ..net };
    /// NetNode::start_locked(node, net, keyring, lock).await
    /// # }
    /// ```
    pub async fn start_locked(
        node: Node,
        config: NetConfig,
        keyring: Keyring,
        lock: StateLock,
    ) -> Result<NetNode, Error> {
        match &config.state {
            Some(state) if state.path == lock.path() => {}
            _ => {
                return Err(Error::Config(format!(
                    "the lock given is of {}, not of NetConfig::state's file",
                    lock.path().display()
                )));
            }
        }
        NetNode::start_with(node, config, keyring, Some(lock)).await
    }

    async fn start_with(
        mut node: Node,
        config: NetConfig,
        keyring: Keyring,
        state_lock: Option<StateLock>,
    ) -> Result<NetNode, Error> {
        config.validate()?;
        let named = ClusterId::from_name(&config.cluster);
        if node.config().cluster != named {
            return Err(Error::Config(format!(
                "NetConfig::cluster {:?} is cluster id {named}, but the node's Config::cluster is {}: \
                 set Config::cluster to ClusterId::from_name({:?})",
                config.cluster,
                node.config().cluster,
                config.cluster
            )));
        }
        let protocol = node.config();
        let (mtu, max_incoming) = (protocol.mtu, protocol.max_incoming);
        let views = protocol.view.is_some();
        let membership = protocol.membership.is_some();
        match config.transport {
            TransportKind::Datagram if mtu + DATAGRAM_OVERHEAD > config.max_datagram => {
                return Err(Error::Config(format!(
                    "the protocol's messages (Config::mtu {mtu} bytes, {} sealed) do not fit \
                     max_datagram ({} bytes): lower Config::mtu to {} or raise max_datagram",
                    mtu + DATAGRAM_OVERHEAD,
                    config.max_datagram,
                    config.max_datagram - DATAGRAM_OVERHEAD
                )));
            }
            TransportKind::Stream
                if mtu.max(max_incoming) + crate::SEAL_OVERHEAD > config.max_frame =>
            {
                return Err(Error::Config(format!(
                    "the protocol's messages (up to {} bytes sealed) do not fit max_frame ({} bytes)",
                    mtu.max(max_incoming) + crate::SEAL_OVERHEAD,
                    config.max_frame
                )));
            }
            _ => {}
        }
        let stats = Arc::new(NetStats::default());
        let writers = Arc::new(Writers::default());
        let jitter_seed = crate::random::random_u64()?;
        let (id, generation) = (node.id(), node.generation());
        let inbound = config.inbound_queue;
        let names = config.seed_names.clone();
        let (resolve_every, backoff_initial) = (config.resolve_every, config.backoff_initial);
        let state = config.state.clone();
        let (gossip, carrier, local_addr, advertised) = match config.transport {
            TransportKind::Datagram => {
                let socket = UdpSocket::bind(config.bind).await;
                let socket = socket.map_err(|source| bind_failed(&config, source))?;
                let (local_addr, advertised) = announce(&mut node, &config, socket.local_addr())?;
                let outbox = Arc::new(Outbox::new(
                    Arc::new(socket),
                    keyring,
                    stats.clone(),
                    config.max_datagram,
                    generation,
                ));
                let sealer = Sealer::fresh(&config.cluster, id, generation)?;
                let transport = NetTransport::datagram(outbox.clone(), sealer, stats.clone());
                let gossip = GossipNode::new(node, transport)
                    .with_mailbox_capacity(inbound)
                    .start();
                let setup = UdpSetup {
                    outbox,
                    node: gossip.clone(),
                    me: id,
                    generation,
                    advertised,
                    config,
                    views,
                    jitter_seed,
                };
                let udp = Udp::new(setup, max_incoming)?.start();
                subscribe(
                    &gossip,
                    udp.clone().recipient(),
                    udp.clone().recipient(),
                    membership,
                )
                .await?;
                (gossip, Carrier::Udp(udp), local_addr, advertised)
            }
            TransportKind::Stream => {
                let listener = TcpListener::bind(config.bind).await;
                let listener = listener.map_err(|source| bind_failed(&config, source))?;
                let (local_addr, advertised) = announce(&mut node, &config, listener.local_addr())?;
                let local = Local {
                    cluster: config.cluster.clone(),
                    id,
                    generation,
                    listen: advertised.to_string(),
                };
                let routes = Routes::default();
                let mut started = None;
                let mesh = Mesh::create(|ctx| {
                    // The mesh's address before it runs: the transport hands it unlinked messages.
                    let unlinked = ctx.address().recipient();
                    let transport = NetTransport::stream(routes.clone(), unlinked, stats.clone());
                    let gossip = GossipNode::new(node, transport)
                        .with_mailbox_capacity(inbound)
                        .start();
                    started = Some(gossip.clone());
                    let wiring = Wiring {
                        node: gossip,
                        routes,
                        stats: stats.clone(),
                        writers: writers.clone(),
                        views,
                    };
                    Mesh::new(
                        config,
                        local,
                        keyring,
                        wiring,
                        listener,
                        advertised,
                        jitter_seed,
                    )
                });
                let gossip =
                    started.ok_or_else(|| Error::Config("the mesh did not start".into()))?;
                subscribe(
                    &gossip,
                    mesh.clone().recipient(),
                    mesh.clone().recipient(),
                    membership,
                )
                .await?;
                (gossip, Carrier::Mesh(mesh), local_addr, advertised)
            }
        };
        tracing::info!(%local_addr, %advertised, "listening");
        if !names.is_empty() {
            let seeds = match &carrier {
                Carrier::Mesh(mesh) => mesh.clone().recipient(),
                Carrier::Udp(udp) => udp.clone().recipient(),
            };
            actix::spawn(crate::resolve::resolve_seeds(
                names,
                seeds,
                resolve_every,
                backoff_initial,
                jitter_seed.rotate_left(17),
            ));
        }
        let saver = state.map(|state| Saver::start(state, state_lock, &gossip));
        Ok(NetNode {
            node: gossip,
            carrier,
            local_addr,
            advertised,
            stats,
            writers,
            saver,
        })
    }

    /// The node actor: send it `Set`, `Get`, `Delete`, `GetEntries`, `Subscribe`, ….
    pub fn node(&self) -> &Addr<GossipNode> {
        &self.node
    }

    /// The mesh actor, with [`TransportKind::Stream`].
    pub fn mesh(&self) -> Option<&Addr<Mesh>> {
        match &self.carrier {
            Carrier::Mesh(mesh) => Some(mesh),
            Carrier::Udp(_) => None,
        }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address peers are told to dial.
    pub fn advertised(&self) -> SocketAddr {
        self.advertised
    }

    /// The links' counters.
    pub fn stats(&self) -> &NetStats {
        &self.stats
    }

    /// Replaces the keyring on the running node (key rotation): once this returns, every
    /// connection seals with the new primary and opens with any key of the new ring. A message to
    /// the mesh, which hands the ring to each connection; no lock.
    pub async fn set_keyring(&self, keyring: Keyring) -> Result<(), Error> {
        match &self.carrier {
            Carrier::Mesh(mesh) => Ok(mesh.send(SetKeyring(keyring)).await?),
            Carrier::Udp(udp) => Ok(udp.send(SetKeyring(keyring)).await?),
        }
    }

    /// The peers this node reaches: with datagrams, every address in its book and the seeds that
    /// have not answered yet; with streams, the addresses it dials, with their link state.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        match &self.carrier {
            Carrier::Mesh(mesh) => Ok(mesh.send(GetLinks).await?),
            Carrier::Udp(udp) => Ok(udp.send(GetLinks).await?),
        }
    }

    /// Adds a seed: greeted (or dialed) until it answers.
    pub fn add_seed(&self, addr: SocketAddr) {
        match &self.carrier {
            Carrier::Mesh(mesh) => mesh.do_send(AddSeed(addr)),
            Carrier::Udp(udp) => udp.do_send(AddSeed(addr)),
        }
    }

    /// Saves the node's state to [`NetConfig::state`] now (as the periodic saves do).
    /// [`Error::Config`] without a state file; an I/O error if writing it failed.
    pub async fn save_state(&self) -> Result<(), Error> {
        match &self.saver {
            Some(saver) => saver.save().await,
            None => Err(Error::Config(
                "no state file: NetConfig::state is None".into(),
            )),
        }
    }

    /// Stops the transport: over TCP, closes every link (the peers see the close at once); over
    /// datagrams, closes the socket (there is no goodbye: peers learn of a departure from a
    /// [`NetNode::leave`], or from their failure detector). The node actor keeps its state.
    pub fn shutdown(&self) {
        match &self.carrier {
            Carrier::Mesh(mesh) => mesh.do_send(Shutdown),
            Carrier::Udp(udp) => udp.do_send(Shutdown),
        }
    }

    /// Leaves the cluster gracefully, then [`NetNode::shutdown_and_flush`] (at most `timeout`):
    /// the node writes its `left` status and pushes it at once to a few peers
    /// ([`hearsay_proto::Node::leave`]; [`hearsay_proto::MembershipConfig::leave_fanout`]), so
    /// that the others mark it Left within a few gossip rounds instead of suspecting it and
    /// declaring it Down. With [`NetConfig::state`] the saved state holds the leave; a later
    /// start from it (a new generation) joins again. Answers whether everything was saved and
    /// flushed in time ([`Stopped`]); an error if the node refused the leave (it is down, or
    /// gone).
    pub async fn leave(&self, timeout: std::time::Duration) -> Result<Stopped, Error> {
        self.node.send(hearsay_actor::Leave).await??;
        Ok(self.shutdown_and_flush(timeout).await)
    }

    /// [`NetNode::shutdown`], then waits (at most `timeout`) until every queued frame is written
    /// and every connection closed (datagrams wait in no queue), so that a process can exit
    /// without losing its last words (a leave, a goodbye); with [`NetConfig::state`], it first
    /// saves the node's state a last time (after any save in flight) and stops the periodic
    /// saves. Answers what was saved and flushed in time ([`Stopped`]: a process whose last save
    /// failed should say so in its exit status, as writes since the previous save are lost). A
    /// timeout past what a clock can hold (`Duration::MAX` for "no limit") waits as long as it
    /// takes.
    pub async fn shutdown_and_flush(&self, timeout: std::time::Duration) -> Stopped {
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(timeout)
            .unwrap_or_else(|| now + crate::config::FOREVER);
        // The state first (after any save in flight): a slow flush must not cost it.
        let saved = match &self.saver {
            None => true,
            Some(saver) => {
                saver.stop();
                match tokio::time::timeout_at(deadline, saver.save()).await {
                    Ok(Ok(())) => true,
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "saving the node's state at shutdown failed");
                        false
                    }
                    Err(_) => {
                        tracing::warn!("saving the node's state at shutdown timed out");
                        false
                    }
                }
            }
        };
        let flushed = match &self.carrier {
            Carrier::Mesh(mesh) => {
                mesh.send(Shutdown).await.is_ok() && self.writers.drained(deadline).await
            }
            // A datagram is on the wire once sent: nothing waits in a queue.
            Carrier::Udp(udp) => udp.send(Shutdown).await.is_ok(),
        };
        if !flushed {
            tracing::warn!("the transport did not stop, or its links flush, in time");
        }
        Stopped { saved, flushed }
    }
}

/// What [`NetNode::shutdown_and_flush`] (or [`NetNode::leave`]) achieved before its timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stopped {
    /// The state was saved a last time ([`NetConfig::state`]; `true` without a state file). When
    /// `false`, writes since the previous save are not on disk, and a warning said why.
    pub saved: bool,
    /// The transport stopped and every queued frame was written (over TCP; over datagrams,
    /// nothing waits in a queue).
    pub flushed: bool,
}

impl Stopped {
    /// Whether everything was saved and flushed.
    pub fn clean(&self) -> bool {
        self.saved && self.flushed
    }
}
