//! The fault search on the harness: a few seeds (the CI runs 200, `docs/testing.md`), their
//! determinism, and the minimal scenarios the search shrank its failures to, replayed from
//! `tests/scenarios/*.json`.

use hearsay_actor::chaos::{RunConfig, Scenario, run};

#[test]
fn a_handful_of_seeds_keep_every_invariant_and_replay_exactly() -> Result<(), hearsay_actor::Error>
{
    for seed in 1..=6 {
        let scenario = Scenario::generate(seed);
        let first = run(&scenario, &RunConfig::default())?;
        assert!(first.passed(), "seed {seed}: {:?}", first.violations);
        let again = run(&scenario, &RunConfig::default())?;
        assert_eq!(
            first.fingerprint, again.fingerprint,
            "seed {seed} is not deterministic"
        );
    }
    Ok(())
}

#[test]
fn the_shrunk_failures_stay_fixed() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut replayed = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    paths.sort_by_key(|e| e.path());
    for entry in paths {
        let text = std::fs::read_to_string(entry.path())?;
        let scenario: Scenario = serde_json::from_str(&text)?;
        let outcome = run(&scenario, &RunConfig::default())?;
        assert!(
            outcome.passed(),
            "{}: {:?}",
            entry.path().display(),
            outcome.violations
        );
        replayed += 1;
    }
    assert!(replayed >= 2, "no scenarios under {}", dir.display());
    Ok(())
}

/// The space the seeds draw from reaches every option the search is documented to cover, and the
/// default cluster bound is the one every earlier search used.
#[test]
fn the_seeds_cover_the_documented_space() {
    use hearsay_actor::chaos::{Fault, MAX_NODES};
    use hearsay_proto::Detector;
    let scenarios: Vec<Scenario> = (1..=300).map(Scenario::generate).collect();
    let share = |test: &dyn Fn(&Scenario) -> bool| {
        scenarios.iter().filter(|s| test(s)).count() as f64 / scenarios.len() as f64
    };
    // Every drawn scenario is one the shrinker may keep to (`Scenario::coherent`); one
    // without membership or views that joins a node or names seed peers is not.
    assert!(scenarios.iter().all(Scenario::coherent));
    let mut joining = (scenarios.iter())
        .find(|s| {
            s.events
                .iter()
                .any(|(_, f)| matches!(f, Fault::Join { .. }))
        })
        .cloned()
        .expect("some seed joins a node");
    joining.protocol.membership = None;
    joining.protocol.view = None;
    assert!(!joining.coherent());
    let views = share(&|s| s.protocol.view.is_some());
    let flow = share(&|s| s.protocol.flow_control.is_some());
    let joins = share(&|s| {
        s.events
            .iter()
            .any(|(_, f)| matches!(f, Fault::Join { .. }))
    });
    let heartbeat = share(&|s| {
        matches!(
            s.protocol.membership.as_ref().map(|m| &m.detector),
            Some(Detector::Heartbeat(_))
        )
    });
    let no_catch_up = share(&|s| s.protocol.catch_up.is_none());
    let one_way = share(&|s| {
        s.events
            .iter()
            .any(|(_, f)| matches!(f, Fault::OneWay { .. }))
    });
    let seed_peers = share(&|s| s.seed_peers.is_some());
    let relaunches = share(&|s| {
        s.events
            .iter()
            .any(|(_, f)| matches!(f, Fault::Relaunch { .. }))
    });
    let back_after_leaving = share(&|s| {
        (s.events.iter()).any(|(at, f)| match f {
            Fault::Relaunch { node } => {
                (s.events.iter()).any(|(left, f)| *f == Fault::Leave(*node) && left < at)
            }
            _ => false,
        })
    });
    let restarts = share(&|s| {
        s.events
            .iter()
            .any(|(_, f)| matches!(f, Fault::Restart { .. }))
    });
    let pauses = share(&|s| s.events.iter().any(|(_, f)| matches!(f, Fault::Pause(_))));
    let paused_seeds = share(&|s| {
        let mut seeds =
            (s.seed_peers.iter().flatten().copied()).chain((s.events.iter()).flat_map(|(_, f)| {
                match f {
                    Fault::Join { seeds } => seeds.clone(),
                    _ => Vec::new(),
                }
            }));
        seeds.any(|n| (s.events.iter()).any(|(_, f)| *f == Fault::Pause(n)))
    });
    let net_peers = share(&|s| s.net_peers);
    let net_views = share(&|s| s.net_peers && s.protocol.view.is_some());
    let addresses = share(&|s| s.addresses());
    let stream = share(&|s| s.stream);
    let stream_views = share(&|s| s.stream && s.protocol.view.is_some());
    assert!(
        scenarios.iter().all(|s| s.net_peers || !s.stream),
        "the TCP mesh drawn without hearsay-net's peer policy"
    );
    assert!(
        (scenarios.iter().filter(|s| s.net_peers))
            .all(|s| s.protocol.membership.is_some() || s.protocol.view.is_some()),
        "net peers drawn without membership or views"
    );
    let short_removal = share(&|s| {
        (s.protocol.membership.as_ref())
            .is_some_and(|m| m.removal_after <= std::time::Duration::from_secs(60))
    });
    assert!(
        scenarios.iter().all(|s| {
            let paused = |n: usize| (s.events.iter()).any(|(_, f)| *f == Fault::Pause(n));
            let resumes = |n: usize| (s.events.iter()).any(|(_, f)| *f == Fault::Resume(n));
            (0..s.nodes).all(|n| paused(n) == resumes(n))
        }),
        "a pause without its resume"
    );
    assert!(
        scenarios
            .iter()
            .all(|s| s.seed_peers.as_ref().is_none_or(|seeds| {
                !seeds.is_empty()
                    && seeds.len() <= 3
                    && (s.protocol.membership.is_some() || s.protocol.view.is_some())
                    && seeds.iter().all(|&seed| {
                        seed < s.nodes
                        && !s.events.iter().any(|(_, f)| {
                            matches!(f, Fault::Crash(n) | Fault::Leave(n) if *n == seed)
                        })
                    })
            })),
        "seed peers outside the documented space"
    );
    for (what, got, low, high) in [
        ("views", views, 0.2, 0.4),
        ("flow control", flow, 0.1, 0.3),
        ("joins", joins, 0.2, 0.6),
        ("heartbeat detector", heartbeat, 0.03, 0.2),
        ("no catch-up budget", no_catch_up, 0.15, 0.35),
        ("one-way cuts", one_way, 0.55, 0.8),
        ("seed peers", seed_peers, 0.15, 0.45),
        ("relaunches", relaunches, 0.15, 0.5),
        ("pauses", pauses, 0.3, 0.5),
        ("pauses of a seed", paused_seeds, 0.04, 0.3),
        ("hearsay-net's peer policy", net_peers, 0.2, 0.45),
        ("hearsay-net's joins with views", net_views, 0.08, 0.25),
        ("addresses needed", addresses, 0.15, 0.4),
        ("hearsay-net's TCP mesh", stream, 0.08, 0.25),
        ("the TCP mesh with views", stream_views, 0.03, 0.12),
        ("relaunched after leaving", back_after_leaving, 0.02, 0.2),
        ("removal within a minute", short_removal, 0.05, 0.25),
        (
            "restarts that keep the process's memory",
            restarts,
            0.3,
            0.7,
        ),
    ] {
        assert!((low..=high).contains(&got), "{what}: {got:.2} of the seeds");
    }
    for seed in 1..=50 {
        let (small, large) = (
            Scenario::generate_up_to(seed, MAX_NODES),
            Scenario::generate_up_to(seed, 400),
        );
        assert_eq!(small, Scenario::generate(seed));
        assert!((8..=400).contains(&large.nodes));
    }
}

/// The membership invariant reads real member tables: it holds on a settled cluster, and fails
/// for a live node held Suspect or Down, held at an older generation, or not known at all, and
/// for a crashed node held alive; the quiet phase's rule lets a Suspect pass.
#[test]
fn the_membership_invariant_fails_on_a_live_node_held_dead_or_unknown_and_a_dead_one_held_alive()
-> Result<(), hearsay_actor::Error> {
    use hearsay_actor::chaos::{membership, no_false_verdict};
    use hearsay_actor::{Simulation, SimulationConfig, simulate};
    use hearsay_proto::{Config, Generation, MemberStatus};
    use std::time::Duration;
    let snapshots = simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: 5,
            seed: 3,
            protocol: Config::local(),
            ..SimulationConfig::default()
        })?;
        sim.run_for(Duration::from_secs(30)).await;
        sim.inspect_all().await
    })??;
    let at = Duration::ZERO;
    assert_eq!(membership(&snapshots, at), Vec::new());
    let status = |s: &[hearsay_actor::NodeSnapshot]| membership(s, at).len();
    let mut down = snapshots.clone();
    down[0].members[1].status = MemberStatus::Down;
    assert_eq!(status(&down), 1);
    // The settled cluster's rule between checks: a Suspect is a doubt, a Down a verdict.
    assert_eq!(no_false_verdict(&down, at).len(), 1);
    let mut suspect = snapshots.clone();
    suspect[0].members[1].status = MemberStatus::Suspect;
    assert_eq!(status(&suspect), 1);
    assert_eq!(no_false_verdict(&suspect, at), Vec::new());
    let mut old = snapshots.clone();
    old[2].members[3].generation = Generation(0);
    assert_eq!(status(&old), 1);
    let mut unknown = snapshots.clone();
    unknown[4].members.retain(|m| m.id.0 != 0);
    assert_eq!(status(&unknown), 1);
    // A crashed node is not held to it; but the live nodes must not hold it alive
    // (completeness: one violation, listing each that does).
    let mut crashed = down.clone();
    crashed[0].down = true;
    assert_eq!(status(&crashed), 1);
    for node in &mut crashed[1..] {
        for member in node.members.iter_mut().filter(|m| m.id.0 == 0) {
            member.status = MemberStatus::Down;
        }
    }
    assert_eq!(status(&crashed), 0, "every live node holds it down");
    crashed[3].members.retain(|m| m.id.0 != 0);
    assert_eq!(status(&crashed), 0, "or does not know it");
    Ok(())
}

/// Removal's promise reads real stores: a crashed member still held alive, or its state kept,
/// breaks it; once every live node holds it Down ([`verdicts`]) and [`removal_bound`] has
/// passed, it holds — each holds the member Removed and nothing of its origin.
#[test]
fn the_purge_invariant_fails_until_a_crashed_member_is_removed_and_its_state_dropped()
-> Result<(), hearsay_actor::Error> {
    use hearsay_actor::chaos::{purged, removal_bound, verdicts};
    use hearsay_actor::{Simulation, SimulationConfig, simulate};
    use hearsay_proto::{Config, MemberStatus, NodeId, Value};
    use std::time::Duration;
    let mut protocol = Config::local();
    let membership = protocol.membership.as_mut().expect("local runs membership");
    membership.removal_after = Duration::from_secs(10);
    let bound = removal_bound(membership);
    let (before, verdict, after) = simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: 6,
            seed: 5,
            protocol,
            ..SimulationConfig::default()
        })?;
        sim.set(0, "k", Value::from("v")).await?;
        sim.run_for(Duration::from_secs(20)).await;
        let before = sim.inspect_all().await?;
        sim.crash(0).await?;
        let just_crashed = sim.inspect_all().await?;
        assert!(!verdicts(&just_crashed), "held Up still, not yet a verdict");
        let mut verdict = None;
        for _ in 0..60 {
            sim.run_for(Duration::from_secs(1)).await;
            let now = sim.inspect_all().await?;
            if verdicts(&now) {
                verdict = Some(now);
                break;
            }
        }
        let verdict = verdict.expect("every live node holds node 0 Down within a minute");
        sim.run_for(bound).await;
        Ok::<_, hearsay_actor::Error>((before, verdict, sim.inspect_all().await?))
    })??;
    let at = Duration::ZERO;
    assert!(after[0].down);
    assert_eq!(purged(&after, at), Vec::new());
    // At the verdicts, node 0 is Down everywhere but not removed yet: broken.
    assert_eq!(purged(&verdict, at).len(), 1);
    for node in &after[1..] {
        let held = node.members.iter().find(|m| m.id == NodeId(0));
        assert!(held.is_none_or(|m| m.status == MemberStatus::Removed));
        assert!(node.store.origin(NodeId(0)).is_none());
    }
    // Before the crash every node held node 0 Up with its write: down, that breaks it.
    let mut held = before.clone();
    held[0].down = true;
    let found = purged(&held, at);
    assert_eq!(found.len(), 1);
    assert!(found[0].detail.contains("keeps n0's state"), "{found:?}");
    // Removed, but its state kept: still broken.
    let mut kept = after.clone();
    kept[2].store = before[2].store.clone();
    assert_eq!(purged(&kept, at).len(), 1);
    Ok(())
}
