//! Scuttlebutt reconciliation: versions per origin, digests of `(origin, generation, watermark)`.
//!
//! A peer is sent, per origin, the entries newer than its watermark in ascending version; when one
//! of an origin's deltas is left out, all its higher versions are left out too, so the peer's
//! watermark can advance to just below the first one left out. Origins are served
//! **breadth-first** (round-robin: every origin's first delta, then every origin's second, …;
//! origin order shuffled by the seeded RNG) or **depth-first** (origins with the most outstanding
//! deltas first, ties shuffled). Selection walks a per-origin index by version, so its cost grows
//! with the origins in the digest and the deltas sent, not with the state held.

use super::packer::Packer;
use crate::membership::GC_KEY;
use crate::size::ARRAY_GROWTH;
use crate::wire::codec::Encode;
use crate::{
    Bounds, Budget, Digest, Entry, NodeId, OriginDelta, OriginState, OriginSummary, Store, Version,
};
use rand::Rng;
use rand::seq::SliceRandom;
use std::iter::Peekable;

/// The widest range a Scuttlebutt digest can carry, encoded: an array of two node ids of nine
/// bytes each (a test checks it against the encoder). A constant: every round's digest reserves
/// it, and encoding the range through serde each time cost more than the digest of a small
/// cluster.
const WIDEST_RANGE_BYTES: usize = 19;

/// Builds a Scuttlebutt digest from `cursor` on, as many origins as fit in `budget`.
pub(crate) fn digest(store: &Store, cursor: &mut Option<NodeId>, budget: &mut Budget) -> Digest {
    // Room for the range (two node ids) and the array header's growth.
    let reserve = WIDEST_RANGE_BYTES + ARRAY_GROWTH;
    let start = cursor.take();
    let mut origins = Vec::new();
    let mut end = None;
    if budget.take(reserve, 0) {
        let all = store.origins_from(start.unwrap_or(NodeId(0)));
        for (origin, state) in all {
            let summary = summarize(origin, state);
            if !budget.take(summary.encoded_len(), 0) {
                end = Some(origin);
                break;
            }
            origins.push(summary);
        }
    } else {
        end = start;
    }
    *cursor = end;
    Digest::Scuttlebutt {
        range: Some(Bounds {
            from: start,
            to: end,
        }),
        origins,
    }
}

fn summarize(origin: NodeId, state: &OriginState) -> OriginSummary {
    OriginSummary {
        origin,
        generation: state.generation(),
        heartbeat: state.heartbeat(),
        rate: state.rate(),
        watermark: state.watermark(),
    }
}

/// One origin this node can send the peer something about.
struct Source<'a, I: Iterator> {
    origin: NodeId,
    state: &'a OriginState,
    from: Version,
    /// The peer's digest does not name the origin, or names an older generation.
    announce: bool,
    /// The origin's GC entry, to be put first in the group: the peer is behind the origin's
    /// GC horizon (or knows nothing of it) and must be re-synced from 0 by a sender it can
    /// believe below the horizon.
    gc: Option<(&'a str, &'a Entry)>,
    outstanding: usize,
    entries: Peekable<I>,
    group: Option<usize>,
    closed: bool,
}

/// The origins of `store` the peer's digest shows it is behind on, with the peer's watermark and
/// whether the peer has never heard of the origin (or only of an older generation of it).
fn behind<'a>(
    store: &'a Store,
    range: Option<&Bounds<NodeId>>,
    peer: &[OriginSummary],
) -> Vec<(NodeId, &'a OriginState, Version, bool)> {
    let mut out = Vec::new();
    let mut consider = |origin: NodeId, state: &'a OriginState, known: Option<&OriginSummary>| {
        let (from, announce) = match known {
            // An origin that has said nothing is not worth announcing to a peer that never heard
            // of it (every store would fill with every node's empty origin).
            None if state.is_blank() => return,
            None => (Version::ZERO, true),
            Some(s) if s.generation < state.generation() => (Version::ZERO, true),
            Some(s) if s.generation > state.generation() => return,
            Some(s) => (s.watermark, false),
        };
        if state.max_version() > from || state.watermark() > from || announce {
            out.push((origin, state, from, announce));
        }
    };
    match range {
        // An explicit request: only what it names.
        None => {
            for summary in peer {
                if let Some(state) = store.origin(summary.origin) {
                    consider(summary.origin, state, Some(summary));
                }
            }
        }
        // A complete range: anything in it that the digest does not name is unknown to the peer.
        Some(range) => {
            let mut named = peer.iter().peekable();
            let held = store
                .origins_from(range.from.unwrap_or(NodeId(0)))
                .take_while(|(origin, _)| range.contains(origin));
            for (origin, state) in held {
                while named.next_if(|s| s.origin < origin).is_some() {}
                let known = named.next_if(|s| s.origin == origin);
                consider(origin, state, known);
            }
        }
    }
    out
}

/// Chooses the deltas that answer a Scuttlebutt digest.
pub(crate) fn deltas<R: Rng + ?Sized>(
    store: &Store,
    range: Option<&Bounds<NodeId>>,
    peer: &[OriginSummary],
    breadth_first: bool,
    rng: &mut R,
    budget: &mut Budget,
) -> Vec<OriginDelta> {
    // No origin can contribute more deltas than fit in the message: counting further would not
    // change which origin depth-first serves first.
    let cap = budget
        .deltas
        .min(budget.bytes / crate::size::MIN_DELTA_BYTES);
    // What this node can vouch for, `(from, own watermark]`, is served first, in version order:
    // it advances the peer's watermark. Entries above the own watermark vouch nothing and may be
    // held by the peer already; they only fill what room is left, in random order, so that an
    // origin whose watermarks are stuck (its writes lost above a gap, its writer crashed) can
    // neither starve the others nor keep resending the same prefix.
    let behind = behind(store, range, peer);
    if behind.is_empty() {
        // The usual answer once a cluster agrees: nothing to pack, no random draw to make.
        return Vec::new();
    }
    let mut sources: Vec<Source<'_, _>> = behind
        .into_iter()
        .map(|(origin, state, from, announce)| {
            let held = state.watermark();
            Source {
                origin,
                state,
                from,
                announce,
                gc: gc_entry(state, from),
                outstanding: if breadth_first {
                    0
                } else {
                    state.count_between(from, held, cap)
                },
                entries: state
                    .entries_after(from)
                    .take_while(move |(_, e)| e.version <= held)
                    .filter(move |(key, _)| !(gc_entry(state, from).is_some() && *key == GC_KEY))
                    .peekable(),
                group: None,
                closed: false,
            }
        })
        .collect();
    sources.shuffle(rng);
    if !breadth_first {
        sources.sort_by_key(|s| std::cmp::Reverse(s.outstanding));
    }
    let mut packer = Packer::new(budget);
    if breadth_first {
        let mut open = sources.len();
        while open > 0 && !packer.exhausted() {
            open = 0;
            for source in sources.iter_mut().filter(|s| !s.closed) {
                take_one(&mut packer, source);
                open += usize::from(!source.closed);
            }
        }
    } else {
        for source in &mut sources {
            while !source.closed && !packer.exhausted() {
                take_one(&mut packer, source);
            }
        }
    }
    // The room left: entries above the own watermark, in random order, first fit.
    if !packer.exhausted() {
        let mut tail: Vec<(usize, &str, &Entry)> = Vec::new();
        for (index, source) in sources.iter().enumerate() {
            let above = source.from.max(source.state.watermark());
            let skip_gc = source.gc.is_some();
            tail.extend(
                source
                    .state
                    .entries_after(above)
                    .filter(|(key, _)| !(skip_gc && *key == GC_KEY))
                    .map(|(key, entry)| (index, key, entry)),
            );
        }
        tail.shuffle(rng);
        for (index, key, entry) in tail {
            if packer.exhausted() {
                break;
            }
            let Some(source) = sources.get_mut(index) else {
                continue;
            };
            match source.group {
                Some(group) => {
                    packer.push(group, key, entry);
                }
                None => {
                    let first = source.gc.unwrap_or((key, entry));
                    source.group = packer.open(
                        source.origin,
                        source.state.generation(),
                        source.state.heartbeat(),
                        source.from,
                        Some(first),
                    );
                    if let (Some(group), Some(_)) = (source.group, source.gc) {
                        packer.push(group, key, entry);
                    }
                }
            }
        }
    }
    // What is left: groups that carry no entry but advance the peer's watermark or tell it of an
    // origin (or generation) it has never heard of. Heartbeats alone travel in digests.
    for source in &mut sources {
        let news = source.state.watermark() > source.from || source.announce;
        if source.group.is_none() && source.entries.peek().is_none() && news {
            source.group = packer.open(
                source.origin,
                source.state.generation(),
                source.state.heartbeat(),
                source.from,
                source.gc,
            );
        }
        if let Some(group) = source.group {
            packer.vouch(group, vouched(source));
        }
    }
    packer.finish()
}

/// Adds the source's next entry, or closes the source when it has none or it does not fit.
fn take_one<'a, I: Iterator<Item = (&'a str, &'a Entry)>>(
    packer: &mut Packer<'_>,
    source: &mut Source<'a, I>,
) {
    let Some(&(key, entry)) = source.entries.peek() else {
        source.closed = true;
        return;
    };
    let added = match source.group {
        Some(group) => packer.push(group, key, entry),
        None => {
            let state = source.state;
            let first = source.gc.unwrap_or((key, entry));
            source.group = packer.open(
                source.origin,
                state.generation(),
                state.heartbeat(),
                source.from,
                Some(first),
            );
            match source.group {
                Some(group) if source.gc.is_some() => packer.push(group, key, entry),
                Some(_) => true,
                None => false,
            }
        }
    };
    if added {
        source.entries.next();
    } else {
        source.closed = true;
    }
}

/// The origin's GC entry if a group from `from` must carry it first: the origin has a GC
/// horizon above `from`, so the group may carry deltas at or below it, which a receiver
/// believes only from a sender that shows the horizon. A peer that had not heard of the horizon
/// learns it from that entry, drops what it held at or below it (entries whose delete may have
/// been collected), restarts its watermark from 0 and is re-synced from there.
fn gc_entry(state: &OriginState, from: Version) -> Option<(&str, &Entry)> {
    if state.horizon() <= from {
        return None;
    }
    state.get(GC_KEY).map(|entry| (GC_KEY, entry))
}

/// The highest version the peer may take as complete after applying what was packed: just below
/// the first entry left out, and never above what this node itself holds completely.
fn vouched<'a, I: Iterator<Item = (&'a str, &'a Entry)>>(source: &mut Source<'a, I>) -> Version {
    let held = source.state.watermark();
    match source.entries.peek() {
        Some((_, next)) => Version(next.version.0 - 1).min(held),
        None => held,
    }
}

/// The explicit request for origins where the peer's digest is ahead of `store`.
pub(crate) fn request(store: &Store, peer: &[OriginSummary], budget: &mut Budget) -> Digest {
    let mut origins = Vec::new();
    if budget.take(1 + ARRAY_GROWTH, 0) {
        for theirs in peer {
            let ours = store.origin(theirs.origin);
            let wanted = match ours {
                Some(o) if o.generation() > theirs.generation => None,
                Some(o) if o.generation() == theirs.generation => {
                    (theirs.watermark > o.watermark()).then(|| summarize(theirs.origin, o))
                }
                _ => Some(OriginSummary {
                    origin: theirs.origin,
                    generation: theirs.generation,
                    heartbeat: 0,
                    rate: 0,
                    watermark: Version::ZERO,
                }),
            };
            if let Some(summary) = wanted {
                if !budget.take(summary.encoded_len(), 0) {
                    break;
                }
                origins.push(summary);
            }
        }
    }
    Digest::Scuttlebutt {
        range: None,
        origins,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Generation, Value};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn the_widest_range_is_as_long_as_its_encoding() {
        let widest = Some(Bounds {
            from: Some(NodeId(u64::MAX)),
            to: Some(NodeId(u64::MAX)),
        });
        assert_eq!(WIDEST_RANGE_BYTES, crate::size::encoded_len(&widest));
    }

    fn store_with(origins: u64, keys: u64) -> Store {
        let mut store = Store::default();
        for o in 1..=origins {
            for k in 0..keys {
                store
                    .write(
                        NodeId(o),
                        Generation(1),
                        &format!("k{k}"),
                        Some(Value::from("v")),
                    )
                    .expect("versions left");
            }
        }
        store
    }

    #[test]
    fn a_peer_that_knows_nothing_gets_everything_that_fits_in_version_order() {
        let store = store_with(3, 5);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut budget = Budget::unlimited();
        let all = Bounds::all();
        let sent = deltas(&store, Some(&all), &[], false, &mut rng, &mut budget);
        assert_eq!(sent.len(), 3);
        for group in &sent {
            assert_eq!(group.deltas.len(), 5);
            assert!(group.deltas.windows(2).all(|w| w[0].version < w[1].version));
            assert_eq!(
                group.to,
                store
                    .origin(group.origin)
                    .map(|s| s.watermark())
                    .unwrap_or_default()
            );
        }
    }

    #[test]
    fn a_cut_origin_vouches_only_below_its_first_left_out_delta() {
        let store = store_with(1, 10);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut budget = Budget::new(usize::MAX, 4);
        let sent = deltas(
            &store,
            Some(&Bounds::all()),
            &[],
            false,
            &mut rng,
            &mut budget,
        );
        assert_eq!(sent[0].deltas.len(), 4);
        let fifth = store
            .origin(NodeId(1))
            .and_then(|s| s.entries_after(sent[0].deltas[3].version).next())
            .map(|(_, e)| e.version);
        assert_eq!(Some(Version(sent[0].to.0 + 1)), fifth);
    }

    #[test]
    fn breadth_first_serves_every_origin_before_any_twice() {
        let store = store_with(4, 10);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut budget = Budget::new(usize::MAX, 8);
        let sent = deltas(
            &store,
            Some(&Bounds::all()),
            &[],
            true,
            &mut rng,
            &mut budget,
        );
        assert_eq!(sent.len(), 4);
        assert!(sent.iter().all(|g| g.deltas.len() == 2));
    }

    #[test]
    fn depth_first_serves_the_origin_with_most_news_first() {
        let mut store = store_with(3, 2);
        for k in 0..6 {
            store
                .write(
                    NodeId(2),
                    Generation(1),
                    &format!("x{k}"),
                    Some(Value::from("v")),
                )
                .expect("versions left");
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut budget = Budget::new(usize::MAX, 8);
        let sent = deltas(
            &store,
            Some(&Bounds::all()),
            &[],
            false,
            &mut rng,
            &mut budget,
        );
        assert_eq!(sent[0].origin, NodeId(2));
        assert_eq!(sent[0].deltas.len(), 8);
    }
}
