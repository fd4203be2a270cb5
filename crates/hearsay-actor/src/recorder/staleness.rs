//! Stale mappings: since when each live node misses each key's newest write, and their samples
//! over time.

use super::{Recorder, SlotId, Stamp};
use hearsay_proto::NodeId;
use std::time::Duration;
use tokio::time::Instant;

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
    pub(super) fn set_since(&mut self, node: NodeId, slot: SlotId, since: Option<Duration>) {
        let old = match since {
            Some(since) => self.stale_since.insert((node, slot), since),
            None => self.stale_since.remove(&(node, slot)),
        };
        if let Some(since) = since
            && old != Some(since)
        {
            self.by_since.insert((since, node, slot));
        }
        // What `stale_since` no longer holds stays in `by_since` until it is half of it.
        if old.is_some() && old != since && self.by_since.len() > 2 * self.stale_since.len() + 4096
        {
            self.by_since = (self.stale_since.iter())
                .map(|(&(node, slot), &since)| (since, node, slot))
                .collect();
        }
    }

    /// Whether `entry` of [`Recorder::by_since`] is a stale mapping now (not one since gone).
    fn current_since(&self, &(since, node, slot): &(Duration, NodeId, SlotId)) -> bool {
        self.stale_since.get(&(node, slot)) == Some(&since)
    }

    /// Since when a node holding `held` of `slot` has been stale on it: the first write after what
    /// it holds (after nothing, if it holds nothing); `None` when it is up to date, or when the key
    /// has no newest write (its origin restarted).
    pub(super) fn since(&self, slot: SlotId, held: Option<Stamp>) -> Option<Duration> {
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
    pub(super) fn recompute_since(&mut self, node: NodeId) {
        for slot in 0..self.keys.len() as SlotId {
            let held = self.stamp(node, slot);
            let since = self.since(slot, held);
            self.set_since(node, slot, since);
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
        self.nodes
            .iter()
            .filter(|node| self.live_node(**node))
            .map(|node| {
                self.keys
                    .iter()
                    .enumerate()
                    .filter(|(id, key)| {
                        key.latest.is_some() && !key.current(self.stamp(*node, *id as SlotId))
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
            .find(|entry| self.live_node(entry.1) && self.current_since(entry))
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
}
