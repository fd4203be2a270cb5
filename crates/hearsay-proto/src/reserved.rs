//! The keys reserved for the protocol: a node's status and its tombstone GC horizon, written
//! under its own origin (re-exported from [`crate::membership`]).

/// Keys starting with this prefix are reserved for the protocol: local writes of such keys are
/// refused, and peers interpret them ([`STATUS_KEY`], [`GC_KEY`]).
pub const RESERVED_PREFIX: &str = "\u{0}hearsay/";

/// The reserved key under which an origin announces its status; the value `left`
/// ([`LEFT`]) is a graceful leave.
pub const STATUS_KEY: &str = "\u{0}hearsay/status";

/// The reserved key under which an origin publishes its tombstone GC horizon: an 8-byte
/// big-endian version. Every tombstone of the origin at or below it has been collected.
pub const GC_KEY: &str = "\u{0}hearsay/gc";

/// The value of [`STATUS_KEY`] that announces a graceful leave.
pub const LEFT: &[u8] = b"left";

/// Whether `key` is reserved for the protocol.
pub fn is_reserved(key: &str) -> bool {
    key.starts_with(RESERVED_PREFIX)
}
