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
    pub(super) fn rumor_round(&mut self) {
        let direction = self.config.direction;
        if direction == Direction::Push && self.rumors.is_empty() {
            return;
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
                    self.config.eager_rumor_sends,
                    &mut packer,
                )
            };
            let deltas = packer.finish();
            if direction == Direction::Push && selected.sent.is_empty() {
                continue;
            }
            let want_rumors = direction != Direction::Push;
            self.send_rumor(peer, deltas, selected, Vec::new(), Vec::new(), want_rumors);
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
        } = rumor;
        let mut redundant = self.apply(now, &deltas, Via::Rumor(from));
        self.rumors
            .known(&self.store, &known, self.config.termination, &mut self.rng);
        // Offered rumors: ask for the ones we lack, report the others as known.
        let mut missing = Vec::new();
        for group in &offers {
            for version in &group.versions {
                let id = (group.origin, group.generation, *version);
                if self.holds(id) {
                    redundant.push((group.origin, *version));
                } else {
                    missing.push(id);
                }
            }
        }
        let feedback = if want_feedback { redundant } else { Vec::new() };
        if !want_rumors && feedback.is_empty() && missing.is_empty() && wants.is_empty() {
            return;
        }
        let mut budget = self.budget(&empty_rumor());
        let mut packer = Packer::new(&mut budget);
        // Small things first: feedback and requests, then the deltas asked for, then our rumors.
        let mut known_ids = IdPacker::default();
        for (origin, version) in feedback {
            let generation = self
                .store
                .origin(origin)
                .map_or(Generation::default(), |o| o.generation());
            if !known_ids.push(&mut packer, origin, generation, version) {
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
            self.rumors.select(
                &self.store,
                &received,
                self.config.eager_rumor_sends,
                &mut packer,
            )
        } else {
            Selected::default()
        };
        let deltas = packer.finish();
        let (known, wants) = (known_ids.finish(), wanted.finish());
        if deltas.is_empty() && known.is_empty() && wants.is_empty() && selected.offers.is_empty() {
            return;
        }
        self.send_rumor(from, deltas, selected, wants, known, false);
    }

    /// Sends a rumor message carrying `deltas` and the `selected` offers (asking for feedback on
    /// them when terminating by feedback), and counts the contact for blind termination.
    fn send_rumor(
        &mut self,
        to: NodeId,
        deltas: Vec<OriginDelta>,
        selected: Selected,
        wants: Vec<RumorIds>,
        known: Vec<RumorIds>,
        want_rumors: bool,
    ) {
        let want_feedback = self.config.termination.feedback && !selected.sent.is_empty();
        self.send(
            to,
            Body::Rumor(RumorMessage {
                deltas,
                offers: selected.offers,
                wants,
                known,
                want_rumors,
                want_feedback,
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

/// A rumor message with every container empty, to measure the envelope.
pub(super) fn empty_rumor() -> Body {
    Body::Rumor(RumorMessage {
        want_rumors: true,
        want_feedback: true,
        ..RumorMessage::default()
    })
}
