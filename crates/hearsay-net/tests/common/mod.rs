//! Shared helpers for the loopback tests: nodes on 127.0.0.1 with real sockets and real time
//! (every wait bounded by a deadline; waits are for events, never sleeps).

#![allow(dead_code)]

use actix::{Actor, Context, Handler};
use hearsay_actor::{KeyChanged, Subscribe};
use hearsay_net::{Key, Keyring, NetConfig, NetNode};
use hearsay_proto::{ClusterId, Config, Generation, Node, NodeId};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long any test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn keyring(byte: u8) -> Keyring {
    Keyring::new(Key::from_bytes([byte; 32]))
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Network settings scaled down for tests: short keep-alives and timeouts.
pub fn net_config(cluster: &str, seeds: Vec<SocketAddr>) -> NetConfig {
    NetConfig {
        seeds,
        handshake_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(3),
        keepalive: Duration::from_millis(500),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(500),
        ..NetConfig::new(cluster, loopback())
    }
}

pub fn protocol(cluster: &str, id: u64, generation: u64) -> Node {
    let config = Config {
        cluster: ClusterId::from_name(cluster),
        gossip_interval: Duration::from_millis(100),
        ..Config::default()
    };
    Node::new(NodeId(id), Generation(generation), config, id).expect("valid config")
}

pub async fn start(
    cluster: &str,
    id: u64,
    generation: u64,
    keyring: Keyring,
    seeds: Vec<SocketAddr>,
) -> NetNode {
    NetNode::start(
        protocol(cluster, id, generation),
        net_config(cluster, seeds),
        keyring,
    )
    .await
    .expect("node starts")
}

/// Forwards a node's changes into a channel.
pub struct Changes(pub mpsc::UnboundedSender<KeyChanged>);

impl Actor for Changes {
    type Context = Context<Self>;
}

impl Handler<KeyChanged> for Changes {
    type Result = ();

    fn handle(&mut self, changed: KeyChanged, _: &mut Context<Self>) {
        let _ = self.0.send(changed);
    }
}

/// Subscribes to a node's changes of keys under `prefix`.
pub async fn watch(node: &NetNode, prefix: &str) -> mpsc::UnboundedReceiver<KeyChanged> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let changes = Changes(sender).start();
    node.node()
        .send(Subscribe {
            prefix: prefix.into(),
            recipient: changes.recipient(),
        })
        .await
        .expect("subscribed");
    receiver
}

/// Waits until `changes` reports `key` = `value` from `origin`; false at the deadline.
pub async fn wait_for(
    changes: &mut mpsc::UnboundedReceiver<KeyChanged>,
    origin: u64,
    key: &str,
    value: &str,
    deadline: Duration,
) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(until, changes.recv()).await {
            Ok(Some(changed)) => {
                if changed.origin == NodeId(origin)
                    && changed.key == key
                    && changed.value.as_ref().map(|v| v.as_bytes()) == Some(value.as_bytes())
                {
                    return true;
                }
            }
            Ok(None) | Err(_) => return false,
        }
    }
}

/// Reads what `node` holds for `origin`'s `key`.
pub async fn get(node: &NetNode, origin: u64, key: &str) -> Option<String> {
    node.node()
        .send(hearsay_actor::Get {
            origin: Some(NodeId(origin)),
            key: key.into(),
        })
        .await
        .expect("mailbox")
        .expect("node up")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}
