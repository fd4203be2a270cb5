//! # hearsay-actor
//!
//! hearsay's actor runtime: every gossip node is an actix actor ([`GossipNode`]) that owns one
//! sans-I/O protocol value from `hearsay-proto` and exchanges encoded datagrams with its peers:
//! in-process through an inbox each node's task drains ([`Router::start`]), across machines
//! through its mailbox.
//!
//! - **Embed** nodes in an actix application: talk to them with [`Set`], [`Get`], [`Delete`],
//!   [`GetEntries`], [`Subscribe`] (pub/sub on key prefixes) and [`GetMetrics`]; with membership
//!   on, [`SubscribeMembership`], [`GetMembers`] and [`Leave`].
//!   [`Inspect`] copies a node's real protocol state (store with watermarks and GC horizons,
//!   members, counters) for debugging.
//! - **Transports**: a node never knows where its peers are. The in-process [`Router`] delivers
//!   to each node's inbox; the simulated `Network` (feature `sim`) adds latency, loss, duplication,
//!   reordering and partitions; `hearsay-net` bridges machines.
//! - **Test** with the deterministic harness (`Simulation` inside `simulate`, feature `sim`):
//!   paused virtual time, one seed for every RNG, a `Recorder` of traffic, learn times, stale
//!   entries and a trace; crashes and restarts as new generations; the fault search (`chaos`).
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sim` | no | the deterministic harness: `Simulation`/`simulate` (tokio's paused time, `tokio/test-util`), the simulated `Network` and its fault messages, the `Recorder`, `chaos`, and the node hooks `Crash`, `Resume`, `Restart`, `Reincarnate`, `SetMaxDeltas` |
//!
//! Without `sim` the crate is the production runtime only: [`GossipNode`], its messages and the
//! [`Router`].

#![forbid(unsafe_code)]

#[cfg(feature = "sim")]
pub mod chaos;
mod error;
mod messages;
#[cfg(feature = "sim")]
mod network;
mod node;
mod node_inbox;
#[cfg(feature = "sim")]
mod recorder;
#[cfg(feature = "sim")]
mod simulation;
pub mod throttle;
mod transport;

pub use error::Error;
pub use messages::{
    AddPeer, Cause, Datagram, Delete, Get, GetEntries, GetMembers, GetMetrics, GetPeers, Inspect,
    Join, KeyChanged, Leave, MemberChanged, MoveAbove, NodeMetrics, NodeSnapshot, Observation,
    Observe, OriginSummary, PeerFailed, RemovePeer, Set, SetWithTtl, StoredEntry, Subscribe,
    SubscribeMembership, TakeSnapshot, TrySet, Unsubscribe, UnsubscribeMembership, Views,
};
#[cfg(feature = "sim")]
pub use messages::{Crash, Reincarnate, Restart, Resume, SetMaxDeltas};
#[cfg(feature = "sim")]
pub use network::{
    Cut, HELD_BYTES, Heal, Latency, Network, NetworkConfig, NetworkLink, Outgoing, Partition,
    SetFaults, SetLink,
};
pub use node::{GossipNode, MAX_MAILBOX};
#[cfg(feature = "sim")]
pub use recorder::{Held, Recorder, RecorderHandle, StaleSample, UpdateRecord};
#[cfg(feature = "sim")]
pub use simulation::{Simulation, SimulationConfig, simulate};
pub use transport::{Route, Router, Transport};
