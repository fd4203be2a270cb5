//! An application's own actor tested against a simulated cluster, through the public API only
//! (docs/testing-your-app.md): the example's service registry, over several seeds. Each step's
//! assertion is in the scenario; here, every seed must pass them and replay identically.

#[path = "../examples/common/registry.rs"]
mod registry;
#[path = "../examples/common/registry_scenario.rs"]
mod registry_scenario;

use hearsay::actor::simulate;

#[test]
fn the_registry_follows_partitions_heals_and_crashes() {
    for seed in 1..=4 {
        let timeline = simulate(|| registry_scenario::run(seed))
            .expect("runtime")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let again = simulate(|| registry_scenario::run(seed))
            .expect("runtime")
            .unwrap_or_else(|e| panic!("seed {seed} again: {e}"));
        assert_eq!(timeline, again, "seed {seed} replays identically");
    }
}
