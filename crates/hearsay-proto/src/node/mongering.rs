//! Rumor mongering: the rounds that push (or pull) hot rumors, and the handling of a received
//! rumor message (feedback, offers, requests).

use super::Node;
use crate::reconcile::packer::Packer;
use crate::rumor::{IdPacker, RumorId, Selected};
use crate::{
    Body, Direction, Generation, NodeId, OriginDelta, RumorIds, RumorMessage, Version, Via,
};
use std::collections::BTreeSet;
use std::time::Instant;

impl Node {
    /// Runs the rumor half of a round: pushes (or pulls) hot rumors to `fanout` peers. Returns
    /// whether hot rumors were left out of a message for want of room (a backlog).
    pub(super) fn rumor_round(&mut self) -> bool {
        self.rumors.close_round(self.config.termination);
        let direction = self.config.direction;
        let mut backlog = false;
        if direction == Direction::Push && self.rumors.is_empty() {
            return backlog;
        }
        let targets = self.targets(self.config.fanout);
        for peer in targets {
            let mut budget = self.budget(&empty_rumor());
            let mut packer = Packer::new(&mut budget);
            let selected = if direction == Direction::Pull {
                Selected::default()
            } else {
                self.rumors.select(
                    &self.store,
                    &BTreeSet::new(),
                    self.eager_sends(),
                    &mut packer,
                )
            };
            let deltas = packer.finish();
            backlog |= selected.backlog;
            if direction == Direction::Push && selected.sent.is_empty() {
                continue;
            }
            let want_rumors = direction != Direction::Push;
            let asks = Asks {
                wants: Vec::new(),
                known: Vec::new(),
                news: Vec::new(),
                want_rumors,
            };
            self.send_rumor(peer, deltas, selected, asks, false);
        }
        backlog
    }

    /// How many sends of a rumor carry its value ([`crate::Config::eager_rumor_sends`]); none in a
    /// bulk load ([`crate::rumor::BULK_LOAD`]), where a value pushed blindly is often one the
    /// peer has from another spreader: offers by id cost a few bytes instead.
    fn eager_sends(&self) -> u32 {
        if self.rumors.in_bulk() {
            0
        } else {
            self.config.eager_rumor_sends
        }
    }

    /// Handles a rumor message: merges its deltas, takes its feedback, and answers with
    /// feedback, requests for the offers it lacks, the deltas asked for and (when wanted) our own
    /// hot rumors.
    pub(super) fn on_rumor(&mut self, now: Instant, from: NodeId, rumor: RumorMessage) {
        let RumorMessage {
            deltas,
            offers,
            wants,
            known,
            want_rumors,
            want_feedback,
            news,
        } = rumor;
        let termination = self.config.termination;
        let redundant = self.apply(now, &deltas, Via::Rumor(from));
        self.relay(from, &deltas, &redundant);
        self.rumors
            .known(&self.store, &known, termination, &mut self.rng);
        self.rumors.news(&self.store, &news, termination);
        // Feedback. The counter wants evidence of news, judged against the start of this node's
        // round: a rumor that became hot here since (merged just now, or brought by another
        // spreader earlier in the round) is news. The other rules count what was known.
        let per_round = termination.per_round();
        let mut feedback = if per_round {
            let round = self.round;
            let fresh = |rumor: &RumorId| self.rumors.fresh(&self.store, *rumor, round);
            deltas
                .iter()
                .flat_map(|g| g.deltas.iter().map(|d| (g.origin, d.version)))
                .filter(fresh)
                .collect()
        } else {
            redundant
        };
        // Offered rumors: ask for the ones we lack; the others were news or known.
        let mut missing = Vec::new();
        for group in &offers {
            for version in &group.versions {
                let id = (group.origin, group.generation, *version);
                let rumor = (group.origin, *version);
                if per_round && self.rumors.fresh(&self.store, rumor, self.round) {
                    feedback.push(rumor);
                } else if !self.holds(id) {
                    missing.push(id);
                } else if !per_round {
                    feedback.push(rumor);
                }
            }
        }
        if !want_feedback {
            feedback.clear();
        }
        if !want_rumors && feedback.is_empty() && missing.is_empty() && wants.is_empty() {
            return;
        }
        let mut budget = self.budget(&empty_rumor());
        let mut packer = Packer::new(&mut budget);
        // Small things first: feedback and requests, then the deltas asked for, then our rumors.
        let mut feedback_ids = IdPacker::default();
        for (origin, version) in feedback {
            let generation = self
                .store
                .origin(origin)
                .map_or(Generation::default(), |o| o.generation());
            if !feedback_ids.push(&mut packer, origin, generation, version) {
                break;
            }
        }
        let mut wanted = IdPacker::default();
        for (origin, generation, version) in missing {
            if !wanted.push(&mut packer, origin, generation, version) {
                break;
            }
        }
        self.rumors.answer(&self.store, &wants, &mut packer);
        let selected = if want_rumors {
            let received: BTreeSet<RumorId> = deltas
                .iter()
                .flat_map(|g| g.deltas.iter().map(|d| (g.origin, d.version)))
                .chain(
                    offers
                        .iter()
                        .flat_map(|g| g.versions.iter().map(|v| (g.origin, *v))),
                )
                .collect();
            self.rumors
                .select(&self.store, &received, self.eager_sends(), &mut packer)
        } else {
            Selected::default()
        };
        let deltas = packer.finish();
        let (feedback, wants_back) = (feedback_ids.finish(), wanted.finish());
        if deltas.is_empty()
            && feedback.is_empty()
            && wants_back.is_empty()
            && selected.offers.is_empty()
        {
            return;
        }
        let (known, news) = match per_round {
            true => (Vec::new(), feedback),
            false => (feedback, Vec::new()),
        };
        let asks = Asks {
            wants: wants_back,
            known,
            news,
            want_rumors: false,
        };
        // Deltas sent because the peer asked for them want feedback too: they are the useful
        // contact of a lazy push (or a useless one, from a peer that holds a newer write of the
        // key and could not tell from the id that the offer was superseded).
        let answered = !wants.is_empty();
        self.send_rumor(from, deltas, selected, asks, answered);
    }

    /// Sends a rumor message carrying `deltas` and the `selected` offers (asking for feedback on
    /// them, and on deltas the peer asked for when `answered`, when terminating by feedback),
    /// and counts the contacts.
    fn send_rumor(
        &mut self,
        to: NodeId,
        deltas: Vec<OriginDelta>,
        selected: Selected,
        asks: Asks,
        answered: bool,
    ) {
        let want_feedback =
            self.config.termination.feedback && (answered || !selected.sent.is_empty());
        self.send(
            to,
            Body::Rumor(RumorMessage {
                deltas,
                offers: selected.offers,
                wants: asks.wants,
                known: asks.known,
                want_rumors: asks.want_rumors,
                want_feedback,
                news: asks.news,
            }),
        );
        self.rumors.contacted(
            &self.store,
            &selected.sent,
            self.config.termination,
            &mut self.rng,
        );
    }

    /// Whether the write `(origin, generation, version)` is held here, or known to be overwritten.
    fn holds(&self, (origin, generation, version): (NodeId, Generation, Version)) -> bool {
        if origin == self.id
            || self
                .members
                .as_ref()
                .is_some_and(|m| m.is_removed(origin, generation))
        {
            return true;
        }
        match self.store.origin(origin) {
            None => false,
            Some(state) if state.generation() > generation => true,
            Some(state) if state.generation() < generation => false,
            Some(state) => state.watermark() >= version || state.key_at(version).is_some(),
        }
    }
}

/// What a rumor message asks of its peer besides taking its deltas and offers.
struct Asks {
    /// Rumors offered by the peer that this node lacks.
    wants: Vec<RumorIds>,
    /// Rumors the peer sent or offered that this node knew (feedback).
    known: Vec<RumorIds>,
    /// Rumors the peer sent or offered that were news to this node (the counter's feedback).
    news: Vec<RumorIds>,
    /// Whether the peer should answer with its own hot rumors (pull).
    want_rumors: bool,
}

/// A rumor message with every container empty, to measure the envelope.
pub(super) fn empty_rumor() -> Body {
    Body::Rumor(RumorMessage {
        want_rumors: true,
        want_feedback: true,
        ..RumorMessage::default()
    })
}
