//! Membership through the actor runtime, in paused virtual time, with either detector:
//! subscribers hear joins, a crash (Suspect then Down), a graceful leave (much faster) and a
//! restart as a new generation, in order; `GetMembers` answers the table.

use actix::{Actor, Context, Handler};
use hearsay_actor::{
    GetMembers, Leave, MemberChanged, Observe, Simulation, SimulationConfig, SubscribeMembership,
    simulate,
};
use hearsay_proto::{
    Config, Detector, Generation, HeartbeatConfig, MemberStatus, MembershipConfig, Mode, NodeId,
    SwimConfig,
};
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Seen = Arc<Mutex<Vec<(Duration, MemberChanged)>>>;

struct Collector {
    seen: Seen,
    start: tokio::time::Instant,
}

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<MemberChanged> for Collector {
    type Result = ();

    fn handle(&mut self, change: MemberChanged, _: &mut Context<Self>) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.push((self.start.elapsed(), change));
        }
    }
}

/// Every status `node` reported about `member`, with when.
fn statuses(seen: &Seen, node: u64, member: u64) -> Vec<(Duration, Generation, MemberStatus)> {
    seen.lock()
        .expect("collector")
        .iter()
        .filter(|(_, c)| c.node == NodeId(node) && c.member == NodeId(member))
        .map(|(at, c)| (*at, c.generation, c.status))
        .collect()
}

fn last_status(seen: &Seen, node: u64, member: u64) -> Option<(Generation, MemberStatus)> {
    statuses(seen, node, member)
        .last()
        .map(|(_, generation, status)| (*generation, *status))
}

/// What one detector promises in [`lifecycle`].
struct Expect {
    /// Earliest and latest crash-to-Down.
    detection: (Duration, Duration),
    /// The statuses of the restarted generation, in order, that a node may report.
    restart: &'static [&'static [MemberStatus]],
}

#[test]
fn with_heartbeats_subscribers_hear_joins_a_crash_a_leave_and_a_restart_in_order() {
    let membership = MembershipConfig {
        removal_after: Duration::from_secs(120),
        ..MembershipConfig::with_detector(Detector::Heartbeat(HeartbeatConfig::default()))
    };
    lifecycle(
        Config {
            mode: Mode::AntiEntropy,
            membership: Some(membership),
            ..Config::default()
        },
        Expect {
            // The exponential model: phi 8 at the 3 s pause plus 18.4 mean intervals of
            // heartbeat progress (1–1.6 s, relayed by anti-entropy every round): 21–33 s after
            // the last heartbeat seen, which may be a few rounds older than the crash.
            detection: (Duration::from_secs(15), Duration::from_secs(45)),
            restart: &[&[MemberStatus::Joining, MemberStatus::Up]],
        },
    );
}

/// SWIM with the LAN preset, nothing else changed. Detection bound for 20 members: the first
/// probe within 14 periods (all but one in a million), two failed cycles, the longest suspicion
/// (`6 · 4 · log10 20` s), 5 s of gossip.
#[test]
fn with_swim_subscribers_hear_joins_a_crash_a_leave_and_a_restart_in_order() {
    let swim = SwimConfig::lan();
    let min = swim.suspicion_min(20);
    let membership = MembershipConfig {
        removal_after: Duration::from_secs(120),
        ..MembershipConfig::lan()
    };
    lifecycle(
        Config {
            membership: Some(membership),
            ..Config::default()
        },
        Expect {
            detection: (
                min,
                swim.probe_interval * 16
                    + min * swim.suspicion_max_mult.get()
                    + Duration::from_secs(5),
            ),
            // Heard of through data first (Joining), or through its announcement (Up at once).
            restart: &[
                &[MemberStatus::Joining, MemberStatus::Up],
                &[MemberStatus::Up],
            ],
        },
    );
}

fn lifecycle(protocol: Config, expect: Expect) {
    const N: u64 = 20;
    let swim = protocol
        .membership
        .as_ref()
        .and_then(|membership| membership.swim())
        .is_some();
    simulate(|| async {
        let mut sim = Simulation::start(SimulationConfig {
            nodes: N as usize,
            seed: 9,
            protocol,
            ..SimulationConfig::default()
        })
        .expect("starts");
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let start = tokio::time::Instant::now();
        for i in 0..N as usize {
            let collector = Collector {
                seen: seen.clone(),
                start,
            }
            .start();
            sim.node(i)
                .expect("node")
                .send(SubscribeMembership {
                    recipient: collector.recipient(),
                })
                .await
                .expect("subscribed");
        }
        // Everyone comes Up everywhere.
        let all_up = |seen: &Seen, except: &[u64]| {
            (0..N).filter(|i| !except.contains(i)).all(|i| {
                (0..N)
                    .filter(|j| *j != i && !except.contains(j))
                    .all(|j| last_status(seen, i, j).map(|s| s.1) == Some(MemberStatus::Up))
            })
        };
        let up = sim
            .run_until(Duration::from_secs(60), |_| all_up(&seen, &[]))
            .await
            .expect("everyone Up");
        println!("{N} actors all Up after {up:?}");
        let members = sim
            .node(0)
            .expect("node")
            .send(GetMembers)
            .await
            .expect("answers");
        let members = members.expect("running");
        assert_eq!(members.len(), N as usize);
        assert!(members.iter().all(|m| m.status == MemberStatus::Up));
        // `Observe` reads the same table, one origin per node, and the running detector's
        // suspicion: SWIM's local health, or a finite phi below the threshold per other member.
        let observed = sim
            .node(0)
            .expect("node")
            .send(Observe)
            .await
            .expect("answers");
        assert_eq!(observed.members, members);
        assert!(
            observed
                .origins
                .iter()
                .any(|origin| origin.origin == NodeId(0)),
            "{:?}",
            observed.origins
        );
        assert_eq!(observed.metrics.id, NodeId(0));
        if swim {
            assert_eq!(observed.local_health, Some(0));
            assert!(observed.phi.is_empty(), "{:?}", observed.phi);
        } else {
            // Anti-entropy every round: every node's heartbeat has arrived.
            assert_eq!(observed.origins.len(), N as usize);
            assert_eq!(observed.local_health, None);
            assert_eq!(observed.phi.len(), N as usize - 1, "{:?}", observed.phi);
            assert!(
                observed
                    .phi
                    .iter()
                    .all(|&(id, phi)| id != NodeId(0) && phi < 8.0)
            );
        }
        sim.run_for(Duration::from_secs(60)).await;

        // A crash: Suspect, then Down, at every other node.
        let crashed = 7u64;
        let crash_at = start.elapsed();
        sim.crash(crashed as usize).await.expect("crashes");
        let detected = sim
            .run_until(expect.detection.1 + Duration::from_secs(10), |_| {
                (0..N).filter(|&i| i != crashed).all(|i| {
                    last_status(&seen, i, crashed).map(|s| s.1) == Some(MemberStatus::Down)
                })
            })
            .await
            .expect("the crash is detected");
        let mut latencies = Vec::new();
        for i in (0..N).filter(|&i| i != crashed) {
            let after: Vec<_> = statuses(&seen, i, crashed)
                .into_iter()
                .filter(|(at, _, _)| *at >= crash_at)
                .collect();
            let order: Vec<_> = after.iter().map(|s| s.2).collect();
            assert_eq!(
                order,
                vec![MemberStatus::Suspect, MemberStatus::Down],
                "node {i}"
            );
            latencies.push(after[1].0 - crash_at);
        }
        latencies.sort();
        println!(
            "crash detected by all in {detected:?}: Down after min {:?}, max {:?}",
            latencies[0],
            latencies[latencies.len() - 1]
        );
        assert!(latencies[0] >= expect.detection.0, "{latencies:?}");
        assert!(
            latencies[latencies.len() - 1] <= expect.detection.1,
            "{latencies:?}"
        );
        if !swim {
            // The heartbeat detector reads the crashed member at or above its threshold.
            let observed = sim
                .node(0)
                .expect("node")
                .send(Observe)
                .await
                .expect("answers");
            let phi = observed.phi.iter().find(|(id, _)| *id == NodeId(crashed));
            assert!(phi.is_some_and(|&(_, phi)| phi >= 8.0), "{phi:?}");
        }

        // A graceful leave reaches everyone much faster than detection.
        let leaver = 3u64;
        let leave_at = start.elapsed();
        sim.node(leaver as usize)
            .expect("node")
            .send(Leave)
            .await
            .expect("delivered")
            .expect("leaves");
        let left = sim
            .run_until(Duration::from_secs(30), |_| {
                (0..N)
                    .filter(|&i| i != crashed)
                    .all(|i| last_status(&seen, i, leaver).map(|s| s.1) == Some(MemberStatus::Left))
            })
            .await
            .expect("the leave reaches everyone");
        println!("a leave reached all {} nodes in {left:?}", N - 1);
        assert!(
            left * 2 < latencies[0],
            "leave {left:?} vs detection {latencies:?}"
        );
        for i in (0..N).filter(|&i| i != crashed && i != leaver) {
            let after: Vec<_> = statuses(&seen, i, leaver)
                .into_iter()
                .filter(|(at, _, _)| *at >= leave_at)
                .map(|s| s.2)
                .collect();
            assert_eq!(after, vec![MemberStatus::Left], "node {i}");
        }

        // The crashed node restarts as generation 2: Joining, then Up, everywhere.
        sim.restart(crashed as usize, false)
            .await
            .expect("restarts");
        sim.run_until(Duration::from_secs(30), |_| {
            (0..N)
                .filter(|&i| i != crashed && i != leaver)
                .all(|i| last_status(&seen, i, crashed) == Some((Generation(2), MemberStatus::Up)))
        })
        .await
        .expect("the new generation is Up");
        for i in (0..N).filter(|&i| i != crashed && i != leaver) {
            let gen2: Vec<_> = statuses(&seen, i, crashed)
                .into_iter()
                .filter(|s| s.1 == Generation(2))
                .map(|s| s.2)
                .collect();
            assert!(
                expect.restart.iter().any(|allowed| gen2 == *allowed),
                "node {i}: {gen2:?}"
            );
        }
    })
    .expect("runtime");
}

/// A membership subscriber that comes late first hears every member's current status (the
/// node's own included), exactly the table `GetMembers` answers, then the changes. Before
/// session 28 it heard only later changes: a transport subscribed after a node was restored
/// with its member table never learnt which members were gone.
#[test]
fn a_late_membership_subscriber_starts_from_the_table() {
    const N: usize = 5;
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: N,
            seed: 28,
            protocol: Config {
                membership: Some(MembershipConfig::default()),
                ..Config::default()
            },
            ..SimulationConfig::default()
        })
        .expect("starts");
        sim.run_for(Duration::from_secs(10)).await;
        sim.crash(4).await.expect("crash");
        sim.run_for(Duration::from_secs(20)).await;
        let node = sim.node(0).expect("node");
        let table = node
            .send(GetMembers)
            .await
            .expect("answers")
            .expect("running");
        assert!(
            table.iter().any(|m| m.status != MemberStatus::Up),
            "{table:?}"
        );
        let seen: Seen = Arc::new(Mutex::new(Vec::new()));
        let collector = Collector {
            seen: seen.clone(),
            start: tokio::time::Instant::now(),
        }
        .start();
        node.send(SubscribeMembership {
            recipient: collector.recipient(),
        })
        .await
        .expect("subscribed");
        sim.run_for(Duration::from_millis(1)).await;
        let heard: Vec<(NodeId, Generation, MemberStatus)> = (seen.lock().expect("collector"))
            .iter()
            .filter(|(_, c)| c.existing)
            .map(|(_, c)| (c.member, c.generation, c.status))
            .collect();
        let expected: Vec<(NodeId, Generation, MemberStatus)> = table
            .iter()
            .map(|m| (m.id, m.generation, m.status))
            .collect();
        assert_eq!(heard, expected);
    })
    .expect("runtime");
}
