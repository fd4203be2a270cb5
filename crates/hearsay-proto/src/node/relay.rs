//! The relay of fresh rumors ([`crate::Config::relay`]): a local write, or news that arrives in a
//! rumor message, is sent on at once to a few peers — by each node once, when it first holds the
//! rumor — so that a write crosses the cluster in hops × latency; rumor mongering and
//! anti-entropy finish the job at round pace.

use super::Node;
use super::mongering::empty_rumor;
use crate::reconcile::packer::Packer;
use crate::rumor::{BULK_LOAD, RumorId};
use crate::{Body, NodeId, OriginDelta, RumorIds, RumorMessage, Version};
use std::collections::BTreeSet;

impl Node {
    /// Sends the rumors of `deltas` that were news to this node in this very message (not in
    /// `redundant`) and are hot here on to [`crate::Config::relay`] peers other than `from`
    /// ([`Node::relay_ids`]): every node relays a rumor once, when it first hears of it.
    pub(super) fn relay(&mut self, from: NodeId, deltas: &[OriginDelta], redundant: &[RumorId]) {
        if !self.may_relay() {
            return;
        }
        let redundant: BTreeSet<RumorId> = redundant.iter().copied().collect();
        let ids = deltas
            .iter()
            .map(|group| RumorIds {
                origin: group.origin,
                generation: group.generation,
                versions: group
                    .deltas
                    .iter()
                    .map(|d| (group.origin, d.version))
                    .filter(|rumor| !redundant.contains(rumor))
                    .filter(|&rumor| self.rumors.holds(&self.store, rumor))
                    .map(|(_, version)| version)
                    .collect(),
            })
            .collect();
        self.relay_ids(Some(from), ids);
    }

    /// Relays this node's own writes from version `first` on, made since outputs were last
    /// polled, as far as they are still hot ([`Node::relay_ids`]): a write leaves at once, not
    /// at the writer's next round. A burst of more than [`BULK_LOAD`] writes is not relayed.
    pub(super) fn relay_writes(&mut self, first: Version) {
        let last = self.own_max_version();
        if !self.may_relay() || last < first || last.0 - first.0 >= BULK_LOAD as u64 {
            return;
        }
        let versions = (first.0..=last.0)
            .map(Version)
            .filter(|&v| self.rumors.holds(&self.store, (self.id, v)))
            .collect();
        let ids = RumorIds {
            origin: self.id,
            generation: self.generation,
            versions,
        };
        self.relay_ids(None, vec![ids]);
    }

    /// Sends the rumors named in `ids` to [`crate::Config::relay`] peers other than `from`, in
    /// one message each. The callers have checked [`Node::may_relay`].
    /// The messages ask for nothing (no feedback, no rumors back): the relay leaves the rumors'
    /// spreading state, and with it Demers' loss of interest, as it is.
    fn relay_ids(&mut self, from: Option<NodeId>, mut ids: Vec<RumorIds>) {
        ids.retain(|group| !group.versions.is_empty());
        if ids.is_empty() {
            return;
        }
        let mut budget = self.budget(&empty_rumor());
        let mut packer = Packer::new(&mut budget);
        self.rumors.answer(&self.store, &ids, &mut packer);
        let relayed = packer.finish();
        if relayed.is_empty() {
            return;
        }
        let count = self.config.relay as usize;
        let mut targets = self.targets(count + 1);
        targets.retain(|peer| Some(*peer) != from);
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

    /// Whether relays are on and this node is not in a bulk load ([`BULK_LOAD`]).
    fn may_relay(&self) -> bool {
        self.config.relay > 0 && self.config.mode.rumors() && !self.rumors.in_bulk()
    }
}
