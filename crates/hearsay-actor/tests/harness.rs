//! The deterministic harness: convergence under every strategy and direction, loss, partitions,
//! crashes and restarts, subscriptions, and byte-identical replays.

use actix::{Actor, Context, Handler};
use hearsay_actor::{
    Cause, KeyChanged, Latency, NetworkConfig, Simulation, SimulationConfig, Subscribe, simulate,
};
use hearsay_proto::{Config, Direction, Generation, Mode, NodeId, Strategy, Value, Via};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECOND: Duration = Duration::from_secs(1);

fn config(nodes: usize, seed: u64, protocol: Config) -> SimulationConfig {
    SimulationConfig {
        nodes,
        seed,
        protocol,
        ..SimulationConfig::default()
    }
}

/// Checks the recorder's picture of every node against the node's real state.
async fn assert_recorder_matches_nodes(sim: &Simulation) {
    for i in 0..sim.nodes().len() {
        let view = sim.entries(i).await.expect("node answers");
        let real: Vec<_> = view
            .into_iter()
            .map(|e| ((e.origin, e.key), (e.generation, e.version)))
            .collect();
        let recorded: Vec<_> = sim
            .recorder()
            .held(NodeId(i as u64))
            .map(|held| held.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        assert_eq!(real, recorded, "recorder and node {i} disagree");
    }
    {
        let recorder = sim.recorder();
        assert_eq!(recorder.stale_now(), recorder.stale_recount());
    }
    // Stale mappings exist exactly when there is an oldest one.
    let sample = sim.sample();
    assert_eq!(
        sample.stale == 0,
        sample.max_staleness.is_zero(),
        "{sample:?}"
    );
}

#[test]
fn every_strategy_and_direction_converges_with_500_nodes() {
    for strategy in Strategy::ALL {
        for direction in Direction::ALL {
            let protocol = Config {
                strategy,
                direction,
                ..Config::default()
            };
            let took = simulate(|| async {
                let sim = Simulation::start(config(500, 3, protocol)).expect("starts");
                for i in [0, 100, 200, 300, 400] {
                    sim.set(i, &format!("key-{i}"), Value::from("v"))
                        .await
                        .expect("fits");
                }
                // Measured (seed 3): 6.5 s push-pull, 10.2 s pull, 29.7 s Scuttlebutt push,
                // 49.7 s precise push.
                let took = sim
                    .run_until(150 * SECOND, |r| r.all_hold_latest() && r.converged())
                    .await;
                assert_recorder_matches_nodes(&sim).await;
                took
            })
            .expect("runtime");
            println!("{strategy:?} {direction:?}: {took:?}");
            assert!(
                took.is_some(),
                "{strategy:?} {direction:?} did not converge"
            );
        }
    }
}

#[test]
fn converges_under_20_percent_loss() {
    let took = simulate(|| async {
        let mut cfg = config(300, 5, Config::default());
        cfg.network = Some(NetworkConfig {
            latency: Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(30),
            },
            loss: 0.2,
            duplicate: 0.05,
            ..NetworkConfig::default()
        });
        let sim = Simulation::start(cfg).expect("starts");
        for i in 0..10 {
            sim.set(i * 30, "k", Value::from(format!("{i}")))
                .await
                .expect("fits");
        }
        // Measured: 19.8 s.
        let took = sim
            .run_until(60 * SECOND, |r| r.all_hold_latest() && r.converged())
            .await;
        let (lost, duplicated, _) = sim.recorder().network_faults();
        assert!(lost > 0 && duplicated > 0, "the network injected no faults");
        assert_recorder_matches_nodes(&sim).await;
        took
    })
    .expect("runtime");
    assert!(took.is_some(), "no convergence under 20 % loss");
}

#[test]
fn a_healed_partition_converges_and_loses_no_write() {
    simulate(|| async {
        let sim = Simulation::start(config(200, 7, Config::default())).expect("starts");
        let left: Vec<NodeId> = (0..100).map(NodeId).collect();
        let right: Vec<NodeId> = (100..200).map(NodeId).collect();
        sim.partition(vec![left, right]);
        sim.run_for(Duration::from_secs(5)).await;
        for i in 0..20 {
            sim.set(i, &format!("left-{i}"), Value::from("l"))
                .await
                .expect("fits");
            sim.set(100 + i, &format!("right-{i}"), Value::from("r"))
                .await
                .expect("fits");
        }
        sim.run_for(Duration::from_secs(30)).await;
        // While split, no write crossed.
        let view = sim.entries(0).await.expect("answers");
        assert!(
            view.iter().all(|e| e.origin.0 < 100),
            "a write crossed the partition"
        );
        assert!(!sim.recorder().converged());
        sim.heal();
        // Measured: 14.5 s.
        let took = sim
            .run_until(45 * SECOND, |r| r.all_hold_latest() && r.converged())
            .await;
        assert!(took.is_some(), "no convergence after healing");
        let view = sim.entries(150).await.expect("answers");
        for i in 0..20u64 {
            for (origin, key) in [(i, format!("left-{i}")), (100 + i, format!("right-{i}"))] {
                assert!(
                    view.iter()
                        .any(|e| e.origin == NodeId(origin) && e.key == key),
                    "write {key} was lost"
                );
            }
        }
        let (_, _, partitioned) = sim.recorder().network_faults();
        assert!(partitioned > 0);
    })
    .expect("runtime");
}

#[test]
fn a_restarted_node_is_caught_up_and_its_new_writes_win() {
    simulate(|| async {
        let mut sim = Simulation::start(config(100, 11, Config::default())).expect("starts");
        for i in 0..100 {
            sim.set(i, "owner", Value::from(format!("n{i}")))
                .await
                .expect("fits");
        }
        assert!(
            // Measured: 9.9 s.
            sim.run_until(30 * SECOND, |r| r.all_hold_latest())
                .await
                .is_some()
        );
        sim.crash(42).await.expect("crashes");
        sim.set(1, "owner", Value::from("n1 while 42 was down"))
            .await
            .expect("fits");
        sim.run_for(Duration::from_secs(20)).await;
        sim.restart(42, false).await.expect("restarts");
        sim.set(42, "owner", Value::from("n42 reborn"))
            .await
            .expect("fits");
        // Measured: 19.1 s.
        let took = sim
            .run_until(60 * SECOND, |r| r.all_hold_latest() && r.converged())
            .await;
        assert!(took.is_some(), "no convergence after the restart");
        for node in [0, 42, 99] {
            let view = sim.entries(node).await.expect("answers");
            let owner = |origin: u64| {
                view.iter()
                    .find(|e| e.origin == NodeId(origin) && e.key == "owner")
                    .and_then(|e| e.value.clone())
            };
            assert_eq!(owner(42), Some(Value::from("n42 reborn")));
            assert_eq!(owner(1), Some(Value::from("n1 while 42 was down")));
            assert_eq!(
                view.len(),
                100,
                "node {node} holds stale or missing entries"
            );
        }
        assert_recorder_matches_nodes(&sim).await;
    })
    .expect("runtime");
}

struct Collector(Arc<Mutex<Vec<KeyChanged>>>);

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<KeyChanged> for Collector {
    type Result = ();

    fn handle(&mut self, change: KeyChanged, _: &mut Context<Self>) {
        if let Ok(mut seen) = self.0.lock() {
            seen.push(change);
        }
    }
}

#[test]
fn subscriptions_fire_once_per_change_in_order() {
    simulate(|| async {
        let sim = Simulation::start(config(30, 13, Config::default())).expect("starts");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let collector = Collector(seen.clone()).start();
        sim.node(5)
            .expect("node")
            .send(Subscribe {
                prefix: "service/".into(),
                recipient: collector.recipient(),
            })
            .await
            .expect("subscribed");
        for round in 0..5 {
            sim.set(0, "service/api", Value::from(format!("v{round}")))
                .await
                .expect("fits");
            sim.set(0, "other/key", Value::from("ignored"))
                .await
                .expect("fits");
            sim.run_for(Duration::from_secs(30)).await;
        }
        let seen = seen.lock().expect("collector").clone();
        let values: Vec<_> = seen.iter().filter_map(|c| c.value.clone()).collect();
        let expected: Vec<_> = (0..5).map(|r| Value::from(format!("v{r}"))).collect();
        assert_eq!(
            values, expected,
            "each change once, in order, only the prefix"
        );
        assert!(
            seen.iter()
                .all(|c| c.node == NodeId(5) && c.origin == NodeId(0))
        );
        assert!(
            seen.iter()
                .all(|c| matches!(c.cause, Cause::Write(via) if via != Via::Local))
        );
    })
    .expect("runtime");
}

fn traced_run(seed: u64) -> String {
    simulate(|| async {
        let mut cfg = config(
            40,
            seed,
            Config {
                mode: Mode::default(),
                ..Config::default()
            },
        );
        cfg.trace = true;
        cfg.network = Some(NetworkConfig {
            latency: Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(50),
            },
            loss: 0.1,
            duplicate: 0.05,
            ..NetworkConfig::default()
        });
        let sim = Simulation::start(cfg).expect("starts");
        for i in 0..5 {
            sim.set(i * 7, &format!("k{i}"), Value::from("v"))
                .await
                .expect("fits");
        }
        sim.run_for(Duration::from_secs(30)).await;
        sim.recorder().trace().unwrap_or_default().to_owned()
    })
    .expect("runtime")
}

#[test]
fn the_same_seed_replays_byte_for_byte_and_another_seed_differs() {
    let first = traced_run(21);
    let second = traced_run(21);
    let other = traced_run(22);
    assert!(
        first.lines().count() > 1000,
        "the trace recorded too little"
    );
    assert_eq!(first, second, "same seed, different traces");
    assert_ne!(first, other, "different seeds, same trace");
}

/// A reincarnation, preceded or not by calls naming a node that does not exist: the trace.
fn reincarnated_run(with_unknown_nodes: bool) -> String {
    simulate(|| async {
        let mut cfg = config(12, 31, Config::default());
        cfg.trace = true;
        let mut sim = Simulation::start(cfg).expect("starts");
        sim.run_for(Duration::from_secs(3)).await;
        if with_unknown_nodes {
            let reincarnated = sim.reincarnate(99, Generation(5)).await;
            assert!(matches!(
                reincarnated,
                Err(hearsay_actor::Error::NoSuchNode(99))
            ));
            let restarted = sim.restart(99, true).await;
            assert!(matches!(
                restarted,
                Err(hearsay_actor::Error::NoSuchNode(99))
            ));
        }
        sim.reincarnate(4, Generation(5))
            .await
            .expect("reincarnated");
        sim.set(4, "k", Value::from("v")).await.expect("fits");
        sim.run_for(Duration::from_secs(20)).await;
        sim.recorder().trace().unwrap_or_default().to_owned()
    })
    .expect("runtime")
}

/// Calls naming a node that does not exist fail and change nothing: the run after them is the
/// run without them, byte for byte (a refused reincarnation used to count, shifting the seed
/// of every later one).
#[test]
fn a_call_naming_an_unknown_node_changes_nothing() {
    let plain = reincarnated_run(false);
    assert!(plain.lines().count() > 100, "the trace recorded too little");
    assert_eq!(reincarnated_run(true), plain);
}

#[test]
fn a_crash_of_a_node_the_recorder_never_saw_does_not_underflow() {
    let recorder = hearsay_actor::RecorderHandle::new(
        tokio::time::Instant::now(),
        Duration::from_secs(1),
        false,
    );
    let mut guard = recorder.lock();
    guard.crashed(tokio::time::Instant::now(), NodeId(9));
    assert_eq!(guard.live(), 0);
    assert_eq!(guard.stale_now(), 0);
}

/// Seed peers: every node knows only the seeds, as deployed nodes do. With partial views and no
/// membership (a networked node's runtime then lists no peers at all) and a fifth of the
/// datagrams lost, joins included, a write still reaches every node.
#[test]
fn with_seed_peers_and_views_a_write_reaches_every_node() {
    let protocol = Config {
        view: Some(hearsay_proto::ViewConfig::default()),
        ..Config::default()
    };
    let took = simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            seed_peers: Some(vec![0, 1]),
            network: Some(NetworkConfig {
                loss: 0.2,
                ..NetworkConfig::default()
            }),
            ..config(200, 8, protocol)
        })?;
        sim.run_for(30 * SECOND).await;
        sim.set(150, "k", Value::from("v")).await?;
        let took = sim.run_until(120 * SECOND, |r| r.all_hold_latest()).await;
        Ok::<_, hearsay_actor::Error>(took)
    })
    .expect("runtime")
    .expect("harness");
    assert!(took.is_some(), "the write never reached every node");
}

/// Seed peers name nodes of the cluster, and need membership or views to find the others.
#[test]
fn seed_peers_are_checked() {
    let refused = |seed_peers: Vec<usize>, protocol: Config| {
        simulate(|| async {
            Simulation::start(SimulationConfig {
                seed_peers: Some(seed_peers),
                ..config(10, 1, protocol)
            })
            .err()
            .map(|error| error.to_string())
        })
        .expect("runtime")
    };
    let views = Config {
        view: Some(hearsay_proto::ViewConfig::default()),
        ..Config::default()
    };
    let error = refused(vec![10], views.clone()).expect("out of the cluster");
    assert!(error.contains("seed_peers"), "{error}");
    assert!(refused(vec![], views.clone()).is_some(), "none at all");
    let error = refused(vec![0], Config::default()).expect("neither membership nor views");
    assert!(error.contains("membership or partial views"), "{error}");
    assert_eq!(refused(vec![0, 9], views), None);
}
