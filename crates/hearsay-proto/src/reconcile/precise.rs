//! Precise reconciliation: digests name every item with its version, and the deltas that fit are
//! picked **randomly**, **oldest-first** or **newest-first** (by version, which follows a Lamport
//! clock and so orders writes across origins). Deterministic picks starve: oldest-first never gets
//! to a frequently rewritten key's news while older ones are pending, newest-first the reverse.

use super::packer::Packer;
use crate::membership::GC_KEY;
use crate::size::{ARRAY_GROWTH, encoded_len, item_len};
use crate::{
    Bounds, Budget, Digest, Entry, ItemId, NodeId, OriginDelta, OriginItems, OriginState, Store,
    Version,
};
use rand::Rng;
use rand::seq::SliceRandom;
use std::collections::BTreeMap;

/// The order in which candidate deltas fill a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Uniformly random (seeded).
    Random,
    /// Lowest version first.
    Oldest,
    /// Highest version first.
    Newest,
}

/// The smallest key after `key`: the exclusive bound that ends a range just after it.
fn successor(key: &str) -> String {
    let mut next = String::with_capacity(key.len() + 1);
    next.push_str(key);
    next.push('\0');
    next
}

/// Builds a precise digest from `cursor` on, as many items as fit in `budget`.
///
/// The range ends where the digest stops: just after the last item named, or just before an
/// origin none of whose items were named. Every key a node holds fits three times in one message
/// ([`crate::Config::max_key_len`]), so a digest always names something and the cursor moves;
/// should it ever not, the digest claims nothing (an explicit, empty list) and the next one starts
/// over.
pub(crate) fn digest(store: &Store, cursor: &mut Option<ItemId>, budget: &mut Budget) -> Digest {
    let start = cursor.take();
    let range_bytes = |end: Option<&ItemId>| {
        encoded_len(&Some(Bounds {
            from: start.clone(),
            to: end.cloned(),
        }))
    };
    let claim_nothing = |cursor: &mut Option<ItemId>| {
        *cursor = None;
        Digest::Precise {
            range: None,
            origins: Vec::new(),
        }
    };
    // Reserve the widest end that stopping may need: before an origin (an id and an empty key),
    // or after the last item named (its key and a NUL), whichever is wider.
    let before_origin = range_bytes(Some(&ItemId {
        origin: NodeId(u64::MAX),
        key: String::new(),
    }));
    let mut reserved = before_origin;
    if !budget.take(reserved + ARRAY_GROWTH, 0) {
        return claim_nothing(cursor);
    }
    let mut origins: Vec<OriginItems> = Vec::new();
    let mut end: Option<ItemId> = None;
    let mut named = false;
    let first_origin = start.as_ref().map_or(NodeId(0), |s| s.origin);
    'origins: for (origin, state) in store.origins_from(first_origin) {
        let from_key = match &start {
            Some(s) if s.origin == origin => s.key.as_str(),
            _ => "",
        };
        let header = OriginItems {
            origin,
            generation: state.generation(),
            heartbeat: state.heartbeat(),
            rate: state.rate(),
            items: Vec::new(),
        };
        let header_bytes = encoded_len(&header);
        let mut entries = state.entries_from(from_key).peekable();
        if entries.peek().is_none() {
            // An origin with no entries (here) is still named, so the peer learns of it.
            if !budget.take(header_bytes, 0) {
                end = Some(ItemId {
                    origin,
                    key: from_key.to_owned(),
                });
                break 'origins;
            }
            origins.push(header);
            named = true;
            continue;
        }
        let mut group: Option<OriginItems> = None;
        for (key, entry) in entries {
            let item = (key.to_owned(), entry.version);
            let after = ItemId {
                origin,
                key: successor(key),
            };
            let after_bytes = range_bytes(Some(&after)).max(before_origin);
            let cost = item_len(key, entry.version)
                + if group.is_none() {
                    header_bytes + ARRAY_GROWTH
                } else {
                    0
                };
            budget.bytes += reserved;
            if !budget.take(cost + after_bytes, 0) {
                budget.bytes -= reserved;
                let last = group
                    .as_ref()
                    .and_then(|g| g.items.last())
                    .map_or_else(|| from_key.to_owned(), |(k, _)| successor(k));
                end = Some(ItemId { origin, key: last });
                origins.extend(group.take());
                break 'origins;
            }
            reserved = after_bytes;
            named = true;
            group.get_or_insert_with(|| header.clone()).items.push(item);
        }
        origins.extend(group.take());
    }
    if end.is_some() && (!named || end == start) {
        budget.bytes += reserved + ARRAY_GROWTH;
        return claim_nothing(cursor);
    }
    budget.bytes += reserved.saturating_sub(range_bytes(end.as_ref()));
    *cursor = end.clone();
    Digest::Precise {
        range: Some(Bounds {
            from: start,
            to: end,
        }),
        origins,
    }
}

/// One delta the peer lacks.
struct Candidate<'a> {
    origin: NodeId,
    state: &'a OriginState,
    key: &'a str,
    entry: &'a Entry,
}

/// Every delta that a precise digest shows the peer lacks.
fn candidates<'a>(
    store: &'a Store,
    range: Option<&Bounds<ItemId>>,
    peer: &[OriginItems],
) -> Vec<Candidate<'a>> {
    let mut out = Vec::new();
    let mut push = |origin, state: &'a OriginState, key: &'a str, entry: &'a Entry| {
        out.push(Candidate {
            origin,
            state,
            key,
            entry,
        })
    };
    match range {
        None => {
            for theirs in peer {
                let Some(state) = store.origin(theirs.origin) else {
                    continue;
                };
                if state.generation() < theirs.generation {
                    continue;
                }
                let newer_generation = state.generation() > theirs.generation;
                for (key, version) in &theirs.items {
                    if let Some((k, entry)) =
                        state.entries_from(key).next().filter(|(k, _)| k == key)
                        && (newer_generation || entry.version > *version)
                    {
                        push(theirs.origin, state, k, entry);
                    }
                }
            }
        }
        Some(range) => {
            let by_origin: BTreeMap<NodeId, &OriginItems> =
                peer.iter().map(|o| (o.origin, o)).collect();
            let origins = range.origins();
            let held = store
                .origins_from(origins.from.unwrap_or(NodeId(0)))
                .take_while(|(origin, _)| origins.contains(origin));
            for (origin, state) in held {
                let Some((lower, upper)) = range.keys_of(origin) else {
                    continue;
                };
                let theirs = by_origin.get(&origin).copied();
                let items: &[(String, Version)] = match theirs {
                    Some(t) if t.generation > state.generation() => continue,
                    Some(t) if t.generation == state.generation() => &t.items,
                    _ => &[],
                };
                let from = match lower {
                    std::ops::Bound::Included(k) => k,
                    _ => "",
                };
                // Items come in key order from a well-behaved peer: walk both lists together.
                // Anything else is looked up through a map.
                let sorted = items.windows(2).all(|w| w[0].0 < w[1].0);
                let lookup: BTreeMap<&str, Version> = if sorted {
                    BTreeMap::new()
                } else {
                    items.iter().map(|(k, v)| (k.as_str(), *v)).collect()
                };
                let mut next = 0;
                for (key, entry) in state.entries_from(from) {
                    if let std::ops::Bound::Excluded(end) = upper
                        && key >= end
                    {
                        break;
                    }
                    let known = if sorted {
                        while items.get(next).is_some_and(|(k, _)| k.as_str() < key) {
                            next += 1;
                        }
                        items.get(next).filter(|(k, _)| k == key).map(|(_, v)| *v)
                    } else {
                        lookup.get(key).copied()
                    };
                    if known.is_none_or(|v| v < entry.version) {
                        push(origin, state, key, entry);
                    }
                }
            }
        }
    }
    out
}

/// Chooses the deltas that answer a precise digest, in `order`, within `budget`.
pub(crate) fn deltas<R: Rng + ?Sized>(
    store: &Store,
    range: Option<&Bounds<ItemId>>,
    peer: &[OriginItems],
    order: Order,
    rng: &mut R,
    budget: &mut Budget,
) -> Vec<OriginDelta> {
    let mut candidates = candidates(store, range, peer);
    match order {
        Order::Random => candidates.shuffle(rng),
        Order::Oldest => candidates.sort_by_key(|c| (c.entry.version, c.origin)),
        Order::Newest => candidates.sort_by_key(|c| std::cmp::Reverse((c.entry.version, c.origin))),
    }
    let mut packer = Packer::new(budget);
    // Per origin: the group, and whether it opened with the origin's GC entry.
    let mut groups: BTreeMap<NodeId, (usize, bool)> = BTreeMap::new();
    for c in candidates {
        if packer.exhausted() {
            break;
        }
        match groups.get(&c.origin) {
            Some(&(_, true)) if c.key == GC_KEY => {}
            Some(&(group, _)) => {
                packer.push(group, c.key, c.entry);
            }
            None => {
                let state = c.state;
                // An origin with a GC horizon: the group starts with its GC entry, without which
                // a receiver refuses deltas at or below the horizon.
                let gc = (state.horizon() > Version::ZERO)
                    .then(|| state.get(GC_KEY).map(|e| (GC_KEY, e)))
                    .flatten();
                let opened = packer.open(
                    c.origin,
                    state.generation(),
                    state.heartbeat(),
                    Version::ZERO,
                    Some(gc.unwrap_or((c.key, c.entry))),
                );
                if let Some(group) = opened {
                    groups.insert(c.origin, (group, gc.is_some()));
                    if gc.is_some() && c.key != GC_KEY {
                        packer.push(group, c.key, c.entry);
                    }
                }
            }
        }
    }
    packer.finish()
}

/// The explicit request for items where the peer's digest is ahead of `store`.
pub(crate) fn request(
    store: &Store,
    peer: &[OriginItems],
    max_key_len: usize,
    budget: &mut Budget,
) -> Digest {
    let mut origins = Vec::new();
    if budget.take(1 + ARRAY_GROWTH, 0) {
        'origins: for theirs in peer {
            let ours = store.origin(theirs.origin);
            let same_generation = ours.is_some_and(|o| o.generation() == theirs.generation);
            if ours.is_some_and(|o| o.generation() > theirs.generation) {
                continue;
            }
            let mut group = OriginItems {
                origin: theirs.origin,
                generation: theirs.generation,
                heartbeat: 0,
                rate: 0,
                items: Vec::new(),
            };
            let header = encoded_len(&group) + ARRAY_GROWTH;
            for (key, version) in &theirs.items {
                if key.len() > max_key_len {
                    continue;
                }
                let held = ours
                    .filter(|_| same_generation)
                    .and_then(|o| o.get(key))
                    .map_or(Version::ZERO, |e| e.version);
                if held >= *version {
                    continue;
                }
                let item = (key.clone(), held);
                let cost =
                    item_len(&item.0, item.1) + if group.items.is_empty() { header } else { 0 };
                if !budget.take(cost, 0) {
                    if !group.items.is_empty() {
                        origins.push(group);
                    }
                    break 'origins;
                }
                group.items.push(item);
            }
            if !group.items.is_empty() {
                origins.push(group);
            }
        }
    }
    Digest::Precise {
        range: None,
        origins,
    }
}
