//! The keys reserved for the protocol: a node's status, its tombstone GC horizon and the address
//! its runtime is reached at, written under its own origin (re-exported from
//! [`crate::membership`]).

/// Keys starting with this prefix are reserved for the protocol: local writes of such keys are
/// refused, and peers interpret them ([`STATUS_KEY`], [`GC_KEY`]).
pub const RESERVED_PREFIX: &str = "\u{0}hearsay/";

/// The reserved key under which an origin announces its status; the value `left`
/// ([`LEFT`]) is a graceful leave.
pub const STATUS_KEY: &str = "\u{0}hearsay/status";

/// The reserved key under which an origin publishes its tombstone GC horizon: an 8-byte
/// big-endian version. Every tombstone of the origin at or below it has been collected.
pub const GC_KEY: &str = "\u{0}hearsay/gc";

/// The reserved key under which an origin announces where its runtime is reached (a network
/// address as text, written by [`crate::Node::advertise`]). Users cannot write it: a `set` of it
/// is refused, so no user key rewires a cluster's transport.
pub const ADDR_KEY: &str = "\u{0}hearsay/addr";

/// The value of [`STATUS_KEY`] that announces a graceful leave.
pub const LEFT: &[u8] = b"left";

/// Whether `key` is reserved for the protocol.
pub fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX)
}
