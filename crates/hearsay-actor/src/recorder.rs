//! What a simulation observed: traffic by kind, when each node learned each update, stale
//! entries over time, convergence, and a replayable trace.
//!
//! Node actors and the simulated network report into one shared [`Recorder`]; its view of every
//! node's state is kept from the nodes' own events (changes, resets, purges, member removals,
//! restarts and refutations), and checked against the nodes' real state by the tests.

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

/// A key of one origin.
type Slot = (NodeId, String);

/// A write's generation and version.
type Stamp = (Generation, Version);

/// A slot's index in the recorder's tables (keys are interned once, then compared as integers).
type SlotId = u32;

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
    slot_ids: BTreeMap<Slot, SlotId>,
    slots: Vec<Slot>,
    keys: Vec<KeyState>,
    held: BTreeMap<NodeId, BTreeMap<SlotId, Stamp>>,
    down: BTreeSet<NodeId>,
    updates: BTreeMap<(NodeId, Generation, Version), UpdateRecord>,
    stale: Vec<StaleSample>,
    /// Per node and key it is stale on: since when (the first write it misses).
    stale_since: BTreeMap<(NodeId, SlotId), Duration>,
    /// The same, ordered by time, for the oldest stale mapping.
    by_since: BTreeSet<(Duration, NodeId, SlotId)>,
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
            held: BTreeMap::new(),
            down: BTreeSet::new(),
            updates: BTreeMap::new(),
            stale: Vec::new(),
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

    fn slot_id(&mut self, origin: NodeId, key: &str) -> SlotId {
        let slot = (origin, key.to_owned());
        if let Some(id) = self.slot_ids.get(&slot) {
            return *id;
        }
        let id = self.slots.len() as SlotId;
        self.slot_ids.insert(slot.clone(), id);
        self.slots.push(slot);
        self.keys.push(KeyState::default());
        id
    }

    fn key(&self, id: SlotId) -> Option<&KeyState> {
        self.keys.get(id as usize)
    }

    fn key_mut(&mut self, id: SlotId) -> Option<&mut KeyState> {
        self.keys.get_mut(id as usize)
    }

    fn live_node(&self, node: NodeId) -> bool {
        !self.down.contains(&node)
    }

    /// Registers a node (so that an empty node counts in convergence). Every other method
    /// registers the nodes it hears of.
    pub fn add_node(&mut self, node: NodeId) {
        if self.held.contains_key(&node) {
            return;
        }
        self.held.insert(node, BTreeMap::new());
        // Holding nothing, it is up to date on the keys whose newest write is gone.
        if self.live_node(node) {
            self.count_holders(node, true);
        }
    }

    /// A datagram left `from` for `to`, carrying `deltas` deltas.
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

    fn set_since(&mut self, node: NodeId, slot: SlotId, since: Option<Duration>) {
        if let Some(old) = self.stale_since.remove(&(node, slot)) {
            self.by_since.remove(&(old, node, slot));
        }
        if let Some(since) = since {
            self.stale_since.insert((node, slot), since);
            self.by_since.insert((since, node, slot));
        }
    }

    /// Updates the holder count of `slot` for a live node whose stamp went from `before` to
    /// `after`.
    fn move_holder(&mut self, slot: SlotId, before: Option<Stamp>, after: Option<Stamp>) {
        if let Some(key) = self.key_mut(slot) {
            if key.current(before) {
                key.holders = key.holders.saturating_sub(1);
            }
            if key.current(after) {
                key.holders += 1;
            }
        }
    }

    /// The newest write of `slot` has left the cluster for good: every node that holds nothing
    /// of the key is up to date on it from now on.
    fn mark_gone(&mut self, slot: SlotId) {
        match self.key_mut(slot) {
            Some(key) if key.latest.is_some() && !key.gone => key.gone = true,
            _ => return,
        }
        let empty: Vec<NodeId> = self
            .held
            .iter()
            .filter(|(_, held)| !held.contains_key(&slot))
            .map(|(node, _)| *node)
            .collect();
        for node in empty {
            if self.live_node(node) {
                if let Some(key) = self.key_mut(slot) {
                    key.holders += 1;
                }
            }
            self.set_since(node, slot, None);
        }
    }

    /// The slots of `origin`'s keys.
    fn slots_of(&self, origin: NodeId) -> Vec<SlotId> {
        self.slot_ids
            .range((origin, String::new())..)
            .take_while(|((o, _), _)| *o == origin)
            .map(|(_, id)| *id)
            .collect()
    }

    /// `node` applied a change.
    pub fn changed(&mut self, now: Instant, node: NodeId, change: &Change, via: Via) {
        let at = self.elapsed(now);
        let slot = self.slot_id(change.origin, &change.key);
        let stamp = (change.generation, change.entry.version);
        let live = self.live_node(node);
        self.add_node(node);
        let before = self.held.entry(node).or_default().insert(slot, stamp);
        let id = (change.origin, change.generation, change.entry.version);
        if via == Via::Local {
            // A new newest write: only its writer holds it; every other node that was up to date
            // on this key is stale from now on.
            if let Some(key) = self.key_mut(slot) {
                key.latest = Some(stamp);
                key.tombstone = change.entry.value.is_none();
                key.gone = false;
                key.holders = usize::from(live);
                key.history.insert(stamp, at);
            }
            self.updates.insert(
                id,
                UpdateRecord {
                    key: change.key.clone(),
                    written_at: at,
                    learned: BTreeMap::from([(node, at)]),
                },
            );
            let others: Vec<NodeId> = self.held.keys().copied().filter(|n| *n != node).collect();
            for other in others {
                if !self.stale_since.contains_key(&(other, slot)) {
                    self.set_since(other, slot, Some(at));
                }
            }
            self.set_since(node, slot, None);
            match &change.entry.value {
                Some(value) => self.line(
                    now,
                    format_args!(
                        "write {node} {} {:?} {} value {}",
                        change.generation.0,
                        change.key,
                        change.entry.version.0,
                        value.len()
                    ),
                ),
                None => self.line(
                    now,
                    format_args!(
                        "write {node} {} {:?} {} tombstone",
                        change.generation.0, change.key, change.entry.version.0
                    ),
                ),
            }
        } else {
            if live {
                self.move_holder(slot, before, Some(stamp));
            }
            if let Some(update) = self.updates.get_mut(&id) {
                update.learned.entry(node).or_insert(at);
            }
            let since = self.since(slot, Some(stamp));
            self.set_since(node, slot, since);
            self.line(
                now,
                format_args!(
                    "learn {node} {} {:?} {}",
                    change.origin, change.key, change.entry.version.0
                ),
            );
        }
    }

    /// Since when a node holding `held` of `slot` has been stale on it: the first write after what
    /// it holds (after nothing, if it holds nothing); `None` when it is up to date, or when the key
    /// has no newest write (its origin restarted).
    fn since(&self, slot: SlotId, held: Option<Stamp>) -> Option<Duration> {
        let key = self.key(slot)?;
        if key.latest.is_none() || key.current(held) {
            return None;
        }
        let after = match held {
            Some(stamp) => std::ops::Bound::Excluded(stamp),
            None => std::ops::Bound::Unbounded,
        };
        key.history
            .range((after, std::ops::Bound::Unbounded))
            .next()
            .map(|(_, at)| *at)
    }

    /// Recomputes since when `node` is stale on every key, after its holdings changed wholesale.
    fn recompute_since(&mut self, node: NodeId) {
        for slot in 0..self.keys.len() as SlotId {
            let held = self.held.get(&node).and_then(|h| h.get(&slot)).copied();
            let since = self.since(slot, held);
            self.set_since(node, slot, since);
        }
    }

    /// `node` dropped everything it held of `origin`'s generations below `generation`.
    pub fn reset(&mut self, now: Instant, node: NodeId, origin: NodeId, generation: Generation) {
        let live = self.live_node(node);
        let mut dropped = Vec::new();
        if let Some(held) = self.held.get_mut(&node) {
            held.retain(|slot, stamp| {
                let keep = self.slots.get(*slot as usize).is_none_or(|s| s.0 != origin)
                    || stamp.0 >= generation;
                if !keep {
                    dropped.push((*slot, *stamp));
                }
                keep
            });
        }
        if live {
            for (slot, stamp) in dropped {
                self.move_holder(slot, Some(stamp), None);
            }
        }
        self.recompute_since(node);
        self.line(now, format_args!("reset {node} {origin} {}", generation.0));
    }

    /// `node` dropped its entry of `origin`'s `key` (at `generation` and `version`) without
    /// overwriting it ([`hearsay_proto::Event::Purged`]): a tombstone collected under the origin's
    /// GC horizon, or an entry dropped by a re-sync behind that horizon.
    ///
    /// When the entry is the key's newest write and a delete, the delete is complete: from then
    /// on a node that holds nothing of the key is up to date on it (and one that still holds an
    /// older value is not).
    pub fn purged(
        &mut self,
        now: Instant,
        node: NodeId,
        origin: NodeId,
        generation: Generation,
        key: &str,
        version: Version,
    ) {
        let slot = self.slot_id(origin, key);
        self.add_node(node);
        let before = self.held.entry(node).or_default().remove(&slot);
        if self.live_node(node) {
            self.move_holder(slot, before, None);
        }
        let collected = self
            .key(slot)
            .is_some_and(|k| k.tombstone && k.latest == Some((generation, version)));
        if collected {
            self.mark_gone(slot);
        }
        let since = self.since(slot, None);
        self.set_since(node, slot, since);
        self.line(
            now,
            format_args!(
                "purge {node} {origin} {} {key:?} {}",
                generation.0, version.0
            ),
        );
    }

    /// `node` removed the member `origin` at `generation` (its status became
    /// [`hearsay_proto::MemberStatus::Removed`]) and dropped everything it held of it.
    ///
    /// The removed incarnation's writes (those of `generation` and older) have left the cluster
    /// for good: from then on a node that holds nothing of those keys is up to date on them, as is
    /// one that still holds the newest write until it removes the member too.
    pub fn removed(&mut self, now: Instant, node: NodeId, origin: NodeId, generation: Generation) {
        let live = self.live_node(node);
        let slots = self.slots_of(origin);
        let mut dropped = Vec::new();
        if let Some(held) = self.held.get_mut(&node) {
            for slot in &slots {
                if let Some(stamp) = held.remove(slot) {
                    dropped.push((*slot, stamp));
                }
            }
        }
        if live {
            for (slot, stamp) in &dropped {
                self.move_holder(*slot, Some(*stamp), None);
            }
        }
        for slot in &slots {
            let removed = self
                .key(*slot)
                .and_then(|k| k.latest)
                .is_some_and(|(g, _)| g <= generation);
            if removed {
                self.mark_gone(*slot);
            }
        }
        for (slot, _) in dropped {
            let since = self.since(slot, None);
            self.set_since(node, slot, since);
        }
        self.line(now, format_args!("remove {node} {origin} {}", generation.0));
    }

    /// The network was split into `groups` (nodes in no group form one more).
    pub fn partitioned(&mut self, now: Instant, groups: &[Vec<NodeId>]) {
        let groups: Vec<String> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|n| n.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        self.line(now, format_args!("partition {}", groups.join(" | ")));
    }

    /// Every partition ended.
    pub fn healed(&mut self, now: Instant) {
        self.line(now, format_args!("heal"));
    }

    /// The network's loss and duplication probabilities changed.
    pub fn faults(&mut self, now: Instant, loss: f64, duplicate: f64) {
        self.line(
            now,
            format_args!("faults loss={loss} duplicate={duplicate}"),
        );
    }

    /// `node` crashed.
    pub fn crashed(&mut self, now: Instant, node: NodeId) {
        self.add_node(node);
        if self.down.insert(node) {
            self.count_holders(node, false);
        }
        self.line(now, format_args!("crash {node}"));
    }

    /// `node` restarted as `generation`, with or without its state.
    pub fn restarted(&mut self, now: Instant, node: NodeId, generation: Generation, kept: bool) {
        self.incarnate(node, generation, kept);
        self.line(now, format_args!("restart {node} {} {kept}", generation.0));
    }

    /// `node` moved to `generation` by itself, keeping its state: it heard of another incarnation
    /// of its id, at a newer generation or further advanced, and refuted it
    /// ([`hearsay_proto::Stats::refutations`]). As after a restart that keeps its state, its own
    /// entries of older generations are gone (the live ones are written again under the new
    /// generation, as local changes reported next).
    pub fn refuted(&mut self, now: Instant, node: NodeId, generation: Generation) {
        self.incarnate(node, generation, true);
        self.line(now, format_args!("refute {node} {}", generation.0));
    }

    /// `node` runs as `generation` now, with or without its state.
    fn incarnate(&mut self, node: NodeId, generation: Generation, kept: bool) {
        self.add_node(node);
        if !self.down.remove(&node) {
            self.count_holders(node, false);
        }
        let slots = &self.slots;
        let held = self.held.entry(node).or_default();
        if kept {
            held.retain(|slot, stamp| {
                slots.get(*slot as usize).is_none_or(|s| s.0 != node) || stamp.0 >= generation
            });
        } else {
            held.clear();
        }
        // The old incarnation's writes are superseded: those keys have no newest write now.
        let mut gone = Vec::new();
        for (id, (slot, key)) in self.slots.iter().zip(self.keys.iter_mut()).enumerate() {
            if slot.0 == node && key.latest.is_some_and(|(g, _)| g < generation) {
                key.retire();
                gone.push(id as SlotId);
            }
        }
        let nodes: Vec<NodeId> = self.held.keys().copied().collect();
        for slot in gone {
            for other in &nodes {
                self.set_since(*other, slot, None);
            }
        }
        self.count_holders(node, true);
        self.recompute_since(node);
    }

    /// Adds (or removes) `node` to (from) the holder counts of the keys it is up to date on.
    fn count_holders(&mut self, node: NodeId, add: bool) {
        let Some(held) = self.held.get(&node) else {
            return;
        };
        for (slot, key) in self.keys.iter_mut().enumerate() {
            if key.current(held.get(&(slot as SlotId)).copied()) {
                key.holders = if add {
                    key.holders + 1
                } else {
                    key.holders.saturating_sub(1)
                };
            }
        }
    }

    /// Whether every live node holds the same entries.
    pub fn converged(&self) -> bool {
        let mut live = self
            .held
            .iter()
            .filter(|(node, _)| self.live_node(**node))
            .map(|(_, held)| held);
        match live.next() {
            Some(first) => live.all(|held| held == first),
            None => true,
        }
    }

    /// Whether every live node holds the newest write of every key (or nothing of a key whose
    /// newest write is gone: a collected delete, a removed member's write).
    pub fn all_hold_latest(&self) -> bool {
        self.stale_now() == 0
    }

    /// Stale mappings now: over live nodes, the keys whose newest write the node does not hold
    /// (a node holding nothing of a key whose newest write is gone is not stale on it).
    pub fn stale_now(&self) -> usize {
        let live = self.live();
        self.keys
            .iter()
            .filter(|key| key.latest.is_some())
            .map(|key| live.saturating_sub(key.holders))
            .sum()
    }

    /// The stale count recomputed from scratch, O(nodes × keys): a check on [`Recorder::stale_now`].
    pub fn stale_recount(&self) -> usize {
        self.held
            .iter()
            .filter(|(node, _)| self.live_node(**node))
            .map(|(_, held)| {
                self.keys
                    .iter()
                    .enumerate()
                    .filter(|(id, key)| {
                        key.latest.is_some() && !key.current(held.get(&(*id as SlotId)).copied())
                    })
                    .count()
            })
            .sum()
    }

    /// Age of the oldest stale mapping of a live node now.
    pub fn max_staleness(&self, now: Instant) -> Duration {
        let at = self.elapsed(now);
        self.by_since
            .iter()
            .find(|(_, node, _)| self.live_node(*node))
            .map_or(Duration::ZERO, |(since, _, _)| at.saturating_sub(*since))
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
        let Some(slot) = self.slot_ids.get(&(origin, key.to_owned())) else {
            return 0;
        };
        self.held
            .iter()
            .filter(|(node, held)| {
                self.live_node(**node) && held.get(slot).is_some_and(|(_, v)| *v >= version)
            })
            .count()
    }

    /// Every update written, by `(origin, generation, version)`.
    pub fn updates(&self) -> &BTreeMap<(NodeId, Generation, Version), UpdateRecord> {
        &self.updates
    }

    /// The entries the recorder believes `node` holds.
    pub fn held(&self, node: NodeId) -> Option<Held> {
        let held = self.held.get(&node)?;
        Some(
            held.iter()
                .filter_map(|(slot, stamp)| Some((self.slots.get(*slot as usize)?.clone(), *stamp)))
                .collect(),
        )
    }

    /// Sent traffic by kind ([`MessageKind`] order).
    pub fn sent_by_kind(&self) -> &[Traffic; MessageKind::COUNT] {
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
        self.held
            .keys()
            .filter(|node| !self.down.contains(node))
            .count()
    }

    /// The trace, if kept.
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }
}
