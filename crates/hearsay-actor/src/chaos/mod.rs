//! A randomized fault search (in the style of FoundationDB's simulation and TigerBeetle's VOPR):
//! one seed draws a whole scenario — cluster size, a protocol configuration from the supported
//! space, a lossy, duplicating, reordering network, and a timed list of writes, deletes,
//! partitions, crashes, restarts and leaves — which runs on the deterministic harness; then the
//! network heals and the nodes' real state is checked against the invariants of
//! `docs/protocol.md`. A failing seed shrinks to a minimal scenario that replays exactly.
//!
//! ```
//! use hearsay_actor::chaos::{RunConfig, Scenario, run};
//!
//! let scenario = Scenario::generate(7);
//! let outcome = run(&scenario, &RunConfig::default())?;
//! assert!(outcome.passed(), "{:?}", outcome.violations);
//! // Same seed, same run.
//! assert_eq!(run(&scenario, &RunConfig::default())?.fingerprint, outcome.fingerprint);
//! # Ok::<(), hearsay_actor::Error>(())
//! ```
//!
//! The modes that promise convergence are searched: anti-entropy and the combined mode. Rumor
//! mongering alone may leave a residue by design (Demers et al. 1987) and is not.

mod check;
mod limits;
mod net_peers;
mod run;
mod scenario;
mod shrink;

pub use check::{
    Model, REMOVAL_SLACK, Violation, always, converged, healed, membership, no_false_verdict,
    purged, removal_bound, verdicts,
};
pub use limits::{MAX_DURATION, MAX_EVENTS, MAX_LATENCY, MAX_SCENARIO_NODES, MAX_VALUE_LEN};
pub use run::{Outcome, RunConfig, run};
pub use scenario::{Fault, MAX_NODES, Scenario};
pub use shrink::shrink;
