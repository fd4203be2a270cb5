//! The invariants a fault scenario must keep, checked on the nodes' real state
//! ([`crate::NodeSnapshot`]s), against a model of what every node wrote.

use crate::NodeSnapshot;
use hearsay_proto::membership::is_reserved;
use hearsay_proto::{Generation, Member, MemberStatus, MembershipConfig, NodeId, Store};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// Which invariant ([`Violation::kind`] names are stable).
    pub kind: String,
    /// Virtual time since the start at which it was seen.
    pub at: Duration,
    /// What exactly.
    pub detail: String,
}

impl Violation {
    pub(crate) fn new(kind: &str, at: Duration, detail: String) -> Violation {
        Violation {
            kind: kind.to_owned(),
            at,
            detail,
        }
    }
}

/// What every node wrote: per node its current incarnation's newest write per key (`None`: a
/// delete), every value any incarnation ever wrote, and the generations reused by a
/// reincarnation.
#[derive(Clone, Debug, Default)]
pub struct Model {
    latest: BTreeMap<usize, BTreeMap<String, Option<Vec<u8>>>>,
    written: BTreeSet<Vec<u8>>,
    reused: BTreeMap<usize, Generation>,
    /// Newest writes made with a time to live and not yet seen expired: by writer and key, the
    /// value and the deadline (virtual time since the start).
    expiring: BTreeMap<(usize, String), (Vec<u8>, Duration)>,
}

impl Model {
    /// `node` wrote `value` (or deleted, `None`) under `key`.
    pub fn wrote(&mut self, node: usize, key: &str, value: Option<Vec<u8>>) {
        if let Some(value) = &value {
            self.written.insert(value.clone());
        }
        self.expiring.remove(&(node, key.to_owned()));
        self.latest
            .entry(node)
            .or_default()
            .insert(key.to_owned(), value);
    }

    /// `node` wrote `value` under `key`, to be deleted by it at `deadline`.
    pub fn wrote_expiring(&mut self, node: usize, key: &str, value: Vec<u8>, deadline: Duration) {
        self.wrote(node, key, Some(value.clone()));
        self.expiring
            .insert((node, key.to_owned()), (value, deadline));
    }

    /// `node` restarted: with its state, its entries carry over, deletes included (at their
    /// versions under the new generation, deadlines kept); without, it starts empty.
    pub fn restarted(&mut self, node: usize, keep_state: bool) {
        let entries = self.latest.entry(node).or_default();
        if !keep_state {
            entries.clear();
            self.expiring.retain(|(writer, _), _| *writer != node);
        }
    }

    /// Learns which keys written with a time to live their writers deleted, from the writers'
    /// own stores: the deadline is the writer's to keep, and the model takes the delete as the
    /// writer's newest write from then on. Checks the deadline both ways:
    /// - **ttl-early**: no writer deletes such a key before its deadline;
    /// - **ttl-late**: a writer that runs (not down, not `paused`) holds it no longer than
    ///   `slack` past the deadline.
    pub fn expiries(
        &mut self,
        snapshots: &[NodeSnapshot],
        at: Duration,
        paused: &BTreeSet<usize>,
        slack: Duration,
    ) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut expired = Vec::new();
        for ((node, key), (value, deadline)) in &self.expiring {
            let Some(writer) = snapshots.iter().find(|s| s.id.0 as usize == *node) else {
                continue;
            };
            let held = writer
                .store
                .get(writer.id, key)
                .and_then(|e| e.value.as_ref());
            if held.is_some_and(|held| held.as_bytes() == value.as_slice()) {
                let running = !writer.down && !paused.contains(node);
                if running && at > *deadline + slack {
                    out.push(Violation::new(
                        "ttl-late",
                        at,
                        format!("node {node} still holds {key:?}, due at {deadline:?}"),
                    ));
                }
                continue;
            }
            if at < *deadline {
                out.push(Violation::new(
                    "ttl-early",
                    at,
                    format!("node {node} deleted {key:?} before its deadline {deadline:?}"),
                ));
            }
            expired.push((*node, key.clone()));
        }
        for (node, key) in expired {
            self.wrote(node, &key, None);
        }
        out
    }

    /// `node` came back empty under a generation an earlier incarnation of it used; `highest`
    /// is the highest generation it had used before (its own, or a lower one). Every generation
    /// up to `highest` may have an earlier history: refuting the one it came back under, the
    /// node can land on another it used before (it moves one above the generation it hears of,
    /// not above every one it ever had).
    pub fn reincarnated(&mut self, node: usize, highest: Generation) {
        self.restarted(node, false);
        let held = self.reused.entry(node).or_insert(highest);
        *held = (*held).max(highest);
    }

    /// The live values `node`'s current incarnation holds, by key.
    fn live(&self, node: usize) -> BTreeMap<&str, &[u8]> {
        self.latest
            .get(&node)
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The live (non-tombstone, non-reserved) values `store` holds of `origin`, and the generation.
fn live_of(store: &Store, origin: NodeId) -> Option<(Generation, BTreeMap<&str, &[u8]>)> {
    let state = store.origin(origin)?;
    let live = state
        .entries()
        .filter(|(k, _)| !is_reserved(k))
        .filter_map(|(k, e)| Some((k, e.value.as_ref()?.as_bytes())))
        .collect();
    Some((state.generation(), live))
}

/// Invariants that hold at every instant, faults or not:
/// - **watermarks**: a node's watermark of a live origin (same generation, not a reused one)
///   never covers one of the origin's current entries that the node does not hold;
/// - **authenticity**: every live value a node holds of an origin is one that origin wrote;
/// - **MTU**: no node ever built a message over its MTU (counted in release builds too).
pub fn always(snapshots: &[NodeSnapshot], model: &Model, at: Duration) -> Vec<Violation> {
    let mut out = Vec::new();
    for origin in snapshots.iter().filter(|s| !s.down) {
        let Some(own) = origin.store.origin(origin.id) else {
            continue;
        };
        for node in snapshots.iter().filter(|s| !s.down && s.id != origin.id) {
            let Some(held) = node.store.origin(origin.id) else {
                continue;
            };
            if held.generation() != origin.generation || own.generation() != origin.generation {
                continue;
            }
            // Under a reused generation two incarnations' histories share versions until the
            // origin has moved above every generation it used (each refutation moves it one
            // above the generation it hears of): until then its state is not the truth of that
            // generation.
            if model
                .reused
                .get(&(origin.id.0 as usize))
                .is_some_and(|&highest| origin.generation <= highest)
            {
                continue;
            }
            for (key, entry) in own.entries() {
                if entry.version > held.watermark() {
                    continue;
                }
                if entry.is_tombstone() && entry.version <= held.horizon() {
                    continue;
                }
                let has = held.get(key).map(|e| e.version);
                if has != Some(entry.version) {
                    out.push(Violation::new(
                        "watermark",
                        at,
                        format!(
                            "n{} holds n{}'s {key:?} at {has:?} but its watermark {} covers \
                             the origin's version {}",
                            node.id.0,
                            origin.id.0,
                            held.watermark().0,
                            entry.version.0
                        ),
                    ));
                }
            }
        }
    }
    for node in snapshots.iter().filter(|s| s.stats.over_mtu > 0) {
        out.push(Violation::new(
            "mtu",
            at,
            format!(
                "n{} dropped {} messages over the MTU",
                node.id.0, node.stats.over_mtu
            ),
        ));
    }
    for node in snapshots.iter().filter(|s| !s.down) {
        for (origin, state) in node.store.origins() {
            for (key, entry) in state.entries().filter(|(k, _)| !is_reserved(k)) {
                let Some(value) = &entry.value else { continue };
                let bytes = value.as_bytes();
                let named = writer(bytes);
                if named != Some(origin.0 as usize) || !model.written.contains(bytes) {
                    out.push(Violation::new(
                        "authenticity",
                        at,
                        format!(
                            "n{} holds {key:?} of n{} = {:?}, which that origin never wrote",
                            node.id.0,
                            origin.0,
                            String::from_utf8_lossy(bytes)
                        ),
                    ));
                }
            }
        }
    }
    out
}

/// The writer a scenario value names: values are `"<node>/<counter>"` padded with dots.
pub(crate) fn writer(value: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(value).ok()?;
    text.split('/').next()?.parse().ok()
}

/// Whether every live node holds the same entries (of every origin, tombstones included).
pub fn converged(snapshots: &[NodeSnapshot]) -> bool {
    let mut live = snapshots.iter().filter(|s| !s.down);
    let Some(first) = live.next() else {
        return true;
    };
    live.all(|s| s.store.same_entries(&first.store))
}

/// The invariants of a healed cluster, checked once it has converged (or given up):
/// - **convergence**: every live node holds the same entries;
/// - **latest writes**: for every live origin, every live node holds exactly the values the
///   origin's current incarnation wrote last, per key, at the origin's generation: no write
///   missing, no deleted value back.
pub fn healed(snapshots: &[NodeSnapshot], model: &Model, at: Duration) -> Vec<Violation> {
    let mut out = Vec::new();
    if !converged(snapshots) {
        out.push(Violation::new("convergence", at, differences(snapshots)));
    }
    for origin in snapshots.iter().filter(|s| !s.down) {
        let index = origin.id.0 as usize;
        let expected = model.live(index);
        for node in snapshots.iter().filter(|s| !s.down) {
            let (generation, held) =
                live_of(&node.store, origin.id).unwrap_or((origin.generation, BTreeMap::new()));
            if generation != origin.generation && !held.is_empty() {
                out.push(Violation::new(
                    "generation",
                    at,
                    format!(
                        "n{} holds n{} at generation {} but it runs {}",
                        node.id.0, index, generation.0, origin.generation.0
                    ),
                ));
                continue;
            }
            if held != expected {
                let missing: Vec<&&str> = expected
                    .iter()
                    .filter(|(k, v)| held.get(*k) != Some(v))
                    .map(|(k, _)| k)
                    .collect();
                let extra: Vec<&&str> =
                    held.keys().filter(|k| !expected.contains_key(*k)).collect();
                let kind = if extra.is_empty() {
                    "lost-write"
                } else {
                    "deleted-back"
                };
                out.push(Violation::new(
                    kind,
                    at,
                    format!(
                        "n{} of n{}: missing or stale {missing:?}, deleted but held {extra:?}",
                        node.id.0, index
                    ),
                ));
            }
        }
    }
    out
}

/// The membership invariant of a healed cluster (with membership on: nodes whose table is
/// empty are skipped): every live node holds every other live node alive — Joining or Up, not
/// Suspect, Down, Left or Removed, nor unknown — at the generation that node runs (accuracy, in
/// the end); and no live node holds a node that is down alive, at any generation
/// (completeness). A live node declared dead, or an isolated one the others never hear from
/// again, breaks it even when it wrote nothing (the data invariants only see nodes that wrote);
/// so does a crashed node the detector never noticed.
pub fn membership(snapshots: &[NodeSnapshot], at: Duration) -> Vec<Violation> {
    membership_where(snapshots, at, |status| {
        matches!(status, MemberStatus::Joining | MemberStatus::Up)
    })
}

/// [`membership`] with Suspect counted as alive: what a settled cluster keeps at every instant.
/// A Suspect is a doubt, not a verdict — phi crosses `suspect_phi` now and then on heartbeats
/// relayed through gossip, and SWIM's probes time out when a round trip outlasts
/// `probe_timeout` — and either detector clears it; a live node held Down, Left, Removed,
/// unknown or at an old generation is a false verdict.
pub fn no_false_verdict(snapshots: &[NodeSnapshot], at: Duration) -> Vec<Violation> {
    membership_where(snapshots, at, MemberStatus::is_reachable)
}

/// The membership rule with `alive` saying which statuses count as alive for a live member
/// (a down one must never be held Joining or Up).
fn membership_where(
    snapshots: &[NodeSnapshot],
    at: Duration,
    alive: impl Fn(MemberStatus) -> bool,
) -> Vec<Violation> {
    let live: Vec<&NodeSnapshot> = snapshots.iter().filter(|s| !s.down).collect();
    let mut wrong = Vec::new();
    for observer in live.iter().filter(|s| !s.members.is_empty()) {
        for gone in snapshots.iter().filter(|s| s.down) {
            let held = observer.members.iter().find(|m| m.id == gone.id);
            if let Some(m) =
                held.filter(|m| matches!(m.status, MemberStatus::Joining | MemberStatus::Up))
            {
                wrong.push(format!(
                    "n{} holds n{} {} at g{}, but it is down",
                    observer.id.0,
                    gone.id.0,
                    m.status.name(),
                    m.generation.0
                ));
            }
        }
        for member in live.iter().filter(|s| s.id != observer.id) {
            let held = observer.members.iter().find(|m| m.id == member.id);
            let held_alive =
                held.is_some_and(|m| m.generation == member.generation && alive(m.status));
            if !held_alive {
                wrong.push(match held {
                    Some(m) => format!(
                        "n{} holds n{} {} at g{} (it runs g{})",
                        observer.id.0,
                        member.id.0,
                        m.status.name(),
                        m.generation.0,
                        member.generation.0
                    ),
                    None => format!("n{} does not know n{}", observer.id.0, member.id.0),
                });
            }
        }
    }
    summary("membership", at, wrong)
}

/// Whether every live node (with membership on) holds every down node dead — Down, Left,
/// Removed, or not at all: the verdicts removal counts [`MembershipConfig::removal_after`] from
/// (a Suspect is not one yet).
pub fn verdicts(snapshots: &[NodeSnapshot]) -> bool {
    held_down(snapshots).all(|(_, _, held)| held.is_none_or(|m| !m.status.is_reachable()))
}

/// Each live node with a member table, each down node, and how the first holds the second.
fn held_down(
    snapshots: &[NodeSnapshot],
) -> impl Iterator<Item = (&NodeSnapshot, &NodeSnapshot, Option<&Member>)> {
    let observers = snapshots
        .iter()
        .filter(|s| !s.down && !s.members.is_empty());
    observers.flat_map(move |observer| {
        snapshots.iter().filter(|s| s.down).map(move |gone| {
            let held = observer.members.iter().find(|m| m.id == gone.id);
            (observer, gone, held)
        })
    })
}

/// How long after [`verdicts`] first holds every live node has removed the down nodes:
/// [`MembershipConfig::removal_after`] (counted from each node's own verdict, which came no
/// later), then [`REMOVAL_SLACK`] for the rounds that act on it.
pub fn removal_bound(membership: &MembershipConfig) -> Duration {
    membership.removal_after + REMOVAL_SLACK
}

/// Slack in [`removal_bound`]: a removal is acted on at a node's next round.
pub const REMOVAL_SLACK: Duration = Duration::from_secs(30);

/// Removal's promise (with membership on: nodes whose table is empty are skipped), checked once
/// [`removal_bound`] has passed since [`verdicts`] held: no live node holds a down node other
/// than `Removed` (or not at all), nor any state of its origin — the state of the dead is
/// dropped, not kept for good.
pub fn purged(snapshots: &[NodeSnapshot], at: Duration) -> Vec<Violation> {
    let mut wrong = Vec::new();
    for (observer, gone, held) in held_down(snapshots) {
        if let Some(m) = held.filter(|m| m.status != MemberStatus::Removed) {
            wrong.push(format!(
                "n{} holds n{} {} at g{}",
                observer.id.0,
                gone.id.0,
                m.status.name(),
                m.generation.0
            ));
        }
        if let Some(state) = observer.store.origin(gone.id) {
            wrong.push(format!(
                "n{} keeps n{}'s state ({} entries, g{})",
                observer.id.0,
                gone.id.0,
                state.len(),
                state.generation().0
            ));
        }
    }
    summary("purge", at, wrong)
}

/// One violation of `kind` listing the first 8 of `wrong`, none if it is empty.
fn summary(kind: &str, at: Duration, wrong: Vec<String>) -> Vec<Violation> {
    if wrong.is_empty() {
        return Vec::new();
    }
    let shown = wrong.len().min(8);
    let more = wrong.len() - shown;
    vec![Violation::new(
        kind,
        at,
        format!(
            "{}{}",
            wrong[..shown].join("; "),
            if more > 0 {
                format!("; {more} more")
            } else {
                String::new()
            }
        ),
    )]
}

/// A short account of how the live nodes' stores differ.
fn differences(snapshots: &[NodeSnapshot]) -> String {
    let live: Vec<&NodeSnapshot> = snapshots.iter().filter(|s| !s.down).collect();
    let mut lines = Vec::new();
    let origins: BTreeSet<NodeId> = live
        .iter()
        .flat_map(|s| s.store.origins().map(|(id, _)| id))
        .collect();
    for origin in origins {
        let mut versions: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for node in &live {
            let text = match node.store.origin(origin) {
                Some(state) if !state.is_empty() => {
                    let entries: Vec<String> = state
                        .entries()
                        .map(|(k, e)| {
                            let t = if e.is_tombstone() { "†" } else { "" };
                            format!("{k}@{}{t}", e.version.0)
                        })
                        .collect();
                    format!(
                        "g{} wm{} h{} [{}]",
                        state.generation().0,
                        state.watermark().0,
                        state.horizon().0,
                        entries.join(" ")
                    )
                }
                _ => "nothing".to_owned(),
            };
            versions.entry(text).or_default().push(node.id.0 as usize);
        }
        if versions.len() > 1 {
            for (text, nodes) in versions {
                lines.push(format!("n{}: {nodes:?} hold {text}", origin.0));
            }
        }
        if lines.len() > 12 {
            break;
        }
    }
    lines.join("; ")
}
