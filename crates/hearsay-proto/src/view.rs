//! Partial views: HyParView (Leitão, Pereira, Rodrigues, DSN 2007), sans I/O.
//!
//! Instead of the full membership, each node keeps a small symmetric **active view** (the peers
//! it gossips with, about log n + 1 of them) and a larger **passive view** (backups, about
//! k·log n), so that memory per node and digest sizes stay bounded however large the cluster. A
//! joining node's arrival spreads by random walks (`ForwardJoin`); failed active peers are
//! replaced from the passive view (`Neighbor` requests, high priority when the active view is
//! empty); periodic `Shuffle` walks refresh the passive views. Liveness of active links is
//! checked with the gossip itself plus a small ping every few rounds: a peer silent for
//! `suspect_after` rounds is replaced.
//!
//! The view is a value: the caller feeds it rounds ([`View::tick`]) and messages
//! ([`View::handle_message`]) and drains messages to send ([`View::poll_message`]) after each
//! input, as [`crate::Node`] drains its `poll_*` outputs. The view counts rounds, not time: its
//! inputs take no `now`, and those that make random choices take the caller's seeded RNG as
//! their last argument.
//!
//! **Addresses.** The messages that introduce a node to peers that may never have heard of it —
//! `Join`, `ForwardJoin`, `Link`, `Neighbor`, `Shuffle`, `ShuffleReply` — carry where that node
//! is reached (what the runtime announced with [`crate::Node::advertise`]), and the view keeps the
//! addresses of its active and passive peers ([`View::address`]), which
//! [`crate::Transmit::addr`] then tells the runtime. Without them, the end of a join's random
//! walk could not reach a joiner that membership gossip had not yet announced: its `Link` was
//! dropped at the machine boundary, and a mass join left nodes whose only peer was their
//! contact.

use crate::{MAX_ADDRESS_LEN, NodeId};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// HyParView's parameters, with the paper's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewConfig {
    /// Active view size (the gossip peers): log10(n) + 1 suffices; default 5 (n up to ~10,000).
    pub active: usize,
    /// Passive view size: default 30 (k·log n with k = 6 at 10,000 nodes... the paper uses 30).
    pub passive: usize,
    /// Active random walk length: how far a `ForwardJoin` travels. Default 6.
    pub active_walk: u8,
    /// Passive random walk length: at this remaining length the joiner enters a passive view.
    /// Default 3.
    pub passive_walk: u8,
    /// Rounds between shuffles. Default 5.
    pub shuffle_every: u32,
    /// Active peers sent in a shuffle. Default 3.
    pub shuffle_active: usize,
    /// Passive peers sent in a shuffle. Default 4.
    pub shuffle_passive: usize,
    /// Rounds between pings to each active peer. Default 3.
    pub ping_every: u32,
    /// An active peer not heard from for this many rounds is taken as failed. Default 10.
    pub suspect_after: u32,
}

impl Default for ViewConfig {
    fn default() -> ViewConfig {
        ViewConfig {
            active: 5,
            passive: 30,
            active_walk: 6,
            passive_walk: 3,
            shuffle_every: 5,
            shuffle_active: 3,
            shuffle_passive: 4,
            ping_every: 3,
            suspect_after: 10,
        }
    }
}

impl ViewConfig {
    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), crate::Error> {
        let fail = |field, reason: &str| Err(crate::Error::config(field, reason));
        if self.active == 0 || self.passive == 0 {
            return fail("view.active", "view sizes must be at least 1");
        }
        if self.active > 1024 || self.passive > 65_536 {
            return fail(
                "view.active",
                "view sizes must stay small (active <= 1024, passive <= 65536)",
            );
        }
        if self.passive_walk > self.active_walk {
            return fail(
                "view.passive_walk",
                "the passive walk length must not exceed the active walk length",
            );
        }
        if self.shuffle_every == 0 || self.ping_every == 0 {
            return fail(
                "view.shuffle_every",
                "shuffle_every and ping_every must be at least 1",
            );
        }
        if self.suspect_after <= self.ping_every {
            return fail("view.suspect_after", "must exceed ping_every");
        }
        if self.shuffle_active.saturating_add(self.shuffle_passive) > 256 {
            return fail("view.shuffle_active", "a shuffle carries at most 256 peers");
        }
        Ok(())
    }
}

/// Most peers one shuffle message carries (checked on receipt).
pub const MAX_SHUFFLE: usize = 257;

/// Where some of the nodes a view message names are reached: `(node, address)` pairs, each
/// address at most [`MAX_ADDRESS_LEN`] bytes (longer ones are ignored on receipt), at most
/// [`MAX_SHUFFLE`] + 1 of them (a message with more is ignored).
pub type Addresses = Vec<(NodeId, Arc<str>)>;

/// The view protocol's messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ViewMessage {
    /// "Let me in": sent by a joining node to its contact.
    #[serde(rename = "j")]
    Join {
        /// Where the joiner is reached, when its runtime announced it.
        addr: Option<Arc<str>>,
    },
    /// A random walk announcing `joiner`.
    #[serde(rename = "f")]
    ForwardJoin {
        /// The joining node.
        joiner: NodeId,
        /// Steps left.
        ttl: u8,
        /// Where the joiner is reached, when known: the walk's end sends it a `Link`.
        addr: Option<Arc<str>>,
    },
    /// "I put you in my active view; put me in yours."
    #[serde(rename = "l")]
    Link {
        /// Where the sender is reached, when its runtime announced it (the joiner may never
        /// have heard of the node at the end of its walk).
        addr: Option<Arc<str>>,
    },
    /// Asks to become an active peer; `high` when the sender has no active peer at all.
    #[serde(rename = "n")]
    Neighbor {
        /// High priority: must be accepted.
        high: bool,
        /// A rotation from a full active view: a full receiver accepts it with probability 1/2.
        rotate: bool,
        /// Where the sender is reached, when its runtime announced it (it may have learnt of the
        /// receiver from a shuffle the receiver never heard of).
        addr: Option<Arc<str>>,
    },
    /// The answer to [`ViewMessage::Neighbor`].
    #[serde(rename = "a")]
    NeighborReply {
        /// Whether the receiver took the sender into its active view.
        accepted: bool,
    },
    /// "I dropped you from my active view."
    #[serde(rename = "d")]
    Disconnect,
    /// A shuffle walk from `origin` carrying a sample of its views.
    #[serde(rename = "s")]
    Shuffle {
        /// Who started the shuffle (the reply goes straight to it).
        origin: NodeId,
        /// Steps left.
        ttl: u8,
        /// The sample.
        peers: Vec<NodeId>,
        /// Where the origin and the sampled peers are reached, as far as the origin knows.
        addrs: Addresses,
    },
    /// A sample of the receiver's passive view, for the shuffle's origin.
    #[serde(rename = "r")]
    ShuffleReply {
        /// The sample.
        peers: Vec<NodeId>,
        /// Where the sampled peers are reached, as far as the sender knows.
        addrs: Addresses,
    },
    /// Keeps an active link known to be alive.
    #[serde(rename = "p")]
    Ping,
}

/// One node's partial view.
#[derive(Clone, Debug)]
pub struct View {
    me: NodeId,
    config: ViewConfig,
    active: BTreeSet<NodeId>,
    passive: BTreeSet<NodeId>,
    /// Round each active peer was last heard from.
    heard: BTreeMap<NodeId, u64>,
    /// A neighbor request in flight: to whom, and the round it was sent.
    pending: Option<(NodeId, u64)>,
    /// The repair's last request went to a node from outside the views (the caller's `known`)
    /// and is unanswered so far ([`View::tick`]).
    asked_outsider: bool,
    /// That request went unanswered: the next repair without a backup walks from a contact
    /// rather than asking another outsider, which may be as unreachable (a node the runtime
    /// lists but cannot address).
    outsider_silent: bool,
    /// The peers sent in the last shuffle (dropped first when the reply fills the passive view).
    last_shuffle: Vec<NodeId>,
    round: u64,
    outbox: VecDeque<(NodeId, ViewMessage)>,
    /// Peers dropped for their silence since the last [`View::take_silent`]: the views' own
    /// failure evidence, for a failure detector to check.
    silent: Vec<NodeId>,
    /// Where this node is reached ([`View::set_address`]).
    own: Option<Arc<str>>,
    /// Where active and passive peers (and the peer a request awaits) are reached, as view
    /// messages said (others are dropped at the next input, so that the map stays within the
    /// views' bounds).
    addresses: BTreeMap<NodeId, Arc<str>>,
    /// The nodes it joined through, latest last, at most [`MAX_CONTACTS`]: what a node that knows
    /// nobody outside its views turns to ([`View::join`]).
    contacts: Vec<NodeId>,
}

impl ViewMessage {
    /// The message without the addresses it carries (for a message that would not fit the MTU
    /// with them).
    pub fn without_addresses(mut self) -> ViewMessage {
        match &mut self {
            ViewMessage::Join { addr }
            | ViewMessage::ForwardJoin { addr, .. }
            | ViewMessage::Link { addr }
            | ViewMessage::Neighbor { addr, .. } => *addr = None,
            ViewMessage::Shuffle { addrs, .. } | ViewMessage::ShuffleReply { addrs, .. } => {
                addrs.clear();
            }
            ViewMessage::NeighborReply { .. } | ViewMessage::Disconnect | ViewMessage::Ping => {}
        }
        self
    }

    /// Whether the message carries any address.
    pub fn carries_addresses(&self) -> bool {
        match self {
            ViewMessage::Join { addr }
            | ViewMessage::ForwardJoin { addr, .. }
            | ViewMessage::Link { addr }
            | ViewMessage::Neighbor { addr, .. } => addr.is_some(),
            ViewMessage::Shuffle { addrs, .. } | ViewMessage::ShuffleReply { addrs, .. } => {
                !addrs.is_empty()
            }
            ViewMessage::NeighborReply { .. } | ViewMessage::Disconnect | ViewMessage::Ping => {
                false
            }
        }
    }
}

impl View {
    /// An empty view for node `me`.
    pub fn new(me: NodeId, config: ViewConfig) -> Result<View, crate::Error> {
        config.validate()?;
        Ok(View {
            me,
            config,
            active: BTreeSet::new(),
            passive: BTreeSet::new(),
            heard: BTreeMap::new(),
            pending: None,
            asked_outsider: false,
            outsider_silent: false,
            last_shuffle: Vec::new(),
            round: 0,
            outbox: VecDeque::new(),
            silent: Vec::new(),
            own: None,
            addresses: BTreeMap::new(),
            contacts: Vec::new(),
        })
    }

    /// Records where this node's runtime is reached: its joins and shuffles carry it.
    pub fn set_address(&mut self, addr: Arc<str>) {
        self.own = Some(addr);
    }

    /// Where `peer` is reached, as view messages said (active and passive peers only).
    pub fn address(&self, peer: NodeId) -> Option<&Arc<str>> {
        self.addresses.get(&peer)
    }

    /// Notes where `peer` is reached, if the address is not over [`MAX_ADDRESS_LEN`].
    fn learn(&mut self, peer: NodeId, addr: Option<Arc<str>>) {
        if let Some(addr) = addr.filter(|a| a.len() <= MAX_ADDRESS_LEN && peer != self.me) {
            self.addresses.insert(peer, addr);
        }
    }

    /// Forgets the addresses of nodes in neither view (run before each input: after the last
    /// one, the caller resolved the addresses of what it sent).
    fn forget_strangers(&mut self) {
        let (active, passive) = (&self.active, &self.passive);
        // The peer a request awaits is kept too: a shuffle's reply may push it out of the passive
        // view meanwhile, and its acceptance would then make an active peer without an address.
        let pending = self.pending.map(|(peer, _)| peer);
        self.addresses.retain(|peer, _| {
            active.contains(peer) || passive.contains(peer) || pending == Some(*peer)
        });
    }

    /// The known addresses of `peers` (and this node's own, when `with_own`).
    fn addresses_of(&self, peers: &[NodeId], with_own: bool) -> Addresses {
        let own = self
            .own
            .as_ref()
            .filter(|_| with_own)
            .map(|addr| (self.me, addr.clone()));
        own.into_iter()
            .chain(
                peers
                    .iter()
                    .filter_map(|&peer| Some((peer, self.addresses.get(&peer)?.clone()))),
            )
            .collect()
    }

    /// The active view: the peers to gossip with.
    pub fn active(&self) -> &BTreeSet<NodeId> {
        &self.active
    }

    /// The passive view.
    pub fn passive(&self) -> &BTreeSet<NodeId> {
        &self.passive
    }

    /// The nodes it joined through, latest last ([`View::join`], at most [`MAX_CONTACTS`]).
    pub fn contacts(&self) -> &[NodeId] {
        &self.contacts
    }

    /// The parameters.
    pub fn config(&self) -> &ViewConfig {
        &self.config
    }

    /// Joins through `contact`.
    ///
    /// The view remembers its contacts (the last [`MAX_CONTACTS`]) for when it knows nobody
    /// else outside its views — partial views without membership over a network, where the
    /// runtime lists no peers: a repair with no backup left sends a walk for this node through a
    /// contact, and every [`OUTSIDE_EVERY`]-th rotation a shuffle ([`View::tick`]). A node whose
    /// joins were all lost (a partition, loss) gets in, and cliques a partition left apart find
    /// the contacts' overlay (protocol.md §15, "Contacts").
    ///
    /// The contact enters the active view as any new active peer does: when the view is full, a
    /// random other member is disconnected and moves to the passive view, so a node joining
    /// through many contacts (a runtime joins through every seed that answers) keeps at most
    /// [`ViewConfig::active`] active peers.
    pub fn join<R: Rng + ?Sized>(&mut self, contact: NodeId, rng: &mut R) {
        if contact == self.me {
            return;
        }
        self.contacts.retain(|&known| known != contact);
        if self.contacts.len() == MAX_CONTACTS {
            self.contacts.remove(0);
        }
        self.contacts.push(contact);
        self.forget_strangers();
        self.add_active(contact, rng);
        let addr = self.own.clone();
        self.send(contact, ViewMessage::Join { addr });
    }

    /// The next message to send, with its peer; drain it until `None` after every input.
    #[must_use]
    pub fn poll_message(&mut self) -> Option<(NodeId, ViewMessage)> {
        self.outbox.pop_front()
    }

    /// The peers dropped for their silence (an active peer not heard from for `suspect_after`
    /// rounds, a backup that did not answer) since the last call, for the failure detector to
    /// check before its round-robin comes round to them (session 30, when a node with views
    /// probed only its views' members: a crashed member dropped from every view before a
    /// detector came round to it was held alive for good).
    pub fn take_silent(&mut self) -> Vec<NodeId> {
        std::mem::take(&mut self.silent)
    }

    /// Notes that `peer` was heard from (any message, gossip included).
    pub fn heard(&mut self, peer: NodeId) {
        if let Some(last) = self.heard.get_mut(&peer) {
            *last = self.round;
        }
    }

    /// The runtime saw `peer` fail (a closed connection, a failure detector): replace it.
    ///
    /// Repairs are asked at most once per call and once per round (never in answer to a view
    /// message), so that a refusal or a disconnect cannot start a message storm. `known` draws
    /// a random node the caller knows of outside the views ([`View::tick`]).
    pub fn peer_failed<R: Rng + ?Sized>(
        &mut self,
        peer: NodeId,
        rng: &mut R,
        known: impl FnMut(&mut R) -> Option<NodeId>,
    ) {
        self.forget_strangers();
        self.passive.remove(&peer);
        if self.pending.is_some_and(|(to, _)| to == peer) {
            self.pending = None;
            self.outsider_silent = std::mem::take(&mut self.asked_outsider);
        }
        if self.active.remove(&peer) {
            self.heard.remove(&peer);
        }
        self.repair(rng, known);
    }

    /// One round: expire silent peers and unanswered requests, ping, shuffle, refill.
    ///
    /// `known` draws a random node the caller knows of besides the views (a live member of its
    /// membership table, or of the peer list its runtime gave it), or `None`. The view asks it
    /// for a candidate only when its passive view has none left to repair from, and at every
    /// [`OUTSIDE_EVERY`]-th rotation; when it names nobody, the view turns to the nodes it
    /// joined through ([`View::join`]). HyParView alone never leaves its overlay, so a node whose views
    /// emptied under loss or a partition stayed alone, and cliques formed while a partition cut
    /// the joins stayed apart, for good (protocol.md §15, "Outside the views").
    pub fn tick<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        mut known: impl FnMut(&mut R) -> Option<NodeId>,
    ) {
        self.forget_strangers();
        self.round += 1;
        let round = self.round;
        let silent: Vec<NodeId> = self
            .heard
            .iter()
            .filter(|&(_, &last)| round.saturating_sub(last) > u64::from(self.config.suspect_after))
            .map(|(&peer, _)| peer)
            .collect();
        for peer in silent {
            self.active.remove(&peer);
            self.heard.remove(&peer);
            self.silent.push(peer);
        }
        if let Some((to, sent)) = self.pending
            && round.saturating_sub(sent) > u64::from(self.config.ping_every)
        {
            // No answer: that backup is gone too. (Only a backup's silence is evidence: a
            // contact walked through or an outsider asked does not answer by design.)
            if self.passive.remove(&to) {
                self.silent.push(to);
            }
            self.pending = None;
            self.outsider_silent = std::mem::take(&mut self.asked_outsider);
        }
        if round.is_multiple_of(u64::from(self.config.ping_every)) {
            let active: Vec<NodeId> = self.active.iter().copied().collect();
            for peer in active {
                self.send(peer, ViewMessage::Ping);
            }
        }
        if round.is_multiple_of(u64::from(self.config.shuffle_every)) {
            self.shuffle(rng);
            self.rotate(rng, &mut known);
        }
        self.repair(rng, known);
    }

    /// Feeds a message from `from`.
    pub fn handle_message<R: Rng + ?Sized>(
        &mut self,
        from: NodeId,
        message: ViewMessage,
        rng: &mut R,
    ) {
        if from == self.me {
            return;
        }
        self.forget_strangers();
        self.heard(from);
        match message {
            ViewMessage::Join { addr } => {
                self.learn(from, addr);
                self.add_active(from, rng);
                let addr = self.addresses.get(&from).cloned();
                let others: Vec<NodeId> =
                    self.active.iter().copied().filter(|&p| p != from).collect();
                for peer in others {
                    self.send(
                        peer,
                        ViewMessage::ForwardJoin {
                            joiner: from,
                            ttl: self.config.active_walk,
                            addr: addr.clone(),
                        },
                    );
                }
            }
            ViewMessage::ForwardJoin { joiner, ttl, addr } => {
                if joiner == self.me {
                    return;
                }
                self.learn(joiner, addr.clone());
                if ttl == 0 || self.active.len() <= 1 {
                    if !self.active.contains(&joiner) {
                        self.add_active(joiner, rng);
                        self.link(joiner);
                    }
                    return;
                }
                if ttl == self.config.passive_walk {
                    self.add_passive(joiner, rng);
                }
                match self.random_active_except(&[from, joiner], rng) {
                    Some(next) => self.send(
                        next,
                        ViewMessage::ForwardJoin {
                            joiner,
                            ttl: ttl - 1,
                            addr,
                        },
                    ),
                    None => {
                        if !self.active.contains(&joiner) {
                            self.add_active(joiner, rng);
                            self.link(joiner);
                        }
                    }
                }
            }
            ViewMessage::Link { addr } => {
                self.learn(from, addr);
                self.add_active(from, rng);
            }
            ViewMessage::Neighbor { high, rotate, addr } => {
                let accepted = high
                    || self.active.len() < self.config.active
                    || self.active.contains(&from)
                    || (rotate && rng.random_bool(0.5));
                // Learnt either way: the reply must reach the sender (and a refused sender's
                // address is forgotten at the next input).
                self.learn(from, addr);
                if accepted {
                    self.add_active(from, rng);
                }
                self.send(from, ViewMessage::NeighborReply { accepted });
            }
            ViewMessage::NeighborReply { accepted } => {
                if self.pending.is_some_and(|(to, _)| to == from) {
                    self.pending = None;
                    self.asked_outsider = false;
                }
                if accepted {
                    self.add_active(from, rng);
                }
            }
            ViewMessage::Disconnect => {
                if self.active.remove(&from) {
                    self.heard.remove(&from);
                    self.add_passive(from, rng);
                }
            }
            ViewMessage::Shuffle {
                origin,
                ttl,
                peers,
                addrs,
            } => {
                if peers.len() > MAX_SHUFFLE || addrs.len() > MAX_SHUFFLE + 1 || origin == self.me {
                    return;
                }
                if ttl > 0
                    && self.active.len() > 1
                    && let Some(next) = self.random_active_except(&[from, origin], rng)
                {
                    self.send(
                        next,
                        ViewMessage::Shuffle {
                            origin,
                            ttl: ttl - 1,
                            peers,
                            addrs,
                        },
                    );
                    return;
                }
                for (peer, addr) in addrs {
                    self.learn(peer, Some(addr));
                }
                let most = self.config.shuffle_active + self.config.shuffle_passive + 1;
                let reply = sample(&self.passive, peers.len().min(most), rng);
                let addrs = self.addresses_of(&reply, false);
                self.send(
                    origin,
                    ViewMessage::ShuffleReply {
                        peers: reply.clone(),
                        addrs,
                    },
                );
                self.integrate(std::iter::once(origin).chain(peers), &reply, rng);
            }
            ViewMessage::ShuffleReply { peers, addrs } => {
                if peers.len() > MAX_SHUFFLE || addrs.len() > MAX_SHUFFLE + 1 {
                    return;
                }
                for (peer, addr) in addrs {
                    self.learn(peer, Some(addr));
                }
                let sent = std::mem::take(&mut self.last_shuffle);
                self.integrate(peers.into_iter(), &sent, rng);
            }
            ViewMessage::Ping => {}
        }
    }

    fn send(&mut self, to: NodeId, message: ViewMessage) {
        self.outbox.push_back((to, message));
    }

    /// Tells `peer`, just taken into the active view, to take this node into its own.
    fn link(&mut self, peer: NodeId) {
        let addr = self.own.clone();
        self.send(peer, ViewMessage::Link { addr });
    }

    fn random_active_except<R: Rng + ?Sized>(
        &self,
        except: &[NodeId],
        rng: &mut R,
    ) -> Option<NodeId> {
        let candidates: Vec<NodeId> = self
            .active
            .iter()
            .copied()
            .filter(|peer| !except.contains(peer))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        candidates
            .get(rng.random_range(0..candidates.len()))
            .copied()
    }

    /// Takes `peer` into the active view, dropping a random active peer (to the passive view, with
    /// a `Disconnect`) when full.
    fn add_active<R: Rng + ?Sized>(&mut self, peer: NodeId, rng: &mut R) {
        if peer == self.me || self.active.contains(&peer) {
            self.heard.insert(peer, self.round);
            return;
        }
        if self.active.len() >= self.config.active
            && let Some(dropped) = self.random_active_except(&[peer], rng)
        {
            self.active.remove(&dropped);
            self.heard.remove(&dropped);
            self.send(dropped, ViewMessage::Disconnect);
            self.add_passive(dropped, rng);
        }
        self.passive.remove(&peer);
        self.active.insert(peer);
        self.heard.insert(peer, self.round);
    }

    fn add_passive<R: Rng + ?Sized>(&mut self, peer: NodeId, rng: &mut R) {
        if peer == self.me || self.active.contains(&peer) || self.passive.contains(&peer) {
            return;
        }
        if self.passive.len() >= self.config.passive {
            let victims = sample(&self.passive, 1, rng);
            for victim in victims {
                self.passive.remove(&victim);
            }
        }
        self.passive.insert(peer);
    }

    /// Adds shuffled peers to the passive view, evicting `prefer_evict` first when full.
    fn integrate<R: Rng + ?Sized>(
        &mut self,
        peers: impl Iterator<Item = NodeId>,
        prefer_evict: &[NodeId],
        rng: &mut R,
    ) {
        let mut evictable: Vec<NodeId> = prefer_evict.to_vec();
        for peer in peers.take(MAX_SHUFFLE) {
            if peer == self.me || self.active.contains(&peer) || self.passive.contains(&peer) {
                continue;
            }
            if self.passive.len() >= self.config.passive {
                let victim = loop {
                    match evictable.pop() {
                        Some(candidate) if self.passive.contains(&candidate) => {
                            break Some(candidate);
                        }
                        Some(_) => continue,
                        None => break sample(&self.passive, 1, rng).first().copied(),
                    }
                };
                if let Some(victim) = victim {
                    self.passive.remove(&victim);
                }
            }
            self.passive.insert(peer);
        }
    }

    fn shuffle<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        if let Some(target) = self.random_active_except(&[], rng) {
            self.shuffle_through(target, rng);
        }
    }

    /// A shuffle whose walk starts at `target`: an active peer, or a contact for a node that
    /// knows nobody outside its views ([`View::rotate`]).
    fn shuffle_through<R: Rng + ?Sized>(&mut self, target: NodeId, rng: &mut R) {
        let mut peers = sample(&self.active, self.config.shuffle_active, rng);
        peers.retain(|&peer| peer != target);
        peers.extend(sample(&self.passive, self.config.shuffle_passive, rng));
        self.last_shuffle = peers.clone();
        let addrs = self.addresses_of(&peers, true);
        self.send(
            target,
            ViewMessage::Shuffle {
                origin: self.me,
                ttl: self.config.active_walk,
                peers,
                addrs,
            },
        );
    }

    /// With a full active view, asks a random backup to become active (a rotation: accepted when
    /// the backup has room, and with probability 1/2 when it has not); it then replaces a random
    /// active peer. Without this, a group of nodes whose active views
    /// are full of each other never links to anyone else again, and a split overlay stays split
    /// (seen at 10,000 nodes); with it the active views keep mixing, like Cyclon's fresh links.
    ///
    /// Every [`OUTSIDE_EVERY`]-th rotation asks a node the caller knows of outside the views
    /// instead (`known`, when it names one): the passive views of a partition's side come to hold
    /// only that side, and these long links are what joins the two overlays again after the heal.
    /// A node that knows nobody outside also sends a shuffle through one of its contacts: its
    /// walk crosses the contact's overlay, and both ends take the other's sample into their
    /// passive views, from which later rotations link — long links without asking the contact
    /// (a seed every node joined through) to take anyone in.
    fn rotate<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        known: impl FnMut(&mut R) -> Option<NodeId>,
    ) {
        if self.active.len() < self.config.active || self.pending.is_some() {
            return;
        }
        let rotation = self.round / u64::from(self.config.shuffle_every);
        let outside = if rotation.is_multiple_of(OUTSIDE_EVERY) {
            let outside = self.outsider(rng, known);
            if outside.is_none()
                && let Some(contact) = self.contact(rng)
            {
                self.shuffle_through(contact, rng);
            }
            outside
        } else {
            None
        };
        let Some(candidate) = outside.or_else(|| sample(&self.passive, 1, rng).first().copied())
        else {
            return;
        };
        self.pending = Some((candidate, self.round));
        self.asked_outsider = false;
        self.send(
            candidate,
            ViewMessage::Neighbor {
                high: false,
                rotate: true,
                addr: self.own.clone(),
            },
        );
    }

    /// Asks a random backup to become active while the active view is short; with no backup
    /// left, a node the caller knows of (`known`); failing that, walks from a node it joined
    /// through.
    fn repair<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        known: impl FnMut(&mut R) -> Option<NodeId>,
    ) {
        if self.active.len() >= self.config.active || self.pending.is_some() {
            return;
        }
        let backup = sample(&self.passive, 1, rng).first().copied();
        // An outsider that did not answer is followed by a walk from a contact: asking only
        // outsiders, a node whose runtime lists a peer it cannot reach asked that one forever
        // (found by the fault search, session 27: a node restarted with its state, its views
        // empty, asked a listed peer its new process had no address for, every other round
        // for an hour).
        let contact_left = (self.contacts.iter()).any(|peer| !self.active.contains(peer));
        if backup.is_none() && std::mem::take(&mut self.outsider_silent) && contact_left {
            self.walk_from_contact(rng);
            return;
        }
        let outsider = match backup {
            Some(_) => None,
            None => self.outsider(rng, known),
        };
        let Some(candidate) = backup.or(outsider) else {
            self.walk_from_contact(rng);
            return;
        };
        self.asked_outsider = outsider.is_some();
        self.pending = Some((candidate, self.round));
        let high = self.active.is_empty();
        self.send(
            candidate,
            ViewMessage::Neighbor {
                high,
                rotate: false,
                addr: self.own.clone(),
            },
        );
    }

    /// A node `known` names that is neither this one nor in the active view (a few draws: what
    /// the caller knows may be mostly its active peers).
    fn outsider<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        mut known: impl FnMut(&mut R) -> Option<NodeId>,
    ) -> Option<NodeId> {
        (0..OUTSIDER_DRAWS).find_map(|_| {
            known(rng).filter(|&peer| peer != self.me && !self.active.contains(&peer))
        })
    }

    /// Sends a random walk for this node through a random contact outside its active view (a
    /// `ForwardJoin` of itself, as the contact would send for a joiner): the walk ends at a node
    /// of the contact's overlay, which takes this node into its active view and links back. The
    /// contact only forwards, so that seeds every node joined through are not asked to take
    /// them all. No answer comes back: the contact is marked pending, which spaces the walks by
    /// [`ViewConfig::ping_every`] rounds.
    fn walk_from_contact<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        let Some(contact) = self.contact(rng) else {
            return;
        };
        self.pending = Some((contact, self.round));
        self.asked_outsider = false;
        self.send(
            contact,
            ViewMessage::ForwardJoin {
                joiner: self.me,
                ttl: self.config.active_walk,
                addr: self.own.clone(),
            },
        );
    }

    /// A random node it joined through that is not in its active view.
    fn contact<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<NodeId> {
        let outside: Vec<NodeId> = (self.contacts.iter())
            .copied()
            .filter(|peer| !self.active.contains(peer))
            .collect();
        (!outside.is_empty()).then(|| outside[rng.random_range(0..outside.len())])
    }
}

/// Contacts a view remembers ([`View::join`]): a deployment lists a few seeds, and a node joins
/// through each that answers.
pub const MAX_CONTACTS: usize = 8;

/// Rotations ([`View::tick`]) between two that ask a node from outside the views rather than a
/// backup: one in four keeps the overlay HyParView's (most links still come from the shuffled
/// passive views) while a split overlay finds its other half within a few rotations.
pub const OUTSIDE_EVERY: u64 = 4;

/// Draws from outside the views before giving up until the next round.
const OUTSIDER_DRAWS: usize = 3;

/// Up to `count` distinct members of `set`, uniformly at random.
fn sample<R: Rng + ?Sized>(set: &BTreeSet<NodeId>, count: usize, rng: &mut R) -> Vec<NodeId> {
    let mut all: Vec<NodeId> = set.iter().copied().collect();
    let count = count.min(all.len());
    for at in 0..count {
        let pick = rng.random_range(at..all.len());
        all.swap(at, pick);
    }
    all.truncate(count);
    all
}
