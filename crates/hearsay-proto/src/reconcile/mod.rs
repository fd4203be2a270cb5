//! Reconciliation: which digest a node sends, and which deltas it answers a peer's digest with,
//! under a message-size limit.
//!
//! The five strategies of van Renesse et al. (LADIS 2008):
//! [`precise`] reconciliation (every item carries a version; the deltas that fit are picked
//! randomly, oldest-first or newest-first) and [`scuttlebutt`] reconciliation (versions per
//! origin; origins served breadth-first or depth-first).

pub mod packer;
pub mod precise;
pub mod scuttlebutt;

use crate::{Budget, Digest, ItemId, NodeId, OriginDelta, Store};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// How deltas are chosen when not all fit in one message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Precise reconciliation, deltas picked uniformly at random.
    PreciseRandom,
    /// Precise reconciliation, lowest versions first.
    PreciseOldest,
    /// Precise reconciliation, highest versions first.
    PreciseNewest,
    /// Scuttlebutt, origins served round-robin (fair), ties broken at random.
    ScuttleBreadth,
    /// Scuttlebutt, origins with the most outstanding deltas first (van Renesse's recommendation).
    #[default]
    ScuttleDepth,
}

impl Strategy {
    /// All five, in the order the literature lists them.
    pub const ALL: [Strategy; 5] = [
        Strategy::PreciseRandom,
        Strategy::PreciseOldest,
        Strategy::PreciseNewest,
        Strategy::ScuttleBreadth,
        Strategy::ScuttleDepth,
    ];

    /// Whether digests carry per-item versions.
    pub fn is_precise(self) -> bool {
        matches!(
            self,
            Strategy::PreciseRandom | Strategy::PreciseOldest | Strategy::PreciseNewest
        )
    }

    /// The command-line and config name of the strategy.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::PreciseRandom => "precise-random",
            Strategy::PreciseOldest => "precise-oldest",
            Strategy::PreciseNewest => "precise-newest",
            Strategy::ScuttleBreadth => "scuttle-breadth",
            Strategy::ScuttleDepth => "scuttle-depth",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = crate::Error;

    fn from_str(name: &str) -> Result<Strategy, crate::Error> {
        Strategy::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .ok_or_else(|| {
                crate::Error::config(
                    "strategy",
                    format!(
                        "unknown strategy {name:?} (expected one of: precise-random, \
                         precise-oldest, precise-newest, scuttle-breadth, scuttle-depth)"
                    ),
                )
            })
    }
}

/// Where the next digest continues when the state is too large for one message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DigestCursor {
    scuttle: Option<NodeId>,
    precise: Option<ItemId>,
}

/// Builds the digest a node sends, continuing from `cursor`, within `budget` bytes.
pub fn digest(
    store: &Store,
    strategy: Strategy,
    cursor: &mut DigestCursor,
    budget: &mut Budget,
) -> Digest {
    if strategy.is_precise() {
        precise::digest(store, &mut cursor.precise, budget)
    } else {
        scuttlebutt::digest(store, &mut cursor.scuttle, budget)
    }
}

/// Chooses the deltas that answer a peer's digest, within `budget`.
///
/// A precise digest is answered with `strategy`'s order if it is a precise one (random otherwise);
/// a Scuttlebutt digest with `strategy`'s order if it is a Scuttlebutt one (depth-first otherwise).
pub fn deltas<R: Rng + ?Sized>(
    store: &Store,
    peer: &Digest,
    strategy: Strategy,
    rng: &mut R,
    budget: &mut Budget,
) -> Vec<OriginDelta> {
    match peer {
        Digest::Scuttlebutt { range, origins } => {
            let breadth = strategy == Strategy::ScuttleBreadth;
            scuttlebutt::deltas(store, range.as_ref(), origins, breadth, rng, budget)
        }
        Digest::Precise { range, origins } => {
            let order = match strategy {
                Strategy::PreciseOldest => precise::Order::Oldest,
                Strategy::PreciseNewest => precise::Order::Newest,
                _ => precise::Order::Random,
            };
            precise::deltas(store, range.as_ref(), origins, order, rng, budget)
        }
    }
}

/// The explicit request for what a peer's digest shows it has and this store lacks, or `None`
/// when it has nothing this store lacks. Items whose key is longer than `max_key_len` (which this
/// node would refuse) are not asked for.
pub fn request(
    store: &Store,
    peer: &Digest,
    max_key_len: usize,
    budget: &mut Budget,
) -> Option<Digest> {
    let request = match peer {
        Digest::Scuttlebutt { origins, .. } => scuttlebutt::request(store, origins, budget),
        Digest::Precise { origins, .. } => precise::request(store, origins, max_key_len, budget),
    };
    (!request.is_empty_request()).then_some(request)
}
