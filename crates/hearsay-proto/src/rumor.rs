//! Rumor mongering: which updates a node still finds interesting ("hot"), which of them go into
//! the next message, and when the node loses interest (Demers et al. 1987: feedback or blind,
//! counter or coin).

use crate::reconcile::packer::Packer;
use crate::{
    Budget, Generation, Known, LossOfInterest, NodeId, OriginDelta, Store, Termination, Version,
};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, BTreeSet};

/// One hot rumor: the newest write of one key that this node still spreads.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hot {
    generation: Generation,
    /// The origin's version before this write: `(prev, version]` holds only this write.
    prev: Version,
    version: Version,
    /// Messages it went out in.
    sends: u32,
    /// Contacts counted towards losing interest.
    counted: u32,
}

/// Identifies one rumor: an origin's write at a version (versions are unique per origin).
pub type RumorId = (NodeId, Version);

/// The hot rumors of one node.
#[derive(Clone, Debug, Default)]
pub struct Rumors {
    hot: BTreeMap<(NodeId, String), Hot>,
}

impl Rumors {
    /// Number of hot rumors.
    pub fn len(&self) -> usize {
        self.hot.len()
    }

    /// Whether no rumor is hot.
    pub fn is_empty(&self) -> bool {
        self.hot.is_empty()
    }

    /// Whether the rumor is hot here.
    pub fn is_hot(&self, origin: NodeId, key: &str, version: Version) -> bool {
        self.hot
            .get(&(origin, key.to_owned()))
            .is_some_and(|h| h.version == version)
    }

    /// Makes a newly learned write hot, replacing an older rumor of the same key.
    pub(crate) fn heat(
        &mut self,
        origin: NodeId,
        key: &str,
        generation: Generation,
        prev: Version,
        version: Version,
    ) {
        let hot = Hot {
            generation,
            prev,
            version,
            sends: 0,
            counted: 0,
        };
        match self.hot.get_mut(&(origin, key.to_owned())) {
            Some(held) if held.version >= version && held.generation >= generation => {}
            Some(held) => *held = hot,
            None => {
                self.hot.insert((origin, key.to_owned()), hot);
            }
        }
    }

    /// Fills a message with hot rumors, least sent first, skipping those in `skip`; returns the
    /// grouped deltas and the rumors they carry.
    pub(crate) fn select(
        &mut self,
        store: &Store,
        skip: &BTreeSet<RumorId>,
        budget: &mut Budget,
    ) -> (Vec<OriginDelta>, Vec<RumorId>) {
        // Rumors whose write has since been overwritten or reset are no longer news.
        self.hot.retain(|(origin, key), hot| {
            store.origin(*origin).is_some_and(|o| {
                o.generation() == hot.generation
                    && o.get(key).is_some_and(|e| e.version == hot.version)
            })
        });
        let mut order: Vec<(&(NodeId, String), &Hot)> = self
            .hot
            .iter()
            .filter(|((origin, _), hot)| !skip.contains(&(*origin, hot.version)))
            .collect();
        order.sort_by_key(|((origin, _), hot)| (hot.sends, *origin, hot.version));
        let mut packer = Packer::new(budget);
        // Per origin: the open group and the version it reaches, to chain consecutive writes.
        let mut groups: BTreeMap<NodeId, (usize, Version)> = BTreeMap::new();
        let mut sent = Vec::new();
        for ((origin, key), hot) in order {
            if packer.exhausted() {
                break;
            }
            let Some(state) = store.origin(*origin) else {
                continue;
            };
            let Some(entry) = state.get(key) else {
                continue;
            };
            let added = match groups.get(origin) {
                Some(&(group, to)) if to == hot.prev => {
                    packer.push(group, key, entry).then_some(group)
                }
                _ => packer.open(
                    *origin,
                    hot.generation,
                    state.heartbeat(),
                    hot.prev,
                    Some((key, entry)),
                ),
            };
            if let Some(group) = added {
                packer.vouch(group, hot.version);
                groups.insert(*origin, (group, hot.version));
                sent.push((*origin, key.clone()));
            }
        }
        let mut ids = Vec::with_capacity(sent.len());
        for slot in sent {
            if let Some(hot) = self.hot.get_mut(&slot) {
                hot.sends += 1;
                ids.push((slot.0, hot.version));
            }
        }
        (packer.finish(), ids)
    }

    /// Counts one contact for `rumor`; the rumor goes cold when the rule says so.
    fn count<R: Rng + ?Sized>(
        &mut self,
        store: &Store,
        (origin, version): RumorId,
        termination: Termination,
        rng: &mut R,
    ) {
        let Some(key) = store.origin(origin).and_then(|o| o.key_at(version)) else {
            return;
        };
        let slot = (origin, key.to_owned());
        let Some(hot) = self.hot.get_mut(&slot) else {
            return;
        };
        if hot.version != version {
            return;
        }
        hot.counted += 1;
        let cold = match termination.rule {
            LossOfInterest::Counter(k) => hot.counted >= k,
            LossOfInterest::Coin(k) => rng.random_ratio(1, k.max(1)),
        };
        if cold {
            self.hot.remove(&slot);
        }
    }

    /// Blind termination: every rumor just sent counts a contact.
    pub(crate) fn contacted<R: Rng + ?Sized>(
        &mut self,
        store: &Store,
        sent: &[RumorId],
        termination: Termination,
        rng: &mut R,
    ) {
        if !termination.feedback {
            for rumor in sent {
                self.count(store, *rumor, termination, rng);
            }
        }
    }

    /// Feedback termination: every rumor the peer already knew counts a contact.
    pub(crate) fn known<R: Rng + ?Sized>(
        &mut self,
        store: &Store,
        known: &[Known],
        termination: Termination,
        rng: &mut R,
    ) {
        if termination.feedback {
            for group in known {
                for version in &group.versions {
                    self.count(store, (group.origin, *version), termination, rng);
                }
            }
        }
    }
}
