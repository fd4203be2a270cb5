//! Taking a node's state as a [`Snapshot`] and starting a node again from one.

use super::Node;
use crate::reconcile::packer::to_delta;
use crate::{Config, Error, Generation, MemberStatus, NodeId, OriginDelta, OriginState, Snapshot};
use crate::{Liveness, MemberUpdate, SavedMember, Stats, Version, Via};
use std::sync::Arc;
use std::time::Instant;

impl Node {
    /// The node's state now — its id and generation, and the entries of every origin it holds
    /// that is not on its way out (with membership, members held Down or Left are left out: the
    /// next process would otherwise take them for members just heard of, and bring their state
    /// back until it removed them again), its own first — to be saved ([`Snapshot::encode`]) and
    /// given to [`Node::restore`] by the next process; with it the cluster, and the reachable
    /// members with their addresses (SWIM keeps those in its table, not in the store). Own keys
    /// still to expire ([`Node::set_with_ttl`]) are saved as deletes. Costs a copy of the store.
    pub fn snapshot(&self) -> Snapshot {
        // Keys still to expire are saved as deletes at their versions: they do not outlive
        // their process, and what they hid stays hidden (left out, another node's older value
        // under the key would be the newest again).
        let own = self.store.origin(self.id).map(|state| {
            let lasting = |key: &str| self.expires_at(key).is_none();
            group(self.id, state, lasting)
        });
        let others = self
            .store
            .origins()
            .filter(|(id, _)| *id != self.id)
            .filter(|(id, _)| {
                self.member_status(*id)
                    .is_none_or(MemberStatus::is_reachable)
            })
            .map(|(id, state)| group(id, state, |_| true));
        let members = self
            .members()
            .into_iter()
            .filter(|m| m.id != self.id && m.status.is_reachable())
            .map(|m| {
                let address = m.address.map(|a| a.to_string());
                SavedMember::new(m.id, m.generation, m.incarnation, address)
            })
            .collect();
        Snapshot {
            cluster: Some(self.config.cluster),
            members,
            ..Snapshot::new(
                self.id,
                self.generation,
                own.into_iter().chain(others).collect(),
            )
        }
    }

    /// A node started from a [`Snapshot`] as a new incarnation: `generation` must be above the
    /// snapshot's. It holds what the snapshot held — every other origin's entries merged by the
    /// rules of gossip, its own entries, deletes included, written again under `generation` at
    /// their versions (its reserved
    /// ones — a leave, a GC horizon — belonged to the old incarnation; its address is written
    /// again, as by [`Node::restart`]) — and nothing else: no rumors, no round scheduled, fresh
    /// counters, no event pending (a runtime's subscribers begin from what it holds). Its store
    /// is the one `restart(now, generation, true)` leaves on the node that took the snapshot;
    /// its member table is rebuilt from it: the members are known as if just heard from (their
    /// detectors start afresh), and incarnations removed before the snapshot are not
    /// remembered — their state is not in it, and a peer that still remembers one refuses it.
    /// Under SWIM the snapshot's members are known Up, at their saved incarnations and
    /// addresses, as if a table had listed them: the node reaches them without a seed.
    ///
    /// A snapshot taken in another cluster than `config`'s, or that contradicts itself (its own
    /// origin at another generation than the snapshot's), is an [`Error::InvalidSnapshot`]; an
    /// own entry the configuration no longer
    /// allows (a key too long for its MTU) fails as the write would
    /// ([`Error::EntryTooLarge`]); a generation not above the snapshot's is an
    /// [`Error::StaleGeneration`]. `seed` seeds every random choice, as in [`Node::new`].
    pub fn restore(
        snapshot: Snapshot,
        generation: Generation,
        config: impl Into<Arc<Config>>,
        seed: u64,
        now: Instant,
    ) -> Result<Node, Error> {
        if generation <= snapshot.generation {
            return Err(Error::StaleGeneration {
                current: snapshot.generation,
                requested: generation,
            });
        }
        let config = config.into();
        if let Some(cluster) = snapshot.cluster.filter(|c| *c != config.cluster) {
            return Err(Error::InvalidSnapshot(format!(
                "it was taken in cluster {cluster}, and this node is configured for cluster {}",
                config.cluster
            )));
        }
        let id = snapshot.id;
        let (own, others): (Vec<OriginDelta>, Vec<OriginDelta>) =
            snapshot.origins.into_iter().partition(|g| g.origin == id);
        if let Some(wrong) = own.iter().find(|g| g.generation != snapshot.generation) {
            return Err(Error::InvalidSnapshot(format!(
                "its own origin {id} is at generation {}, the snapshot at {}",
                wrong.generation.0, snapshot.generation.0
            )));
        }
        let mut node = Node::new(id, snapshot.generation, config, seed)?;
        for group in &own {
            node.store.merge(group);
        }
        // Merged as news of no peer: nothing is answered, and no rumor outlives the restart.
        node.apply(now, &others, Via::Local);
        if node.fd.is_some() {
            let members: Vec<MemberUpdate> = (snapshot.members.into_iter())
                .filter(|m| m.id != id)
                .map(|m| MemberUpdate {
                    id: m.id,
                    generation: m.generation,
                    incarnation: m.incarnation,
                    status: Liveness::Alive,
                    witnesses: Vec::new(),
                    addr: m.address.map(Arc::from),
                })
                .collect();
            // As a table page: known, not news to pass on.
            node.apply_updates(now, &members, true);
        }
        node.restart(now, generation, true)?;
        node.events.clear();
        node.stats = Stats::default();
        Ok(node)
    }
}

/// One origin as anti-entropy would send it whole: every entry held (those not `lasting` as
/// deletes at their versions), vouching up to the watermark.
fn group(origin: NodeId, state: &OriginState, lasting: impl Fn(&str) -> bool) -> OriginDelta {
    OriginDelta {
        origin,
        generation: state.generation(),
        heartbeat: state.heartbeat(),
        from: Version::ZERO,
        to: state.watermark(),
        deltas: state
            .entries_after(Version::ZERO)
            .map(|(key, entry)| {
                let mut delta = to_delta(key, entry);
                if !lasting(key) {
                    delta.value = None;
                }
                delta
            })
            .collect(),
    }
}
