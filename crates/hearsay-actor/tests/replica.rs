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

/// Counts the membership changes it hears.
#[derive(Default)]
struct Members(usize);

impl Actor for Members {
    type Context = Context<Self>;
}

impl Handler<hearsay_actor::MemberChanged> for Members {
    type Result = ();

    fn handle(&mut self, _: hearsay_actor::MemberChanged, _: &mut Context<Self>) {
        self.0 += 1;
    }
}

/// How many membership changes a [`Members`] heard (after every change sent before).
struct Count;

impl Message for Count {
    type Result = usize;
}

impl Handler<Count> for Members {
    type Result = usize;

    fn handle(&mut self, _: Count, _: &mut Context<Self>) -> usize {
        self.0
    }
}

/// `Unsubscribe` and `UnsubscribeMembership` end one recipient's subscriptions, every prefix,
/// and no other's: after them it hears nothing more, while a subscriber beside it goes on; a
/// second unsubscribe answers that there was nothing to end.
#[test]
fn an_unsubscribed_recipient_hears_nothing_more() {
    use hearsay_actor::{SubscribeMembership, Unsubscribe, UnsubscribeMembership};
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: 3,
            seed: 30,
            protocol: Config {
                mode: Mode::AntiEntropy,
                membership: Some(MembershipConfig::default()),
                ..Config::default()
            },
            ..SimulationConfig::default()
        })
        .expect("starts");
        let node = sim.node(0).expect("node").clone();
        let (leaving, staying) = (Mirror::default().start(), Mirror::default().start());
        for (mirror, prefix) in [(&leaving, ""), (&leaving, "a"), (&staying, "")] {
            node.send(Subscribe {
                prefix: prefix.into(),
                recipient: mirror.clone().recipient(),
            })
            .await
            .expect("subscribes");
        }
        let (gone, kept) = (Members::default().start(), Members::default().start());
        for members in [&gone, &kept] {
            node.send(SubscribeMembership {
                recipient: members.clone().recipient(),
            })
            .await
            .expect("subscribes");
        }
        sim.set(1, "a", Value::from("1")).await.expect("set");
        sim.run_for(Duration::from_secs(10)).await;
        let heard = |mirror: &actix::Addr<Mirror>| {
            let mirror = mirror.clone();
            async move { mirror.send(Read).await.expect("mirror").0.len() }
        };
        assert_eq!(heard(&leaving).await, 1, "both prefixes match `a`");
        assert_eq!(heard(&staying).await, 1);
        let before = gone.send(Count).await.expect("members");
        assert!(before >= 3, "the table at the subscription: {before}");

        let unsubscribe = Unsubscribe {
            recipient: leaving.clone().recipient(),
        };
        assert!(node.send(unsubscribe.clone()).await.expect("node"));
        assert!(
            !node.send(unsubscribe).await.expect("node"),
            "already ended"
        );
        let unsubscribe = UnsubscribeMembership {
            recipient: gone.clone().recipient(),
        };
        assert!(node.send(unsubscribe.clone()).await.expect("node"));
        assert!(
            !node.send(unsubscribe).await.expect("node"),
            "already ended"
        );

        sim.set(2, "a2", Value::from("2")).await.expect("set");
        sim.set(2, "b", Value::from("3")).await.expect("set");
        let kept_before = kept.send(Count).await.expect("members");
        sim.crash(1).await.expect("crash");
        sim.run_for(Duration::from_secs(60)).await;
        assert_eq!(heard(&leaving).await, 1, "nothing after the unsubscribe");
        assert_eq!(heard(&staying).await, 3, "the other subscriber goes on");
        assert_eq!(gone.send(Count).await.expect("members"), before);
        assert!(
            kept.send(Count).await.expect("members") > kept_before,
            "the crash is heard by the subscriber that stayed"
        );
    })
    .expect("runtime");
}

/// A key written with a time to live (`SetWithTtl`) is held by every node until its writer's
/// deadline and by none after it; every subscriber hears the expiry as its writer's delete, and
/// its copy stays exact.
#[test]
fn a_key_written_with_a_ttl_expires_everywhere() {
    const N: usize = 5;
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: N,
            seed: 31,
            ..SimulationConfig::default()
        })
        .expect("starts");
        let mirrors = mirror_all(&sim, N).await;
        let ttl = Duration::from_secs(30);
        sim.node(3)
            .expect("node")
            .send(hearsay_actor::SetWithTtl {
                key: "lease".into(),
                value: Value::from("held"),
                ttl,
            })
            .await
            .expect("mailbox")
            .expect("fits");
        sim.set(3, "kept", Value::from("yes")).await.expect("set");
        let holders = |entries: &[hearsay_actor::StoredEntry]| {
            entries
                .iter()
                .any(|e| e.key == "lease" && e.value.is_some())
        };
        sim.run_for(Duration::from_secs(25)).await;
        let all: Vec<usize> = (0..N).collect();
        for i in 0..N {
            let entries = sim.entries(i).await.expect("running");
            assert!(
                holders(&entries),
                "node {i} holds the lease before its deadline"
            );
        }
        check(&sim, &mirrors, &all, "before the deadline").await;
        sim.run_for(Duration::from_secs(15)).await;
        for i in 0..N {
            let entries = sim.entries(i).await.expect("running");
            assert!(!holders(&entries), "node {i} still holds the lease");
            assert!(entries.iter().any(|e| e.key == "kept"), "node {i}");
        }
        let drops = check(&sim, &mirrors, &all, "after the deadline").await;
        assert!(
            drops.is_empty(),
            "an expiry is its writer's delete: {drops:?}"
        );
    })
    .expect("runtime");
}
