//! The replicated state: per origin a generation, a heartbeat and a versioned key/value map.
//!
//! Merging is idempotent, commutative and monotone: an entry only ever moves to a higher version,
//! and a newer generation of an origin replaces everything of its older generations.

use crate::small_map::{Iter, SmallMap};
use crate::{Delta, Error, Generation, NodeId, OriginDelta, Value, Version};

/// One entry as a node holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The version the origin gave the write.
    pub version: Version,
    /// The value, or `None` for a tombstone (deleted key).
    pub value: Option<Value>,
}

impl Entry {
    /// Whether this entry records a delete.
    pub fn is_tombstone(&self) -> bool {
        self.value.is_none()
    }
}

/// What a node knows of one origin.
#[derive(Clone, Debug, Default)]
pub struct OriginState {
    generation: Generation,
    heartbeat: u64,
    rate: u32,
    watermark: Version,
    max_version: Version,
    /// The origin's tombstone GC horizon as known here: every tombstone at or below it has been
    /// collected (see [`crate::membership::GC_KEY`]).
    horizon: Version,
    /// The entries and their indexes, boxed and `None` until the origin has any: a member of a
    /// membership-only cluster is an origin with a heartbeat and nothing else at every node (10⁸
    /// such origins in a simulated cluster of 10,000 nodes, 72 bytes each saved).
    data: Option<Box<OriginData>>,
}

/// An origin's entries, by key and by version ([`SmallMap`]s: an origin of a few keys keeps them
/// in a few slots, not in B-tree leaves of eleven).
#[derive(Clone, Debug, Default)]
struct OriginData {
    entries: SmallMap<String, Entry>,
    /// The entries by version. A version names one write of its origin, but a peer breaking
    /// that contract could send two keys at one version: pairing the key keeps the index exact
    /// (and merging idempotent) even then.
    by_version: SmallMap<IndexKey, ()>,
    /// Ranges `(from, to]` vouched complete by a peer but not yet joined to the watermark,
    /// because something below `from` is still missing; keyed by `from`.
    pending: SmallMap<Version, Version>,
}

/// What an origin without entries reads.
static NO_DATA: OriginData = OriginData {
    entries: SmallMap::new(),
    by_version: SmallMap::new(),
    pending: SmallMap::new(),
};

/// A position in the version index.
type IndexKey = (Version, String);

/// The most vouched ranges kept waiting per origin; more are forgotten (which only delays the
/// watermark, never corrupts it).
const MAX_PENDING: usize = 1024;

impl OriginState {
    fn new(generation: Generation) -> OriginState {
        OriginState {
            generation,
            ..OriginState::default()
        }
    }

    /// The entries and their indexes (empty ones when the origin has none).
    fn data(&self) -> &OriginData {
        self.data.as_deref().unwrap_or(&NO_DATA)
    }

    /// The origin's incarnation these entries belong to.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The highest heartbeat seen for this generation.
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat
    }

    /// The origin's allowed write rate under flow control, in thousandths of a write per second,
    /// as last heard (0: no flow control, or unknown).
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Every entry of the origin up to this version is known (or known to be overwritten).
    pub fn watermark(&self) -> Version {
        self.watermark
    }

    /// The origin's tombstone GC horizon as known here (0: nothing collected). Its tombstones
    /// at or below it are gone, and deltas at or below it are accepted only from a group that
    /// carries the origin's GC entry with at least this horizon.
    pub fn horizon(&self) -> Version {
        self.horizon
    }

    /// The highest version held.
    pub fn max_version(&self) -> Version {
        self.max_version
    }

    /// Number of entries held, tombstones included.
    pub fn len(&self) -> usize {
        self.data().entries.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.data().entries.is_empty()
    }

    /// Whether the origin says nothing a peer could use: no entry, nothing vouched, no heartbeat
    /// and no rate (an origin that has not written in its generation).
    pub fn is_blank(&self) -> bool {
        self.data().entries.is_empty()
            && self.max_version == Version::ZERO
            && self.watermark() == Version::ZERO
            && self.heartbeat() == 0
            && self.rate() == 0
    }

    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.data().entries.get(key)
    }

    /// The key whose entry is at `version`, if that entry is still held (not overwritten).
    pub fn key_at(&self, version: Version) -> Option<&str> {
        self.index_from(version)
            .next()
            .filter(|(v, _)| *v == version)
            .map(|(_, key)| key.as_str())
    }

    /// Whether `key` at `version` (with `value`, when known), shown as an entry of this state's
    /// generation, is one the writer of this state never made: it holds another key at that
    /// version; or it holds no entry for the key and the version is above the GC horizon (below
    /// it, the write may be one whose delete was collected); or it holds an older version of the
    /// key, or that version with another value. Held by the origin itself, this tells a write of
    /// another incarnation that used the same generation.
    pub fn contradicts(&self, key: &str, version: Version, value: Option<Option<&Value>>) -> bool {
        if self.key_at(version).is_some_and(|held| held != key) {
            return true;
        }
        match self.get(key) {
            None => version > self.horizon,
            Some(held) => {
                held.version < version
                    || (held.version == version
                        && value.is_some_and(|value| value != held.value.as_ref()))
            }
        }
    }

    /// Entries by key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.data().entries.iter().map(|(k, e)| (k.as_str(), e))
    }

    /// Entries in `[from, ..)` by key order.
    pub fn entries_from<'a>(&'a self, from: &str) -> impl Iterator<Item = (&'a str, &'a Entry)> {
        self.data()
            .entries
            .range_from(from)
            .map(|(k, e)| (k.as_str(), e))
    }

    /// Entries with a version above `after`, in ascending version. Costs O(log n + taken).
    pub fn entries_after(&self, after: Version) -> impl Iterator<Item = (&str, &Entry)> {
        let start = after.0.checked_add(1).map(Version);
        start
            .into_iter()
            .flat_map(|start| self.index_from(start))
            .filter_map(|(_, key)| self.data().entries.get_key_value(key))
            .map(|(k, e)| (k.as_str(), e))
    }

    /// The version index from the first key at `version` on.
    fn index_from(&self, version: Version) -> impl Iterator<Item = &IndexKey> {
        let from: Iter<'_, IndexKey, ()> =
            self.data().by_version.range_from(&(version, String::new()));
        from.map(|(position, ())| position)
    }

    /// How many entries have a version above `after`, counting no further than `cap`.
    pub fn count_after(&self, after: Version, cap: usize) -> usize {
        match after.0.checked_add(1) {
            Some(start) => self.index_from(Version(start)).take(cap).count(),
            None => 0,
        }
    }

    /// How many entries have a version in `(after, upto]`, counting no further than `cap`.
    pub fn count_between(&self, after: Version, upto: Version, cap: usize) -> usize {
        match after.0.checked_add(1) {
            Some(start) if upto.0 >= start => self
                .index_from(Version(start))
                .take_while(|(v, _)| *v <= upto)
                .take(cap)
                .count(),
            _ => 0,
        }
    }

    /// Applies one entry. Returns `None` when the held version is already as new, otherwise
    /// `Some(previous)` with the entry it replaced, if any.
    fn apply(&mut self, key: &str, entry: Entry) -> Option<Option<Entry>> {
        self.max_version = self.max_version.max(entry.version);
        let data = self.data.get_or_insert_with(Box::default);
        match data.entries.get_mut(key) {
            Some(held) if held.version >= entry.version => None,
            Some(held) => {
                data.by_version.remove(&(held.version, key.to_owned()));
                data.by_version.insert((entry.version, key.to_owned()), ());
                Some(Some(std::mem::replace(held, entry)))
            }
            None => {
                data.by_version.insert((entry.version, key.to_owned()), ());
                data.entries.insert(key.to_owned(), entry);
                Some(None)
            }
        }
    }

    /// Takes the entries out, in key order (for reporting a dropped state).
    pub(crate) fn into_entries(self) -> impl Iterator<Item = (String, Entry)> {
        self.data
            .map(|data| data.entries)
            .unwrap_or_default()
            .into_iter()
    }

    /// Drops the entries at or below `upto` that `which` selects; returns them in key order.
    fn purge(&mut self, upto: Version, which: impl Fn(&Entry) -> bool) -> Vec<(String, Entry)> {
        let Some(data) = self.data.as_deref_mut() else {
            return Vec::new();
        };
        let doomed: Vec<String> = data
            .entries
            .iter()
            .filter(|(_, e)| e.version <= upto && which(e))
            .map(|(k, _)| k.clone())
            .collect();
        let mut purged = Vec::with_capacity(doomed.len());
        for key in doomed {
            if let Some(entry) = data.entries.remove(&key) {
                data.by_version.remove(&(entry.version, key.clone()));
                purged.push((key, entry));
            }
        }
        purged
    }

    /// Takes note that the entries in `(from, to]` are all held; the watermark rises over every
    /// range that now joins it.
    fn raise_watermark(&mut self, from: Version, to: Version) {
        if to <= from || to <= self.watermark {
            return;
        }
        if from > self.watermark {
            let pending = &mut self.data.get_or_insert_with(Box::default).pending;
            if pending.len() < MAX_PENDING || pending.contains_key(&from) {
                let end = pending.get_or_insert_with(from, || to);
                *end = (*end).max(to);
            }
            return;
        }
        self.watermark = to;
        // Join the waiting ranges that now touch the watermark.
        let Some(data) = self.data.as_deref_mut() else {
            return;
        };
        while let Some((&start, &end)) = data.pending.first_key_value() {
            if start > self.watermark {
                break;
            }
            data.pending.remove(&start);
            self.watermark = self.watermark.max(end);
        }
    }
}

/// A change to the store, reported so that runtimes can notify subscribers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Whose entry changed.
    pub origin: NodeId,
    /// The origin's generation the entry belongs to.
    pub generation: Generation,
    /// The key.
    pub key: String,
    /// The new entry.
    pub entry: Entry,
    /// The entry it replaced, if any.
    pub previous: Option<Entry>,
}

/// What merging one origin's deltas did.
#[derive(Debug, Default)]
pub struct MergeReport {
    /// Entries that changed, in the order applied.
    pub changes: Vec<Change>,
    /// `(key, version)` of the deltas that brought nothing new (already held at that version or
    /// newer).
    pub redundant: Vec<(String, Version)>,
    /// The deltas belonged to an older generation than the one held and were dropped.
    pub stale_generation: bool,
    /// On a reset (a newer generation replaced the origin's state), the origin's state of the
    /// older generation, dropped.
    pub replaced: Option<OriginState>,
    /// Entries dropped without being overwritten: tombstones collected under a GC horizon the
    /// group brought, or, if this store had fallen behind that horizon, every entry at or below
    /// it (the live ones come again from peers that know the horizon).
    pub purged: Vec<(String, Entry)>,
    /// The group brought a GC horizon beyond this store's watermark: the origin's entries at or
    /// below it were dropped and its watermark went back to 0 (a re-sync).
    pub gc_reset: bool,
    /// Deltas at or below the held GC horizon were refused because the group did not show the
    /// horizon: its sender has not heard of it (and should be told).
    pub behind_horizon: bool,
}

impl MergeReport {
    /// Whether a newer generation replaced the origin's state.
    pub fn reset(&self) -> bool {
        self.replaced.is_some()
    }
}

/// Everything a node knows: one [`OriginState`] per origin, ordered by node id.
///
/// ```
/// use hearsay_proto::{Generation, NodeId, Store, Value};
/// let mut store = Store::default();
/// let v = store.write(NodeId(1), Generation(1), "k", Some(Value::from("v")))?;
/// assert_eq!(store.get(NodeId(1), "k").map(|e| e.version), Some(v));
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Store {
    origins: SmallMap<NodeId, OriginState>,
    clock: Version,
}

impl Store {
    /// The state of one origin.
    pub fn origin(&self, origin: NodeId) -> Option<&OriginState> {
        self.origins.get(&origin)
    }

    /// All origins in id order.
    pub fn origins(&self) -> impl Iterator<Item = (NodeId, &OriginState)> {
        self.origins.iter().map(|(id, s)| (*id, s))
    }

    /// Origins with id `>= from`, in id order.
    pub fn origins_from(&self, from: NodeId) -> impl Iterator<Item = (NodeId, &OriginState)> {
        self.origins.range_from(&from).map(|(id, s)| (*id, s))
    }

    /// One entry.
    pub fn get(&self, origin: NodeId, key: &str) -> Option<&Entry> {
        self.origins.get(&origin)?.get(key)
    }

    /// Number of entries over all origins.
    pub fn len(&self) -> usize {
        self.origins.values().map(OriginState::len).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.origins.values().all(OriginState::is_empty)
    }

    /// The highest version this store has seen: the Lamport clock its own writes continue from.
    pub fn clock(&self) -> Version {
        self.clock
    }

    /// Writes an entry as its origin: the entry gets the next Lamport version.
    ///
    /// Used by a node for its own writes; `value: None` writes a tombstone. The version is one
    /// above everything the store has seen; should a peer have pushed the clock to the end of the
    /// version space, it is one above the origin's own highest version instead, so that a hostile
    /// version cannot stop local writes. Fails only when the origin itself has used up the space.
    pub fn write(
        &mut self,
        origin: NodeId,
        generation: Generation,
        key: &str,
        value: Option<Value>,
    ) -> Result<Version, Error> {
        let clock = self.clock;
        let state = self.own_origin(origin, generation);
        let next = clock
            .0
            .max(state.max_version.0)
            .checked_add(1)
            .or_else(|| state.max_version.0.checked_add(1))
            .ok_or(Error::VersionsExhausted(origin))?;
        let version = Version(next);
        state.apply(key, Entry { version, value });
        state.watermark = version;
        self.clock = self.clock.max(version);
        Ok(version)
    }

    /// Writes `entry` as its origin at the version it carries: a restart that keeps its state
    /// carries its own entries into the new generation at the versions they had, so that they
    /// keep their order with respect to every other node's writes (session 31). The origin's
    /// watermark and the clock rise to the version if below.
    pub(crate) fn write_at(
        &mut self,
        origin: NodeId,
        generation: Generation,
        key: &str,
        entry: Entry,
    ) {
        let version = entry.version;
        let state = self.own_origin(origin, generation);
        state.apply(key, entry);
        state.watermark = state.watermark.max(version);
        self.clock = self.clock.max(version);
    }

    /// Makes sure the node's own origin exists at `generation`, and returns it.
    pub(crate) fn own_origin(
        &mut self,
        origin: NodeId,
        generation: Generation,
    ) -> &mut OriginState {
        let state = self
            .origins
            .get_or_insert_with(origin, || OriginState::new(generation));
        if state.generation < generation {
            *state = OriginState::new(generation);
        }
        state
    }

    /// Publishes the node's own allowed write rate (thousandths of a write per second).
    pub(crate) fn set_rate(&mut self, origin: NodeId, generation: Generation, rate: u32) {
        self.own_origin(origin, generation).rate = rate;
    }

    /// Bumps the heartbeat of the node's own origin.
    pub(crate) fn beat(&mut self, origin: NodeId, generation: Generation) -> u64 {
        let state = self.own_origin(origin, generation);
        state.heartbeat += 1;
        state.heartbeat
    }

    /// Forgets an origin entirely (a removed member); returns what was held.
    pub(crate) fn remove_origin(&mut self, origin: NodeId) -> Option<OriginState> {
        self.origins.remove(&origin)
    }

    /// Collects the node's own tombstones at or below `upto`; if there were any, raises its GC
    /// horizon to the highest version collected. Returns the tombstones dropped.
    pub(crate) fn collect_own(&mut self, origin: NodeId, upto: Version) -> Vec<(String, Entry)> {
        let Some(state) = self.origins.get_mut(&origin) else {
            return Vec::new();
        };
        let purged = state.purge(upto, Entry::is_tombstone);
        if let Some(top) = purged.iter().map(|(_, e)| e.version).max() {
            state.horizon = state.horizon.max(top);
        }
        purged
    }

    /// Takes note of what a peer's digest says of `origin`: a heartbeat, and a generation that may
    /// be newer than the one held (the origin restarted: everything of its old generation is
    /// dropped) or an origin not heard of before. On a reset, returns the state of the older
    /// generation.
    pub(crate) fn observe(
        &mut self,
        origin: NodeId,
        generation: Generation,
        heartbeat: u64,
        rate: u32,
    ) -> Option<OriginState> {
        if heartbeat == 0 && rate == 0 && !self.origins.contains_key(&origin) {
            // A blank origin (see `OriginState::is_blank`): nothing to hold.
            return None;
        }
        let state = self
            .origins
            .get_or_insert_with(origin, || OriginState::new(generation));
        let mut replaced = None;
        if state.generation < generation {
            replaced = Some(std::mem::replace(state, OriginState::new(generation)));
        }
        if state.generation == generation && heartbeat >= state.heartbeat {
            // The rate that comes with the newest heartbeat is the newest.
            state.heartbeat = heartbeat;
            state.rate = rate;
        }
        replaced
    }

    /// Moves origin `keep` to a new `generation`, and forgets every other origin unless
    /// `keep_others`. Returns every state dropped, `keep`'s older generation included, by id.
    pub(crate) fn restart(
        &mut self,
        keep: NodeId,
        generation: Generation,
        keep_others: bool,
    ) -> Vec<(NodeId, OriginState)> {
        let mut dropped: Vec<_> = self
            .origins
            .remove(&keep)
            .map(|s| (keep, s))
            .into_iter()
            .collect();
        if !keep_others {
            dropped.extend(std::mem::take(&mut self.origins));
            dropped.sort_by_key(|(id, _)| *id);
        }
        self.origins.insert(keep, OriginState::new(generation));
        dropped
    }

    /// Whether both stores hold the same entries (same generation, key, version and value for
    /// every origin that has entries); heartbeats and watermarks are not compared.
    pub fn same_entries(&self, other: &Store) -> bool {
        fn with_entries(store: &Store) -> impl Iterator<Item = (&NodeId, &OriginState)> {
            store.origins.iter().filter(|(_, s)| !s.is_empty())
        }
        with_entries(self)
            .map(|(id, s)| (id, s.generation, &s.data().entries))
            .eq(with_entries(other).map(|(id, s)| (id, s.generation, &s.data().entries)))
    }

    /// Merges one origin's deltas. Idempotent, commutative and monotone.
    pub fn merge(&mut self, delta: &OriginDelta) -> MergeReport {
        let mut report = MergeReport::default();
        let state = self
            .origins
            .get_or_insert_with(delta.origin, || OriginState::new(delta.generation));
        if delta.generation < state.generation {
            report.stale_generation = true;
            return report;
        }
        if delta.generation > state.generation {
            report.replaced = Some(std::mem::replace(state, OriginState::new(delta.generation)));
        }
        state.heartbeat = state.heartbeat.max(delta.heartbeat);
        // Tombstone GC: a group that carries the origin's GC entry raises the horizon here. A
        // store that had not reached that horizon may hold entries whose delete was collected:
        // it drops everything at or below it and re-syncs from 0.
        let carried = carried_horizon(delta);
        if let Some(horizon) = carried.filter(|h| *h > state.horizon) {
            if state.watermark < horizon {
                report.purged = state.purge(horizon, |_| true);
                state.watermark = Version::ZERO;
                if let Some(data) = state.data.as_deref_mut() {
                    data.pending.clear();
                }
                report.gc_reset = true;
            } else {
                report.purged = state.purge(horizon, Entry::is_tombstone);
            }
            state.horizon = horizon;
        }
        // Below the horizon, only a sender that knows it (its group carries the GC entry) is
        // believed; anyone else may be replaying a deleted entry from before the collection.
        let believed = carried.is_some_and(|h| h >= state.horizon);
        let horizon = state.horizon;
        let mut top = self.clock;
        for Delta {
            key,
            version,
            value,
        } in &delta.deltas
        {
            if *version <= horizon && (!believed || value.is_none()) {
                if believed {
                    // A collected delete: it still removes an older entry, but is not kept.
                    if let Some(data) = state.data.as_deref_mut()
                        && data.entries.get(key).is_some_and(|e| e.version < *version)
                        && let Some(entry) = data.entries.remove(key)
                    {
                        data.by_version.remove(&(entry.version, key.clone()));
                        report.purged.push((key.clone(), entry));
                    }
                }
                report.behind_horizon |= !believed;
                report.redundant.push((key.clone(), *version));
                continue;
            }
            top = top.max(*version);
            let entry = Entry {
                version: *version,
                value: value.clone(),
            };
            match state.apply(key, entry.clone()) {
                Some(previous) => report.changes.push(Change {
                    origin: delta.origin,
                    generation: delta.generation,
                    key: key.clone(),
                    entry,
                    previous,
                }),
                None => report.redundant.push((key.clone(), *version)),
            }
        }
        // A watermark only ever covers entries held here, or a GC horizon held here. A sender
        // not believed below the horizon had its deltas there refused, so its range counts only
        // above the horizon; what lies below comes from senders that know the horizon.
        let from = if believed {
            delta.from
        } else {
            delta.from.max(horizon)
        };
        state.raise_watermark(from, delta.to);
        self.clock = top;
        report
    }
}

/// The highest GC horizon a group carries in its origin's GC entry, if it carries one.
fn carried_horizon(group: &OriginDelta) -> Option<Version> {
    group
        .deltas
        .iter()
        .filter(|d| d.key == crate::reserved::GC_KEY)
        .filter_map(|d| decode_horizon(d.value.as_ref()?))
        .max()
}

/// The horizon stored in a GC entry's value: 8 bytes, big-endian. Anything else is ignored.
pub(crate) fn decode_horizon(value: &Value) -> Option<Version> {
    let bytes: [u8; 8] = value.as_bytes().try_into().ok()?;
    Some(Version(u64::from_be_bytes(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node of a membership cluster holds an origin per member: a simulated cluster of n
    /// nodes holds n² of them, so one without entries stays this small (it was 120 bytes).
    #[test]
    fn an_origin_without_entries_takes_56_bytes_and_no_allocation() {
        assert!(std::mem::size_of::<OriginState>() <= 56);
        let mut store = Store::default();
        store.observe(NodeId(1), Generation(1), 5, 0);
        let origin = store.origin(NodeId(1)).expect("observed");
        assert!(origin.data.is_none());
        assert!(origin.is_empty());
        assert_eq!(origin.entries().count(), 0);
    }
}
