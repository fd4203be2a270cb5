//! Pub/sub on key prefixes: subscribers on some nodes hear every change under their prefix,
//! exactly once and in order, however far the publisher is (deterministic harness, virtual time).
//!
//! `cargo run --release --example pubsub`

use actix::{Actor, Context, Handler};
use hearsay::actor::{KeyChanged, Simulation, SimulationConfig, Subscribe, simulate};
use hearsay::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What subscribers heard: who, when (virtual time), what.
type Log = Arc<Mutex<Vec<(&'static str, Duration, KeyChanged)>>>;

/// Collects what a subscriber hears, with the virtual time it heard it.
struct Inbox {
    name: &'static str,
    start: tokio::time::Instant,
    log: Log,
}

impl Actor for Inbox {
    type Context = Context<Self>;
}

impl Handler<KeyChanged> for Inbox {
    type Result = ();
    fn handle(&mut self, changed: KeyChanged, _: &mut Context<Self>) {
        if let Ok(mut log) = self.log.lock() {
            log.push((self.name, self.start.elapsed(), changed));
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: 200,
            seed: 3,
            ..SimulationConfig::default()
        })?;
        let log: Log = Arc::new(Mutex::new(Vec::new()));
        let start = tokio::time::Instant::now();
        for (name, node, prefix) in [
            ("orders@17", 17, "orders/"),
            ("prices@120", 120, "prices/"),
            ("all@199", 199, ""),
        ] {
            let inbox = Inbox {
                name,
                start,
                log: log.clone(),
            }
            .start();
            sim.node(node)?
                .send(Subscribe {
                    prefix: prefix.into(),
                    recipient: inbox.recipient(),
                })
                .await?;
        }
        // Publishers: node 0 places orders, node 50 moves prices, a little apart in time.
        for i in 1..=3 {
            sim.set(
                0,
                &format!("orders/{i}"),
                Value::from(format!("{} widgets", i * 10)),
            )
            .await?;
            sim.set(50, "prices/widget", Value::from(format!("{}.00", 9 + i)))
                .await?;
            sim.run_for(Duration::from_millis(700)).await;
        }
        sim.run_for(Duration::from_secs(15)).await;
        let log = log.lock().map(|log| log.clone()).unwrap_or_default();
        for (name, at, changed) in &log {
            if changed.key.starts_with("orders/") || changed.key.starts_with("prices/") {
                let value = changed
                    .value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                println!(
                    "{at:>8.2?}  {name:<11} {} = {:?} (from node {})",
                    changed.key, value, changed.origin.0
                );
            }
        }
        let heard = |name: &str, prefix: &str| {
            log.iter()
                .filter(|(n, _, c)| *n == name && c.key.starts_with(prefix))
                .count()
        };
        // Each subscriber hears each change under its prefix exactly once: three orders, and the
        // price as the node applied it (a node that skipped an intermediate price hears fewer).
        println!(
            "orders@17 heard {} order changes, prices@120 {} price changes, all@199 {} changes",
            heard("orders@17", "orders/"),
            heard("prices@120", "prices/"),
            heard("all@199", "")
        );
        assert_eq!(heard("orders@17", "orders/"), 3);
        assert_eq!(heard("orders@17", "prices/"), 0);
        let prices: Vec<String> = log
            .iter()
            .filter(|(n, _, c)| *n == "prices@120" && c.key == "prices/widget")
            .filter_map(|(_, _, c)| {
                c.value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            })
            .collect();
        assert_eq!(
            prices.last().map(String::as_str),
            Some("12.00"),
            "the last price wins"
        );
        let mut sorted = prices.clone();
        sorted.sort();
        assert_eq!(prices, sorted, "prices heard in the order they were set");
        Ok::<(), Box<dyn std::error::Error>>(())
    })?
}
