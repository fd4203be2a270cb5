//! A bulk write over the network: one node writes KEYS values of VALUE_BYTES (default 20,000 ×
//! 1 KB = 20 MB) and four peers catch up over the default transport (sealed UDP datagrams of one
//! MTU each) with the default protocol settings plus flow control. They receive it in chained
//! anti-entropy exchanges at up to the catch-up budget per link and round (`Config::catch_up`,
//! default 1 MiB; docs/protocol.md §6.8), not one 1,400-byte answer per exchange.
//!
//! ```text
//! cargo run --release --example net_bulk -- [KEYS] [VALUE_BYTES]
//! ```
//!
//! Prints when each peer held every value, the prediction from the budget, and the bytes sent.
//! Real sockets and real time: figures vary from run to run; docs/networking.md records some.

#[path = "common/loopback.rs"]
mod loopback;

use hearsay::actor::{KeyChanged, Set, Subscribe};
use hearsay::net::{Counter, Key, Keyring, NetNode};
use hearsay::proto::{ClusterId, Config, FlowControl, Mode, NodeId, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const CLUSTER: &str = "net-bulk";

struct Forward(mpsc::UnboundedSender<KeyChanged>);

impl actix::Actor for Forward {
    type Context = actix::Context<Self>;
}

impl actix::Handler<KeyChanged> for Forward {
    type Result = ();

    fn handle(&mut self, changed: KeyChanged, _: &mut actix::Context<Self>) {
        let _ = self.0.send(changed);
    }
}

fn config() -> Config {
    Config {
        cluster: ClusterId::from_name(CLUSTER),
        flow_control: Some(FlowControl::default()),
        ..Config::default()
    }
}

async fn start(id: u64, seeds: Vec<SocketAddr>, keyring: Keyring) -> NetNode {
    loopback::start(CLUSTER, id, config(), seeds, keyring, Default::default()).await
}

fn main() {
    let arg = |at: usize, default: usize| {
        std::env::args()
            .nth(at)
            .and_then(|arg| arg.parse().ok())
            .unwrap_or(default)
    };
    let (keys, size) = (
        arg(1, 20_000).clamp(1, 1_000_000),
        arg(2, 1_024).clamp(1, 1_200),
    );
    actix_rt::System::new().block_on(async move {
        let keyring = Keyring::new(Key::generate().expect("key"));
        let writer = start(1, Vec::new(), keyring.clone()).await;
        let mut peers = Vec::new();
        for id in 2..=5 {
            peers.push(start(id, vec![writer.local_addr()], keyring.clone()).await);
        }
        let (sender, mut changes) = mpsc::unbounded_channel();
        for peer in &peers {
            let forward = actix::Actor::start(Forward(sender.clone()));
            peer.node()
                .send(Subscribe {
                    prefix: "bulk/".into(),
                    recipient: forward.recipient(),
                })
                .await
                .expect("subscribed");
        }
        let value = Value::from(vec![b'x'; size]);
        let began = Instant::now();
        for key in 0..keys {
            writer
                .node()
                .send(Set {
                    key: format!("bulk/{key:07}"),
                    value: value.clone(),
                })
                .await
                .expect("mailbox")
                .expect("written");
        }
        let written = began.elapsed();
        let config = config();
        let budget = config.catch_up.unwrap_or(config.mtu);
        let every = match config.mode {
            Mode::Combined { anti_entropy_every } => anti_entropy_every as usize,
            _ => 1,
        };
        // docs/protocol.md §6.8: the backlog crosses one link in `bytes / budget` rounds, after
        // at most `anti_entropy_every` rounds before the first exchange; the last peer waits at
        // most one more such period (its chain may have run from a peer still catching up).
        let backlog = keys * (size + 32);
        let first = every + backlog.div_ceil(budget);
        let predicted = config.gossip_interval * first as u32;
        let last = config.gossip_interval * (first + every) as u32;
        println!(
            "{keys} values of {size} B ({:.1} MB) written at one node in {:.2} s; catch-up budget {} KiB per link per round of {:?}: predicted at most {:.0} s for the first peer, {:.0} s for the last",
            backlog as f64 / 1e6,
            written.as_secs_f64(),
            budget / 1024,
            config.gossip_interval,
            predicted.as_secs_f64(),
            last.as_secs_f64()
        );
        let mut held: HashMap<NodeId, usize> = HashMap::new();
        let mut done: Vec<(NodeId, Duration)> = Vec::new();
        let deadline = tokio::time::Instant::now() + last * 4 + Duration::from_secs(30);
        while done.len() < peers.len() {
            match tokio::time::timeout_at(deadline, changes.recv()).await {
                Ok(Some(changed)) if changed.origin == NodeId(1) && changed.value.is_some() => {
                    let count = held.entry(changed.node).or_default();
                    *count += 1;
                    if *count == keys {
                        done.push((changed.node, began.elapsed()));
                        println!(
                            "  node {} holds all {keys} after {:.1} s",
                            changed.node.0,
                            began.elapsed().as_secs_f64()
                        );
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    panic!("not done after {:.0} s: {held:?}", began.elapsed().as_secs_f64())
                }
            }
        }
        let sent: u64 = std::iter::once(&writer)
            .chain(&peers)
            .map(|node| node.stats().get(Counter::BytesOut))
            .sum();
        let slowest = done.iter().map(|(_, at)| *at).max().unwrap_or_default();
        let delivered = (keys * size * peers.len()) as f64;
        println!(
            "all 4 peers hold every value {:.1} s after the first write (predicted at most {:.0} s); {:.1} MB sent for {:.1} MB of values delivered ({:.2}×)",
            slowest.as_secs_f64(),
            last.as_secs_f64(),
            sent as f64 / 1e6,
            delivered / 1e6,
            sent as f64 / delivered
        );
    });
}
