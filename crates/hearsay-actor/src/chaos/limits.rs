//! What a scenario may ask of the harness: [`Scenario::validate`], which [`crate::chaos::run`]
//! calls first, so that a scenario read from a file (`hearsay sim chaos --replay`) that names a
//! node that does not exist, or asks for a billion nodes, a gigabyte value or a century of
//! virtual time, is refused with a reason instead of panicking, exhausting memory or running
//! for ever.

use super::scenario::{Fault, Scenario};
use crate::Error;
use std::time::Duration;

/// Most nodes a scenario may have, joiners included (the search draws at most 2,000).
pub const MAX_SCENARIO_NODES: usize = 10_000;
/// Most events a scenario may list.
pub const MAX_EVENTS: usize = 100_000;
/// Longest value a write may ask for.
pub const MAX_VALUE_LEN: usize = 1 << 20;
/// Longest fault phase, and the latest instant an event may be at.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);
/// Longest latency a datagram may be given.
pub const MAX_LATENCY: Duration = Duration::from_secs(60);

impl Scenario {
    /// Checks that the harness can run this scenario: sizes within the limits above, every node
    /// an event or a seed list names one the scenario has (its `nodes`, then one more per
    /// [`Fault::Join`] so far), probabilities within 0–1, and a valid protocol configuration.
    pub fn validate(&self) -> Result<(), Error> {
        let fail = |reason: String| Err(Error::InvalidScenario(reason));
        let joins = self
            .events
            .iter()
            .filter(|(_, fault)| matches!(fault, Fault::Join { .. }))
            .count();
        if self.nodes == 0 || self.nodes.saturating_add(joins) > MAX_SCENARIO_NODES {
            return fail(format!(
                "{} nodes and {joins} joins: 1 to {MAX_SCENARIO_NODES} nodes in all",
                self.nodes
            ));
        }
        if self.events.len() > MAX_EVENTS {
            return fail(format!("{} events, over {MAX_EVENTS}", self.events.len()));
        }
        if self.duration > MAX_DURATION {
            return fail(format!("a fault phase of {:?}, over a day", self.duration));
        }
        let (min, max) = self.latency;
        if min > max || max > MAX_LATENCY {
            return fail(format!(
                "latency {min:?}–{max:?}: at most a minute, min ≤ max"
            ));
        }
        probabilities(self.loss, self.duplicate)?;
        self.protocol.validate()?;
        let mut existing = self.nodes;
        let node = |index: usize, existing: usize| {
            if index < existing {
                Ok(())
            } else {
                Err(Error::InvalidScenario(format!(
                    "node {index} does not exist (the scenario has {existing} by then)"
                )))
            }
        };
        for &seed in self.seed_peers.iter().flatten() {
            node(seed, self.nodes)?;
        }
        for (at, fault) in &self.events {
            if *at > MAX_DURATION {
                return fail(format!("an event at {at:?}, over a day"));
            }
            match fault {
                Fault::Set { node: n, len, .. } | Fault::SetTtl { node: n, len, .. } => {
                    node(*n, existing)?;
                    if *len > MAX_VALUE_LEN {
                        return fail(format!("a value of {len} bytes, over {MAX_VALUE_LEN}"));
                    }
                }
                Fault::Delete { node: n, .. }
                | Fault::Crash(n)
                | Fault::Restart { node: n, .. }
                | Fault::Leave(n)
                | Fault::Reincarnate { node: n, .. }
                | Fault::Pause(n)
                | Fault::Resume(n)
                | Fault::Relaunch { node: n } => node(*n, existing)?,
                Fault::Partition(groups) => {
                    for &n in groups.iter().flatten() {
                        node(n, existing)?;
                    }
                }
                Fault::OneWay { from, to } => {
                    for &n in from.iter().chain(to) {
                        node(n, existing)?;
                    }
                }
                Fault::Network { loss, duplicate } => probabilities(*loss, *duplicate)?,
                Fault::Join { seeds } => {
                    for &n in seeds {
                        node(n, existing)?;
                    }
                    existing += 1;
                }
                Fault::Heal => {}
            }
        }
        Ok(())
    }
}

/// Loss and duplication, each a probability.
fn probabilities(loss: f64, duplicate: f64) -> Result<(), Error> {
    if (0.0..=1.0).contains(&loss) && (0.0..=1.0).contains(&duplicate) {
        return Ok(());
    }
    Err(Error::InvalidScenario(format!(
        "loss {loss}, duplicate {duplicate}: a probability is 0 to 1"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(scenario: &Scenario, needle: &str) {
        match scenario.validate() {
            Err(Error::InvalidScenario(reason)) => {
                assert!(reason.contains(needle), "{reason} (wanted {needle})");
            }
            other => panic!("expected a refusal about {needle}, got {other:?}"),
        }
    }

    #[test]
    fn drawn_scenarios_are_valid_and_impossible_ones_are_refused() {
        for seed in 0..200 {
            let scenario = Scenario::generate(seed);
            scenario.validate().expect("a drawn scenario");
        }
        let base = Scenario::generate(7);
        let with = |fault: Fault| {
            let mut scenario = base.clone();
            scenario.events.push((Duration::from_secs(1), fault));
            scenario
        };
        refused(&with(Fault::Crash(usize::MAX)), "does not exist");
        refused(&with(Fault::Crash(base.nodes)), "does not exist");
        let join = with(Fault::Join { seeds: vec![0] });
        join.validate().expect("a join adds a node");
        let mut joined = join.clone();
        joined
            .events
            .push((Duration::from_secs(2), Fault::Crash(base.nodes)));
        joined.validate().expect("the joiner exists once it joined");
        refused(
            &with(Fault::Set {
                node: 0,
                key: "k".into(),
                len: 3_000_000_000,
            }),
            "bytes",
        );
        refused(
            &with(Fault::Partition(vec![vec![0], vec![99_999]])),
            "does not exist",
        );
        refused(
            &with(Fault::Network {
                loss: f64::NAN,
                duplicate: 0.0,
            }),
            "probability",
        );
        refused(
            &Scenario {
                nodes: 1_000_000_000,
                ..base.clone()
            },
            "nodes",
        );
        refused(
            &Scenario {
                duration: Duration::from_secs(1 << 50),
                ..base.clone()
            },
            "day",
        );
        refused(
            &Scenario {
                seed_peers: Some(vec![base.nodes]),
                ..base.clone()
            },
            "does not exist",
        );
    }
}
