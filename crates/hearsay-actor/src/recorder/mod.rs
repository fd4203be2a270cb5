//! What a simulation observed: traffic by kind, when each node learned each update, stale
//! entries over time, convergence, and a replayable trace.
//!
//! Node actors and the simulated network report into one shared [`Recorder`]; its view of every
//! node's state is kept from the nodes' own events (changes, resets, purges, member removals,
//! restarts and refutations), and checked against the nodes' real state by the tests.

mod holdings;
mod learned;
mod node_events;
mod staleness;
mod traffic;

pub use learned::UpdateRecord;
pub use staleness::StaleSample;

use hearsay_proto::{Generation, MessageKind, NodeId, Traffic, Version};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// A shared handle on a [`Recorder`].
#[derive(Clone, Debug)]
pub struct RecorderHandle(Arc<Mutex<Recorder>>);

impl RecorderHandle {
    /// A recorder whose clock starts at `start`; `trace` keeps a line per event.
    pub fn new(start: Instant, interval: Duration, trace: bool) -> RecorderHandle {
        RecorderHandle(Arc::new(Mutex::new(Recorder::new(start, interval, trace))))
    }

    /// Locks the recorder (never poisoned in practice: nothing panics while holding it).
    pub fn lock(&self) -> MutexGuard<'_, Recorder> {
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// What one node holds: per `(origin, key)`, the generation and version.
pub type Held = BTreeMap<(NodeId, String), (Generation, Version)>;

/// A key of one origin.
type Slot = (NodeId, String);

/// A write's generation and version.
type Stamp = (Generation, Version);

/// A slot's index in the recorder's tables (keys are interned once, then compared as integers).
type SlotId = u32;

/// Per key: its newest write, how many live nodes hold it, and when each write happened.
#[derive(Debug, Default)]
struct KeyState {
    latest: Option<Stamp>,
    /// Whether the newest write is a delete.
    tombstone: bool,
    /// Whether the newest write has left the cluster for good: a delete whose tombstone was
    /// collected, or a write of a removed member. A node that holds nothing of the key is then as
    /// up to date as one that holds the write.
    gone: bool,
    /// Live nodes up to date on the key ([`KeyState::current`]).
    holders: usize,
    history: BTreeMap<Stamp, Duration>,
}

impl KeyState {
    /// Whether a node holding `held` of this key is up to date on it: it holds the newest write,
    /// or nothing when that write is gone. Never when the key has no newest write.
    fn current(&self, held: Option<Stamp>) -> bool {
        self.latest.is_some() && (held == self.latest || (self.gone && held.is_none()))
    }

    /// Forgets the newest write (its incarnation was superseded).
    fn retire(&mut self) {
        self.latest = None;
        self.tombstone = false;
        self.gone = false;
        self.holders = 0;
    }
}

/// Observations of one simulation run.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    interval: Duration,
    trace: Option<String>,
    sent: [Traffic; MessageKind::COUNT],
    messages_with_deltas: u64,
    lost: u64,
    duplicated: u64,
    partitioned: u64,
    /// Per origin, per key: its slot (looked up by `&str`, without building a key).
    slot_ids: BTreeMap<NodeId, BTreeMap<String, SlotId>>,
    slots: Vec<Slot>,
    keys: Vec<KeyState>,
    /// Every node heard of.
    nodes: BTreeSet<NodeId>,
    /// What each node holds, by node and slot: one map for all (a map per node took a B-tree
    /// leaf, ~230 bytes, for the one key each of 100,000 nodes holds).
    held: BTreeMap<(NodeId, SlotId), Stamp>,
    down: BTreeSet<NodeId>,
    updates: BTreeMap<(NodeId, Generation, Version), UpdateRecord>,
    stale: Vec<StaleSample>,
    /// Per node and key it is stale on: since when (the first write it misses). Hashed: every
    /// node's learning of a write looks here, and at 100,000 nodes a tree walk was three cache
    /// misses where a hash is one.
    stale_since: HashMap<(NodeId, SlotId), Duration, BuildHasherDefault<IdHasher>>,
    /// The same, ordered by time, for the oldest stale mapping — and entries no longer in
    /// [`Recorder::stale_since`] (a node that caught up is not looked for here: the search for
    /// the oldest skips them, and they are swept when they outnumber the others).
    by_since: BTreeSet<(Duration, NodeId, SlotId)>,
    /// The ids of [`Recorder::nodes`] below [`DENSE_IDS`](crate::transport::DENSE_IDS), as bits
    /// (512 KB at most): the node of every event is looked up, and a harness numbers its nodes
    /// densely.
    known: Vec<u64>,
}

/// A multiply-and-rotate hash of ids (rustc's "Fx"): the keys are small numbers, and the
/// recorder's own; the one walk of a map it hashes feeds an ordered set (the sweep of
/// [`Recorder::by_since`]), so the map's order never shows.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.write_u64(u64::from(*byte));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Recorder {
    fn new(start: Instant, interval: Duration, trace: bool) -> Recorder {
        Recorder {
            start,
            interval,
            trace: trace.then(String::new),
            sent: [Traffic::default(); MessageKind::COUNT],
            messages_with_deltas: 0,
            lost: 0,
            duplicated: 0,
            partitioned: 0,
            slot_ids: BTreeMap::new(),
            slots: Vec::new(),
            keys: Vec::new(),
            nodes: BTreeSet::new(),
            held: BTreeMap::new(),
            down: BTreeSet::new(),
            updates: BTreeMap::new(),
            stale: Vec::new(),
            stale_since: HashMap::default(),
            by_since: BTreeSet::new(),
            known: Vec::new(),
        }
    }

    /// Time since the start.
    pub fn elapsed(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.start)
    }

    /// The gossip interval rounds are counted in.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// A trace line, when a trace is kept (its time since the start is worked out only then:
    /// every datagram sent comes here).
    fn line(&mut self, now: Instant, text: std::fmt::Arguments<'_>) {
        let start = self.start;
        if let Some(trace) = &mut self.trace {
            let at = now.saturating_duration_since(start).as_micros();
            let _ = writeln!(trace, "{at} {text}");
        }
    }

    /// The trace, if kept.
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }
}
