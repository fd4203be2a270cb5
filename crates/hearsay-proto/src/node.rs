//! The protocol state machine of one node: fed time, datagrams and local writes; returns
//! datagrams to send and events.

use crate::membership::{self, GC_KEY, LEFT, Membership, STATUS_KEY};
use crate::reconcile::packer::Packer;
use crate::reconcile::{self, DigestCursor};
use crate::rumor::{IdPacker, RumorId, Rumors, Selected};
use crate::size::{ARRAY_GROWTH, encoded_len};
use crate::{
    Body, Budget, Config, Delta, Digest, Direction, Error, Event, Generation, Member, MemberStatus,
    Message, MessageKind, Mode, NodeId, OriginDelta, PROTOCOL_VERSION, Peers, PhiDetector,
    RumorIds, RumorMessage, Stats, Store, Strategy, Value, Version, Via, View,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

/// An encoded message to be delivered to a peer, drained with [`Node::poll_transmit`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The peer.
    pub to: NodeId,
    /// The message kind (for traffic accounting).
    pub kind: MessageKind,
    /// Number of deltas it carries.
    pub deltas: usize,
    /// The encoded message; never longer than the configured MTU.
    pub payload: Vec<u8>,
}

/// One gossip node, as a value: the sans-I/O core that runtimes wrap.
///
/// Inputs are [`Node::handle_timeout`] (time passes), [`Node::handle_datagram`] (a peer's message
/// arrives), [`Node::set`] / [`Node::delete`] (local writes) and the peer list. Outputs are drained
/// after every input, in this order: [`Node::poll_transmit`] until `None` (send each to its
/// peer), [`Node::poll_event`] until `None`, then [`Node::poll_timeout`] (when to call
/// `handle_timeout` next). The node never reads a clock, never does I/O, and draws every random
/// choice from an RNG seeded by the caller: the same inputs give the same outputs.
///
/// ```
/// use hearsay_proto::{Config, Generation, Node, NodeId, Value};
/// use std::time::Instant;
///
/// let config = Config::default();
/// let mut a = Node::new(NodeId(1), Generation(1), config.clone(), 7)?;
/// let mut b = Node::new(NodeId(2), Generation(1), config, 8)?;
/// a.add_peer(NodeId(2));
/// b.add_peer(NodeId(1));
/// a.set("color", Value::from("blue"))?;
///
/// // Run rounds, delivering every datagram until none is in flight.
/// let now = Instant::now();
/// for _ in 0..5 {
///     a.tick(now);
///     b.tick(now);
///     loop {
///         let to_b: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
///         let to_a: Vec<_> = std::iter::from_fn(|| b.poll_transmit()).collect();
///         if to_a.is_empty() && to_b.is_empty() {
///             break;
///         }
///         for t in to_b {
///             b.handle_datagram(now, &t.payload)?;
///         }
///         for t in to_a {
///             a.handle_datagram(now, &t.payload)?;
///         }
///     }
/// }
/// assert_eq!(b.get_from(NodeId(1), "color"), Some(&Value::from("blue")));
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Debug)]
pub struct Node {
    id: NodeId,
    generation: Generation,
    config: Config,
    store: Store,
    peers: Peers,
    rng: ChaCha8Rng,
    cursor: DigestCursor,
    rumors: Rumors,
    round: u64,
    next_round: Option<Instant>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    flow: Option<FlowState>,
    /// The member table, when membership is on.
    members: Option<Membership>,
    /// The partial view, when [`Config::view`] is on: gossip targets come from its active view.
    view: Option<View>,
    /// The latest `now` the node was given (rounds and datagrams).
    now: Option<Instant>,
    /// Own tombstones waiting for garbage collection: version, and the round it was first seen
    /// in (stamped at the next round after the delete).
    tombstones: VecDeque<(Version, Option<Instant>)>,
    /// Digests sent so far, to pace the repair digests ([`Config::repair_every`]).
    digests: u64,
}

/// Flow control's state: the allowed write rate, its token bucket, and this round's congestion.
#[derive(Debug, Clone, PartialEq)]
struct FlowState {
    rate: f64,
    tokens: f64,
    congested: bool,
}

impl Node {
    /// A node with no peers and no state. `seed` seeds every random choice it makes.
    pub fn new(
        id: NodeId,
        generation: Generation,
        config: Config,
        seed: u64,
    ) -> Result<Node, Error> {
        config.validate()?;
        let mut store = Store::default();
        if config.heartbeats || config.flow_control.is_some() {
            store.own_origin(id, generation);
        }
        let members = match &config.membership {
            Some(membership) => Some(Membership::new(membership.clone(), id, generation)?),
            None => None,
        };
        let view = match &config.view {
            Some(view) => Some(View::new(id, view.clone())?),
            None => None,
        };
        Ok(Node {
            id,
            generation,
            store,
            peers: Peers::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            cursor: DigestCursor::default(),
            rumors: Rumors::default(),
            view,
            round: 0,
            next_round: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            flow: config.flow_control.map(|flow| FlowState {
                rate: flow.initial_rate,
                tokens: 1.0,
                congested: false,
            }),
            members,
            now: None,
            tombstones: VecDeque::new(),
            digests: 0,
            config,
        })
    }

    // --- getters ---

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's generation.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Everything the node holds.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The peers it gossips with.
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Rounds run so far.
    pub fn round(&self) -> u64 {
        self.round
    }

    /// Traffic counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The hot rumors.
    pub fn rumors(&self) -> &Rumors {
        &self.rumors
    }

    /// The value this node wrote under `key` (`None` if never written or deleted).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_from(self.id, key)
    }

    /// The value `origin` wrote under `key`, as known here.
    pub fn get_from(&self, origin: NodeId, key: &str) -> Option<&Value> {
        self.store.get(origin, key)?.value.as_ref()
    }

    /// The member table in id order, this node included (empty when membership is off).
    pub fn members(&self) -> Vec<Member> {
        self.members
            .as_ref()
            .map(Membership::members)
            .unwrap_or_default()
    }

    /// One member's status (`None`: membership off, or never heard of).
    pub fn member_status(&self, id: NodeId) -> Option<MemberStatus> {
        self.members.as_ref()?.status(id)
    }

    /// The failure detector of one member (`None`: membership off, or never heard of).
    pub fn detector(&self, id: NodeId) -> Option<&PhiDetector> {
        self.members.as_ref()?.detector(id)
    }

    // --- membership ---

    /// Leaves the cluster gracefully: writes the reserved status entry `left`
    /// ([`membership::STATUS_KEY`]) of this node's origin, which peers mark as Left on receipt,
    /// and pushes it at once, as a rumor, to up to [`crate::MembershipConfig::leave_fanout`]
    /// reachable peers (3 without membership), on top of normal gossip. Keep the node running a
    /// few rounds afterwards so that gossip finishes spreading it. A restart (new generation)
    /// joins again.
    pub fn leave(&mut self) -> Result<Version, Error> {
        let prev = self
            .store
            .origin(self.id)
            .map_or(Version::ZERO, |o| o.max_version());
        let version = self.write(STATUS_KEY, Some(Value::from(LEFT)))?;
        if let Some(members) = &mut self.members {
            members.leave_self(&mut self.events);
        }
        let count = self.members.as_ref().map_or(3, |m| m.config().leave_fanout);
        let heartbeat = self.store.origin(self.id).map_or(0, |o| o.heartbeat());
        for peer in self.targets(count) {
            let group = OriginDelta {
                origin: self.id,
                generation: self.generation,
                heartbeat,
                from: prev,
                to: version,
                deltas: vec![Delta {
                    key: STATUS_KEY.to_owned(),
                    version,
                    value: Some(Value::from(LEFT)),
                }],
            };
            self.send(
                peer,
                Body::Rumor(RumorMessage {
                    deltas: vec![group],
                    ..RumorMessage::default()
                }),
            );
        }
        Ok(version)
    }

    /// Up to `count` gossip targets: the listed peers, without the members that are Down, Left
    /// or Removed when membership is on.
    fn targets(&mut self, count: usize) -> Vec<NodeId> {
        if let Some(view) = &self.view {
            // The view protocol keeps its active view alive; membership does not filter it.
            let active = Peers::Own(view.active().iter().copied().collect());
            return active.sample(&mut self.rng, count, self.id);
        }
        match &self.members {
            None => self.peers.sample(&mut self.rng, count, self.id),
            Some(members) => {
                let reachable: Vec<NodeId> = self
                    .peers
                    .iter()
                    .filter(|&id| id != self.id && members.reachable(id))
                    .collect();
                Peers::Own(reachable).sample(&mut self.rng, count, self.id)
            }
        }
    }

    /// As Cassandra does: with probability `down / (reachable + 1)`, one random Down peer, to
    /// notice a healed partition.
    fn probe(&mut self) -> Option<NodeId> {
        let members = self.members.as_ref()?;
        let (mut down, mut reachable) = (Vec::new(), 0usize);
        for id in self.peers.iter().filter(|&id| id != self.id) {
            if members.is_down(id) {
                down.push(id);
            } else if members.reachable(id) {
                reachable += 1;
            }
        }
        if down.is_empty() {
            return None;
        }
        let p = down.len() as f64 / (reachable as f64 + 1.0);
        if !self.rng.random_bool(p.min(1.0)) {
            return None;
        }
        down.get(self.rng.random_range(0..down.len())).copied()
    }

    /// The partial view, when [`Config::view`] is on.
    pub fn view(&self) -> Option<&View> {
        self.view.as_ref()
    }

    /// Joins the cluster through `contact`: with partial views, the view protocol's join; without,
    /// `contact` becomes a peer.
    pub fn join(&mut self, contact: NodeId) {
        match &mut self.view {
            Some(view) => {
                view.join(contact);
                self.drain_view();
            }
            None => self.add_peer(contact),
        }
    }

    /// The runtime saw `peer` fail (a closed connection): with partial views, it is replaced from
    /// the passive view at once.
    pub fn peer_failed(&mut self, peer: NodeId) {
        if let Some(view) = &mut self.view {
            view.peer_failed(peer, &mut self.rng);
            self.drain_view();
        }
    }

    /// Sends what the view protocol has to say.
    fn drain_view(&mut self) {
        let Some(view) = &mut self.view else {
            return;
        };
        let mut out = Vec::new();
        while let Some(message) = view.poll() {
            out.push(message);
        }
        for (to, message) in out {
            self.send(to, Body::View(message));
        }
    }

    /// Adds a peer to gossip with.
    pub fn add_peer(&mut self, peer: NodeId) {
        if peer != self.id {
            self.peers.insert(peer);
        }
    }

    /// Stops gossiping with a peer.
    pub fn remove_peer(&mut self, peer: NodeId) {
        self.peers.remove(peer);
    }

    /// Replaces the peer set.
    pub fn set_peers(&mut self, peers: Peers) {
        self.peers = peers;
    }

    // --- local writes ---

    /// Writes `value` under `key`; returns the version the write got.
    ///
    /// Fails with [`Error::EntryTooLarge`] if the entry could never fit in one message, and with
    /// [`Error::Config`] for a key reserved for the protocol ([`membership::RESERVED_PREFIX`]).
    pub fn set(&mut self, key: &str, value: impl Into<Value>) -> Result<Version, Error> {
        reserved(key)?;
        self.write(key, Some(value.into()))
    }

    /// Writes `value` under `key` if flow control allows a write now (always, without flow
    /// control); returns `None` when the write was refused, for the application to retry later.
    pub fn try_set(
        &mut self,
        key: &str,
        value: impl Into<Value>,
    ) -> Result<Option<Version>, Error> {
        reserved(key)?;
        if let Some(flow) = &mut self.flow {
            if flow.tokens < 1.0 {
                self.stats.throttled += 1;
                return Ok(None);
            }
            flow.tokens -= 1.0;
        }
        self.write(key, Some(value.into())).map(Some)
    }

    /// The write rate flow control allows now (writes per second), if flow control is on.
    pub fn allowed_rate(&self) -> Option<f64> {
        self.flow.as_ref().map(|flow| flow.rate)
    }

    /// Changes the largest number of deltas per message (experiments cut it mid-run).
    pub fn set_max_deltas(&mut self, max_deltas: Option<usize>) -> Result<(), Error> {
        if max_deltas == Some(0) {
            return Err(Error::Config("max_deltas must be at least 1".into()));
        }
        self.config.max_deltas = max_deltas;
        Ok(())
    }

    /// Deletes `key` (writes a tombstone); returns the version the delete got.
    pub fn delete(&mut self, key: &str) -> Result<Version, Error> {
        reserved(key)?;
        self.write(key, None)
    }

    fn write(&mut self, key: &str, value: Option<Value>) -> Result<Version, Error> {
        self.check_fits(key, value.as_ref())?;
        let prev = self
            .store
            .origin(self.id)
            .map_or(Version::ZERO, |o| o.max_version());
        let previous = self.store.get(self.id, key).cloned();
        let version = self
            .store
            .write(self.id, self.generation, key, value.clone())?;
        if self.config.mode.rumors() {
            self.rumors
                .heat(self.id, key, self.generation, prev, version);
        }
        if value.is_none() && self.config.tombstone_grace.is_some() {
            self.tombstones.push_back((version, None));
        }
        self.events.push_back(Event::Changed {
            change: crate::Change {
                origin: self.id,
                generation: self.generation,
                key: key.to_owned(),
                entry: crate::Entry { version, value },
                previous,
            },
            via: Via::Local,
        });
        Ok(version)
    }

    /// Checks that a key is not longer than [`Config::max_key_len`] and that the entry, with
    /// every header at its widest, fits alone in each kind of message that carries deltas, as the
    /// packer charges it.
    fn check_fits(&self, key: &str, value: Option<&Value>) -> Result<(), Error> {
        let limit = self.config.mtu;
        if key.len() > self.config.max_key_len() {
            return Err(Error::EntryTooLarge {
                size: key.len() * 3 + (limit - self.config.max_key_len() * 3),
                limit,
            });
        }
        let header = OriginDelta {
            origin: NodeId(u64::MAX),
            generation: Generation(u64::MAX),
            heartbeat: u64::MAX,
            from: Version(u64::MAX),
            to: Version(u64::MAX),
            deltas: Vec::new(),
        };
        let delta = Delta {
            key: key.to_owned(),
            version: Version(u64::MAX),
            value: value.cloned(),
        };
        let needed = encoded_len(&header) + ARRAY_GROWTH + encoded_len(&delta);
        let carriers = [
            Body::SynAck {
                deltas: Vec::new(),
                digest: Some(self.empty_digest()),
            },
            Body::Ack { deltas: Vec::new() },
            empty_rumor(),
        ];
        for body in &carriers {
            let room = self.budget(body).bytes;
            if needed > room {
                return Err(Error::EntryTooLarge {
                    size: needed + (limit - room),
                    limit,
                });
            }
        }
        Ok(())
    }

    /// Restarts the node as a new incarnation (`generation` must be higher than the current one).
    ///
    /// With `keep_state`, the node keeps what it knew of other origins and writes its own live
    /// entries again under the new generation (so they supersede the old incarnation's); without,
    /// it starts empty, as after a crash that lost its disk. Hot rumors, the digest cursor and the
    /// round schedule start afresh either way.
    pub fn restart(&mut self, generation: Generation, keep_state: bool) -> Result<(), Error> {
        if generation <= self.generation {
            return Err(Error::Config(format!(
                "a restart needs a generation above {}",
                self.generation.0
            )));
        }
        self.generation = generation;
        let own = self.store.restart(self.id, generation, keep_state);
        self.rumors = Rumors::default();
        self.cursor = DigestCursor::default();
        self.next_round = None;
        self.tombstones.clear();
        if let Some(members) = &mut self.members {
            members.restart_self(generation, &mut self.events);
        }
        if keep_state {
            // The reserved entries (a leave, a GC horizon) belonged to the old incarnation.
            for (key, value) in own.into_iter().filter(|(k, _)| !membership::is_reserved(k)) {
                self.write(&key, Some(value))?;
            }
        }
        Ok(())
    }

    // --- time ---

    /// Runs a gossip round if one is due at `now` (the first call always runs one).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_round.is_none_or(|due| now >= due) {
            self.tick(now);
        }
    }

    /// Runs one gossip round now, and schedules the next one an interval later.
    pub fn tick(&mut self, now: Instant) {
        self.now = Some(now);
        self.next_round = Some(now + self.config.gossip_interval);
        self.round += 1;
        self.stats.rounds += 1;
        self.adapt_rate();
        if self.config.heartbeats {
            self.store.beat(self.id, self.generation);
        }
        self.collect_garbage(now);
        self.check_members(now);
        if let Some(view) = &mut self.view {
            view.tick(&mut self.rng);
            self.drain_view();
        }
        if self.config.mode.rumors() {
            self.rumor_round();
        }
        // Failure detection feeds on heartbeat progress, which travels with digests: with
        // membership on, the exchange runs every round whatever the mode's cadence.
        if self.config.mode.anti_entropy_in(self.round)
            || (self.members.is_some() && self.config.mode != Mode::Rumor)
        {
            self.anti_entropy_round();
        }
        if let Some(peer) = self.probe() {
            self.anti_entropy_with(peer);
        }
    }

    /// Re-evaluates the members' statuses, and drops the state of the members just removed.
    fn check_members(&mut self, now: Instant) {
        let Some(members) = &mut self.members else {
            return;
        };
        for id in members.tick(now, &mut self.events) {
            self.store.remove_origin(id);
        }
    }

    /// Collects own tombstones older than the grace period and publishes the new GC horizon
    /// under the reserved key [`GC_KEY`] (a normal write: it spreads as a rumor and by
    /// anti-entropy, and peers collect the origin's tombstones up to it).
    fn collect_garbage(&mut self, now: Instant) {
        let Some(grace) = self.config.tombstone_grace else {
            return;
        };
        for (_, seen) in self.tombstones.iter_mut().rev() {
            if seen.is_some() {
                break;
            }
            *seen = Some(now);
        }
        let mut upto = None;
        while let Some(&(version, Some(seen))) = self.tombstones.front() {
            if now.saturating_duration_since(seen) < grace {
                break;
            }
            upto = Some(version);
            self.tombstones.pop_front();
        }
        let Some(upto) = upto else {
            return;
        };
        let purged = self.store.collect_own(self.id, upto);
        let Some(horizon) = self.store.origin(self.id).map(|o| o.horizon()) else {
            return;
        };
        if purged.is_empty() {
            return;
        }
        for (key, entry) in purged {
            self.events.push_back(Event::Purged {
                origin: self.id,
                generation: self.generation,
                key,
                entry,
            });
        }
        let value = Value::new(horizon.0.to_be_bytes().to_vec());
        // The GC entry is small and its key short: it always fits.
        let _ = self.write(GC_KEY, Some(value));
    }

    /// When [`Node::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_round
    }

    /// Flow control, once per round: multiplicative decrease after congestion, additive increase
    /// otherwise, and the token bucket refilled at the new rate (holding at most two rounds' worth).
    fn adapt_rate(&mut self) {
        let (Some(flow), Some(params)) = (&mut self.flow, self.config.flow_control) else {
            return;
        };
        if flow.congested {
            // Writers above the cluster's mean rate (as gossiped) come down to it first, so that
            // the shrinking capacity is shared fairly.
            let (sum, count) = self
                .store
                .origins()
                .map(|(_, o)| o.rate())
                .filter(|r| *r > 0)
                .fold((0u64, 0u64), |(s, c), r| (s + u64::from(r), c + 1));
            let mean = if count > 0 {
                sum as f64 / count as f64 / 1000.0
            } else {
                flow.rate
            };
            flow.rate = (flow.rate.min(mean) * params.decrease).max(params.min_rate);
            self.stats.congested_rounds += 1;
        } else {
            flow.rate += params.increase;
        }
        let published = (flow.rate * 1000.0).round().clamp(1.0, f64::from(u32::MAX)) as u32;
        self.store.set_rate(self.id, self.generation, published);
        flow.congested = false;
        let per_round = flow.rate * self.config.gossip_interval.as_secs_f64();
        flow.tokens = (flow.tokens + per_round).min((2.0 * per_round).max(1.0));
    }

    /// Notes congestion for flow control: an answer cut by the limit, or a full one received.
    fn congestion(&mut self, congested: bool) {
        if let Some(flow) = &mut self.flow {
            flow.congested |= congested;
        }
    }

    /// Whether a received answer filled its message (a peer's sign of congestion).
    fn full(&self, bytes: usize, deltas: usize) -> bool {
        self.config.max_deltas.is_some_and(|max| deltas >= max)
            || bytes.saturating_mul(10) >= self.config.mtu.saturating_mul(9)
    }

    fn rumor_round(&mut self) {
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

    fn anti_entropy_round(&mut self) {
        let targets = self.targets(self.config.fanout);
        for peer in targets {
            self.anti_entropy_with(peer);
        }
    }

    /// Opens one anti-entropy exchange with `peer`.
    fn anti_entropy_with(&mut self, peer: NodeId) {
        {
            let body = match self.config.direction {
                Direction::Push => Body::Syn {
                    digest: None,
                    reply_digest: true,
                },
                direction => {
                    let reply_digest = direction == Direction::PushPull;
                    let strategy = self.digest_strategy();
                    let mut budget = self.budget(&Body::Syn {
                        digest: Some(empty_digest(strategy)),
                        reply_digest,
                    });
                    let digest =
                        reconcile::digest(&self.store, strategy, &mut self.cursor, &mut budget);
                    Body::Syn {
                        digest: Some(digest),
                        reply_digest,
                    }
                }
            };
            self.send(peer, body);
        }
    }

    // --- messages ---

    /// Handles one datagram from a peer. Errors leave the node's state untouched.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        let message = match Message::decode(bytes, self.config.cluster, self.config.max_incoming) {
            Ok(message) => message,
            Err(error) => {
                self.stats.rejected += 1;
                return Err(error);
            }
        };
        if message.from == self.id {
            self.stats.rejected += 1;
            return Err(Error::FromSelf(self.id));
        }
        self.stats.record_received(message.body.kind(), bytes.len());
        self.now = Some(now);
        let from = message.from;
        self.tell_removed(from);
        if let Some(view) = &mut self.view {
            view.heard(from);
        }
        match message.body {
            Body::View(message) => {
                if let Some(view) = &mut self.view {
                    view.handle(from, message, &mut self.rng);
                    self.drain_view();
                }
            }
            Body::Syn {
                digest,
                reply_digest,
            } => {
                let digest = digest.map(|d| self.without_removed(d));
                self.on_syn(from, digest, reply_digest)
            }
            Body::SynAck { deltas, digest } => {
                let digest = digest.map(|d| self.without_removed(d));
                let count = deltas.iter().map(|g| g.deltas.len()).sum();
                self.congestion(self.full(bytes.len(), count));
                self.apply(&deltas, Via::AntiEntropy(from));
                if let Some(digest) = digest {
                    self.observe(&digest);
                    let mut budget = self.budget(&Body::Ack { deltas: Vec::new() });
                    let mut deltas = reconcile::deltas(
                        &self.store,
                        &digest,
                        self.config.strategy,
                        &mut self.rng,
                        &mut budget,
                    );
                    self.congestion(!deltas.is_empty() && budget.exhausted());
                    self.header_groups(&digest, &mut deltas, &mut budget);
                    if !deltas.is_empty() {
                        self.send(from, Body::Ack { deltas });
                    }
                }
            }
            Body::Ack { deltas } => {
                let count = deltas.iter().map(|g| g.deltas.len()).sum();
                self.congestion(self.full(bytes.len(), count));
                self.apply(&deltas, Via::AntiEntropy(from));
            }
            Body::Rumor(rumor) => self.on_rumor(from, rumor),
        }
        Ok(())
    }

    fn on_syn(&mut self, from: NodeId, digest: Option<Digest>, reply_digest: bool) {
        if let Some(digest) = &digest {
            self.observe(digest);
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
            (None, true) => Some(reconcile::digest(
                &self.store,
                push_strategy.unwrap_or(self.config.strategy),
                &mut self.cursor,
                &mut budget,
            )),
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
        self.congestion(!deltas.is_empty() && budget.exhausted());
        if !deltas.is_empty() || reply.is_some() {
            self.send(
                from,
                Body::SynAck {
                    deltas,
                    digest: reply,
                },
            );
        }
    }

    fn on_rumor(&mut self, from: NodeId, rumor: RumorMessage) {
        let RumorMessage {
            deltas,
            offers,
            wants,
            known,
            want_rumors,
            want_feedback,
        } = rumor;
        let mut redundant = self.apply(&deltas, Via::Rumor(from));
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

    /// Merges deltas from a peer; returns the rumors among them that were not news.
    fn apply(&mut self, groups: &[OriginDelta], via: Via) -> Vec<RumorId> {
        let mut redundant = Vec::new();
        let mut behind = Vec::new();
        let mut stale_own = false;
        let mut redelete = Vec::new();
        for group in groups {
            if group.origin == self.id {
                // A peer that still holds an older incarnation of ours keeps its entries (live
                // values among them) for good unless told: this node is the one authority on its
                // own generation.
                stale_own |= group.generation < self.generation;
                if group.generation == self.generation {
                    redelete.extend(
                        group
                            .deltas
                            .iter()
                            .filter(|d| d.value.is_some() && self.dead_write(&d.key, d.version))
                            .map(|d| d.key.clone()),
                    );
                }
                // Our own entries come back: we hold them already (or they are a zombie's), so
                // they are no news, and feedback says so.
                redundant.extend(group.deltas.iter().map(|d| (self.id, d.version)));
                let top = group.deltas.iter().map(|d| d.version).max();
                let foreign = group.generation == self.generation
                    && group
                        .deltas
                        .iter()
                        .any(|d| self.foreign_write(&d.key, d.version, Some(d.value.as_ref())));
                self.refute(
                    group.generation,
                    group.heartbeat,
                    top.unwrap_or_default().max(group.to),
                    foreign,
                );
                continue;
            }
            if self
                .members
                .as_ref()
                .is_some_and(|m| m.is_removed(group.origin, group.generation))
            {
                // A removed incarnation: its state must not come back.
                redundant.extend(group.deltas.iter().map(|d| (group.origin, d.version)));
                continue;
            }
            let original = group;
            let max_key = self.config.max_key_len();
            let trimmed;
            let group = if group.deltas.iter().any(|d| d.key.len() > max_key) {
                let mut kept = group.clone();
                kept.deltas.retain(|d| d.key.len() <= max_key);
                self.stats.deltas_refused += (group.deltas.len() - kept.deltas.len()) as u64;
                // The group still vouches for its range: a refused delta counts as received
                // (this node will never hold it), so the watermark can pass it instead of
                // asking for it again at every exchange.
                trimmed = kept;
                &trimmed
            } else {
                group
            };
            let report = self.store.merge(group);
            if report.behind_horizon {
                behind.push(group.origin);
            }
            if report.reset {
                self.events.push_back(Event::OriginReset {
                    origin: group.origin,
                    generation: group.generation,
                });
            }
            if !report.stale_generation {
                self.heard(group.origin);
            }
            for (key, entry) in report.purged {
                self.events.push_back(Event::Purged {
                    origin: group.origin,
                    generation: group.generation,
                    key,
                    entry,
                });
            }
            self.stats.deltas_applied += report.changes.len() as u64;
            self.stats.deltas_redundant += report.redundant.len() as u64;
            redundant.extend(
                report
                    .redundant
                    .into_iter()
                    .map(|(_, version)| (group.origin, version)),
            );
            // Only a rumor chain says which writes a range holds: an anti-entropy range says
            // what its sender holds, which leaves out writes the sender saw overwritten, so it
            // must not be forwarded as a chain.
            let prevs = match via {
                Via::Rumor(_) => chain(original),
                _ => BTreeMap::new(),
            };
            for change in report.changes {
                if self.config.mode.rumors() {
                    let version = change.entry.version;
                    let prev = prevs.get(&version).copied().unwrap_or(version);
                    self.rumors
                        .heat(change.origin, &change.key, group.generation, prev, version);
                }
                let left = change.key == STATUS_KEY
                    && change
                        .entry
                        .value
                        .as_ref()
                        .is_some_and(|v| v.as_bytes() == LEFT);
                let (origin, generation) = (change.origin, change.generation);
                self.events.push_back(Event::Changed { change, via });
                if left {
                    if let (Some(members), Some(now)) = (&mut self.members, self.now) {
                        members.left(origin, generation, now, &mut self.events);
                    }
                }
            }
        }
        for key in redelete {
            // Only a key too long for this configuration fails, and such a key was never ours.
            let _ = self.write(&key, None);
        }
        if let Via::AntiEntropy(peer) | Via::Rumor(peer) = via {
            self.teach_horizons(peer, &behind);
            if stale_own {
                let (generation, heartbeat) = self.own_header();
                self.send_header(peer, self.id, generation, heartbeat);
            }
        }
        redundant
    }

    /// `peer` sent deltas at or below the GC horizons of `origins` without showing them: it has
    /// not heard of them, and would offer the same refused deltas at every exchange (with a
    /// deterministic order and one delta per message, for ever, starving everything else). Tell
    /// it, with each origin's GC entry alone (vouching nothing), as far as one message holds.
    fn teach_horizons(&mut self, peer: NodeId, origins: &[NodeId]) {
        if origins.is_empty() {
            return;
        }
        let mut budget = self.budget(&Body::Ack { deltas: Vec::new() });
        let mut packer = Packer::new(&mut budget);
        for &origin in origins {
            let Some(state) = self.store.origin(origin) else {
                continue;
            };
            let Some(entry) = state.get(GC_KEY) else {
                continue;
            };
            let from = Version::ZERO;
            let first = Some((GC_KEY, entry));
            if packer
                .open(origin, state.generation(), state.heartbeat(), from, first)
                .is_none()
            {
                break;
            }
        }
        let deltas = packer.finish();
        if !deltas.is_empty() {
            self.send(peer, Body::Ack { deltas });
        }
    }

    /// A peer speaks of this node's id at `generation`, with `heartbeat` and versions up to
    /// `top`. If that is a newer generation, or this generation with a heartbeat or versions this
    /// node never reached, another incarnation of the id used it (a restart that reused or
    /// lowered its generation, a clock stepped back): its entries would win over ours, or ours
    /// would be dropped as stale, for good. As SWIM refutes a suspicion with a higher
    /// incarnation, the node moves at once to a generation above it, keeping its state: its
    /// live entries are written again under the new generation, and everything of the other
    /// incarnation is dropped everywhere.
    ///
    /// `foreign` says whether the peer showed a write of ours that we never made
    /// ([`Node::foreign_write`]): with heartbeats off and a new incarnation that wrote before it
    /// heard of the old one, versions and heartbeats alone may not tell.
    fn refute(&mut self, generation: Generation, heartbeat: u64, top: Version, foreign: bool) {
        let ours = self.store.origin(self.id);
        let (own_heartbeat, own_top) = ours.map_or((0, Version::ZERO), |o| {
            (o.heartbeat(), o.max_version().max(o.watermark()))
        });
        let forked = generation > self.generation
            || (generation == self.generation
                && (heartbeat > own_heartbeat || top > own_top || foreign));
        if !forked {
            return;
        }
        let Some(next) = generation.0.checked_add(1) else {
            return;
        };
        self.stats.refutations += 1;
        // The restart keeps our state, so it fails only if our own versions are exhausted.
        let _ = self.restart(Generation(next), true);
    }

    /// Whether `key` at `version` (with `value`, when known) is a write of this node's current
    /// generation that this node never made ([`crate::store::OriginState::contradicts`]).
    fn foreign_write(&self, key: &str, version: Version, value: Option<Option<&Value>>) -> bool {
        self.store
            .origin(self.id)
            .is_some_and(|own| own.contradicts(key, version, value))
    }

    /// Whether a live `key` at `version` of this node's current generation, shown by a peer, is
    /// dead here although it is not a [`Node::foreign_write`]: this node holds no entry for the
    /// key and the version is at or below its GC horizon. Either the peer holds a stale copy of
    /// a write whose delete was since collected, or another incarnation that used this
    /// generation wrote it and the GC erased what would have told the two apart. The origin is
    /// the authority on its own entries, and in both cases the key is not live here: it deletes
    /// the key anew, and the new tombstone supersedes the peer's copy everywhere.
    fn dead_write(&self, key: &str, version: Version) -> bool {
        let Some(own) = self.store.origin(self.id) else {
            return false;
        };
        !membership::is_reserved(key) && own.get(key).is_none() && version <= own.horizon()
    }

    /// A message came from `from`, which this node remembers as Removed: its gossip at that
    /// generation or older is ignored here, and digests no longer name it, so a node that came
    /// back under a reused or lower generation (or a removed member that was alive after all)
    /// would never hear of its old incarnation and never be heard. Tell it, with an empty group
    /// of its own origin at the removed generation and the highest heartbeat: it refutes
    /// ([`Node::refute`]) and comes back above, as a new incarnation. A node already above that
    /// generation ignores it.
    fn tell_removed(&mut self, from: NodeId) {
        let Some(generation) = self
            .members
            .as_ref()
            .and_then(|m| m.removed_generation(from))
        else {
            return;
        };
        self.send_header(from, from, generation, u64::MAX);
    }

    /// Sends `peer` an empty group of `origin` (vouching nothing) that carries a generation and
    /// a heartbeat alone.
    fn send_header(
        &mut self,
        peer: NodeId,
        origin: NodeId,
        generation: Generation,
        heartbeat: u64,
    ) {
        let group = OriginDelta {
            origin,
            generation,
            heartbeat,
            from: Version::ZERO,
            to: Version::ZERO,
            deltas: Vec::new(),
        };
        self.send(
            peer,
            Body::Ack {
                deltas: vec![group],
            },
        );
    }

    /// This node's own generation and heartbeat, whether or not it holds entries of its own.
    fn own_header(&self) -> (Generation, u64) {
        let heartbeat = self
            .store
            .origin(self.id)
            .filter(|state| state.generation() == self.generation)
            .map_or(0, |state| state.heartbeat());
        (self.generation, heartbeat)
    }

    /// The generation and heartbeat held here for `origin` (this node's own even before it
    /// wrote anything).
    fn header(&self, origin: NodeId) -> Option<(Generation, u64)> {
        if origin == self.id {
            return Some(self.own_header());
        }
        let state = self.store.origin(origin)?;
        Some((state.generation(), state.heartbeat()))
    }

    /// Feeds the member table what the store now knows of `origin` (its generation and
    /// heartbeat): a new member or generation, or heartbeat progress.
    fn heard(&mut self, origin: NodeId) {
        let (Some(members), Some(now)) = (&mut self.members, self.now) else {
            return;
        };
        // A member heard of (through a seed, or gossip) becomes a peer: this is how a node
        // that knows only its seeds joins the whole cluster (with partial views, the view
        // protocol picks the peers instead).
        if self.view.is_none() && origin != self.id && !self.peers.contains(origin) {
            self.peers.insert(origin);
        }
        if let Some(state) = self.store.origin(origin) {
            members.heartbeat(
                origin,
                state.generation(),
                state.heartbeat(),
                now,
                &mut self.events,
            );
        }
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
    fn header_groups(&self, theirs: &Digest, deltas: &mut Vec<OriginDelta>, budget: &mut Budget) {
        let mut answered: BTreeSet<NodeId> = deltas.iter().map(|g| g.origin).collect();
        let named = theirs.heartbeats();
        let knows_us = named
            .iter()
            .any(|(origin, generation, _, _)| *origin == self.id && *generation >= self.generation);
        // A Scuttlebutt range announces what it leaves unnamed by itself; a precise range that
        // covers us and does not name our generation needs the announcement.
        let covers_us = match theirs {
            Digest::Precise {
                range: Some(range), ..
            } => range.origins().contains(&self.id),
            _ => false,
        };
        let own = (covers_us && !knows_us).then_some((self.id, Generation::default(), 0, 0));
        for (origin, generation, heartbeat, _) in named.into_iter().chain(own) {
            if answered.contains(&origin) {
                continue;
            }
            let Some((held, held_heartbeat)) = self.header(origin) else {
                continue;
            };
            let newer = held > generation;
            let beat = self.members.is_some()
                && held == generation
                && held_heartbeat > heartbeat
                && (origin != self.id || generation == self.generation);
            if !newer && !beat {
                continue;
            }
            let group = OriginDelta {
                origin,
                generation: held,
                heartbeat: held_heartbeat,
                from: Version::ZERO,
                to: Version::ZERO,
                deltas: Vec::new(),
            };
            if !budget.take(encoded_len(&group), 0) {
                break;
            }
            answered.insert(origin);
            deltas.push(group);
        }
    }

    /// A peer's digest without the origins of removed incarnations (so that they are neither
    /// observed nor asked for).
    fn without_removed(&self, mut digest: Digest) -> Digest {
        let Some(members) = &self.members else {
            return digest;
        };
        match &mut digest {
            Digest::Scuttlebutt { origins, .. } => {
                origins.retain(|o| !members.is_removed(o.origin, o.generation));
            }
            Digest::Precise { origins, .. } => {
                origins.retain(|o| !members.is_removed(o.origin, o.generation));
            }
        }
        digest
    }

    /// Records the heartbeats a peer's digest reports.
    fn observe(&mut self, digest: &Digest) {
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
                self.refute(generation, heartbeat, ahead, foreign);
                continue;
            }
            if self.store.observe(origin, generation, heartbeat, rate) {
                self.events
                    .push_back(Event::OriginReset { origin, generation });
            }
            self.heard(origin);
        }
    }

    fn empty_digest(&self) -> Digest {
        empty_digest(self.config.strategy)
    }

    /// The kind of the next digest this node sends: its strategy's, or a precise repair digest
    /// every [`Config::repair_every`]-th time when its strategy is a Scuttlebutt one.
    fn digest_strategy(&mut self) -> Strategy {
        self.digests += 1;
        let strategy = self.config.strategy;
        match self.config.repair_every {
            Some(every) if !strategy.is_precise() && self.digests % u64::from(every) == 0 => {
                Strategy::PreciseRandom
            }
            _ => strategy,
        }
    }

    /// The budget left for a message whose containers `body` shows empty.
    fn budget(&self, body: &Body) -> Budget {
        let envelope = Message {
            version: PROTOCOL_VERSION,
            cluster: self.config.cluster,
            from: self.id,
            body: body.clone(),
        };
        // Room for the growth of up to four top-level arrays (a rumor has four).
        let used = encoded_len(&envelope) + 4 * ARRAY_GROWTH;
        Budget::new(
            self.config.mtu.saturating_sub(used),
            self.config.max_deltas.unwrap_or(usize::MAX),
        )
    }

    fn send(&mut self, to: NodeId, body: Body) {
        let kind = body.kind();
        let deltas = body.deltas().iter().map(|g| g.deltas.len()).sum();
        let message = Message {
            version: PROTOCOL_VERSION,
            cluster: self.config.cluster,
            from: self.id,
            body,
        };
        let payload = match message.encode() {
            Ok(payload) if payload.len() <= self.config.mtu => payload,
            // Budgets are computed from exact encoded sizes; getting here is a bug, and the
            // message is dropped rather than sent over the MTU.
            _ => {
                debug_assert!(false, "message over the MTU");
                self.stats.over_mtu += 1;
                return;
            }
        };
        self.stats.record_sent(kind, payload.len(), deltas);
        self.transmits.push_back(Transmit {
            to,
            kind,
            deltas,
            payload,
        });
    }

    // --- outputs ---

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// Refuses local writes of keys reserved for the protocol.
fn reserved(key: &str) -> Result<(), Error> {
    if membership::is_reserved(key) {
        return Err(Error::Config(format!(
            "keys starting with {:?} are reserved for the protocol",
            membership::RESERVED_PREFIX
        )));
    }
    Ok(())
}

/// For each delta of a rumor chain, the origin's version just before it: `(prev, version]` holds
/// only that write, which lets a receiver of the rumor advance its watermark.
///
/// The chain links the group's deltas in version order from `from` up to `to`, and stops at
/// anything that breaks it (two deltas at one version).
fn chain(group: &OriginDelta) -> BTreeMap<Version, Version> {
    let mut versions: Vec<Version> = group
        .deltas
        .iter()
        .map(|d| d.version)
        .filter(|v| *v > group.from && *v <= group.to)
        .collect();
    versions.sort_unstable();
    let mut prevs = BTreeMap::new();
    let mut prev = group.from;
    for version in versions {
        if version <= prev {
            break;
        }
        prevs.insert(version, prev);
        prev = version;
    }
    prevs
}

/// An empty digest of the kind `strategy` sends.
fn empty_digest(strategy: Strategy) -> Digest {
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

/// A rumor message with every container empty, to measure the envelope.
fn empty_rumor() -> Body {
    Body::Rumor(RumorMessage {
        want_rumors: true,
        want_feedback: true,
        ..RumorMessage::default()
    })
}
