//! Failure detection: 30 node actors gossip heartbeats; two are killed and one leaves. One
//! observer's membership events show the killed nodes go Suspect then Down (phi accrual), the
//! leaver go Left at once, then all three Removed (deterministic harness, virtual time).
//!
//! `cargo run --release --example failure_detection`

use actix::{Actor, Context, Handler};
use hearsay::actor::{
    Leave, MemberChanged, Simulation, SimulationConfig, SubscribeMembership, simulate,
};
use hearsay::prelude::*;
use hearsay::proto::MembershipConfig;
use std::time::Duration;

/// Prints what the observer hears, with the virtual time.
struct Printer(tokio::time::Instant);

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<MemberChanged> for Printer {
    type Result = ();
    fn handle(&mut self, change: MemberChanged, _: &mut Context<Self>) {
        let at = self.0.elapsed().as_secs_f64();
        println!(
            "{at:>7.1} s  node {} sees member {:>2} (generation {}) {:?}",
            change.node.0, change.member.0, change.generation.0, change.status
        );
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    simulate(|| async {
        let protocol = Config {
            // Heartbeats flow with every exchange: anti-entropy each round.
            mode: Mode::AntiEntropy,
            membership: Some(MembershipConfig {
                removal_after: Duration::from_secs(30),
                ..MembershipConfig::default()
            }),
            ..Config::default()
        };
        let sim = Simulation::start(SimulationConfig {
            nodes: 30,
            seed: 4,
            protocol,
            ..SimulationConfig::default()
        })?;
        let start = tokio::time::Instant::now();
        // Warm up quietly, then listen at node 0.
        sim.run_for(Duration::from_secs(20)).await;
        println!("after 20 s every member is Up; node 0 now reports changes:");
        let printer = Printer(start).start();
        sim.node(0)?
            .send(SubscribeMembership {
                recipient: printer.recipient(),
            })
            .await?;
        println!(
            "{:>7.1} s  kill nodes 7 and 21",
            start.elapsed().as_secs_f64()
        );
        sim.crash(7).await?;
        sim.crash(21).await?;
        sim.run_for(Duration::from_secs(20)).await;
        println!(
            "{:>7.1} s  node 12 leaves gracefully",
            start.elapsed().as_secs_f64()
        );
        sim.node(12)?.send(Leave).await??;
        sim.run_for(Duration::from_secs(45)).await;
        Ok::<(), Box<dyn std::error::Error>>(())
    })?
}
