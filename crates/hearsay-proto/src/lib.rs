//! # hearsay-proto
//!
//! The sans-I/O core of hearsay, a gossip (epidemic) protocol framework. It is deterministic: it
//! does no networking, reads no clock and draws every random choice from an RNG seeded by the
//! caller. A [`Node`] is a value fed inputs (time, datagrams, local writes) that returns outputs
//! (datagrams to send, events); the actor runtime (`hearsay-actor`) and the network adapter
//! (`hearsay-net`) wrap it.
//!
//! What it implements, after the literature the seed article builds on:
//!
//! - **state** ([`Store`]): per origin node a [`Generation`], a heartbeat and versioned entries
//!   with tombstones; merging is idempotent, commutative and monotone;
//! - **ways of working** ([`Mode`]): anti-entropy, rumor mongering ([`Termination`]: feedback or
//!   blind × counter or coin, Demers et al. 1987), and their combination;
//! - **directions** ([`Direction`]): push, pull and push-pull;
//! - **reconciliation under a message-size limit** ([`Strategy`], [`reconcile`]): precise
//!   (random, oldest-first, newest-first) and Scuttlebutt (breadth-first, depth-first), van
//!   Renesse et al. 2008;
//! - **membership and failure detection** ([`membership`], [`fd`]): SWIM probing with indirect
//!   probes and Lifeguard's extensions (the default), or phi accrual over gossiped heartbeats
//!   ([`PhiDetector`]); graceful leaves, removal without resurrection, and tombstone garbage
//!   collection under a gossiped GC horizon;
//! - **wire format** ([`wire`]): rmp-serde messages with protocol version and cluster id, decoded
//!   from untrusted bytes without panics or unbounded allocation.
//!
//! [`Lockstep`] runs N nodes in rounds, for tests and quick experiments.

#![forbid(unsafe_code)]

pub mod churn;
mod config;
mod delta;
mod digest;
mod error;
mod event;
pub mod fd;
mod id;
pub mod lockstep;
mod member_status;
pub mod membership;
mod node;
mod peers;
mod phi;
pub mod reconcile;
mod reserved;
mod rng;
mod rumor;
mod size;
mod small_map;
mod snapshot;
mod stats;
mod store;
mod value;
mod view;
pub mod wire;

pub use config::{
    Config, DEFAULT_CATCH_UP, Direction, FlowControl, LossOfInterest, MAX_MESSAGE, MAX_RELAY,
    MIN_MTU, Mode, Termination,
};
pub use delta::{Delta, OriginDelta};
pub use digest::{Bounds, Digest, ItemId, OriginItems, OriginSummary};
pub use error::{Error, ErrorKind};
pub use event::{Event, PurgeReason, Via};
pub use fd::{FdMessage, Incarnation, Liveness, MAX_ADDRESS_LEN, MemberUpdate, Probe};
pub use id::{ClusterId, Generation, NodeId, Version};
pub use lockstep::{Lockstep, RoundReport};
pub use membership::{
    Detector, HeartbeatConfig, Member, MemberStatus, MembershipConfig, SwimConfig,
};
pub use node::{Node, Transmit};
pub use peers::{DenseIds, Peers};
pub use phi::{PhiConfig, PhiDetector, PhiModel};
pub use reconcile::Strategy;
pub use rumor::{RumorId, Rumors};
pub use size::Budget;
pub use snapshot::{MAX_SAVED_MEMBERS, SNAPSHOT_FORMAT, SavedMember, Snapshot};
pub use stats::{Stats, Traffic};
pub use store::{Change, Entry, MergeReport, OriginState, Store};
pub use value::Value;
pub use view::{
    Addresses, MAX_CONTACTS, MAX_SHUFFLE, OUTSIDE_EVERY, View, ViewConfig, ViewMessage,
};
pub use wire::{Body, Message, MessageKind, PROTOCOL_VERSION, RumorIds, RumorMessage};
