//! # hearsay
//!
//! A gossip-protocol cluster framework. Every node is a value of the sans-I/O protocol core
//! ([`proto`]); runtimes wrap it: actix actors in-process and on a deterministic harness
//! (`actor`), and the same actors across processes and machines (`net`: sealed UDP datagrams by
//! default, or authenticated, encrypted TCP).
//!
//! ```
//! use hearsay::prelude::*;
//! use hearsay::proto::Lockstep;
//!
//! // 100 nodes in lockstep rounds; node 0 writes one key; every node learns it.
//! let mut cluster = Lockstep::new(100, Config::default(), 7, std::time::Instant::now())?;
//! let now = cluster.now();
//! if let Some(node) = cluster.node_mut(0) {
//!     node.set(now, "leader", Value::from("n0"))?;
//! }
//! let rounds = cluster.run_until(100, |c| c.converged());
//! assert!(rounds.is_some());
//! # Ok::<(), hearsay::proto::Error>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `actor` | yes | `hearsay::actor` (`hearsay-actor`): every node an actix actor, the in-process `Router`, and the actor API in the [`prelude`] |
//! | `net` | yes | `hearsay::net` (`hearsay-net`): node actors across processes and machines over sealed UDP datagrams (the default) or authenticated, encrypted TCP; implies `actor` |
//! | `sim` | no | the deterministic harness in `hearsay::actor`: `simulate`/`Simulation` in paused virtual time (tokio's `test-util`), the simulated `Network`, the `Recorder`, the fault search `chaos`, and the crash/restart hooks; implies `actor` |
//!
//! The default is what an application embedding gossip needs: actors and the network. The
//! harness is for tests and experiments (`[dev-dependencies] hearsay = { .., features = ["sim"] }`),
//! and keeps virtual time out of production builds. `default-features = false` leaves only the
//! protocol core ([`proto`]), with no actix and no tokio, for a runtime of one's own.

#![forbid(unsafe_code)]

#[cfg(feature = "actor")]
pub use hearsay_actor as actor;
#[cfg(feature = "net")]
pub use hearsay_net as net;
pub use hearsay_proto as proto;

/// The types most programs need: the protocol core's, and with the `actor` feature the node
/// actor and the messages it understands.
pub mod prelude {
    #[cfg(feature = "actor")]
    pub use hearsay_actor::{
        Cause, Delete, Get, GetEntries, GetMembers, GetMetrics, GossipNode, Join, KeyChanged,
        Leave, MemberChanged, NodeMetrics, Router, Set, SetWithTtl, StoredEntry, Subscribe,
        SubscribeMembership, TakeSnapshot, Transport, TrySet, Unsubscribe, UnsubscribeMembership,
    };
    pub use hearsay_proto::{
        ClusterId, Config, Direction, Event, Generation, MemberStatus, MembershipConfig,
        MessageKind, Mode, Node, NodeId, PurgeReason, Snapshot, Strategy, Termination, Value,
        Version, Via,
    };
}

/// The README's Rust snippets, compiled (and run) by `cargo test --doc`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The Rust snippets of `docs/`, compiled (and run) by `cargo test --doc`.
#[cfg(doctest)]
pub mod docs {
    /// `docs/membership.md`.
    #[doc = include_str!("../docs/membership.md")]
    pub struct Membership;

    /// `docs/testing-your-app.md`.
    #[doc = include_str!("../docs/testing-your-app.md")]
    pub struct TestingYourApp;
}
