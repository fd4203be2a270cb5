//! A subscriber keeps an exact replica of a node's entries from `KeyChanged` alone: through
//! writes and deletes, a reset of an origin (a restart without state), and the removal of a
//! crashed member, every subscriber's copy equals its node's live entries (`GetEntries`).

use actix::{Actor, Context, Handler, Message};
use hearsay_actor::{Cause, KeyChanged, Simulation, SimulationConfig, Subscribe, simulate};
use hearsay_proto::{Config, Generation, MembershipConfig, Mode, NodeId, Value, Version};
use std::collections::BTreeMap;
use std::time::Duration;

/// A replica: `(origin, key)` to the generation, version and value of the live entry.
type Replica = BTreeMap<(NodeId, String), (Generation, Version, Value)>;

/// Mirrors every change it hears, and counts the drops by cause.
#[derive(Default)]
struct Mirror {
    replica: Replica,
    drops: BTreeMap<String, usize>,
}

impl Actor for Mirror {
    type Context = Context<Self>;
}

impl Handler<KeyChanged> for Mirror {
    type Result = ();

    fn handle(&mut self, change: KeyChanged, _: &mut Context<Self>) {
        let slot = (change.origin, change.key);
        match change.value {
            Some(value) => {
                self.replica
                    .insert(slot, (change.generation, change.version, value));
            }
            None => {
                self.replica.remove(&slot);
                if !matches!(change.cause, Cause::Write(_)) {
                    *self.drops.entry(format!("{:?}", change.cause)).or_default() += 1;
                }
            }
        }
    }
}

/// Asks a mirror for its replica and drop counts (answered after every change sent before).
struct Read;

impl Message for Read {
    type Result = (Replica, BTreeMap<String, usize>);
}

impl Handler<Read> for Mirror {
    type Result = actix::MessageResult<Read>;

    fn handle(&mut self, _: Read, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult((self.replica.clone(), self.drops.clone()))
    }
}

/// A mirror subscribed to every key of each of the first `n` nodes.
async fn mirror_all(sim: &Simulation, n: usize) -> Vec<actix::Addr<Mirror>> {
    let mut mirrors = Vec::new();
    for i in 0..n {
        let mirror = Mirror::default().start();
        sim.node(i)
            .expect("node")
            .send(Subscribe {
                prefix: String::new(),
                recipient: mirror.clone().recipient(),
            })
            .await
            .expect("subscribes");
        mirrors.push(mirror);
    }
    mirrors
}

/// Checks that each running node's mirror equals its live entries; returns the drops seen.
async fn check(
    sim: &Simulation,
    mirrors: &[actix::Addr<Mirror>],
    running: &[usize],
    when: &str,
) -> BTreeMap<String, usize> {
    let mut drops = BTreeMap::new();
    for &i in running {
        let entries: Replica = sim
            .entries(i)
            .await
            .expect("running")
            .into_iter()
            .filter(|e| !hearsay_proto::membership::is_reserved(&e.key))
            .filter_map(|e| Some(((e.origin, e.key), (e.generation, e.version, e.value?))))
            .collect();
        let (replica, seen) = mirrors[i].send(Read).await.expect("mirror");
        assert_eq!(replica, entries, "node {i}'s subscriber diverged {when}");
        for (cause, n) in seen {
            *drops.entry(cause).or_default() += n;
        }
    }
    drops
}

#[test]
fn a_subscriber_mirrors_the_store_through_a_reset_and_a_removal() {
    const N: usize = 6;
    simulate(|| async {
        let protocol = Config {
            mode: Mode::AntiEntropy,
            membership: Some(MembershipConfig {
                removal_after: Duration::from_secs(20),
                ..MembershipConfig::default()
            }),
            ..Config::default()
        };
        let mut sim = Simulation::start(SimulationConfig {
            nodes: N,
            seed: 11,
            protocol,
            ..SimulationConfig::default()
        })
        .expect("starts");
        let mirrors = mirror_all(&sim, N).await;
        for i in 0..N {
            for k in 0..3 {
                let value = Value::from(format!("{i}-{k}"));
                sim.set(i, &format!("k{k}"), value).await.expect("set");
            }
            sim.delete(i, "k2").await.expect("delete");
        }
        sim.run_for(Duration::from_secs(10)).await;
        let all: Vec<usize> = (0..N).collect();
        check(&sim, &mirrors, &all, "after the writes").await;

        // Node 1 loses its disk: its old generation's entries are dropped everywhere.
        sim.crash(1).await.expect("crash");
        sim.run_for(Duration::from_secs(2)).await;
        sim.restart(1, false).await.expect("restart");
        sim.set(1, "fresh", Value::from("1")).await.expect("set");
        sim.run_for(Duration::from_secs(10)).await;
        let drops = check(&sim, &mirrors, &all, "after node 1's reset").await;
        // Node 1 dropped every live entry it held, each other node node 1's two.
        assert_eq!(
            drops.get("Reset"),
            Some(&(2 * N + 2 * (N - 1))),
            "{drops:?}"
        );
        let entries = sim.entries(0).await.expect("running");
        assert!(
            !entries
                .iter()
                .any(|e| e.origin == NodeId(1) && e.key == "k0"),
            "node 1's old entries are gone"
        );

        // Node 2 crashes for good: once removed, its entries are dropped everywhere.
        sim.crash(2).await.expect("crash");
        sim.run_for(Duration::from_secs(60)).await;
        let running = [0, 1, 3, 4, 5];
        let drops = check(&sim, &mirrors, &running, "after node 2's removal").await;
        assert_eq!(
            drops.get("Removed"),
            Some(&(2 * running.len())),
            "{drops:?}"
        );
        for i in running {
            let entries = sim.entries(i).await.expect("running");
            assert!(
                !entries.iter().any(|e| e.origin == NodeId(2)),
                "node {i} still holds node 2's state"
            );
        }
    })
    .expect("runtime");
}

/// A subscriber that comes late (a node restored with its state, a dashboard attached to a
/// running node) first hears every live entry the node holds (`Cause::Existing`), tombstones
/// and the reserved entries of another prefix left out, then each change: its copy is exact
/// at once and stays so. Before session 28 it heard changes only, and missed what was there.
#[test]
fn a_late_subscriber_starts_from_what_the_node_holds() {
    const N: usize = 4;
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: N,
            seed: 28,
            protocol: Config {
                mode: Mode::AntiEntropy,
                ..Config::default()
            },
            ..SimulationConfig::default()
        })
        .expect("starts");
        for i in 0..N {
            sim.set(i, "a", Value::from(format!("{i}")))
                .await
                .expect("set");
            sim.set(i, "b", Value::from("gone")).await.expect("set");
            sim.delete(i, "b").await.expect("delete");
        }
        sim.run_for(Duration::from_secs(5)).await;
        let mirrors = mirror_all(&sim, N).await;
        let all: Vec<usize> = (0..N).collect();
        check(&sim, &mirrors, &all, "at the subscription").await;
        let (replica, _) = mirrors[0].send(Read).await.expect("mirror");
        assert_eq!(
            replica.len(),
            N,
            "every node's `a`, no tombstone: {replica:?}"
        );
        sim.set(2, "c", Value::from("later")).await.expect("set");
        sim.run_for(Duration::from_secs(5)).await;
        check(&sim, &mirrors, &all, "after a later write").await;
        let (replica, _) = mirrors[0].send(Read).await.expect("mirror");
        assert_eq!(replica.len(), N + 1);
    })
    .expect("runtime");
}
