//! Every strategy × direction × way of working converges on the lockstep driver.

use hearsay_proto::{Config, Direction, Lockstep, Mode, Strategy, Value};
use std::time::Instant;

fn cluster(n: usize, keys: usize, config: Config, seed: u64) -> Lockstep {
    let now = Instant::now();
    let mut cluster = Lockstep::new(n, config, seed, Instant::now()).expect("valid config");
    for i in 0..n {
        let node = cluster.node_mut(i).expect("node exists");
        for k in 0..keys {
            node.set(
                now,
                &format!("key-{k:02}"),
                Value::from(format!("value of {i}/{k}")),
            )
            .expect("fits");
        }
    }
    cluster
}

#[test]
fn every_strategy_and_direction_converges_at_1400_bytes() {
    for strategy in Strategy::ALL {
        for direction in Direction::ALL {
            let config = Config {
                strategy,
                direction,
                mode: Mode::AntiEntropy,
                mtu: 1400,
                ..Config::default()
            };
            let mut cluster = cluster(100, 20, config, 42);
            let mut largest = 0;
            // Measured (seed 42): 32 rounds (Scuttlebutt depth-first, push-pull) to 157
            // (precise newest-first, pull).
            let rounds = cluster.run_until(480, |c| c.converged());
            largest = largest.max(cluster.total().largest);
            println!(
                "{strategy:?} {direction:?}: rounds {rounds:?} messages {} bytes {} largest {largest}",
                cluster.total().messages,
                cluster.total().bytes
            );
            assert!(
                rounds.is_some(),
                "{strategy:?} {direction:?} did not converge"
            );
            assert!(largest <= 1400);
        }
    }
}
