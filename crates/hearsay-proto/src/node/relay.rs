//! The relay of fresh rumors ([`crate::Config::relay`]): news that arrives in a rumor message is
//! sent on at once to a few peers, once per round, so that a write crosses the cluster in hops ×
//! latency; rumor mongering and anti-entropy finish the job at round pace.

use super::Node;
use super::mongering::empty_rumor;
use crate::reconcile::packer::Packer;
use crate::{Body, NodeId, OriginDelta, RumorIds, RumorMessage};

/// The most hot rumors a node may hold and still relay. Relays buy latency for single writes; in
/// a burst of writes every round already carries full messages of news, and relaying them too
/// would mostly repeat what the rounds deliver (100 nodes writing 10 keys each: +26 % bytes).
pub(crate) const RELAY_WHILE_HOT: usize = 16;

impl Node {
    /// Sends the rumors of `deltas` that became news here this round on to [`crate::Config::relay`]
    /// peers other than `from`, in one message each, unless this node relayed this round already
    /// or holds more than [`RELAY_WHILE_HOT`] hot rumors.
    /// The messages ask for nothing (no feedback, no rumors back): the relay leaves the rumors'
    /// spreading state, and with it Demers' loss of interest, as it is.
    pub(super) fn relay(&mut self, from: NodeId, deltas: &[OriginDelta]) {
        let count = self.config.relay as usize;
        if count == 0
            || !self.config.mode.rumors()
            || self.relayed_in == Some(self.round)
            || self.rumors.len() > RELAY_WHILE_HOT
        {
            return;
        }
        let round = self.round;
        let fresh: Vec<RumorIds> = deltas
            .iter()
            .map(|group| RumorIds {
                origin: group.origin,
                generation: group.generation,
                versions: group
                    .deltas
                    .iter()
                    .map(|d| d.version)
                    .filter(|&v| self.rumors.fresh(&self.store, (group.origin, v), round))
                    .collect(),
            })
            .filter(|ids| !ids.versions.is_empty())
            .collect();
        if fresh.is_empty() {
            return;
        }
        let mut budget = self.budget(&empty_rumor());
        let mut packer = Packer::new(&mut budget);
        self.rumors.answer(&self.store, &fresh, &mut packer);
        let relayed = packer.finish();
        if relayed.is_empty() {
            return;
        }
        self.relayed_in = Some(round);
        let mut targets = self.targets(count + 1);
        targets.retain(|&peer| peer != from);
        targets.truncate(count);
        for peer in targets {
            self.stats.relayed += 1;
            self.send(
                peer,
                Body::Rumor(RumorMessage {
                    deltas: relayed.clone(),
                    ..RumorMessage::default()
                }),
            );
        }
    }
}
