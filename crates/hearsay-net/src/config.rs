//! The network adapter's settings, with documented defaults.

use crate::Error;
use std::net::SocketAddr;
use std::time::Duration;

/// How gossip travels between nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TransportKind {
    /// Sealed UDP datagrams on one socket per node, no connection kept (the default, as in
    /// memberlist and chitchat): a node's cost does not grow with the peers it knows.
    #[default]
    Datagram,
    /// Authenticated, encrypted TCP connections (for networks that drop UDP). With full
    /// membership the node dials every address it learns (a full mesh, 2(n−1) connections per
    /// node: for small clusters); with partial views it dials a peer when it first has something
    /// to send it and closes the link once unused for `unused_after`, so it holds links to its
    /// active view and to the members it is probing, not to everyone.
    Stream,
}

/// A deadline that never comes in practice (a century), for waits without a limit.
pub(crate) const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The largest `send_queue`, `inbound_queue` and `max_connections` accepted (2^20): beyond it
/// a bounded queue is no bound, and tokio's channels refuse such capacities.
pub const MAX_LIMIT: usize = 1 << 20;

/// How a networked node listens, whom it dials, and the limits that keep misbehaving peers from
/// costing it memory or liveness.
///
/// ```
/// use hearsay_net::NetConfig;
/// let config = NetConfig {
///     seeds: vec!["127.0.0.1:7000".parse().unwrap()],
///     ..NetConfig::new("prod", "127.0.0.1:7001".parse().unwrap())
/// };
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// The cluster's name; peers of another cluster are refused. Up to 64 bytes.
    pub cluster: String,
    /// How gossip travels. Default: [`TransportKind::Datagram`].
    pub transport: TransportKind,
    /// Where to listen: the UDP socket, or the TCP listener (port 0: any free port).
    pub bind: SocketAddr,
    /// The address peers should dial, when it differs from the bound one (NAT, `0.0.0.0`).
    /// Default: the bound address.
    pub advertise: Option<SocketAddr>,
    /// Peers to greet (or dial) at start, and again while unreachable. Default: none.
    pub seeds: Vec<SocketAddr>,
    /// Seeds by host name, `host:port` (`seed.example:7000`): looked up through the system
    /// resolver at start and every `resolve_every`; every address a name resolves to is a seed,
    /// and a name that does not resolve yet is retried with backoff. Default: none.
    pub seed_names: Vec<String>,
    /// How often `seed_names` are looked up again (a seed that moved is found). Default: 30 s.
    pub resolve_every: Duration,
    /// Largest frame accepted, in bytes, checked before anything is allocated. Default: 65,536 +
    /// 64 (the largest gossip message plus the sealing overhead).
    pub max_frame: usize,
    /// Largest sealed datagram sent, in bytes: the protocol's `Config::mtu` plus
    /// [`crate::DATAGRAM_OVERHEAD`] must fit (checked at start). Default: 1,472 (an Ethernet
    /// frame's UDP payload over IPv4). Datagrams up to the protocol's `max_incoming` are received.
    pub max_datagram: usize,
    /// Gossip messages waiting for the node actor (its mailbox capacity); more are dropped and
    /// counted (`inbound_dropped`), never queued without bound. Default: 1,024.
    pub inbound_queue: usize,
    /// Frames waiting to be written to one peer; more are dropped (and counted), never queued
    /// without bound and never blocking the node. Default: 64.
    pub send_queue: usize,
    /// A connection must finish its handshake within this. Default: 5 s.
    pub handshake_timeout: Duration,
    /// A connection that delivers no complete frame for this long is closed (a stalled half-frame,
    /// a half-open peer). Default: 10 s.
    pub idle_timeout: Duration,
    /// Dialed connections send a keep-alive this often. Default: 2 s.
    pub keepalive: Duration,
    /// A frame that cannot be written within this closes the connection (a peer that does not
    /// read). Default: 5 s.
    pub write_timeout: Duration,
    /// With partial views over [`TransportKind::Stream`], a dialed link that carries no gossip
    /// for this long is closed (a peer that left the active view, a member probed once): no
    /// failure, and dialed again when needed. Default: 10 s.
    pub unused_after: Duration,
    /// Most connections held at once (inbound and outbound). Default: 1,024.
    pub max_connections: usize,
    /// First redial delay after a failure; doubles up to `backoff_max`, with full jitter.
    /// Default: 100 ms.
    pub backoff_initial: Duration,
    /// Longest redial delay. Default: 5 s.
    pub backoff_max: Duration,
    /// An address whose link authenticated as this very node (a seed list that names the node
    /// itself) is dialed again after this long rather than never: whoever sits at an address
    /// this node dials can reflect its own hello back to it, which no key check can tell from a
    /// genuine self-connection, and would otherwise stop the address from being dialed for
    /// good. Default: 5 min.
    pub self_redial: Duration,
    /// A learnt (not seed) address whose last 8 (`MAX_LEARNED_FAILURES`) dials all
    /// failed is dialed only this often from then on, until a dial succeeds or its member leaves
    /// or is removed: a partition longer than the backoff's eight tries must not cost a full
    /// mesh its links for good. Default: 60 s.
    pub unreachable_redial: Duration,
    /// Where the node's state is saved, now and then and at
    /// [`crate::NetNode::shutdown_and_flush`], for the next process to start from
    /// ([`crate::StateFile::load`]). Default: `None` (nothing is saved; a restarted node starts
    /// empty and needs a seed).
    pub state: Option<crate::StateFile>,
}

/// Bytes sealing adds to a gossip message: kind byte, payload tag, Poly1305 tag, and slack.
pub const SEAL_OVERHEAD: usize = 64;

impl NetConfig {
    /// Defaults for a node of `cluster` listening on `bind`.
    pub fn new(cluster: impl Into<String>, bind: SocketAddr) -> NetConfig {
        NetConfig {
            cluster: cluster.into(),
            transport: TransportKind::Datagram,
            bind,
            advertise: None,
            seeds: Vec::new(),
            seed_names: Vec::new(),
            resolve_every: Duration::from_secs(30),
            max_frame: 65_536 + SEAL_OVERHEAD,
            max_datagram: 1_472,
            inbound_queue: 1_024,
            send_queue: 64,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(10),
            keepalive: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            unused_after: Duration::from_secs(10),
            max_connections: 1024,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            self_redial: Duration::from_secs(300),
            unreachable_redial: Duration::from_secs(60),
            state: None,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |what: &str| Err(Error::Config(what.to_owned()));
        if let Some(state) = &self.state {
            state.validate()?;
        }
        if self.cluster.is_empty() || self.cluster.len() > crate::frame::MAX_CLUSTER_NAME {
            return fail("the cluster name must be 1 to 64 bytes");
        }
        if self.max_frame < 1024 || self.max_frame > 16 << 20 {
            return fail("max_frame must be between 1 KiB and 16 MiB");
        }
        for (name, value) in [
            ("send_queue", self.send_queue),
            ("inbound_queue", self.inbound_queue),
            ("max_connections", self.max_connections),
        ] {
            if value == 0 || value > MAX_LIMIT {
                return Err(Error::Config(format!(
                    "{name} must be between 1 and {MAX_LIMIT}"
                )));
            }
        }
        if !(576..=crate::datagram::MAX_UDP_PAYLOAD).contains(&self.max_datagram) {
            return fail("max_datagram must be between 576 and 65,507 bytes");
        }
        let day = Duration::from_secs(86_400);
        for (name, value) in [
            ("handshake_timeout", self.handshake_timeout),
            ("idle_timeout", self.idle_timeout),
            ("keepalive", self.keepalive),
            ("write_timeout", self.write_timeout),
            ("unused_after", self.unused_after),
            ("backoff_initial", self.backoff_initial),
            ("backoff_max", self.backoff_max),
            ("resolve_every", self.resolve_every),
            ("self_redial", self.self_redial),
            ("unreachable_redial", self.unreachable_redial),
        ] {
            if value < Duration::from_millis(1) || value > day {
                return Err(Error::Config(format!(
                    "{name} must be between 1 ms and a day"
                )));
            }
        }
        if self.keepalive >= self.idle_timeout {
            return fail("keepalive must be shorter than idle_timeout");
        }
        for name in &self.seed_names {
            crate::resolve::check_name(name).map_err(Error::Config)?;
        }
        for seed in &self.seeds {
            if seed.ip().is_unspecified() || seed.port() == 0 {
                return Err(Error::Config(format!(
                    "seed {seed} cannot be reached: an unspecified address (0.0.0.0, ::) or port 0"
                )));
            }
            // One UDP socket: bound to IPv4 it reaches IPv4 only; bound to one IPv6 address,
            // IPv6 only; bound to `[::]` (dual-stack, as std leaves it), both.
            let unreachable = match self.bind {
                SocketAddr::V4(_) => seed.is_ipv6(),
                SocketAddr::V6(bind) => seed.is_ipv4() && !bind.ip().is_unspecified(),
            };
            if self.transport == TransportKind::Datagram && unreachable {
                return Err(Error::Config(format!(
                    "seed {seed} cannot be reached from a datagram socket bound to {}: \
                     another address family",
                    self.bind
                )));
            }
        }
        if self.backoff_initial > self.backoff_max {
            return fail("backoff_initial must not exceed backoff_max");
        }
        match self.advertise {
            None if self.bind.ip().is_unspecified() => {
                return fail(
                    "binding to an unspecified address (0.0.0.0, ::) needs an advertise address",
                );
            }
            Some(advertise) if advertise.ip().is_unspecified() || advertise.port() == 0 => {
                return fail("the advertise address must be a dialable address with a port");
            }
            _ => {}
        }
        let listen = self.advertise.unwrap_or(self.bind).to_string();
        if listen.len() > crate::frame::MAX_ADDRESS {
            return fail("the advertised address is too long");
        }
        Ok(())
    }
}
