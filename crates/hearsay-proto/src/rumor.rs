//! Rumor mongering: which updates a node still finds interesting ("hot"), which of them go into
//! the next message, and when the node loses interest (Demers et al. 1987: feedback or blind,
//! counter or coin).

use crate::reconcile::packer::Packer;
use crate::size::{ARRAY_GROWTH, encoded_len};
use crate::{Generation, LossOfInterest, NodeId, RumorIds, Store, Termination, Version};
use rand::{Rng, RngExt};
use std::collections::{BTreeMap, BTreeSet};

/// The most hot rumors a node holds outside a bulk load. Relays and eager sends buy latency for
/// single writes; in a bulk load every round already carries full messages of news, and relaying
/// them or sending values a peer may hold already mostly repeats what the rounds deliver (100
/// nodes writing 10 keys each: relays +26 % bytes, eager first sends +25 %). A node holding more
/// hot rumors relays nothing and offers its rumors by id from the first send.
pub(crate) const BULK_LOAD: usize = 16;

/// One hot rumor: the newest write of one key that this node still spreads.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Hot {
    generation: Generation,
    /// The origin's version before this write: `(prev, version]` holds only this write.
    prev: Version,
    version: Version,
    /// Messages it went out in.
    sends: u32,
    /// Contacts (or, for the counter, rounds) counted towards losing interest.
    counted: u32,
    /// The node's round in which it became hot here.
    heated: u64,
    /// Peers it went to since the current round began.
    round_contacts: u32,
    /// Of those, peers that said it was news to them (the counter's feedback).
    round_news: u32,
}

/// Identifies one rumor: an origin's write at a version (versions are unique per origin and
/// generation; a restart that keeps its state carries its entries' versions into the next one).
pub type RumorId = (NodeId, Version);

/// Whether feedback `group` is about the generation of its origin held here: feedback about an
/// older one (its writes carried, since session 31, at the same versions) says nothing of the
/// current one's rumors.
fn current(store: &Store, group: &RumorIds) -> bool {
    store
        .origin(group.origin)
        .is_some_and(|state| state.generation() == group.generation)
}

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

    /// Whether this node is in a bulk load: more than `BULK_LOAD` (16) hot rumors.
    pub fn in_bulk(&self) -> bool {
        self.hot.len() > BULK_LOAD
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

    /// Makes a write newly learned in `round` hot, replacing an older rumor of the same key.
    pub(crate) fn heat(
        &mut self,
        origin: NodeId,
        key: &str,
        generation: Generation,
        (prev, version): (Version, Version),
        round: u64,
    ) {
        let hot = Hot {
            generation,
            prev,
            version,
            sends: 0,
            counted: 0,
            heated: round,
            round_contacts: 0,
            round_news: 0,
        };
        match self.hot.get_mut(&(origin, key.to_owned())) {
            Some(held) if held.version >= version && held.generation >= generation => {}
            Some(held) => *held = hot,
            None => {
                self.hot.insert((origin, key.to_owned()), hot);
            }
        }
    }

    /// Fills a message with hot rumors, least sent first, skipping those in `skip`. A rumor this
    /// node has sent fewer than `eager_sends` times travels with its value; after that it is only
    /// offered by id (lazy push), and the peer asks for it if it lacks it.
    pub(crate) fn select(
        &mut self,
        store: &Store,
        skip: &BTreeSet<RumorId>,
        eager_sends: u32,
        packer: &mut Packer<'_>,
    ) -> Selected {
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
        let mut chains = Chains::default();
        let mut offers = IdPacker::default();
        let mut sent = Vec::new();
        let eligible = order.len();
        // Offer no more than the peer could ask for and receive in one message.
        let mut answerable = packer.remaining_bytes();
        for ((origin, key), hot) in order {
            if packer.exhausted() {
                break;
            }
            let Some(entry) = store.origin(*origin).and_then(|state| state.get(key)) else {
                continue;
            };
            let added = if hot.sends < eager_sends {
                chains.pack(
                    packer,
                    store,
                    *origin,
                    hot.generation,
                    key,
                    entry,
                    Some(hot.prev),
                )
            } else {
                let size = delta_len(key, entry);
                if size > answerable {
                    continue;
                }
                let offered = offers.push(packer, *origin, hot.generation, hot.version);
                if offered {
                    answerable -= size;
                }
                offered
            };
            if added {
                sent.push((*origin, key.clone()));
            }
        }
        let backlog = sent.len() < eligible;
        let mut ids = Vec::with_capacity(sent.len());
        for slot in sent {
            if let Some(hot) = self.hot.get_mut(&slot) {
                hot.sends += 1;
                ids.push((slot.0, hot.version));
            }
        }
        Selected {
            offers: offers.finish(),
            sent: ids,
            backlog,
        }
    }

    /// Packs the deltas a peer asked for by id, as far as they are still held.
    pub(crate) fn answer(&self, store: &Store, wants: &[RumorIds], packer: &mut Packer<'_>) {
        let mut chains = Chains::default();
        for group in wants {
            let Some(state) = store.origin(group.origin) else {
                continue;
            };
            if state.generation() != group.generation {
                continue;
            }
            for version in &group.versions {
                let Some(key) = state.key_at(*version) else {
                    continue;
                };
                let Some(entry) = state.get(key) else {
                    continue;
                };
                let prev = self
                    .hot
                    .get(&(group.origin, key.to_owned()))
                    .filter(|hot| hot.version == *version)
                    .map(|hot| hot.prev);
                if !chains.pack(
                    packer,
                    store,
                    group.origin,
                    group.generation,
                    key,
                    entry,
                    prev,
                ) {
                    return;
                }
            }
        }
    }

    /// Whether `rumor` became hot here in `round`: news to this node since its round began,
    /// though held now (the counter's feedback judges against the start of the round).
    pub(crate) fn fresh(&self, store: &Store, rumor: RumorId, round: u64) -> bool {
        self.slot(store, rumor)
            .and_then(|slot| self.hot.get(&slot))
            .is_some_and(|hot| hot.heated == round)
    }

    /// Whether `rumor` is hot here (its write is still the key's newest).
    pub(crate) fn holds(&self, store: &Store, rumor: RumorId) -> bool {
        self.slot(store, rumor).is_some()
    }

    /// The state of `rumor` while it is hot here.
    fn hot_mut(&mut self, store: &Store, rumor: RumorId) -> Option<&mut Hot> {
        let slot = self.slot(store, rumor)?;
        self.hot.get_mut(&slot)
    }

    /// Where `rumor` is held while it is hot here.
    fn slot(&self, store: &Store, (origin, version): RumorId) -> Option<(NodeId, String)> {
        let key = store.origin(origin)?.key_at(version)?;
        let slot = (origin, key.to_owned());
        (self.hot.get(&slot)?.version == version).then_some(slot)
    }

    /// A new round begins: the counter judges the one that ended. A rumor that went to some
    /// peer counts the round unless (with feedback) some peer said it was news, which starts the
    /// count again; after `k` counted rounds in a row it goes cold. Only evidence keeps a
    /// spreader interested: a contact whose message or answer was lost counts as useless.
    pub(crate) fn close_round(&mut self, termination: Termination) {
        let LossOfInterest::Counter(k) = termination.rule else {
            return;
        };
        self.hot.retain(|_, hot| {
            let (contacts, news) = (hot.round_contacts, hot.round_news);
            (hot.round_contacts, hot.round_news) = (0, 0);
            if contacts == 0 {
                return true;
            }
            if termination.feedback && news > 0 {
                hot.counted = 0;
            } else {
                hot.counted += 1;
            }
            hot.counted < k
        });
    }

    /// Feedback under the counter: every id in `news` was news to a peer this round.
    pub(crate) fn news(&mut self, store: &Store, news: &[RumorIds], termination: Termination) {
        if !(termination.feedback && termination.per_round()) {
            return;
        }
        for group in news.iter().filter(|g| current(store, g)) {
            for &version in &group.versions {
                if let Some(hot) = self.hot_mut(store, (group.origin, version)) {
                    hot.round_news += 1;
                }
            }
        }
    }

    /// Counts one contact for `rumor`; the rumor goes cold when the rule says so.
    fn count<R: Rng + ?Sized>(
        &mut self,
        store: &Store,
        rumor: RumorId,
        termination: Termination,
        rng: &mut R,
    ) {
        let Some(slot) = self.slot(store, rumor) else {
            return;
        };
        let Some(hot) = self.hot.get_mut(&slot) else {
            return;
        };
        hot.counted += 1;
        let cold = match termination.rule {
            LossOfInterest::Contacts(k) | LossOfInterest::Counter(k) => hot.counted >= k,
            LossOfInterest::Coin(k) => rng.random_ratio(1, k.max(1)),
        };
        if cold {
            self.hot.remove(&slot);
        }
    }

    /// Every rumor just sent is a contact: of this round for the counter; blind and judged one
    /// by one, it counts at once.
    pub(crate) fn contacted<R: Rng + ?Sized>(
        &mut self,
        store: &Store,
        sent: &[RumorId],
        termination: Termination,
        rng: &mut R,
    ) {
        for &rumor in sent {
            if termination.per_round() {
                if let Some(hot) = self.hot_mut(store, rumor) {
                    hot.round_contacts += 1;
                }
            } else if !termination.feedback {
                self.count(store, rumor, termination, rng);
            }
        }
    }

    /// Feedback termination, judged one by one: every rumor the peer already knew counts a
    /// contact.
    pub(crate) fn known<R: Rng + ?Sized>(
        &mut self,
        store: &Store,
        known: &[RumorIds],
        termination: Termination,
        rng: &mut R,
    ) {
        if termination.feedback && !termination.per_round() {
            for group in known.iter().filter(|g| current(store, g)) {
                for version in &group.versions {
                    self.count(store, (group.origin, *version), termination, rng);
                }
            }
        }
    }
}

/// Encoded size of one delta.
fn delta_len(key: &str, entry: &crate::Entry) -> usize {
    encoded_len(&crate::Delta {
        key: key.to_owned(),
        version: entry.version,
        value: entry.value.clone(),
    })
}

/// What [`Rumors::select`] put in a message besides the deltas it packed.
#[derive(Debug, Default)]
pub(crate) struct Selected {
    /// Rumors offered by id.
    pub offers: Vec<RumorIds>,
    /// Every rumor sent or offered.
    pub sent: Vec<RumorId>,
    /// Whether hot rumors were left out for want of room: more news than one message carries.
    pub backlog: bool,
}

/// Groups rumor deltas by origin, chaining consecutive writes of an origin into one group whose
/// range `(prev, version]` the receiver may raise its watermark over.
#[derive(Default)]
struct Chains {
    /// Per origin: the open group and the version it reaches.
    open: BTreeMap<NodeId, (usize, Version)>,
}

impl Chains {
    /// Packs one rumor; `prev` is the origin's version before it, where known. Returns whether it
    /// fit.
    #[allow(clippy::too_many_arguments)]
    fn pack(
        &mut self,
        packer: &mut Packer<'_>,
        store: &Store,
        origin: NodeId,
        generation: Generation,
        key: &str,
        entry: &crate::Entry,
        prev: Option<Version>,
    ) -> bool {
        let version = entry.version;
        let heartbeat = store.origin(origin).map_or(0, |o| o.heartbeat());
        let group = match self.open.get(&origin) {
            Some(&(group, to)) if prev == Some(to) => {
                packer.push(group, key, entry).then_some(group)
            }
            _ => packer.open(
                origin,
                generation,
                heartbeat,
                prev.unwrap_or(version),
                Some((key, entry)),
            ),
        };
        let Some(group) = group else {
            return false;
        };
        if prev.is_some() {
            packer.vouch(group, version);
            self.open.insert(origin, (group, version));
        } else {
            self.open.remove(&origin);
        }
        true
    }
}

/// Packs rumor ids grouped by origin and generation, charging their encoded size.
#[derive(Debug, Default)]
pub(crate) struct IdPacker {
    groups: Vec<RumorIds>,
    index: BTreeMap<(NodeId, Generation), usize>,
}

impl IdPacker {
    /// Adds one id if it fits; returns whether it did.
    pub(crate) fn push(
        &mut self,
        packer: &mut Packer<'_>,
        origin: NodeId,
        generation: Generation,
        version: Version,
    ) -> bool {
        let at = self.index.get(&(origin, generation)).copied();
        let header = RumorIds {
            origin,
            generation,
            versions: Vec::new(),
        };
        let cost = encoded_len(&version) + at.map_or(encoded_len(&header) + ARRAY_GROWTH, |_| 0);
        if !packer.charge(cost) {
            return false;
        }
        match at.and_then(|at| self.groups.get_mut(at)) {
            Some(group) => group.versions.push(version),
            None => {
                self.index.insert((origin, generation), self.groups.len());
                self.groups.push(RumorIds {
                    versions: vec![version],
                    ..header
                });
            }
        }
        true
    }

    /// The packed groups.
    pub(crate) fn finish(self) -> Vec<RumorIds> {
        self.groups
    }
}
