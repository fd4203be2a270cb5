//! Catch-up over real sockets: a bulk write of 1 KB values at one node reaches four peers at the
//! speed the catch-up budget predicts (`Config::catch_up`, docs/protocol.md §6.8), with flow
//! control on, over the default transport (datagrams, one MTU each).

mod common;

use common::{Changes, keyring, net_config};
use hearsay_actor::{Set, Subscribe};
use hearsay_net::{Counter, NetNode};
use hearsay_proto::{ClusterId, Config, FlowControl, Generation, Node, NodeId, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const CLUSTER: &str = "bulk";
const KEYS: usize = 2_000;
const VALUE: usize = 1_024;
const BUDGET: usize = 256 * 1024;
const INTERVAL: Duration = Duration::from_millis(100);

async fn start(id: u64, seeds: Vec<std::net::SocketAddr>) -> NetNode {
    let config = Config {
        cluster: ClusterId::from_name(CLUSTER),
        gossip_interval: INTERVAL,
        flow_control: Some(FlowControl::default()),
        catch_up: Some(BUDGET),
        ..Config::default()
    };
    let node = Node::new(NodeId(id), Generation(1), config, id).expect("valid");
    NetNode::start(node, net_config(CLUSTER, seeds), keyring(3))
        .await
        .expect("starts")
}

/// What a node did, for a failure's message.
async fn report(node: &NetNode) {
    let metrics = node
        .node()
        .send(hearsay_actor::GetMetrics)
        .await
        .expect("mailbox");
    let stats = &metrics.stats;
    eprintln!(
        "node {}: {} entries, {} chained exchanges, {} congested rounds, rate {:?}, sent {:?}, \
         received {:?}, {} inbound dropped",
        metrics.id.0,
        metrics.entries,
        stats.catch_up_exchanges,
        stats.congested_rounds,
        metrics.allowed_rate,
        stats.sent,
        stats.received,
        node.stats().get(Counter::InboundDropped)
    );
}

#[actix_rt::test]
async fn a_bulk_write_reaches_four_peers_at_the_budgets_speed() {
    let writer = start(1, Vec::new()).await;
    let mut peers = Vec::new();
    for id in 2..=5 {
        peers.push(start(id, vec![writer.local_addr()]).await);
    }
    let (sender, mut changes) = mpsc::unbounded_channel();
    for peer in &peers {
        let watcher = actix::Actor::start(Changes(sender.clone()));
        peer.node()
            .send(Subscribe {
                prefix: "bulk/".into(),
                recipient: watcher.recipient(),
            })
            .await
            .expect("subscribed");
    }
    let value = Value::from(vec![b'x'; VALUE]);
    let began = Instant::now();
    for key in 0..KEYS {
        writer
            .node()
            .send(Set {
                key: format!("bulk/{key:05}"),
                value: value.clone(),
            })
            .await
            .expect("mailbox")
            .expect("written");
    }
    // The prediction (docs/protocol.md §6.8): a peer receives at most the budget per link and
    // round, so one link carries the backlog in `bytes / budget` rounds, after up to
    // `anti_entropy_every` (10) rounds before a first exchange starts the chain; a peer whose
    // chain ran from a source that had not caught up itself waits at most one more such period.
    // 2 rounds of slack for joining. Allowed: twice that.
    let backlog = KEYS * (VALUE + 32);
    let rounds = 2 * 10 + backlog.div_ceil(BUDGET) + 2;
    let predicted = INTERVAL * rounds as u32;
    let deadline = tokio::time::Instant::now() + predicted * 2;
    let mut held: HashMap<NodeId, usize> = HashMap::new();
    let mut done: HashMap<NodeId, Duration> = HashMap::new();
    while done.len() < peers.len() {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Some(changed)) if changed.origin == NodeId(1) && changed.value.is_some() => {
                let count = held.entry(changed.node).or_default();
                *count += 1;
                if *count == KEYS {
                    done.insert(changed.node, began.elapsed());
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => {
                for node in std::iter::once(&writer).chain(&peers) {
                    report(node).await;
                }
                panic!(
                    "after {:?} (predicted {predicted:?}, allowed twice that) the peers hold {held:?}",
                    began.elapsed()
                );
            }
        }
    }
    let mut times: Vec<Duration> = done.values().copied().collect();
    times.sort();
    let sent: u64 = std::iter::once(&writer)
        .chain(&peers)
        .map(|node| node.stats().get(Counter::BytesOut))
        .sum();
    let payload = (KEYS * VALUE * peers.len()) as u64;
    eprintln!(
        "{KEYS} values of {VALUE} B reached the 4 peers after {times:?} (predicted at most \
         {predicted:?}); {sent} bytes sent for {payload} bytes of values delivered"
    );
    assert!(
        sent < payload * 2,
        "{sent} bytes sent for {payload} of values"
    );
}
