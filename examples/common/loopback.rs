//! Shared by the examples that run many networked nodes in one process: a `NetNode` on
//! 127.0.0.1 (any free port) over the given transport, greeting `seeds`.

use hearsay::net::{Keyring, NetConfig, NetNode, TransportKind};
use hearsay::proto::{Config, Generation, Node, NodeId};
use std::net::SocketAddr;

/// Starts node `id` (generation 1, its RNG seeded with its id) of the cluster named `cluster`
/// with the protocol settings `config` (whose `cluster` must be `ClusterId::from_name(cluster)`),
/// over `transport`.
pub async fn start(
    cluster: &str,
    id: u64,
    config: Config,
    seeds: Vec<SocketAddr>,
    keyring: Keyring,
    transport: TransportKind,
) -> NetNode {
    let node = Node::new(NodeId(id), Generation(1), config, id).expect("valid config");
    let net = NetConfig {
        seeds,
        transport,
        ..NetConfig::new(cluster, SocketAddr::from(([127, 0, 0, 1], 0)))
    };
    NetNode::start(node, net, keyring)
        .await
        .expect("node starts")
}
