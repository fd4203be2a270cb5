//! What a simulation observed: traffic by kind, when each node learned each update, stale
//! entries over time, convergence, and a replayable trace.
//!
//! Node actors and the simulated network report into one shared [`Recorder`]; its view of every
//! node's state is kept from the nodes' own change events (and checked against the nodes' real
//! state by the tests).

use hearsay_proto::{Change, Generation, MessageKind, NodeId, Traffic, Version, Via};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
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

/// When each node learned one update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpdateRecord {
    /// The key written.
    pub key: String,
    /// When it was written (since the simulation's start).
    pub written_at: Duration,
    /// When each node first held it (the writer at `written_at`).
    pub learned: BTreeMap<NodeId, Duration>,
}

impl UpdateRecord {
    /// The round (gossip intervals after the write, rounded up) in which `node` learned it.
    pub fn round_of(&self, node: NodeId, interval: Duration) -> Option<u64> {
        let at = *self.learned.get(&node)?;
        let after = at.saturating_sub(self.written_at).as_nanos();
        Some(after.div_ceil(interval.as_nanos().max(1)) as u64)
    }
}

/// What one node holds: per `(origin, key)`, the generation and version.
pub type Held = BTreeMap<(NodeId, String), (Generation, Version)>;

/// Observations of one simulation run.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    interval: Duration,
    trace: Option<String>,
    sent: [Traffic; 4],
    lost: u64,
    duplicated: u64,
    partitioned: u64,
    latest: Held,
    /// Per key: how many live nodes hold its newest write (kept current on every event, so that
    /// the stale count costs O(keys), not O(nodes × keys)).
    holders: BTreeMap<(NodeId, String), usize>,
    held: BTreeMap<NodeId, Held>,
    down: BTreeSet<NodeId>,
    updates: BTreeMap<(NodeId, Generation, Version), UpdateRecord>,
    stale: Vec<StaleSample>,
    messages_with_deltas: u64,
    /// When each write of each key happened.
    history: BTreeMap<Slot, BTreeMap<(Generation, Version), Duration>>,
    /// Per live node and key it is stale on: since when (the first write it misses).
    stale_since: BTreeMap<(NodeId, Slot), Duration>,
    /// The same, ordered by time, for the oldest stale mapping.
    by_since: BTreeSet<(Duration, NodeId, Slot)>,
}

/// A key of one origin.
type Slot = (NodeId, String);

/// One sample of the stale mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StaleSample {
    /// When (since the start).
    pub at: Duration,
    /// Stale mappings: over live nodes, keys whose newest write the node lacks.
    pub stale: usize,
    /// Age of the oldest stale mapping (since the first write it misses); zero when none.
    pub max_staleness: Duration,
}

impl Recorder {
    fn new(start: Instant, interval: Duration, trace: bool) -> Recorder {
        Recorder {
            start,
            interval,
            trace: trace.then(String::new),
            sent: [Traffic::default(); 4],
            lost: 0,
            duplicated: 0,
            partitioned: 0,
            latest: Held::new(),
            holders: BTreeMap::new(),
            held: BTreeMap::new(),
            down: BTreeSet::new(),
            updates: BTreeMap::new(),
            stale: Vec::new(),
            messages_with_deltas: 0,
            history: BTreeMap::new(),
            stale_since: BTreeMap::new(),
            by_since: BTreeSet::new(),
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

    fn line(&mut self, now: Instant, text: std::fmt::Arguments<'_>) {
        let at = self.elapsed(now).as_micros();
        if let Some(trace) = &mut self.trace {
            let _ = writeln!(trace, "{at} {text}");
        }
    }

    /// Registers a node (so that an empty node counts in convergence).
    pub fn add_node(&mut self, node: NodeId) {
        self.held.entry(node).or_default();
    }

    /// A datagram left `from` for `to`.
    pub fn sent(
        &mut self,
        now: Instant,
        from: NodeId,
        to: NodeId,
        kind: MessageKind,
        bytes: usize,
        deltas: usize,
    ) {
        let traffic = &mut self.sent[kind as usize];
        traffic.messages += 1;
        traffic.bytes += bytes as u64;
        self.messages_with_deltas += u64::from(deltas > 0);
        self.line(
            now,
            format_args!("send {from} {to} {} {bytes} {deltas}", kind.name()),
        );
    }

    /// Messages that carried at least one delta (Demers et al.'s "traffic").
    pub fn messages_with_deltas(&self) -> u64 {
        self.messages_with_deltas
    }

    fn set_since(&mut self, node: NodeId, slot: &Slot, since: Option<Duration>) {
        let key = (node, slot.clone());
        if let Some(old) = self.stale_since.remove(&key) {
            self.by_since.remove(&(old, node, slot.clone()));
        }
        if let Some(since) = since {
            self.stale_since.insert(key, since);
            self.by_since.insert((since, node, slot.clone()));
        }
    }

    /// When the first write of `slot` after `stamp` happened.
    fn first_write_after(&self, slot: &Slot, stamp: (Generation, Version)) -> Option<Duration> {
        let writes = self.history.get(slot)?;
        writes
            .range((std::ops::Bound::Excluded(stamp), std::ops::Bound::Unbounded))
            .next()
            .map(|(_, at)| *at)
    }

    /// Age of the oldest stale mapping of a live node now.
    pub fn max_staleness(&self, now: Instant) -> Duration {
        let at = self.elapsed(now);
        self.by_since
            .iter()
            .find(|(_, node, _)| !self.down.contains(node))
            .map_or(Duration::ZERO, |(since, _, _)| at.saturating_sub(*since))
    }

    /// The simulated network dropped a datagram (loss, or a partition when `partitioned`).
    pub fn dropped(&mut self, now: Instant, from: NodeId, to: NodeId, partitioned: bool) {
        if partitioned {
            self.partitioned += 1;
        } else {
            self.lost += 1;
        }
        self.line(now, format_args!("drop {from} {to}"));
    }

    /// The simulated network delivered a datagram twice.
    pub fn duplicated(&mut self, now: Instant, from: NodeId, to: NodeId) {
        self.duplicated += 1;
        self.line(now, format_args!("dup {from} {to}"));
    }

    /// `node` applied a change.
    pub fn changed(&mut self, now: Instant, node: NodeId, change: &Change, via: Via) {
        let at = self.elapsed(now);
        let slot = (change.origin, change.key.clone());
        let stamp = (change.generation, change.entry.version);
        let live = !self.down.contains(&node);
        let before = self
            .held
            .entry(node)
            .or_default()
            .insert(slot.clone(), stamp);
        let id = (change.origin, change.generation, change.entry.version);
        if via == Via::Local {
            // A new newest write: only its writer holds it; every other node that was up to date
            // on this key is stale from now on.
            self.latest.insert(slot.clone(), stamp);
            self.holders.insert(slot.clone(), usize::from(live));
            self.history
                .entry(slot.clone())
                .or_default()
                .insert(stamp, at);
            let others: Vec<NodeId> = self.held.keys().copied().filter(|n| *n != node).collect();
            for other in others {
                if !self.stale_since.contains_key(&(other, slot.clone())) {
                    self.set_since(other, &slot, Some(at));
                }
            }
            self.set_since(node, &slot, None);
            self.updates.insert(
                id,
                UpdateRecord {
                    key: change.key.clone(),
                    written_at: at,
                    learned: BTreeMap::from([(node, at)]),
                },
            );
        } else {
            if live {
                let newest = self.latest.get(&slot).copied();
                if let Some(count) = self.holders.get_mut(&slot) {
                    if before.is_some() && before == newest {
                        *count = count.saturating_sub(1);
                    }
                    if Some(stamp) == newest {
                        *count += 1;
                    }
                }
            }
            if let Some(update) = self.updates.get_mut(&id) {
                update.learned.entry(node).or_insert(at);
            }
            let since = if self.latest.get(&slot) == Some(&stamp) {
                None
            } else {
                self.first_write_after(&slot, stamp)
            };
            self.set_since(node, &slot, since);
        }
        self.line(
            now,
            format_args!(
                "learn {node} {} {} {}",
                change.origin, change.key, change.entry.version.0
            ),
        );
    }

    /// `node` dropped everything it held of `origin`'s generations below `generation`.
    pub fn reset(&mut self, now: Instant, node: NodeId, origin: NodeId, generation: Generation) {
        let live = !self.down.contains(&node);
        if let Some(held) = self.held.get_mut(&node) {
            held.retain(|slot, stamp| {
                let keep = slot.0 != origin || stamp.0 >= generation;
                if !keep && live && self.latest.get(slot) == Some(stamp) {
                    if let Some(count) = self.holders.get_mut(slot) {
                        *count = count.saturating_sub(1);
                    }
                }
                keep
            });
        }
        self.line(now, format_args!("reset {node} {origin} {}", generation.0));
    }

    /// `node` crashed.
    pub fn crashed(&mut self, now: Instant, node: NodeId) {
        if self.down.insert(node) {
            self.count_holders(node, false);
        }
        self.line(now, format_args!("crash {node}"));
    }

    /// `node` restarted as `generation`, with or without its state.
    pub fn restarted(&mut self, now: Instant, node: NodeId, generation: Generation, kept: bool) {
        if !self.down.remove(&node) {
            self.count_holders(node, false);
        }
        let held = self.held.entry(node).or_default();
        if kept {
            held.retain(|(o, _), (g, _)| *o != node || *g >= generation);
        } else {
            held.clear();
        }
        // The old incarnation's writes are superseded.
        let holders = &mut self.holders;
        let mut gone = Vec::new();
        self.latest.retain(|slot, (g, _)| {
            let keep = slot.0 != node || *g >= generation;
            if !keep {
                holders.remove(slot);
                gone.push(slot.clone());
            }
            keep
        });
        for slot in gone {
            let nodes: Vec<NodeId> = self.held.keys().copied().collect();
            for other in nodes {
                self.set_since(other, &slot, None);
            }
        }
        self.count_holders(node, true);
        self.line(now, format_args!("restart {node} {} {kept}", generation.0));
    }

    /// Adds (or removes) `node`'s newest writes to (from) the holder counts.
    fn count_holders(&mut self, node: NodeId, add: bool) {
        let Some(held) = self.held.get(&node) else {
            return;
        };
        for (slot, stamp) in held {
            if self.latest.get(slot) == Some(stamp) {
                if let Some(count) = self.holders.get_mut(slot) {
                    *count = if add {
                        *count + 1
                    } else {
                        count.saturating_sub(1)
                    };
                }
            }
        }
    }

    /// Whether every live node holds the same entries.
    pub fn converged(&self) -> bool {
        let mut live = self
            .held
            .iter()
            .filter(|(node, _)| !self.down.contains(node))
            .map(|(_, held)| held);
        match live.next() {
            Some(first) => live.all(|held| held == first),
            None => true,
        }
    }

    /// Whether every live node holds the newest write of every key.
    pub fn all_hold_latest(&self) -> bool {
        self.stale_now() == 0
    }

    /// Stale mappings now: over live nodes, the keys whose newest write the node does not hold.
    pub fn stale_now(&self) -> usize {
        let live = self.live();
        self.holders
            .values()
            .map(|holding| live.saturating_sub(*holding))
            .sum()
    }

    /// The stale count recomputed from scratch, O(nodes × keys): a check on [`Recorder::stale_now`].
    pub fn stale_recount(&self) -> usize {
        self.held
            .iter()
            .filter(|(node, _)| !self.down.contains(node))
            .map(|(_, held)| {
                self.latest
                    .iter()
                    .filter(|(slot, stamp)| held.get(*slot) != Some(*stamp))
                    .count()
            })
            .sum()
    }

    /// Samples the stale count and the oldest staleness into the time series.
    pub fn sample_stale(&mut self, now: Instant) {
        let sample = StaleSample {
            at: self.elapsed(now),
            stale: self.stale_now(),
            max_staleness: self.max_staleness(now),
        };
        self.stale.push(sample);
    }

    /// The samples so far.
    pub fn stale_series(&self) -> &[StaleSample] {
        &self.stale
    }

    /// How many live nodes hold the write `(origin, key)` at `version` or newer.
    pub fn holding(&self, origin: NodeId, key: &str, version: Version) -> usize {
        let slot = (origin, key.to_owned());
        self.held
            .iter()
            .filter(|(node, held)| {
                !self.down.contains(node) && held.get(&slot).is_some_and(|(_, v)| *v >= version)
            })
            .count()
    }

    /// Every update written, by `(origin, generation, version)`.
    pub fn updates(&self) -> &BTreeMap<(NodeId, Generation, Version), UpdateRecord> {
        &self.updates
    }

    /// The entries the recorder believes `node` holds.
    pub fn held(&self, node: NodeId) -> Option<&Held> {
        self.held.get(&node)
    }

    /// Sent traffic by kind ([`MessageKind`] order).
    pub fn sent_by_kind(&self) -> &[Traffic; 4] {
        &self.sent
    }

    /// All sent traffic.
    pub fn sent_total(&self) -> Traffic {
        self.sent.iter().fold(Traffic::default(), |acc, t| Traffic {
            messages: acc.messages + t.messages,
            bytes: acc.bytes + t.bytes,
        })
    }

    /// Datagrams lost, duplicated, and dropped by partitions.
    pub fn network_faults(&self) -> (u64, u64, u64) {
        (self.lost, self.duplicated, self.partitioned)
    }

    /// Live nodes.
    pub fn live(&self) -> usize {
        self.held.len() - self.down.len()
    }

    /// The trace, if kept.
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }
}
