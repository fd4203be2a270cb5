//! Anti-entropy: opening exchanges (`Syn`), answering them (`SynAck`, `Ack`), the header groups
//! that tell a peer of generations and heartbeats it lacks, and the heartbeats digests report.

use super::Node;
use super::catch_up::Progress;
use super::incarnation::header_group;
use crate::reconcile;
use crate::wire::codec::Encode;
use crate::{
    Body, Budget, Digest, Direction, Event, Generation, NodeId, OriginDelta, PurgeReason, Strategy,
    Version, Via,
};
use std::collections::BTreeSet;
use std::time::Instant;

impl Node {
    pub(super) fn anti_entropy_round(&mut self) {
        let targets = self.targets(self.config.fanout);
        for peer in targets {
            self.anti_entropy_with(peer);
        }
    }

    /// Opens one anti-entropy exchange with `peer` (every [`crate::Config::repair_every`]-th
    /// digest a repair one).
    pub(super) fn anti_entropy_with(&mut self, peer: NodeId) {
        self.open_exchange(peer, true);
    }

    /// Opens one anti-entropy exchange with `peer`; `paced`: a round's exchange, whose digest
    /// counts towards the repair cadence. A catch-up's chained exchanges (not `paced`) use the
    /// strategy's own digest (a repair digest there would bring nothing new and end the chain)
    /// and pull only ([`crate::Config::catch_up`]).
    /// Returns the answer parts the exchange takes beyond the first (`more`).
    pub(super) fn open_exchange(&mut self, peer: NodeId, paced: bool) -> u8 {
        let direction = self.config.direction;
        if direction == Direction::Push {
            self.send(
                peer,
                Body::Syn {
                    digest: None,
                    reply_digest: true,
                    more: 0,
                },
            );
            return 0;
        }
        // A chained exchange pulls: the chain runs because this node is behind the peer, and the
        // peer's news for it is all it wants. Pushing back too (the peer's digest, then an
        // `Ack`) would resend what the peer pulls through its own exchanges and chains in the
        // same round.
        let reply_digest = direction == Direction::PushPull && paced;
        let strategy = if paced {
            self.digest_strategy()
        } else {
            self.config.strategy
        };
        let mut budget = self.budget(&Body::Syn {
            digest: Some(empty_digest(strategy)),
            reply_digest,
            more: u8::from(!paced) * (CHAIN_ANSWER_PARTS - 1),
        });
        let room = budget.bytes;
        let mut digest = reconcile::digest(&self.store, strategy, &mut self.cursor, &mut budget);
        if paced {
            self.ask_own_item_back(&mut digest);
        }
        // A chain's pull also takes its answer in parts when its digest is a large share of what
        // it pulls (over a third of the MTU): one digest for up to `CHAIN_ANSWER_PARTS` MTUs.
        let more = if !paced && room.saturating_sub(budget.bytes) * 3 > self.config.mtu {
            CHAIN_ANSWER_PARTS - 1
        } else {
            0
        };
        self.send(
            peer,
            Body::Syn {
                digest: Some(digest),
                reply_digest,
                more,
            },
        );
        more
    }

    /// Answers a `Syn`: with a `SynAck` carrying the deltas its digest shows the peer lacks, and
    /// (when asked) a digest or a request of ours; a chain's pull (`more` > 0), while its
    /// answers come out full, with up to `more` further `SynAck`s ([`Node::answer_more`]).
    pub(super) fn on_syn(
        &mut self,
        now: Instant,
        from: NodeId,
        digest: Option<Digest>,
        reply_digest: bool,
        more: u8,
    ) {
        if let Some(digest) = &digest {
            self.observe(now, from, digest);
        }
        // Push: the initiator wants our digest (a repair one every so often).
        let push_strategy = (digest.is_none() && reply_digest).then(|| self.digest_strategy());
        let reply_kind = match (&digest, push_strategy) {
            (Some(theirs), _) => empty_like(theirs),
            (None, Some(strategy)) => empty_digest(strategy),
            (None, None) => self.empty_digest(),
        };
        let mut budget = self.budget(&Body::SynAck {
            deltas: Vec::new(),
            digest: reply_digest.then_some(reply_kind),
        });
        let reply = match (&digest, reply_digest) {
            (_, false) => None,
            // Push-pull: ask for what the initiator's digest shows we lack, in at most half the
            // message, so that deltas for the initiator still fit.
            (Some(theirs), true) => {
                let mut half = budget.split(budget.bytes / 2);
                let request =
                    reconcile::request(&self.store, theirs, self.config.max_key_len(), &mut half);
                budget.restore(half);
                request
            }
            // Push: the initiator wants our digest to send us what we lack.
            (None, true) => {
                let mut ours = reconcile::digest(
                    &self.store,
                    push_strategy.unwrap_or(self.config.strategy),
                    &mut self.cursor,
                    &mut budget,
                );
                self.ask_own_item_back(&mut ours);
                Some(ours)
            }
        };
        let mut deltas = match &digest {
            Some(theirs) => reconcile::deltas(
                &self.store,
                theirs,
                self.config.strategy,
                &mut self.rng,
                &mut budget,
            ),
            None => Vec::new(),
        };
        if let Some(theirs) = &digest {
            self.header_groups(theirs, &mut deltas, &mut budget);
        }
        self.answer_cut(from, !deltas.is_empty(), &budget);
        self.send_hints(from, &mut deltas);
        let continued = match digest {
            // (`max_deltas`, the experiments' per-message limit, keeps one answer per exchange.)
            Some(theirs)
                if more > 0
                    && !deltas.is_empty()
                    && reply.is_none()
                    && self.config.max_deltas.is_none() =>
            {
                continued(theirs, &deltas)
            }
            _ => None,
        };
        if !deltas.is_empty() || reply.is_some() {
            self.send(
                from,
                Body::SynAck {
                    deltas,
                    digest: reply,
                },
            );
        }
        if let Some(theirs) = continued {
            // At most what this build asks for itself: a `Syn` of a few hundred bytes must not
            // draw hundreds of answers (the link's budget would allow them).
            self.answer_more(from, theirs, more.min(CHAIN_ANSWER_PARTS - 1));
        }
    }

    /// Goes on answering a chain's pull: up to `more` further `SynAck`s, each built from
    /// `theirs` as its sender will hold it once it has merged the answers before (its
    /// watermarks raised to what they vouched), while there is more to send and the link's
    /// catch-up budget holds another MTU. What the chain would have pulled with as many more
    /// exchanges, without a digest for each.
    fn answer_more(&mut self, to: NodeId, mut theirs: Digest, more: u8) {
        for _ in 0..more {
            if !self.catch_up_holds(to) {
                return;
            }
            let mut budget = self.budget(&Body::SynAck {
                deltas: Vec::new(),
                digest: None,
            });
            let mut deltas = reconcile::deltas(
                &self.store,
                &theirs,
                self.config.strategy,
                &mut self.rng,
                &mut budget,
            );
            if deltas.is_empty() {
                return;
            }
            self.answer_cut(to, true, &budget);
            self.send_hints(to, &mut deltas);
            let next = continued(theirs, &deltas);
            if !deltas.is_empty() {
                self.send(
                    to,
                    Body::SynAck {
                        deltas,
                        digest: None,
                    },
                );
            }
            match next {
                Some(digest) => theirs = digest,
                None => return,
            }
        }
    }

    /// Merges the deltas of an answer (`SynAck` or `Ack`); returns what the node held before,
    /// for [`Node::follow_up`] to judge after the whole message whether the answer continues a
    /// catch-up (`None` with catch-up off).
    pub(super) fn on_answer(
        &mut self,
        now: Instant,
        from: NodeId,
        deltas: &[OriginDelta],
    ) -> Option<Progress> {
        let before = self.progress_marks(deltas);
        self.apply(now, deltas, Via::AntiEntropy(from));
        before
    }

    /// Closes an exchange: the digest of a `SynAck` shows what its sender lacks, sent back in an
    /// `Ack`.
    pub(super) fn on_syn_ack_digest(&mut self, now: Instant, from: NodeId, digest: &Digest) {
        self.observe(now, from, digest);
        let mut budget = self.budget(&Body::Ack { deltas: Vec::new() });
        let mut deltas = reconcile::deltas(
            &self.store,
            digest,
            self.config.strategy,
            &mut self.rng,
            &mut budget,
        );
        self.answer_cut(from, !deltas.is_empty(), &budget);
        self.header_groups(digest, &mut deltas, &mut budget);
        self.send_ack(from, deltas);
    }

    /// Adds to an answer the empty groups (vouching nothing) that tell the peer of generations
    /// and heartbeats it lacks, as far as the budget allows, for origins the answer has no group
    /// for:
    /// - **generations**: every origin the peer's digest names with an older generation than the
    ///   one held here, and this node's own origin unless the digest names its current
    ///   generation. A precise answer sends only entries, so without this a node restarted empty
    ///   (or holding nothing) would never tell its peers that its old incarnation is gone, and a
    ///   member that left and came back would never be seen again;
    /// - **heartbeats**, with membership on: every origin the digest names with an older
    ///   heartbeat of the same generation, so that the initiator of an exchange learns heartbeats
    ///   from its own exchange, not only from the exchanges others open with it, and failure
    ///   detection sees progress about every round.
    pub(super) fn header_groups(
        &self,
        theirs: &Digest,
        deltas: &mut Vec<OriginDelta>,
        budget: &mut Budget,
    ) {
        let mut answered: BTreeSet<NodeId> = deltas.iter().map(|g| g.origin).collect();
        let knows_us = theirs
            .heartbeats()
            .any(|(origin, generation, _, _)| origin == self.id && generation >= self.generation);
        // A Scuttlebutt range announces what it leaves unnamed by itself; a precise range that
        // covers us and does not name our generation needs the announcement.
        let covers_us = match theirs {
            Digest::Precise {
                range: Some(range), ..
            } => range.origins().contains(&self.id),
            _ => false,
        };
        // Unnamed, the peer holds nothing of ours; an own origin that has said nothing (blank)
        // would only teach it an empty origin.
        let said_something = self.store.origin(self.id).is_some_and(|o| !o.is_blank());
        let own = (covers_us && !knows_us && said_something).then_some((
            self.id,
            Generation::default(),
            0,
            0,
        ));
        for (origin, generation, heartbeat, _) in theirs.heartbeats().chain(own) {
            if answered.contains(&origin) {
                continue;
            }
            let Some((held, held_heartbeat)) = self.header(origin) else {
                continue;
            };
            let newer = held > generation;
            let beat = self.members.is_some()
                && self.fd.is_none()
                && held == generation
                && held_heartbeat > heartbeat
                && (origin != self.id || generation == self.generation);
            if !newer && !beat {
                continue;
            }
            let group = header_group(origin, held, held_heartbeat);
            if !budget.take(group.encoded_len(), 0) {
                break;
            }
            answered.insert(origin);
            deltas.push(group);
        }
    }

    /// Records the heartbeats a peer's digest reports.
    pub(super) fn observe(&mut self, now: Instant, from: NodeId, digest: &Digest) {
        for (origin, generation, heartbeat, rate) in digest.heartbeats() {
            if origin == self.id {
                let (ahead, foreign) = match digest {
                    Digest::Scuttlebutt { origins, .. } => {
                        let ahead = origins
                            .iter()
                            .filter(|o| o.origin == self.id)
                            .map(|o| o.watermark)
                            .max();
                        (ahead.unwrap_or_default(), false)
                    }
                    Digest::Precise { origins, .. } => {
                        let items = || {
                            origins
                                .iter()
                                .filter(|o| o.origin == self.id && o.generation == generation)
                                .flat_map(|o| o.items.iter())
                        };
                        let ahead = items().map(|(_, v)| *v).max().unwrap_or_default();
                        // Version 0 names an item not held (requests).
                        let foreign = generation == self.generation
                            && items().any(|(k, v)| {
                                *v > Version::ZERO && self.foreign_write(k, *v, None)
                            });
                        (ahead, foreign)
                    }
                };
                self.refute(now, generation, heartbeat, ahead, foreign);
                continue;
            }
            if let Some(replaced) = self.store.observe(origin, generation, heartbeat, rate) {
                self.events
                    .push_back(Event::OriginReset { origin, generation });
                self.dropped(origin, replaced, PurgeReason::Reset);
            }
            self.heard(now, origin, Some(from));
        }
    }

    pub(super) fn empty_digest(&self) -> Digest {
        empty_digest(self.config.strategy)
    }

    /// Every [`crate::Config::repair_every`]-th digest, but no more often than one in
    /// [`OWN_CHECK_EVERY`] (so the repair digests, by default, with a Scuttlebutt strategy), one
    /// of this node's own items that a precise digest names goes at version 0,
    /// "not held", in turn: the peer sends back its copy, value included, and a copy at the held
    /// version with another value is a fork ([`Node::foreign_write`]), refuted. Versions alone
    /// cannot show one: a process back without its disk under a reused generation that, cut off
    /// until its heartbeat passed its old incarnation's, wrote a key at the version the old one
    /// had written it at, holds what every peer holds by version — digests compare equal and no
    /// value ever travels, so both values stayed for good (the fault search's seed 97). Costs one
    /// entry per check. The floor: with one delta per answer (`max_deltas`) and a repair every
    /// digest, the echo took every answer and news never got through (the fault search's seed
    /// 81955).
    fn ask_own_item_back(&self, digest: &mut Digest) {
        let Some(every) = self.config.repair_every.map(u64::from) else {
            return;
        };
        let every = every.max(OWN_CHECK_EVERY);
        if !self.digests.is_multiple_of(every) {
            return;
        }
        let Digest::Precise { origins, .. } = digest else {
            return;
        };
        let own = origins
            .iter_mut()
            .find(|o| o.origin == self.id && o.generation == self.generation);
        if let Some(own) = own.filter(|own| !own.items.is_empty()) {
            let turn = (self.digests / every) as usize % own.items.len();
            own.items[turn].1 = Version(0);
        }
    }

    /// The kind of the next digest this node sends: its strategy's, or a precise repair digest
    /// every [`crate::Config::repair_every`]-th time when its strategy is a Scuttlebutt one.
    fn digest_strategy(&mut self) -> Strategy {
        self.digests += 1;
        let strategy = self.config.strategy;
        match self.config.repair_every {
            Some(every)
                if !strategy.is_precise() && self.digests.is_multiple_of(u64::from(every)) =>
            {
                Strategy::PreciseRandom
            }
            _ => strategy,
        }
    }
}

/// Digests between two that ask for one of the node's own items back, at the least
/// ([`Node::ask_own_item_back`]).
const OWN_CHECK_EVERY: u64 = 10;

/// Answer datagrams a catch-up chain's pull takes: one digest for up to this many MTUs of
/// deltas. Two: at 100 nodes a digest is half an answer's size, so the second part halves what
/// pulling costs; later parts, built from an ever older digest, carry more of what arrived from
/// other peers meanwhile (W2 at 1,400 bytes: 8.13 MB with two parts or four, 8.54 with eight).
pub(super) const CHAIN_ANSWER_PARTS: u8 = 2;

/// A Scuttlebutt digest as its sender will hold it once it has merged `groups`, an answer to
/// it: each group's origin's watermark raised to what the group vouches. `None` (no further
/// answer is built from a guess) unless every group continues the watermark the digest names
/// for its origin and generation and carries nothing above what it vouches (entries there
/// would be sent again), or when the digest is not a Scuttlebutt one.
fn continued(mut digest: Digest, groups: &[OriginDelta]) -> Option<Digest> {
    let Digest::Scuttlebutt { origins, .. } = &mut digest else {
        return None;
    };
    for group in groups {
        let summary = origins.iter_mut().find(|o| o.origin == group.origin)?;
        if summary.generation != group.generation
            || summary.watermark != group.from
            || group.to < group.from
            || group.deltas.iter().any(|delta| delta.version > group.to)
        {
            return None;
        }
        summary.watermark = group.to;
    }
    Some(digest)
}

/// An empty digest of the kind `strategy` sends.
pub(super) fn empty_digest(strategy: Strategy) -> Digest {
    if strategy.is_precise() {
        Digest::Precise {
            range: None,
            origins: Vec::new(),
        }
    } else {
        Digest::Scuttlebutt {
            range: None,
            origins: Vec::new(),
        }
    }
}

/// An empty digest of the same kind as `digest`.
fn empty_like(digest: &Digest) -> Digest {
    match digest {
        Digest::Scuttlebutt { .. } => Digest::Scuttlebutt {
            range: None,
            origins: Vec::new(),
        },
        Digest::Precise { .. } => Digest::Precise {
            range: None,
            origins: Vec::new(),
        },
    }
}
