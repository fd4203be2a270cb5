//! Digests: what a node tells a peer about the state it holds, so the peer can send what is missing.
//!
//! A digest either covers a *range* of the state completely (anything in the range that the digest
//! does not name is unknown to its sender) or is an *explicit* list (a request: only what it names
//! is asked for). Scuttlebutt digests name origins with their watermark; precise digests name every
//! item with its version. A digest that would not fit the MTU covers a range and the next one
//! continues where it stopped, so digests work at any cluster size.

use crate::{Generation, NodeId, Version};
use serde::{Deserialize, Serialize};
use std::ops::Bound;

/// A half-open range `[from, to)` of an ordered space; `None` ends are unbounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds<T> {
    /// Inclusive lower end.
    pub from: Option<T>,
    /// Exclusive upper end.
    pub to: Option<T>,
}

impl<T: Ord> Bounds<T> {
    /// The whole space.
    pub fn all() -> Bounds<T> {
        Bounds {
            from: None,
            to: None,
        }
    }

    /// Whether `item` lies in the range.
    pub fn contains(&self, item: &T) -> bool {
        self.from.as_ref().is_none_or(|from| from <= item)
            && self.to.as_ref().is_none_or(|to| item < to)
    }
}

/// One item of the precise space: an origin's key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemId {
    /// The origin.
    pub origin: NodeId,
    /// The key.
    pub key: String,
}

impl Bounds<ItemId> {
    /// The keys of `origin` that the range covers, or `None` if it covers none.
    pub fn keys_of(&self, origin: NodeId) -> Option<(Bound<&str>, Bound<&str>)> {
        let lower = match &self.from {
            Some(from) if from.origin > origin => return None,
            Some(from) if from.origin == origin => Bound::Included(from.key.as_str()),
            _ => Bound::Unbounded,
        };
        let upper = match &self.to {
            Some(to) if to.origin < origin => return None,
            Some(to) if to.origin == origin => Bound::Excluded(to.key.as_str()),
            _ => Bound::Unbounded,
        };
        Some((lower, upper))
    }

    /// The range's bounds projected onto origins: every origin with a key in the range.
    pub fn origins(&self) -> Bounds<NodeId> {
        Bounds {
            from: self.from.as_ref().map(|f| f.origin),
            to: self.to.as_ref().map(|t| {
                if t.key.is_empty() {
                    t.origin
                } else {
                    NodeId(t.origin.0.saturating_add(1))
                }
            }),
        }
    }
}

/// What a node knows of one origin, in a Scuttlebutt digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginSummary {
    /// The origin.
    pub origin: NodeId,
    /// Its generation as known to the digest's sender.
    pub generation: Generation,
    /// Its heartbeat as known to the digest's sender.
    pub heartbeat: u64,
    /// Its allowed write rate under flow control, in thousandths of a write per second, as known
    /// to the digest's sender (0: no flow control, or unknown).
    pub rate: u32,
    /// Everything up to this version is held by the digest's sender.
    pub watermark: Version,
}

/// What a node knows of one origin, in a precise digest: every key with its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginItems {
    /// The origin.
    pub origin: NodeId,
    /// Its generation as known to the digest's sender.
    pub generation: Generation,
    /// Its heartbeat as known to the digest's sender.
    pub heartbeat: u64,
    /// Its allowed write rate, as in [`OriginSummary::rate`].
    pub rate: u32,
    /// `(key, version)` in key order; version 0 means "not held".
    pub items: Vec<(String, Version)>,
}

/// A summary of a node's state, sent so that the peer can answer with what the sender lacks.
///
/// On the wire a variant is a one-entry map from its tag (`s` or `p`) to the array of its fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Digest {
    /// Scuttlebutt: one watermark per origin.
    #[serde(rename = "s")]
    Scuttlebutt {
        /// `Some`: complete for this range of origins. `None`: an explicit request.
        range: Option<Bounds<NodeId>>,
        /// Origins in id order.
        origins: Vec<OriginSummary>,
    },
    /// Precise: one version per item.
    #[serde(rename = "p")]
    Precise {
        /// `Some`: complete for this range of items. `None`: an explicit request.
        range: Option<Bounds<ItemId>>,
        /// Origins in id order, each with its items in key order.
        origins: Vec<OriginItems>,
    },
}

impl Digest {
    /// Origins named, with the generation, heartbeat and rate the sender knows, in the digest's
    /// order (nothing collected: a node reads them twice for every digest it receives).
    pub fn heartbeats(&self) -> impl Iterator<Item = (NodeId, Generation, u64, u32)> + '_ {
        let (summaries, items): (&[OriginSummary], &[OriginItems]) = match self {
            Digest::Scuttlebutt { origins, .. } => (origins, &[]),
            Digest::Precise { origins, .. } => (&[], origins),
        };
        let summaries = summaries
            .iter()
            .map(|o| (o.origin, o.generation, o.heartbeat, o.rate));
        let items = items
            .iter()
            .map(|o| (o.origin, o.generation, o.heartbeat, o.rate));
        summaries.chain(items)
    }

    /// Whether the digest names nothing and covers nothing.
    pub fn is_empty_request(&self) -> bool {
        match self {
            Digest::Scuttlebutt { range, origins } => range.is_none() && origins.is_empty(),
            Digest::Precise { range, origins } => range.is_none() && origins.is_empty(),
        }
    }
}
