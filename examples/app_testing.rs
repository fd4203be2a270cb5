//! Testing an application's own actors against a simulated cluster: a service registry of the
//! application (`examples/common/registry.rs`), subscribed to its gossip node, driven through
//! loss, a partition, a heal and a crash on virtual time, with its behaviour asserted at every
//! step. Same seed, same run. The guide: docs/testing-your-app.md.
//!
//! `cargo run --release --example app_testing [SEED]`

#[path = "common/registry.rs"]
mod registry;
#[path = "common/registry_scenario.rs"]
mod registry_scenario;

use hearsay::actor::simulate;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("the seed must be a number, not {arg:?}"))?,
        None => 1,
    };
    let timeline = simulate(|| registry_scenario::run(seed))?.map_err(|e| {
        format!("seed {seed}: {e} (replay: cargo run --example app_testing {seed})")
    })?;
    println!("seed {seed}: the registries showed, each step timed from its start (virtual time):");
    for (step, took) in [
        (
            "4 instances registered, listed everywhere",
            timeline.registered,
        ),
        (
            "partitioned, node 7's side lists only it",
            timeline.partitioned,
        ),
        ("healed, all 5 listed everywhere", timeline.healed),
        (
            "node 2 crashed, dropped by every live one",
            timeline.crashed,
        ),
    ] {
        println!("  {step:<44} {took:>8.1?}");
    }
    Ok(())
}
