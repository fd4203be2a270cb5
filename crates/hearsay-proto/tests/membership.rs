//! Membership, failure detection, leaves, removal without resurrection, restarts and reserved
//! keys, on a deterministic round driver with virtual time, loss and frozen (crashed or
//! partitioned) nodes. Tombstone GC is in `membership_gc.rs`.

#[allow(dead_code)]
mod common;

use common::cluster::*;
use hearsay_proto::{
    Config, Detector, Event, Generation, HeartbeatConfig, MemberStatus, MembershipConfig, Mode,
    Node, NodeId, Value,
};
use std::time::{Duration, Instant};

#[test]
fn members_join_through_one_seed_and_come_up() {
    // Each node knows only node 0 (the seed); membership adds the members it hears of.
    let config = detecting(Duration::from_secs(60));
    let mut cluster = Cluster::new(12, config.clone(), 3);
    for (i, node) in cluster.nodes.iter_mut().enumerate() {
        let mut fresh = Node::new(
            NodeId(i as u64),
            Generation(1),
            config.clone(),
            77 + i as u64,
        )
        .expect("valid");
        fresh.add_peer(NodeId(0));
        *node = fresh;
    }
    let took = cluster.run_until(30, all_up).expect("everyone Up");
    println!("12 nodes through one seed: every node sees every other Up after {took} rounds");
    for i in 0..12 {
        for j in (0..12u64).filter(|&j| j != i as u64) {
            let events = cluster.member_events(i, j, 0);
            assert_eq!(
                events.first().map(|e| e.2),
                Some(MemberStatus::Joining),
                "node {i} about {j}: {events:?}"
            );
            assert!(events.iter().any(|e| e.2 == MemberStatus::Up));
        }
    }
}

#[test]
fn a_crashed_node_is_suspected_then_down_within_the_computed_bound() {
    let mut cluster = Cluster::new(16, detecting(Duration::from_secs(600)), 5);
    assert!(cluster.run_until(30, all_up).is_some(), "warm-up");
    cluster.run(60);
    let crashed = 5u64;
    let crash_round = cluster.round;
    let crash_at = cluster.now;
    // Each observer's prediction: from its last heartbeat of the crashed node, the time its
    // detector reaches phi 4 (Suspect) and phi 8 (Down) if no heartbeat comes. A heartbeat may
    // still arrive after the crash (gossip relays the last one); allow for it below.
    let predictions: Vec<(usize, Duration, Duration, Instant)> = (0..16)
        .filter(|&i| i as u64 != crashed)
        .map(|i| {
            let d = cluster.nodes[i].detector(NodeId(crashed)).expect("known");
            let last = d.last_heartbeat().expect("monitoring");
            (i, crossing(d, 4.0), crossing(d, 8.0), last)
        })
        .collect();
    cluster.frozen[crashed as usize] = true;
    let took = cluster.run_until(60, |c| {
        c.live()
            .filter(|&i| i as u64 != crashed)
            .all(|i| c.status(i, crashed) == Some(MemberStatus::Down))
    });
    assert!(took.is_some(), "every node declares the crash Down");
    let mut latencies = Vec::new();
    let mut max_relay = Duration::ZERO;
    for (i, to_suspect, to_down, last) in predictions {
        let events = cluster.member_events(i, crashed, crash_round);
        let statuses: Vec<_> = events.iter().map(|e| e.2).collect();
        assert_eq!(
            statuses,
            vec![MemberStatus::Suspect, MemberStatus::Down],
            "node {i}: {events:?}"
        );
        let down_round = events[1].0;
        let down_at = crash_at + SECOND * (down_round - crash_round) as u32;
        // The last heartbeat it actually saw (may be after the crash, relayed).
        let d = cluster.nodes[i].detector(NodeId(crashed)).expect("known");
        let seen = d.last_heartbeat().expect("monitoring");
        // Relayed heartbeats keep arriving for a few rounds after the crash: the crashed
        // node's last heartbeats are still spreading.
        let relayed = seen.saturating_duration_since(last);
        assert!(
            relayed <= 6 * SECOND,
            "node {i} heard a heartbeat {relayed:?} after its last one at the crash"
        );
        max_relay = max_relay.max(seen.saturating_duration_since(crash_at));
        // Declared Down at the first round at or after phi 8 (rounds are 1 s apart), never
        // before it.
        let bound = seen + crossing(d, 8.0) + SECOND;
        assert!(
            down_at >= seen + crossing(d, 8.0),
            "node {i}: Down too early"
        );
        assert!(
            down_at <= bound,
            "node {i}: Down at {down_at:?}, bound {bound:?}"
        );
        assert!(to_suspect <= to_down);
        latencies.push(down_at.saturating_duration_since(crash_at));
    }
    latencies.sort();
    println!(
        "crash detection (16 nodes, anti-entropy every 1 s round, default detector): min {:?}, \
         median {:?}, max {:?} after the crash; last relayed heartbeat {:?} after it",
        latencies[0],
        latencies[latencies.len() / 2],
        latencies[latencies.len() - 1],
        max_relay,
    );
    // Heartbeat progress is seen about every 1.6 s (relayed by gossip), and the heartbeat
    // detector's exponential model reaches phi 8 at the pause plus 18.4 mean intervals: about
    // 3 + 18.4 × 1.6 ≈ 32 s after the last heartbeat seen; relays add up to a few seconds and
    // rounds 1 s: at most 40 s. Progress comes at most once a 1 s round, so the mean is at
    // least 1 s and nothing is Down before 3 + 18.4 = 21.4 s of silence; the last heartbeat
    // seen is at most a few rounds older than the crash.
    assert!(latencies[latencies.len() - 1] <= Duration::from_secs(40));
    assert!(
        latencies[0] >= Duration::from_secs(15),
        "no detection before the pause"
    );
}

#[test]
fn no_false_down_at_threshold_8_with_regular_heartbeats_and_10_percent_loss() {
    for (loss, seed) in [(0.0, 11), (0.1, 12)] {
        let mut cluster = Cluster::new(32, detecting(Duration::from_secs(60)), seed);
        cluster.loss = loss;
        cluster.run(600);
        let (mut suspects, mut downs) = (0, 0);
        for i in 0..32 {
            for (_, e) in &cluster.events[i] {
                match e {
                    Event::Member {
                        status: MemberStatus::Suspect,
                        ..
                    } => suspects += 1,
                    Event::Member {
                        status: MemberStatus::Down | MemberStatus::Removed,
                        ..
                    } => downs += 1,
                    _ => {}
                }
            }
        }
        println!("32 nodes, 600 rounds, loss {loss}: {downs} false Down, {suspects} false Suspect");
        assert_eq!(downs, 0, "false positives at loss {loss}");
        assert!(all_up(&cluster));
    }
}

#[test]
fn a_leave_reaches_every_node_much_faster_than_failure_detection() {
    let now = Instant::now();
    for mode in [
        Mode::AntiEntropy,
        Mode::Combined {
            anti_entropy_every: 10,
        },
    ] {
        // With anti-entropy every 10 rounds, heartbeats are seen only at those exchanges
        // (about every 5 s, irregularly): the acceptable pause is scaled accordingly.
        let pause = match mode {
            Mode::AntiEntropy => Duration::from_secs(3),
            _ => Duration::from_secs(30),
        };
        let mut members = membership(Duration::from_secs(30));
        if let Detector::Heartbeat(heartbeat) = &mut members.detector {
            heartbeat.phi.acceptable_heartbeat_pause = pause;
        }
        let config = Config {
            mode,
            membership: Some(members),
            ..Config::default()
        };
        let mut cluster = Cluster::new(64, config, 21);
        assert!(cluster.run_until(200, all_up).is_some(), "warm-up {mode:?}");
        cluster.run(20);
        let leaver = 9u64;
        let start = cluster.round;
        cluster
            .act(leaver as usize, |n| n.leave(now))
            .expect("leaves");
        assert_eq!(
            cluster.status(leaver as usize, leaver),
            Some(MemberStatus::Left)
        );
        let took = cluster
            .run_until(30, |c| {
                (0..64)
                    .filter(|&i| i != leaver as usize)
                    .all(|i| c.status(i, leaver) == Some(MemberStatus::Left))
            })
            .expect("the leave reaches everyone");
        // The leaver stops right after: no one suspects or downs it, it is Removed later.
        cluster.frozen[leaver as usize] = true;
        cluster.run(40);
        for i in (0..64).filter(|&i| i != leaver as usize) {
            let statuses: Vec<_> = cluster
                .member_events(i, leaver, start)
                .iter()
                .map(|e| e.2)
                .collect();
            assert_eq!(
                statuses,
                vec![MemberStatus::Left, MemberStatus::Removed],
                "node {i}"
            );
        }
        // Push-pull spreading needs about log3(64) + ln ln 64 ≈ 5 rounds; failure detection
        // takes 4.5 s or more after the last heartbeat with these settings (much more with
        // anti-entropy every 10 rounds, see the false-positive test's notes).
        println!("{mode:?}: a leave reached all 63 other nodes in {took} rounds");
        assert!(took <= 6, "{mode:?}: leave took {took} rounds");
    }
}

#[test]
fn a_removed_node_does_not_come_back_from_a_lagging_peer() {
    let now = Instant::now();
    let mut cluster = Cluster::new(10, detecting(Duration::from_secs(20)), 31);
    let (dead, lagging) = (4usize, 8usize);
    cluster
        .act(dead, |n| n.set(now, "service", Value::from("old")))
        .expect("fits");
    assert!(cluster.run_until(30, all_up).is_some());
    cluster.run(10);
    assert!(
        cluster.nodes[lagging]
            .get_from(NodeId(4), "service")
            .is_some()
    );
    // The lagging peer is cut off (a long pause) holding the dead node's state; the node dies.
    cluster.frozen[lagging] = true;
    cluster.frozen[dead] = true;
    let removed = cluster
        .run_until(60, |c| {
            c.live()
                .all(|i| c.status(i, dead as u64) == Some(MemberStatus::Removed))
        })
        .expect("the dead node is removed");
    println!("removed {removed} rounds after the crash (removal_after 20 s)");
    for i in cluster.live() {
        assert!(cluster.nodes[i].store().origin(NodeId(4)).is_none());
    }
    // The lagging peer comes back with its stale view and gossips it.
    cluster.frozen[lagging] = false;
    let back = cluster.round;
    for _ in 0..120 {
        cluster.round();
        for i in cluster.live().filter(|&i| i != lagging) {
            assert!(
                cluster.nodes[i].store().origin(NodeId(4)).is_none(),
                "node {i} holds the removed node's state again at round {}",
                cluster.round
            );
            assert_eq!(cluster.status(i, dead as u64), Some(MemberStatus::Removed));
        }
    }
    for i in cluster.live().filter(|&i| i != lagging) {
        let events = cluster.member_events(i, dead as u64, back + 1);
        assert!(events.is_empty(), "node {i}: {events:?}");
        assert!(cluster.events[i].iter().filter(|(r, _)| *r >= back).all(
            |(_, e)| !matches!(e, Event::Changed { change, .. } if change.origin == NodeId(4))
        ));
    }
    // The lagging peer removes the dead node too, once its own detector has had its say.
    assert_eq!(
        cluster.status(lagging, dead as u64),
        Some(MemberStatus::Removed)
    );
}

#[test]
fn a_restart_with_a_newer_generation_supersedes_even_after_removal() {
    let now = Instant::now();
    let mut cluster = Cluster::new(8, detecting(Duration::from_secs(10)), 41);
    let node = 3usize;
    cluster
        .act(node, |n| n.set(now, "addr", Value::from("10.0.0.3:1")))
        .expect("fits");
    assert!(cluster.run_until(30, all_up).is_some());
    cluster.frozen[node] = true;
    cluster
        .run_until(60, |c| {
            c.live()
                .all(|i| c.status(i, node as u64) == Some(MemberStatus::Removed))
        })
        .expect("removed");
    // It comes back as generation 2, without its old state, and writes again.
    cluster.frozen[node] = false;
    let back = cluster.round;
    cluster
        .act(node, |n| {
            n.restart(now, Generation(2), false)?;
            n.set(now, "addr", Value::from("10.0.0.3:2"))
        })
        .expect("restarts");
    let took = cluster
        .run_until(30, |c| {
            c.live().filter(|&i| i != node).all(|i| {
                c.status(i, node as u64) == Some(MemberStatus::Up)
                    && c.nodes[i].get_from(NodeId(3), "addr") == Some(&Value::from("10.0.0.3:2"))
            })
        })
        .expect("the new incarnation is accepted");
    println!("the restarted node is Up everywhere after {took} rounds");
    for i in cluster.live().filter(|&i| i != node) {
        let events = cluster.member_events(i, node as u64, back + 1);
        assert_eq!(
            events.iter().map(|e| (e.1, e.2)).collect::<Vec<_>>(),
            vec![
                (Generation(2), MemberStatus::Joining),
                (Generation(2), MemberStatus::Up)
            ],
            "node {i}"
        );
        let state = cluster.nodes[i].store().origin(NodeId(3)).expect("held");
        assert_eq!(state.generation(), Generation(2));
    }
}

#[test]
fn reserved_keys_are_refused_and_a_restart_forgets_the_leave() {
    let now = Instant::now();
    let mut node = Node::new(NodeId(1), Generation(1), Config::default(), 1).expect("valid");
    assert!(
        node.set(now, "\u{0}hearsay/status", Value::from("left"))
            .is_err()
    );
    assert!(node.delete(now, "\u{0}hearsay/gc").is_err());
    node.set(now, "a", Value::from("b")).expect("fits");
    node.leave(now).expect("leaves");
    node.restart(now, Generation(2), true).expect("restarts");
    assert_eq!(node.get("a"), Some(&Value::from("b")));
    let own = node.store().origin(NodeId(1)).expect("own");
    assert!(own.entries().all(|(k, _)| !k.starts_with('\u{0}')));
}

#[test]
fn membership_off_emits_no_member_event_and_the_heartbeat_detector_needs_heartbeats() {
    let mut cluster = Cluster::new(6, Config::default(), 61);
    cluster.run(30);
    assert!(
        cluster
            .events
            .iter()
            .flatten()
            .all(|(_, e)| !matches!(e, Event::Member { .. }))
    );
    assert!(cluster.nodes[0].members().is_empty());
    let bad = Config {
        heartbeats: false,
        membership: Some(membership(Duration::from_secs(30))),
        ..Config::default()
    };
    assert!(bad.validate().is_err());
    // SWIM needs no heartbeats.
    let swim = Config {
        heartbeats: false,
        membership: Some(MembershipConfig::lan()),
        ..Config::default()
    };
    assert!(swim.validate().is_ok());
    let bad = Config {
        membership: Some(MembershipConfig::with_detector(Detector::Heartbeat(
            HeartbeatConfig {
                suspect_phi: 9.0,
                ..HeartbeatConfig::default()
            },
        ))),
        ..Config::default()
    };
    assert!(bad.validate().is_err());
}
