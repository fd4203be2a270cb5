//! Partial-view glue: joining through a contact, reporting failed peers, and sending what the
//! view protocol says with every address it names filled in from what the node knows.

use super::Node;
use crate::membership::{ADDR_KEY, Membership};
use crate::rng::NodeRng;
use crate::size::encoded_len;
use crate::{
    Addresses, Body, MAX_ADDRESS_LEN, MemberStatus, Message, NodeId, PROTOCOL_VERSION, Peers,
    ViewMessage,
};
use rand::RngExt;
use std::sync::Arc;
use std::time::Instant;

impl Node {
    /// Joins the cluster through `contact` at `now`: with partial views, the view protocol's
    /// join; without, `contact` becomes a peer.
    pub fn join(&mut self, now: Instant, contact: NodeId) {
        // The view counts rounds, not time: `now` is taken for uniformity with every other input.
        let _ = now;
        match &mut self.view {
            Some(view) => {
                view.join(contact, &mut self.rng);
                self.drain_view();
            }
            None => self.add_peer(contact),
        }
    }

    /// The runtime saw `peer` fail (a closed connection) at `now`: with partial views, it is
    /// replaced from the passive view at once. With SWIM, a member held alive is also checked:
    /// probed with the next cycle, before the round-robin comes round to it (session 22: the
    /// view drops a failed peer, and a node with views then probed only its views' members: one
    /// whose view members all failed, cut off alone or in a two-node cluster, probed nobody and
    /// held them Up for the whole partition). The failure signal is the transport's evidence
    /// that something is wrong. The probe
    /// decides: an answer ends it, and its failures go on as SWIM's own (probed again first,
    /// then suspected).
    pub fn peer_failed(&mut self, now: Instant, peer: NodeId) {
        // The view counts rounds, not time: `now` is taken for uniformity with every other input.
        let _ = now;
        self.check_if_alive(peer);
        if let Some(view) = &mut self.view {
            let (members, peers, me) = (self.members.as_deref(), &self.peers, self.id);
            view.peer_failed(peer, &mut self.rng, |rng| {
                known_node(members, peers, me, rng)
            });
            self.drain_view();
        }
    }

    /// With SWIM, probes `peer` with the next cycle, whatever the views, if it is held alive:
    /// the views' failure evidence handed to the detector, which decides.
    fn check_if_alive(&mut self, peer: NodeId) {
        let alive = (self.members.as_deref())
            .and_then(|m| m.status(peer))
            .is_some_and(MemberStatus::is_reachable);
        if let Some(fd) = self.fd.as_deref_mut().filter(|_| alive) {
            fd.check_soon(peer);
        }
    }

    /// One round of the view protocol. The peers it drops for their silence are checked as a
    /// failed peer is ([`Node::peer_failed`]): when a node with views probed only its views'
    /// members (until session 32), a crashed member that every view dropped before a probe came
    /// round to it was probed by nobody again and held alive everywhere for good (fault-search
    /// seed 392762: views, SWIM, 49 % loss); now it is checked at once instead of within a pass.
    ///
    /// First the members this node's table holds departed (Down, Left, Removed) leave the views,
    /// as a failed peer does (invariant: *the views hold no member the table holds departed*).
    /// Until session 32 only a Down active peer did: over datagrams, where no link fails, a
    /// member that left or crashed stayed in passive views for good (a hostile user saw every
    /// survivor keep two departed nodes as backups for 390 s, after their removal too), and in
    /// active views until their silence ran out (gossip sent to them meanwhile).
    pub(super) fn tick_view(&mut self) {
        if let Some(view) = &mut self.view {
            let (members, peers, me) = (self.members.as_deref(), &self.peers, self.id);
            let departed: Vec<NodeId> = (view.active().iter())
                .chain(view.passive())
                .copied()
                .filter(|&id| {
                    members
                        .and_then(|m| m.status(id))
                        .is_some_and(|status| !status.is_reachable())
                })
                .collect();
            for peer in departed {
                view.peer_failed(peer, &mut self.rng, |rng| {
                    known_node(members, peers, me, rng)
                });
            }
            view.tick(&mut self.rng, |rng| known_node(members, peers, me, rng));
            for peer in view.take_silent() {
                self.check_if_alive(peer);
            }
            self.drain_view();
        }
    }

    /// Sends what the view protocol has to say, each address it lacks filled in from membership
    /// or the reserved address entries (a message that would not fit the MTU with its addresses
    /// goes without them).
    pub(super) fn drain_view(&mut self) {
        let Some(view) = &mut self.view else {
            return;
        };
        let mut out = Vec::new();
        while let Some(message) = view.poll_message() {
            out.push(message);
        }
        for (to, message) in out {
            let mut message = self.with_addresses(message);
            // Only addresses can take a view message past the MTU (`Config::validate` sizes the
            // rest): the others are encoded once, by `send`.
            if message.carries_addresses() && self.over_mtu(&message) {
                message = message.without_addresses();
            }
            // What is still over the MTU relays a peer's lists (a shuffle walk from a node with a
            // larger MTU or longer lists: `Config::validate` sizes only this node's own, which
            // are not measured again here): the walk ends here, counted, instead of reaching
            // `send`'s check for budget bugs.
            let relayed =
                matches!(message, ViewMessage::Shuffle { origin, .. } if origin != self.id);
            if relayed && self.over_mtu(&message) {
                self.stats.over_mtu += 1;
                continue;
            }
            self.send(to, Body::View(message));
        }
    }

    /// Where `peer` is reached, as membership or its reserved address entry says.
    pub(super) fn known_address(&self, peer: NodeId) -> Option<Arc<str>> {
        if let Some(addr) = self.members.as_deref().and_then(|m| m.address(peer)) {
            return Some(addr.clone());
        }
        let entry = self.store.origin(peer)?.get(ADDR_KEY)?;
        let text = std::str::from_utf8(entry.value.as_ref()?.as_bytes()).ok()?;
        (text.len() <= MAX_ADDRESS_LEN).then(|| Arc::from(text))
    }

    /// `message` with the addresses the view did not know filled in where the node knows them.
    fn with_addresses(&self, mut message: ViewMessage) -> ViewMessage {
        match &mut message {
            ViewMessage::ForwardJoin { joiner, addr, .. } if addr.is_none() => {
                *addr = self.known_address(*joiner);
            }
            ViewMessage::Shuffle {
                origin,
                peers,
                addrs,
                ..
            } => *addrs = self.complete(Some(*origin), peers, std::mem::take(addrs)),
            ViewMessage::ShuffleReply { peers, addrs } => {
                *addrs = self.complete(None, peers, std::mem::take(addrs));
            }
            _ => {}
        }
        message
    }

    /// `addrs` cut to the nodes the message names (`origin` and `peers`), with the known
    /// addresses of the `peers` it leaves out: never more entries than names.
    fn complete(
        &self,
        origin: Option<NodeId>,
        peers: &[NodeId],
        mut addrs: Addresses,
    ) -> Addresses {
        addrs.retain(|(id, _)| Some(*id) == origin || peers.contains(id));
        for &peer in peers {
            if !addrs.iter().any(|(id, _)| *id == peer)
                && let Some(addr) = self.known_address(peer)
            {
                addrs.push((peer, addr));
            }
        }
        addrs
    }

    /// Whether `view` would make a message over the MTU.
    fn over_mtu(&self, view: &ViewMessage) -> bool {
        let message = Message {
            version: PROTOCOL_VERSION,
            cluster: self.config.cluster,
            from: self.id,
            body: Body::View(view.clone()),
        };
        encoded_len(&message) > self.config.mtu
    }
}

/// A random node `me` knows of besides its views, for the view to fall back on: a member its
/// table holds reachable (membership on) or one of the peers its runtime listed, each source
/// half the time when both have some (a table fed through a cut-off overlay knows only its own
/// part of the cluster; a runtime's list may know more).
fn known_node(
    members: Option<&Membership>,
    peers: &Peers,
    me: NodeId,
    rng: &mut NodeRng,
) -> Option<NodeId> {
    let listed = |rng: &mut NodeRng| peers.pick(rng, 1, me).first().copied();
    let Some(members) = members else {
        return listed(rng);
    };
    if !peers.is_empty() && rng.random_bool(0.5) {
        listed(rng).or_else(|| members.random_reachable(rng, me))
    } else {
        members.random_reachable(rng, me).or_else(|| listed(rng))
    }
}
