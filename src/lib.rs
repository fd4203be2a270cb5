//! # hearsay
//!
//! A gossip-protocol cluster framework. Every node is a value of the sans-I/O protocol core
//! ([`proto`]); runtimes wrap it: actix actors in-process and on a deterministic harness
//! ([`actor`]), and the same actors across processes and machines over encrypted TCP ([`net`]).
//!
//! ```
//! use hearsay::prelude::*;
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

#![forbid(unsafe_code)]

pub use hearsay_actor as actor;
pub use hearsay_net as net;
pub use hearsay_proto as proto;

/// The types most programs need.
pub mod prelude {
    pub use hearsay_proto::{
        ClusterId, Config, Direction, Event, Generation, Lockstep, MessageKind, Mode, Node, NodeId,
        Strategy, Termination, Value,
    };
}
