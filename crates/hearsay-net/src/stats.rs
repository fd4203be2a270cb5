//! Counters of one networked node's links, shared by its connection actors.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters (atomics: connections update them without locks).
#[derive(Debug, Default)]
pub struct NetStats {
    counters: [AtomicU64; Counter::ALL.len()],
}

/// One counter of [`NetStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Counter {
    /// Frames (or datagrams) received, any kind.
    FramesIn,
    /// Frames (or datagrams) written.
    FramesOut,
    /// Bytes received, length prefixes included.
    BytesIn,
    /// Bytes written, length prefixes included.
    BytesOut,
    /// Gossip messages handed to the node.
    GossipIn,
    /// Gossip messages sealed for a peer.
    GossipOut,
    /// Frames that failed authentication (the connection was closed), or datagrams (dropped).
    AuthFailures,
    /// Frames that were malformed, oversized or out of place (the connection was closed), or
    /// such datagrams (dropped).
    BadFrames,
    /// Handshakes refused (cluster, version or id mismatch, or refused by the peer).
    Refused,
    /// Connections closed for a timeout (handshake, idle, write).
    Timeouts,
    /// Gossip messages dropped on the way out: a peer's queue was full, it had no link, or the
    /// datagram was over the size limit.
    Dropped,
    /// Gossip messages dropped on the way out because the peer's address was not known (yet):
    /// neither membership, nor a hello, nor the reserved address key had told it.
    Unaddressed,
    /// Gossip messages received but dropped because the node's inbound queue (its mailbox,
    /// `NetConfig::inbound_queue`) was full.
    InboundDropped,
    /// Connections accepted.
    Accepted,
    /// Connections refused at accept, or dials put off, because of `max_connections`.
    OverLimit,
    /// Dials attempted (or hellos sent to a seed).
    Dials,
    /// Handshakes completed (or seeds that answered a hello).
    Established,
    /// Hellos and welcomes refused as replays or duplicates (datagrams): a hello not newer than
    /// the last one taken from its sender, a welcome answering no hello this node waits on.
    Replays,
    /// Notices sent that a peer's id runs elsewhere at a newer generation (datagrams): gossip
    /// sealed by an older generation of a peer than the book holds came from another socket.
    SupersededNotices,
    /// Notices received that this node's id runs elsewhere at a newer generation (datagrams):
    /// another process runs the id, and the cluster routes the id's traffic to it.
    Superseded,
}

impl Counter {
    /// Every counter, in display order.
    pub const ALL: [Counter; 20] = [
        Counter::FramesIn,
        Counter::FramesOut,
        Counter::BytesIn,
        Counter::BytesOut,
        Counter::GossipIn,
        Counter::GossipOut,
        Counter::AuthFailures,
        Counter::BadFrames,
        Counter::Refused,
        Counter::Timeouts,
        Counter::Dropped,
        Counter::Unaddressed,
        Counter::InboundDropped,
        Counter::Accepted,
        Counter::OverLimit,
        Counter::Dials,
        Counter::Established,
        Counter::Replays,
        Counter::SupersededNotices,
        Counter::Superseded,
    ];

    /// The counter's name in snapshots.
    pub fn name(self) -> &'static str {
        match self {
            Counter::FramesIn => "frames_in",
            Counter::FramesOut => "frames_out",
            Counter::BytesIn => "bytes_in",
            Counter::BytesOut => "bytes_out",
            Counter::GossipIn => "gossip_in",
            Counter::GossipOut => "gossip_out",
            Counter::AuthFailures => "auth_failures",
            Counter::BadFrames => "bad_frames",
            Counter::Refused => "refused",
            Counter::Timeouts => "timeouts",
            Counter::Dropped => "dropped",
            Counter::Unaddressed => "unaddressed",
            Counter::InboundDropped => "inbound_dropped",
            Counter::Accepted => "accepted",
            Counter::OverLimit => "over_limit",
            Counter::Dials => "dials",
            Counter::Established => "established",
            Counter::Replays => "replays",
            Counter::SupersededNotices => "superseded_notices",
            Counter::Superseded => "superseded",
        }
    }
}

impl NetStats {
    /// Adds `by` to a counter.
    pub fn add(&self, counter: Counter, by: u64) {
        self.counters[counter as usize].fetch_add(by, Ordering::Relaxed);
    }

    /// A counter's value.
    pub fn get(&self, counter: Counter) -> u64 {
        self.counters[counter as usize].load(Ordering::Relaxed)
    }

    /// Every counter by name.
    pub fn snapshot(&self) -> CounterValues {
        CounterValues(
            Counter::ALL
                .iter()
                .map(|&counter| (counter.name(), self.get(counter)))
                .collect(),
        )
    }
}

/// Counter values by name, serialisable as a JSON object ([`NetStats::snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CounterValues(pub std::collections::BTreeMap<&'static str, u64>);

/// The old name of [`CounterValues`], which a node's persisted state
/// ([`hearsay_proto::Snapshot`]) now has.
#[deprecated(note = "renamed CounterValues: `Snapshot` is the node's persisted state")]
pub type Snapshot = CounterValues;
