//! A node that stops for a while (a `SIGSTOP`, a suspended VM, a long GC pause) and continues,
//! same process, same generation, comes back: declared Down meanwhile, it is Up again; removed
//! meanwhile, it refutes its removal and rejoins as a new incarnation, its live writes with it.
//! What reached it meanwhile waits in its receive buffer, as in a socket's, and is read, stale,
//! when it continues.

#[path = "common/trace.rs"]
mod trace;

use hearsay_actor::{HELD_BYTES, NodeSnapshot, Simulation, SimulationConfig, simulate};
use hearsay_proto::{Config, MemberStatus, MembershipConfig, Mode, NodeId, Stats, Value};
use std::time::Duration;

/// What became of node 6: its generation before the pause, the statuses the others held of it
/// when it resumed (`None`: no entry), and its generation once the cluster settled.
struct Paused {
    before: u64,
    seen: Vec<Option<MemberStatus>>,
    after: u64,
}

/// 20 nodes with membership (`removal_after` as given); node 6 writes, stops for `pause`, and
/// writes again once resumed; the cluster settles when every node holds both writes and node 6
/// Up.
fn paused(removal_after: Duration, pause: Duration) -> Result<Paused, hearsay_actor::Error> {
    simulate(|| async {
        let protocol = Config {
            mode: Mode::AntiEntropy,
            membership: Some(MembershipConfig {
                removal_after,
                ..MembershipConfig::default()
            }),
            ..Config::default()
        };
        let sim = Simulation::start(SimulationConfig {
            nodes: 20,
            seed: 9,
            protocol,
            ..SimulationConfig::default()
        })?;
        sim.set(6, "before", Value::from("1")).await?;
        sim.run_for(Duration::from_secs(20)).await;
        let old = sim.inspect(6).await?.generation;
        sim.pause(6).await?;
        sim.run_for(pause).await;
        let seen = (sim.inspect_all().await?.iter())
            .filter(|n| n.id != NodeId(6))
            .map(|n| {
                (n.members.iter())
                    .find(|m| m.id == NodeId(6))
                    .map(|m| m.status)
            })
            .collect();
        sim.resume(6).await?;
        sim.set(6, "after", Value::from("2")).await?;
        let holds = |n: &NodeSnapshot, key: &str| n.store.get(NodeId(6), key).is_some();
        let settled = sim
            .run_until_state(Duration::from_secs(600), |nodes| {
                nodes.iter().all(|n| {
                    holds(n, "before")
                        && holds(n, "after")
                        && n.members
                            .iter()
                            .any(|m| m.id == NodeId(6) && m.status == MemberStatus::Up)
                })
            })
            .await?;
        assert!(settled.is_some(), "the paused node never came back");
        Ok(Paused {
            before: old.0,
            seen,
            after: sim.inspect(6).await?.generation.0,
        })
    })?
}

#[test]
fn a_node_paused_past_its_detection_is_up_again_under_its_generation()
-> Result<(), hearsay_actor::Error> {
    let node = paused(Duration::from_secs(300), Duration::from_secs(60))?;
    let down = (node.seen.iter()).all(|s| *s == Some(MemberStatus::Down));
    assert!(down, "not Down everywhere after a minute: {:?}", node.seen);
    assert_eq!(
        node.before, node.after,
        "a Down member needed a new generation"
    );
    Ok(())
}

#[test]
fn a_node_paused_past_its_removal_rejoins_as_a_new_incarnation() -> Result<(), hearsay_actor::Error>
{
    let node = paused(Duration::from_secs(10), Duration::from_secs(60))?;
    let removed = (node.seen.iter()).all(|s| matches!(s, None | Some(MemberStatus::Removed)));
    assert!(
        removed,
        "not removed everywhere after a minute: {:?}",
        node.seen
    );
    assert!(
        node.after > node.before,
        "removed, it stayed under generation {}",
        node.before
    );
    Ok(())
}

/// Bytes a node has read.
fn read(stats: &Stats) -> u64 {
    stats.received.iter().map(|t| t.bytes).sum()
}

/// Node 6 stops for `time` — by `pause`, or by `crash` — while ten others write `writes` values
/// of 1 KB spread over that time, pushed as rumors, and continues: the bytes sent to it meanwhile,
/// and those it reads within a millisecond of continuing.
fn stopped(pause: bool, writes: usize, time: Duration) -> Result<(u64, u64), hearsay_actor::Error> {
    simulate(|| async {
        let sim = Simulation::start(SimulationConfig {
            nodes: 20,
            seed: 11,
            protocol: Config {
                mode: Mode::Combined {
                    anti_entropy_every: 5,
                },
                ..Config::default()
            },
            trace: true,
            ..SimulationConfig::default()
        })?;
        sim.run_for(Duration::from_secs(5)).await;
        if pause {
            sim.pause(6).await?;
        } else {
            sim.crash(6).await?;
        }
        let since = sim.elapsed().as_micros();
        let step = time / writes as u32;
        for i in 0..writes {
            let node = [0, 1, 2, 3, 4, 5, 7, 8, 9, 10][i % 10];
            sim.set(node, &format!("k{i}"), Value::from(vec![b'x'; 1_000]))
                .await?;
            sim.run_for(step).await;
        }
        let sent =
            (sim.recorder().trace()).map_or(0, |t| trace::sent_to(t, since, &[NodeId(6)]).sum());
        let before = read(&sim.inspect(6).await?.stats);
        sim.resume(6).await?;
        sim.run_for(Duration::from_millis(1)).await;
        Ok((sent, read(&sim.inspect(6).await?.stats) - before))
    })?
}

/// What reaches a paused node waits in its receive buffer, as in a socket's, and is read, stale,
/// when it continues; beyond the buffer's 208 KiB it is lost; a crashed process loses it all.
#[test]
fn a_paused_node_reads_what_its_receive_buffer_held() -> Result<(), hearsay_actor::Error> {
    let held = HELD_BYTES as u64;
    let (sent, read) = stopped(true, 30, Duration::from_secs(30))?;
    assert!(
        sent > 0 && sent <= held,
        "{sent} bytes sent: nothing to show"
    );
    assert_eq!(
        read, sent,
        "what reached the paused node, read when it continued"
    );
    let (sent, read) = stopped(true, 60, Duration::from_secs(120))?;
    assert!(sent > held, "{sent} bytes sent: the buffer never filled");
    // Full to within one datagram (at most the 1,400-byte MTU).
    assert!(
        read <= held && read + 1_400 > held,
        "{read} bytes read of {sent} sent, with a buffer of {held}"
    );
    let (sent, read) = stopped(false, 30, Duration::from_secs(30))?;
    assert!(
        sent > 0,
        "nothing sent to the crashed node: nothing to show"
    );
    assert_eq!(read, 0, "a crashed process read what reached it");
    Ok(())
}
