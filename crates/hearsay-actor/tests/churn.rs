//! Membership at scale in the deterministic harness (virtual time, seeded RNGs, no sleeps): a
//! thousand nodes under churn with 10 % loss, crash detection against its documented bound, and
//! graceful leaves (partitions are in `churn_partition.rs`).
//!
//! The churn run (a) uses the defaults (SWIM, `Config::lan()`). The others run the heartbeat
//! detector with the configuration `docs/membership.md` recommends for it ([`recommended`]):
//! anti-entropy every round (heartbeats travel only in anti-entropy exchanges), an MTU that holds
//! a digest of every member (a digest cut by the MTU names each member only every few rounds, and
//! its heartbeats then arrive too irregularly for phi), an acceptable heartbeat pause of 8 s and
//! a first-heartbeat estimate of 4 s.
//! The figures in `docs/membership.md` are the lines these tests print:
//!
//! ```sh
//! cargo test --release -p hearsay-actor --test churn --test churn_partition -- --nocapture --test-threads 1
//! ```

#[allow(dead_code)]
mod common;

use common::*;
use hearsay_actor::{GetMembers, Leave, Simulation, simulate};
use hearsay_proto::{Config, NodeId, Value};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::time::Duration;

/// (a) The issue's churn run: 1,000 nodes, 10 % loss; for 60 virtual seconds, every second 10
/// random live nodes crash, 10 new nodes join through two random live seeds, and 10 random live
/// nodes write; then three nodes leave and the cluster calms down. Membership and data converge,
/// and no running node is ever reported Down.
#[test]
fn a_thousand_nodes_under_churn_converge_without_false_downs() {
    const NODES: usize = 1_000;
    const CHURN: usize = 10;
    const CHURN_SECONDS: u64 = 60;
    let wall = std::time::Instant::now();
    simulate(|| async {
        // The defaults: SWIM with the LAN preset (nothing is removed during the run: 5 min in
        // Down).
        let protocol = Config::lan();
        let mut sim = Simulation::start(cluster(NODES, 2024, protocol)).expect("starts");
        let (tally, collector, start) = collect(&sim).await;
        let mut rng = ChaCha8Rng::seed_from_u64(77);
        let mut live: Vec<usize> = (0..NODES).collect();
        let mut crashed = BTreeSet::new();
        let mut writes = Vec::new();
        sim.run_for(10 * SECOND).await;
        for second in 0..CHURN_SECONDS {
            sim.run_for(SECOND).await;
            for _ in 0..CHURN {
                let victim = live.swap_remove(rng.random_range(0..live.len()));
                lock(&tally)
                    .crashed
                    .insert(NodeId(victim as u64), start.elapsed());
                sim.crash(victim).await.expect("crashes");
                crashed.insert(victim);
            }
            for _ in 0..CHURN {
                let seeds = [
                    live[rng.random_range(0..live.len())],
                    live[rng.random_range(0..live.len())],
                ];
                let new = sim.join(&seeds).expect("joins");
                subscribe(sim.node(new).expect("node"), &collector).await;
                lock(&tally)
                    .joined
                    .insert(NodeId(new as u64), start.elapsed());
                live.push(new);
            }
            for _ in 0..CHURN {
                let writer = live[rng.random_range(0..live.len())];
                let key = format!("churn/{second}/{writer}");
                let version = sim.set(writer, &key, Value::from("v")).await.expect("fits");
                writes.push((writer, key, version));
            }
        }
        let churn_end = start.elapsed();
        // Three graceful leaves at the start of the calm.
        let mut leavers = BTreeSet::new();
        for _ in 0..3 {
            let leaver = live[rng.random_range(0..live.len())];
            sim.node(leaver)
                .expect("node")
                .send(Leave)
                .await
                .expect("delivered")
                .expect("leaves");
            leavers.insert(leaver);
        }
        let live: BTreeSet<usize> = live.into_iter().collect();
        let left_everywhere = sim
            .run_until(60 * SECOND, |_| {
                let tally = lock(&tally);
                leavers.iter().all(|&l| {
                    live.iter().filter(|&&o| o != l).all(|&o| {
                        tally
                            .left
                            .contains_key(&(NodeId(o as u64), NodeId(l as u64)))
                    })
                })
            })
            .await
            .expect("the leaves reach every live node");
        // Calm: poll membership every 5 s until it has converged.
        let mut problems = Vec::new();
        // The nodes that left are members no more: they observe nothing.
        let observers: BTreeSet<usize> = live.difference(&leavers).copied().collect();
        for _ in 0..36 {
            let tables = tables(&sim, &observers).await;
            problems = membership_problems(&tables, &live, &leavers, &crashed);
            if problems.is_empty() {
                break;
            }
            sim.run_for(5 * SECOND).await;
        }
        let converged_after = start.elapsed() - churn_end;
        assert!(
            problems.is_empty(),
            "membership has not converged {converged_after:?} after the churn: {} problems, first {:?}",
            problems.len(),
            &problems[..problems.len().min(5)]
        );
        // Data: every write of a node still running reached every running node.
        // (Not the leavers': their state is removed everywhere `removal_after` after the leave.)
        let live_writes: Vec<_> = writes
            .iter()
            .filter(|(w, _, _)| live.contains(w) && !leavers.contains(w))
            .cloned()
            .collect();
        // Data: anti-entropy every 10 rounds at a 1,400-byte MTU over 1,600 origins takes a
        // while after the churn (about 6 minutes measured); poll every 5 s for up to 10
        // minutes, then check.
        let mut data_after = start.elapsed() - churn_end;
        for _ in 0..120 {
            let missing = writes_missing(&sim, &live, &live_writes).await;
            println!("churn: {missing} (node, write) pairs missing {data_after:?} after the churn");
            if missing == 0 {
                break;
            }
            sim.run_for(5 * SECOND).await;
            data_after = start.elapsed() - churn_end;
        }
        assert_writes_everywhere(&sim, &live, &live_writes).await;

        let tally = lock(&tally);
        // Detection by observers that were running when the node crashed.
        let detection: Vec<Duration> = tally
            .detected
            .iter()
            .filter(|((observer, member), _)| {
                let crash = tally.crashed.get(member).copied().unwrap_or_default();
                tally.joined.get(observer).is_none_or(|j| *j < crash)
            })
            .map(|(_, d)| *d)
            .collect();
        let (lost, _, _) = sim.recorder().network_faults();
        let sent = sim.recorder().sent_total();
        println!(
            "churn: {NODES} nodes, {} crashed, {} joined, {} live at the end, 10 % loss ({lost} of {} datagrams lost)",
            crashed.len(),
            tally.joined.len(),
            live.len(),
            sent.messages
        );
        println!(
            "churn: false Down reports {}, false Suspect reports {} (defaults: SWIM, LAN preset)",
            tally.false_down.len(),
            tally.false_suspect
        );
        println!(
            "churn: crash to Down (observers running at the crash): {}",
            quantiles(detection)
        );
        println!(
            "churn: 3 leaves seen by all {} live nodes in {left_everywhere:?}; membership converged {converged_after:?} after the churn; {} writes of live nodes everywhere {data_after:?} after it",
            live.len(),
            live_writes.len()
        );
        println!(
            "churn: {:.1} s of wall time for {:?} of virtual time",
            wall.elapsed().as_secs_f64(),
            start.elapsed()
        );
        assert_eq!(
            tally.false_down,
            Vec::new(),
            "running nodes reported Down (when, observer, member)"
        );
        assert!(tally.resurrected.is_empty());
    })
    .expect("runtime");
}

/// (b) A crash is declared Down by every running observer within the documented bound
/// `L + μ + P + 5.23·σ + G` (`docs/membership.md`): `L` the time the crashed node's last
/// heartbeat still spreads (push-pull anti-entropy: `log3 n + ln ln n` rounds), `μ` and `σ` the
/// mean and standard deviation of heartbeat progress as the detector sees it (at most 2 s each
/// with the recommended configuration), `P` the acceptable pause, 5.23 the standard deviations
/// past the shifted mean where Akka's logistic tail reaches phi = 8, and `G` one gossip interval
/// (statuses are re-evaluated once per round).
#[test]
fn a_crash_is_declared_down_within_the_documented_bound() {
    const NODES: usize = 200;
    let n = NODES as f64;
    let rounds = n.ln() / 3f64.ln() + n.ln().ln();
    let bound =
        Duration::from_secs_f64(rounds.ceil() + 2.0 + PAUSE.as_secs_f64() + 5.23 * 2.0 + 1.0);
    simulate(|| async {
        let protocol = recommended(NODES, Duration::from_secs(300));
        let sim = Simulation::start(cluster(NODES, 31, protocol)).expect("starts");
        let (tally, _collector, start) = collect(&sim).await;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut live: BTreeSet<usize> = (0..NODES).collect();
        sim.run_for(30 * SECOND).await;
        let (mut total, mut lag, mut silence) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..10 {
            let victim = *live
                .iter()
                .nth(rng.random_range(0..live.len()))
                .expect("live");
            live.remove(&victim);
            let crash = start.elapsed();
            let id = NodeId(victim as u64);
            lock(&tally).crashed.insert(id, crash);
            sim.crash(victim).await.expect("crashes");
            sim.run_until(60 * SECOND, |_| {
                let tally = lock(&tally);
                live.iter()
                    .all(|&o| tally.detected.contains_key(&(NodeId(o as u64), id)))
            })
            .await
            .expect("every observer declares the crash Down");
            for &observer in &live {
                let detected = lock(&tally).detected[&(NodeId(observer as u64), id)];
                total.push(detected);
                // The last heartbeat progress the observer saw, from its own member table.
                let members = sim
                    .node(observer)
                    .expect("node")
                    .send(GetMembers)
                    .await
                    .expect("answers")
                    .expect("running");
                let last = members
                    .iter()
                    .find(|m| m.id == id)
                    .and_then(|m| m.last_heartbeat)
                    .expect("a heartbeat was seen");
                let last = tokio::time::Instant::from_std(last).saturating_duration_since(start);
                lag.push(last.saturating_sub(crash));
                silence.push((crash + detected).saturating_sub(last));
            }
            sim.run_for(5 * SECOND).await;
        }
        let tally = lock(&tally);
        println!(
            "crash: {NODES} nodes, 10 % loss, 10 crashes, bound {bound:?} (L = {rounds:.1} rounds)"
        );
        println!("crash: crash to Down: {}", quantiles(total.clone()));
        println!(
            "crash: crash to last heartbeat seen (L): {}",
            quantiles(lag)
        );
        println!("crash: last heartbeat seen to Down: {}", quantiles(silence));
        println!(
            "crash: false Down {}, false Suspect {}",
            tally.false_down.len(),
            tally.false_suspect
        );
        let worst = total.iter().max().copied().unwrap_or_default();
        assert!(
            worst <= bound,
            "a crash took {worst:?} to be Down, bound {bound:?}"
        );
        assert!(tally.false_down.is_empty(), "{:?}", tally.false_down);
    })
    .expect("runtime");
}

/// (d) A graceful leave reaches every running node within the rounds anti-entropy dissemination
/// needs (push-pull: `log3 n + ln ln n` rounds, `docs/experiments.md`), far sooner than a crash is
/// detected.
#[test]
fn a_leave_reaches_everyone_within_dissemination_rounds() {
    const NODES: usize = 200;
    simulate(|| async {
        let protocol = recommended(NODES, Duration::from_secs(300));
        let sim = Simulation::start(cluster(NODES, 47, protocol)).expect("starts");
        let (tally, _collector, start) = collect(&sim).await;
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        sim.run_for(30 * SECOND).await;
        let mut live: BTreeSet<usize> = (0..NODES).collect();
        let mut took = Vec::new();
        for _ in 0..10 {
            let leaver = *live
                .iter()
                .nth(rng.random_range(0..live.len()))
                .expect("live");
            live.remove(&leaver);
            let at = start.elapsed();
            sim.node(leaver)
                .expect("node")
                .send(Leave)
                .await
                .expect("delivered")
                .expect("leaves");
            let id = NodeId(leaver as u64);
            sim.run_until(30 * SECOND, |_| {
                    let tally = lock(&tally);
                    live.iter()
                        .all(|&o| tally.left.contains_key(&(NodeId(o as u64), id)))
                })
                .await
                .expect("the leave reaches everyone");
            // When the last node marked it Left (the wait above polls in steps, a little later).
            let slowest = {
                let tally = lock(&tally);
                live.iter()
                    .map(|&o| tally.left[&(NodeId(o as u64), id)].saturating_sub(at))
                    .max()
                    .unwrap_or_default()
            };
            took.push(slowest);
            sim.run_for(5 * SECOND).await;
        }
        let n = NODES as f64;
        let rounds = n.ln() / 3f64.ln() + n.ln().ln();
        println!(
            "leave: {NODES} nodes, 10 % loss, 10 leaves, seen by all in {} (push-pull dissemination: log3 n + ln ln n = {rounds:.1} rounds)",
            quantiles(took.clone())
        );
        let worst = took.iter().max().copied().unwrap_or_default();
        assert!(
            worst <= Duration::from_secs_f64(rounds.ceil() + 2.0),
            "{worst:?}"
        );
        assert!(lock(&tally).false_down.is_empty());
    })
    .expect("runtime");
}
