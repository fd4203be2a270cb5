//! # hearsay-net
//!
//! The network adapter: the same [`hearsay_actor::GossipNode`] that runs in-process joins a
//! cluster spread over processes and machines.
//!
//! - **Transport** ([`NetNode`], [`TransportKind`]): by default one UDP socket per node and a
//!   sealed datagram per gossip message, no connections ([`datagram`]); or, with
//!   [`TransportKind::Stream`], a listener and one actor per TCP connection ([`Mesh`],
//!   [`NetTransport`]), frames length-delimited (4-byte length, limit checked before allocating).
//!   Both carry the protocol's own encoded messages; the protocol crate does not change.
//! - **Handshake** ([`session`]): cluster name, protocol version, node id and generation, both
//!   ways, before any gossip; mismatches are refused and logged on both sides.
//! - **Security** ([`Key`], [`Keyring`]): every frame sealed with XChaCha20-Poly1305 under a
//!   cluster key; per-connection randoms and counters make nonces unique and replays fail; a
//!   keyring rotates keys on a live cluster.
//! - **Robustness**: bounded queues that drop instead of blocking, timeouts for handshakes, idle
//!   links and writes, a connection limit, jittered exponential redial ([`backoff`]).
//! - **Control** ([`control`]): the line protocol `hearsay node` speaks on stdin/stdout.
//!
//! `docs/networking.md` documents the wire format and the security model.
//!
//! ## Modules
//!
//! Each imports only modules listed before it (no import cycle; `frame`'s docs link to
//! `session`, which imports `frame`):
//!
//! - `error`, `random`, [`backoff`], `stats`, `key` (`random`): errors, randomness, redial
//!   delays, counters, keys;
//! - [`frame`]: the frame kinds and encodings; `frame_codec`: the stream's length-delimited
//!   framing, its limit held to the handshake's largest frame until authentication (`frame`);
//!   `config`: [`NetConfig`] (`frame`); [`session`]: one
//!   connection's handshake, sealing and timers, sans I/O (`frame`, `key`);
//! - `link`: the messages between a connection and the keeper of its links (`session`, `frame`,
//!   `key`);
//! - `connection`: one TCP connection as an actor, driving a [`session::Session`] and reporting
//!   to a `link::Links` — it does not know the mesh (`link`, `session`, `frame`, `key`, `stats`,
//!   `config`, `random`);
//! - `transport`: [`NetTransport`], routes from peer id to a link (`link`, `stats`);
//! - `mesh`: [`Mesh`], which accepts, dials and keeps links (`connection`, `link`, `transport`,
//!   `backoff`);
//! - `node`: [`NetNode`], which wires it all up (`mesh`, `transport`, `connection`'s writer
//!   count); [`control`]: the line protocol over a [`NetNode`].

#![forbid(unsafe_code)]

mod address_book;
pub mod backoff;
mod bounded_read;
mod config;
mod connection;
pub mod control;
pub mod datagram;
mod error;
pub mod frame;
mod frame_codec;
mod key;
mod link;
mod mesh;
mod node;
mod random;
pub mod replay;
mod resolve;
mod saver;
pub mod session;
mod state_file;
mod stats;
mod transport;
mod udp;

pub use address_book::{AddressBook, MAX_ADDRESSES};
pub use bounded_read::read_bounded;
pub use config::{MAX_LIMIT, NetConfig, SEAL_OVERHEAD, TransportKind};
pub use datagram::DATAGRAM_OVERHEAD;
pub use error::Error;
pub use frame_codec::MAX_HANDSHAKE_FRAME;
pub use key::{KEY_LEN, Key, Keyring, MAX_KEY_FILE, MAX_KEYS};
pub use mesh::{
    AddSeed, GetLinks, Link, Mesh, SetKeyring, Shutdown, handshake_budget,
    handshake_budget_per_source,
};
pub use node::{NetNode, Stopped};
pub use random::random_u64;
pub use state_file::{MAX_STATE_FILE, StateFile, StateLock};
#[allow(deprecated)]
pub use stats::Snapshot;
pub use stats::{Counter, CounterValues, NetStats};
pub use transport::NetTransport;
pub use udp::Udp;

/// The reserved key under which every networked node gossips the address peers should reach it
/// at (users cannot write it: see [`hearsay_proto::Node::advertise`]).
pub use hearsay_proto::membership::ADDR_KEY;
