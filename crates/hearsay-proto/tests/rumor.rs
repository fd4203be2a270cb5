//! Rumor mongering stops under every termination rule, and the combined mode reaches everyone.

use hearsay_proto::{
    Config, Direction, Lockstep, LossOfInterest, Mode, NodeId, Termination, Value,
};
use std::time::Instant;

const NODES: usize = 200;

fn rumor_cluster(
    direction: Direction,
    termination: Termination,
    mode: Mode,
    seed: u64,
) -> Lockstep {
    let config = Config {
        direction,
        termination,
        mode,
        heartbeats: false,
        ..Config::default()
    };
    Lockstep::new(NODES, config, seed, Instant::now()).expect("valid config")
}

fn hot_anywhere(cluster: &Lockstep) -> bool {
    cluster.nodes().iter().any(|n| !n.rumors().is_empty())
}

fn informed(cluster: &Lockstep, key: &str) -> usize {
    cluster
        .nodes()
        .iter()
        .filter(|n| n.get_from(NodeId(0), key).is_some())
        .count()
}

fn terminations() -> Vec<Termination> {
    let mut all = Vec::new();
    for feedback in [true, false] {
        for rule in [LossOfInterest::Counter(2), LossOfInterest::Coin(2)] {
            all.push(Termination { feedback, rule });
        }
    }
    all
}

#[test]
fn every_termination_rule_stops_in_every_direction() {
    let now = Instant::now();
    for direction in Direction::ALL {
        for termination in terminations() {
            let mut cluster = rumor_cluster(direction, termination, Mode::Rumor, 3);
            cluster
                .node_mut(0)
                .expect("node 0")
                .set(now, "news", Value::from("hot"))
                .expect("fits");
            assert!(hot_anywhere(&cluster));
            let rounds = cluster.run_until(500, |c| !hot_anywhere(c));
            let reached = informed(&cluster, "news");
            println!(
                "{direction:?} {termination:?}: stopped after {rounds:?} rounds, {reached}/{NODES} informed"
            );
            assert!(
                rounds.is_some(),
                "{direction:?} {termination:?} never stopped"
            );
            // The rumor spread beyond its writer before interest was lost.
            assert!(reached > 1, "{direction:?} {termination:?} reached nobody");
        }
    }
}

#[test]
fn feedback_counter_push_pull_leaves_a_small_residue() {
    let now = Instant::now();
    let termination = Termination {
        feedback: true,
        rule: LossOfInterest::Counter(3),
    };
    let mut cluster = rumor_cluster(Direction::PushPull, termination, Mode::Rumor, 11);
    cluster
        .node_mut(0)
        .expect("node 0")
        .set(now, "news", Value::from("hot"))
        .expect("fits");
    cluster.run_until(500, |c| !hot_anywhere(c)).expect("stops");
    // Demers et al.: residue shrinks exponentially with k; at k = 3 it is around 1 % for push
    // alone. Push-pull does better; allow 5 % to keep the check robust to the seed.
    assert!(informed(&cluster, "news") >= NODES * 95 / 100);
}

#[test]
fn combined_mode_reaches_everyone() {
    let now = Instant::now();
    for direction in Direction::ALL {
        let termination = Termination {
            feedback: false,
            rule: LossOfInterest::Coin(1),
        };
        // Coin 1/1: every spreader loses interest after one contact, so rumors alone leave most
        // nodes uninformed and anti-entropy must collect the residue.
        let mode = Mode::Combined {
            anti_entropy_every: 4,
        };
        let mut cluster = rumor_cluster(direction, termination, mode, 5);
        for i in [0, 50, 100] {
            cluster
                .node_mut(i)
                .expect("node")
                .set(now, &format!("k{i}"), Value::from("v"))
                .expect("fits");
        }
        let rounds = cluster.run_until(400, |c| c.converged());
        println!("{direction:?}: converged after {rounds:?} rounds");
        assert!(rounds.is_some(), "{direction:?} did not converge");
        assert_eq!(informed(&cluster, "k0"), NODES);
    }
}
