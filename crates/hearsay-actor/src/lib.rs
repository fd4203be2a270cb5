//! # hearsay-actor
//!
//! hearsay's actor runtime: every gossip node is an actix actor ([`GossipNode`]) that owns one
//! sans-I/O protocol value from `hearsay-proto` and exchanges encoded datagrams with its peers
//! through their mailboxes.
//!
//! - **Embed** nodes in an actix application: talk to them with [`Set`], [`Get`], [`Delete`],
//!   [`GetView`], [`Subscribe`] (pub/sub on key prefixes) and [`GetMetrics`]; with membership
//!   on, [`SubscribeMembership`], [`GetMembers`] and [`Leave`].
//! - **Transports**: a node never knows where its peers are. The in-process [`Router`] delivers
//!   mailbox to mailbox; the simulated [`Network`] adds latency, loss, duplication, reordering and
//!   partitions; `hearsay-net` bridges machines.
//! - **Test** with the deterministic harness ([`Simulation`] inside [`simulate`]): paused virtual
//!   time, one seed for every RNG, a [`Recorder`] of traffic, learn times, stale entries and a
//!   trace; crashes and restarts as new generations.

#![forbid(unsafe_code)]

pub mod chaos;
mod error;
mod messages;
mod network;
mod node;
mod recorder;
mod simulation;
mod transport;

pub use error::Error;
pub use messages::{
    AddPeer, Crash, Datagram, Delete, Get, GetMembers, GetMetrics, GetPeers, GetView, Inspect,
    Join, KeyChanged, Leave, MemberChanged, NodeMetrics, NodeSnapshot, Reincarnate, RemovePeer,
    Restart, Set, SetMaxDeltas, Subscribe, SubscribeMembership, TrySet, ViewEntry,
};
pub use network::{
    Heal, Latency, Network, NetworkConfig, NetworkLink, Outgoing, Partition, SetFaults, SetLink,
};
pub use node::GossipNode;
pub use recorder::{Held, Recorder, RecorderHandle, StaleSample, UpdateRecord};
pub use simulation::{Simulation, SimulationConfig, simulate};
pub use transport::{Router, Transport};
