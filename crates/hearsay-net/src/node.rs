//! [`NetNode`]: a [`GossipNode`] actor on the network — listener, mesh, and transport wired up.

use crate::connection::Writers;
use crate::mesh::{GetLinks, Link, Mesh, SetKeyring, Shutdown, Wiring};
use crate::session::Local;
use crate::stats::NetStats;
use crate::transport::{NetTransport, Routes};
use crate::{ADDR_KEY, Error, Keyring, NetConfig};
use actix::{Actor, Addr};
use hearsay_actor::{GossipNode, Subscribe};
use hearsay_proto::Node;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A gossip node that talks to peers over authenticated, encrypted TCP.
///
/// The node actor is the same [`GossipNode`] that runs in-process: only its transport differs.
/// Talk to it through [`NetNode::node`] with the usual messages (`Set`, `Get`, `Subscribe`, …).
///
/// ```no_run
/// use hearsay_net::{Key, Keyring, NetConfig, NetNode};
/// use hearsay_proto::{ClusterId, Config, Generation, Node, NodeId};
///
/// actix_rt::System::new().block_on(async {
///     let mut config = Config::default();
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
///     Ok::<(), hearsay_net::Error>(())
/// })?;
/// # Ok::<(), hearsay_net::Error>(())
/// ```
pub struct NetNode {
    node: Addr<GossipNode>,
    mesh: Addr<Mesh>,
    local_addr: SocketAddr,
    advertised: SocketAddr,
    stats: Arc<NetStats>,
    writers: Arc<Writers>,
}

impl NetNode {
    /// Binds the listener, starts the node actor and the mesh, and begins dialing the seeds.
    /// Must run inside an actix system.
    pub async fn start(
        mut node: Node,
        config: NetConfig,
        keyring: Keyring,
    ) -> Result<NetNode, Error> {
        config.validate()?;
        let largest = node.config().mtu.max(node.config().max_incoming) + crate::SEAL_OVERHEAD;
        if largest > config.max_frame {
            return Err(Error::Config(format!(
                "the protocol's messages (up to {} bytes sealed) do not fit max_frame ({} bytes)",
                largest, config.max_frame
            )));
        }
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| Error::Bind {
                addr: config.bind,
                source,
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|error| Error::io("listener address", error))?;
        let advertised = config.advertise.unwrap_or(local_addr);
        // Peers learn where to dial this node from the gossip itself.
        // The actor's clock (tokio's, virtual under a paused runtime).
        let now = tokio::time::Instant::now().into_std();
        node.set(now, ADDR_KEY, advertised.to_string())
            .map_err(hearsay_actor::Error::from)?;
        let membership = node.config().membership.is_some();
        let local = Local {
            cluster: config.cluster.clone(),
            id: node.id(),
            generation: node.generation(),
            listen: advertised.to_string(),
        };
        let stats = Arc::new(NetStats::default());
        let routes = Routes::default();
        let gossip =
            GossipNode::new(node, NetTransport::new(routes.clone(), stats.clone())).start();
        let writers = Arc::new(Writers::default());
        let wiring = Wiring {
            node: gossip.clone(),
            routes,
            stats: stats.clone(),
            writers: writers.clone(),
        };
        let jitter_seed = crate::random::random_u64()?;
        let mesh = Mesh::new(
            config,
            local,
            keyring,
            wiring,
            listener,
            advertised,
            jitter_seed,
        )
        .start();
        gossip
            .send(Subscribe {
                prefix: ADDR_KEY.into(),
                recipient: mesh.clone().recipient(),
            })
            .await?;
        if membership {
            gossip
                .send(hearsay_actor::SubscribeMembership {
                    recipient: mesh.clone().recipient(),
                })
                .await?;
        }
        tracing::info!(%local_addr, %advertised, "listening");
        Ok(NetNode {
            node: gossip,
            mesh,
            local_addr,
            advertised,
            stats,
            writers,
        })
    }

    /// The node actor: send it `Set`, `Get`, `Delete`, `GetEntries`, `Subscribe`, ….
    pub fn node(&self) -> &Addr<GossipNode> {
        &self.node
    }

    /// The mesh actor.
    pub fn mesh(&self) -> &Addr<Mesh> {
        &self.mesh
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
        Ok(self.mesh.send(SetKeyring(keyring)).await?)
    }

    /// The addresses this node dials, with their link state.
    pub async fn links(&self) -> Result<Vec<Link>, Error> {
        Ok(self.mesh.send(GetLinks).await?)
    }

    /// Says goodbye on every link and stops the mesh (the node actor keeps its state).
    pub fn shutdown(&self) {
        self.mesh.do_send(Shutdown);
    }

    /// [`NetNode::shutdown`], then waits (at most `timeout`) until every queued frame is written
    /// and every connection closed, so that a process can exit without losing its last words (a
    /// leave, a goodbye). Answers whether everything was flushed in time.
    pub async fn shutdown_and_flush(&self, timeout: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        if self.mesh.send(Shutdown).await.is_err() {
            return false;
        }
        self.writers.drained(deadline).await
    }
}
