//! Membership at scale across partitions in the deterministic harness: a healed 50/50 partition
//! converges and loses no write, and a node removed during a partition is never resurrected.
//! Same recommended configuration as `churn.rs` ([`recommended`]).

#[allow(dead_code)]
mod common;

use common::*;
use hearsay_actor::{Simulation, simulate};
use hearsay_proto::{NodeId, Value};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::time::Duration;

/// (c) A 50/50 partition for 30 s with writes on both sides: each side declares the other Down
/// (expected: phi cannot tell a partition from crashes), and after the heal both sides come Up
/// again (Down is recoverable, the Down probe finds the other side) and hold every write.
#[test]
fn a_healed_partition_converges_and_loses_no_write() {
    const NODES: usize = 200;
    simulate(|| async {
        let protocol = recommended(NODES, Duration::from_secs(300));
        let sim = Simulation::start(cluster(NODES, 41, protocol)).expect("starts");
        let (tally, _collector, start) = collect(&sim).await;
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let all: BTreeSet<usize> = (0..NODES).collect();
        let (a, b): (Vec<usize>, Vec<usize>) = (0..NODES).partition(|i| i % 2 == 0);
        let mut writes = Vec::new();
        sim.run_for(30 * SECOND).await;
        write_at(&sim, &mut rng, &a, "before", 10, &mut writes).await;
        sim.partition(vec![
            a.iter().map(|&i| NodeId(i as u64)).collect(),
            b.iter().map(|&i| NodeId(i as u64)).collect(),
        ]);
        for second in 0..30 {
            write_at(&sim, &mut rng, &a, &format!("a{second}"), 2, &mut writes).await;
            write_at(&sim, &mut rng, &b, &format!("b{second}"), 2, &mut writes).await;
            sim.run_for(SECOND).await;
        }
        let downs_during = lock(&tally).false_down.len();
        sim.heal();
        let healed = start.elapsed();
        let mut problems = Vec::new();
        for _ in 0..12 {
            sim.run_for(5 * SECOND).await;
            let tables = tables(&sim, &all).await;
            problems = membership_problems(&tables, &all, &BTreeSet::new(), &BTreeSet::new());
            if problems.is_empty() {
                break;
            }
        }
        assert!(problems.is_empty(), "{} problems, first {:?}", problems.len(), &problems[..problems.len().min(5)]);
        let up_after = start.elapsed() - healed;
        sim.run_until(60 * SECOND, |r| r.all_hold_latest() && r.converged())
            .await
            .expect("the data converges");
        let data_after = start.elapsed() - healed;
        assert_writes_everywhere(&sim, &all, &writes).await;
        println!(
            "partition: {NODES} nodes, 50/50 for 30 s, 10 % loss: {downs_during} Down reports across the cut; all Up at every node within {up_after:?} of the heal (checked every 5 s); {} writes everywhere {data_after:?} after the heal",
            writes.len()
        );
        assert!(lock(&tally).removed.is_empty(), "nothing is removed in 5 min");
    })
    .expect("runtime");
}

/// (c, removal) `removal_after` is 24 s: a node crashed 25 s before a 30 s partition is Down,
/// then Removed during the partition at every node of both sides (crash + detection + 24 s),
/// while the other side of the partition, Down from about 10 s into it, is not yet removed at
/// the heal. After the heal the removed node never comes back: no status about its generation
/// is reported again, and no running node holds its state.
#[test]
fn a_node_removed_during_a_partition_is_never_resurrected() {
    const NODES: usize = 100;
    simulate(|| async {
        let protocol = recommended(NODES, Duration::from_secs(24));
        let sim = Simulation::start(cluster(NODES, 43, protocol)).expect("starts");
        let (tally, _collector, start) = collect(&sim).await;
        let mut rng = ChaCha8Rng::seed_from_u64(10);
        let dead = 7usize;
        let mut writes = Vec::new();
        sim.run_for(30 * SECOND).await;
        sim.set(dead, "doomed", Value::from("x")).await.expect("fits");
        sim.run_for(5 * SECOND).await;
        lock(&tally)
            .crashed
            .insert(NodeId(dead as u64), start.elapsed());
        sim.crash(dead).await.expect("crashes");
        sim.run_for(25 * SECOND).await;
        let live: Vec<usize> = (0..NODES).filter(|&i| i != dead).collect();
        let live_set: BTreeSet<usize> = live.iter().copied().collect();
        let (a, b): (Vec<usize>, Vec<usize>) = live.iter().partition(|&&i| i % 2 == 0);
        sim.partition(vec![
            a.iter().map(|&i| NodeId(i as u64)).collect(),
            b.iter().map(|&i| NodeId(i as u64)).collect(),
        ]);
        for second in 0..30 {
            write_at(&sim, &mut rng, &a, &format!("a{second}"), 1, &mut writes).await;
            write_at(&sim, &mut rng, &b, &format!("b{second}"), 1, &mut writes).await;
            sim.run_for(SECOND).await;
        }
        {
            let tally = lock(&tally);
            let removed_dead = tally
                .removed
                .iter()
                .filter(|(_, m, _)| *m == NodeId(dead as u64))
                .count();
            assert_eq!(removed_dead, live.len(), "removed at every node during the partition");
            assert!(
                tally.removed.iter().all(|(_, m, _)| *m == NodeId(dead as u64)),
                "a live node was removed before the heal"
            );
        }
        sim.heal();
        let mut problems = Vec::new();
        for _ in 0..12 {
            sim.run_for(5 * SECOND).await;
            let tables = tables(&sim, &live_set).await;
            problems = membership_problems(&tables, &live_set, &BTreeSet::new(), &BTreeSet::from([dead]));
            if problems.is_empty() {
                break;
            }
        }
        assert!(problems.is_empty(), "{:?}", &problems[..problems.len().min(5)]);
        sim.run_until(60 * SECOND, |r| r.all_hold_latest())
            .await
            .expect("the data converges");
        assert_writes_everywhere(&sim, &live_set, &writes).await;
        sim.run_for(60 * SECOND).await;
        for &i in &live {
            let view = sim.entries(i).await.expect("running");
            assert!(
                view.iter().all(|e| e.origin != NodeId(dead as u64)),
                "node {i} holds the removed node's state again"
            );
        }
        let tally = lock(&tally);
        assert!(tally.resurrected.is_empty(), "{:?}", tally.resurrected);
        println!(
            "removal: {NODES} nodes, node {dead} removed at all {} others during a 30 s partition; none resurrected it in the 90 s after the heal; {} writes everywhere",
            live.len(),
            writes.len()
        );
    })
    .expect("runtime");
}
