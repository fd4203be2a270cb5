//! Shrinking a failing scenario to a small one that still fails (delta debugging over its events,
//! then simpler settings).

use super::run::{RunConfig, run};
use super::scenario::Scenario;
use crate::Error;

/// Shrinks `scenario`, which fails, trying at most `tries` runs: first drops chunks of events
/// (halves, quarters, … single events), then tries simpler settings one at a time (no loss, no
/// duplication, no seed peers, membership off, no `max_deltas`, views off, flow control off, …). Every step
/// keeps the change only if the run still breaks an invariant. Returns the smallest failing
/// scenario found and the runs it took.
pub fn shrink(
    scenario: &Scenario,
    config: &RunConfig,
    tries: usize,
    mut progress: impl FnMut(&Scenario),
) -> Result<(Scenario, usize), Error> {
    let mut best = scenario.clone();
    let mut runs = 0;
    let fails = |candidate: &Scenario, runs: &mut usize| -> Result<bool, Error> {
        match run(candidate, config) {
            // A cut that leaves an event naming a node only a dropped join would have added
            // cannot run: it is no smaller failing scenario (and no run spent).
            Err(Error::InvalidScenario(_)) => Ok(false),
            outcome => {
                *runs += 1;
                Ok(!outcome?.passed())
            }
        }
    };
    // Delta debugging over the events.
    let mut chunk = best.events.len().div_ceil(2).max(1);
    loop {
        let mut start = 0;
        let mut removed_any = false;
        while start < best.events.len() && runs < tries {
            let mut candidate = best.clone();
            let end = (start + chunk).min(candidate.events.len());
            candidate.events.drain(start..end);
            if fails(&candidate, &mut runs)? {
                best = candidate;
                removed_any = true;
                progress(&best);
            } else {
                start += chunk;
            }
        }
        if runs >= tries || (chunk == 1 && !removed_any) {
            break;
        }
        if !removed_any {
            chunk = chunk.div_ceil(2).max(1);
        }
    }
    // Simpler settings, one at a time.
    let simplifications: Vec<fn(&mut Scenario) -> bool> = vec![
        |s| std::mem::replace(&mut s.loss, 0.0) != 0.0,
        |s| std::mem::replace(&mut s.duplicate, 0.0) != 0.0,
        |s| s.seed_peers.take().is_some(),
        |s| std::mem::replace(&mut s.stream, false),
        |s| std::mem::replace(&mut s.net_peers, false),
        // Only while the scenario stays one the generator draws (`Scenario::coherent`).
        |s| s.protocol.membership.take().is_some(),
        |s| s.protocol.max_deltas.take().is_some(),
        |s| s.protocol.view.take().is_some(),
        |s| s.protocol.flow_control.take().is_some(),
        |s| std::mem::replace(&mut s.protocol.fanout, 1) != 1,
        |s| {
            let same = s.latency.0 == s.latency.1;
            s.latency.1 = s.latency.0;
            !same
        },
        |s| {
            // Fewer nodes, when no event names the ones dropped.
            let used = s
                .events
                .iter()
                .map(|(_, f)| f.max_node())
                .chain(s.seed_peers.iter().flatten().copied())
                .max()
                .unwrap_or(0);
            let fewer = (used + 1).max(2).min(s.nodes);
            std::mem::replace(&mut s.nodes, fewer) != fewer
        },
    ];
    for simplify in simplifications {
        if runs >= tries {
            break;
        }
        let mut candidate = best.clone();
        if simplify(&mut candidate) && candidate.coherent() && fails(&candidate, &mut runs)? {
            best = candidate;
            progress(&best);
        }
    }
    Ok((best, runs))
}
