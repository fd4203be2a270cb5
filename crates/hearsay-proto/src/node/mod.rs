//! The protocol state machine of one node: fed time, datagrams and local writes; returns
//! datagrams to send and events.
//!
//! This file holds the [`Node`] value itself: its constructor, getters, peer commands, the two
//! inputs that drive everything else (`handle_timeout`, `handle_datagram`), the sending helpers
//! and the drained outputs. The rest of its behaviour is split by concern:
//! [`writes`] (local writes), [`members`] (membership glue), [`anti_entropy`], [`mongering`]
//! (rumors), [`apply`] (merging received groups), [`expiry`] (keys with a time to live), [`flow`] (flow control), [`gc`] (tombstone
//! collection), [`incarnation`] (restarts and refutation) and [`detector`] (SWIM failure
//! detection).

mod anti_entropy;
mod apply;
mod catch_up;
mod detector;
mod expiry;
mod flow;
mod gc;
mod incarnation;
mod members;
mod mongering;
mod persist;
mod relay;
mod views;
mod writes;

use crate::fd::Fd;
use crate::membership::Membership;
use crate::reconcile::DigestCursor;
use crate::rng::NodeRng;
use crate::rumor::Rumors;
use crate::size::{ARRAY_GROWTH, encoded_len};
use crate::{
    Body, Budget, Config, Error, Event, Generation, Member, MemberStatus, Message, MessageKind,
    Mode, NodeId, OriginDelta, PROTOCOL_VERSION, Peers, PhiDetector, Stats, Store, Value, Version,
    View,
};
use flow::FlowState;
use rand::SeedableRng;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
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
    /// Where the peer's runtime is reached, when its membership updates or the view messages
    /// that introduced it said so ([`Node::advertise`]), as known when the transmit is polled;
    /// `None` in-process, or before it is known.
    pub addr: Option<std::sync::Arc<str>>,
}

/// One gossip node, as a value: the sans-I/O core that runtimes wrap.
///
/// Inputs are [`Node::handle_timeout`] (time passes: the one timer entry point),
/// [`Node::handle_datagram`] (a peer's message arrives), the local writes [`Node::set`],
/// [`Node::set_with_ttl`], [`Node::try_set`] and [`Node::delete`], and the commands [`Node::leave`], [`Node::join`],
/// [`Node::peer_failed`] and [`Node::restart`]. Every input takes the current instant `now` as
/// its first argument, and the node keeps no clock of its own between inputs. The peer list
/// ([`Node::add_peer`], [`Node::remove_peer`], [`Node::set_peers`]) and
/// [`Node::set_max_deltas`] are configuration, and take no time.
///
/// Outputs are drained after every input, in this order: [`Node::poll_transmit`] until `None`
/// (send each to its peer), [`Node::poll_event`] until `None`, then [`Node::poll_timeout`] (when
/// to call `handle_timeout` next). The node never reads a clock, never does I/O, and draws every
/// random choice from an RNG seeded by the caller: the same inputs give the same outputs.
///
/// ```
/// use hearsay_proto::{Config, Generation, Node, NodeId, Value};
/// use std::time::Instant;
///
/// let config = Config::default();
/// let mut a = Node::new(NodeId(1), Generation(1), config.clone(), 7)?;
/// let mut b = Node::new(NodeId(2), Generation(1), config.clone(), 8)?;
/// a.add_peer(NodeId(2));
/// b.add_peer(NodeId(1));
/// let mut now = Instant::now();
/// a.set(now, "color", Value::from("blue"))?;
///
/// // Run rounds, delivering every datagram until none is in flight.
/// for _ in 0..5 {
///     a.handle_timeout(now);
///     b.handle_timeout(now);
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
///     now += config.gossip_interval;
/// }
/// assert_eq!(b.get_from(NodeId(1), "color"), Some(&Value::from("blue")));
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
/// Fields are laid out in declaration order (`repr(C)`), those every input reads first: in a
/// cluster of 100,000 nodes each input finds its node out of the cache, and every cache line
/// the input touches is a miss (a round and a datagram read most of the control fields below;
/// spread by the compiler's order, they touched all thirteen lines of the node).
#[derive(Debug)]
#[repr(C)]
pub struct Node {
    /// Shared: the nodes of one process usually run one configuration (360 bytes each at
    /// 100,000 nodes otherwise); [`Node::set_max_deltas`] copies it on write.
    config: Arc<Config>,
    id: NodeId,
    generation: Generation,
    round: u64,
    next_round: Option<Instant>,
    /// Digests sent so far, to pace the repair digests ([`Config::repair_every`]).
    digests: u64,
    /// The member table, when membership is on (boxed, as the detector and the view: a node
    /// without them stays small, and 100,000 of them fit in the cache better).
    members: Option<Box<Membership>>,
    /// The SWIM failure detector, when membership runs it.
    fd: Option<Box<Fd>>,
    /// The partial view, when [`Config::view`] is on: gossip targets come from its active view.
    view: Option<Box<View>>,
    flow: Option<FlowState>,
    store: Store,
    peers: Peers,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Bytes of full answers sent to or received from each peer this round ([`Config::catch_up`]).
    catch_up: BTreeMap<NodeId, usize>,
    /// Catch-up chains going on, by peer: resumed at each round (budget spent, or an answer lost).
    chains: BTreeMap<NodeId, catch_up::Chain>,
    /// The first own version written since the last output was polled, while local writes wait
    /// to be relayed ([`Node::relay_writes`]; a burst of writes goes out together).
    unrelayed: Option<Version>,
    /// Own tombstones waiting for garbage collection: version, and the round it was first seen
    /// in (stamped at the next round after the delete).
    tombstones: VecDeque<(Version, Option<Instant>)>,
    /// Own keys written with a time to live, and when they are deleted ([`Node::set_with_ttl`]).
    expiring: Option<Box<expiry::Expiring>>,
    rumors: Rumors,
    cursor: DigestCursor,
    stats: Stats,
    rng: NodeRng,
}

impl Node {
    /// A node with no peers and no state. `seed` seeds every random choice it makes.
    ///
    /// `config` is a [`Config`] or an `Arc<Config>` that many nodes share.
    pub fn new(
        id: NodeId,
        generation: Generation,
        config: impl Into<Arc<Config>>,
        seed: u64,
    ) -> Result<Node, Error> {
        let config = config.into();
        config.validate()?;
        let mut store = Store::default();
        // With membership on, the own origin exists from the start: its generation is
        // announced even before the first write.
        if config.heartbeats || config.flow_control.is_some() || config.membership.is_some() {
            store.own_origin(id, generation);
        }
        let members = match &config.membership {
            Some(membership) => Some(Membership::new(membership.clone(), id, generation)?),
            None => None,
        };
        let fd = config
            .membership
            .as_ref()
            .and_then(|m| m.swim())
            .map(|swim| Fd::new(swim.clone()));
        let view = match &config.view {
            Some(view) => Some(View::new(id, view.clone())?),
            None => None,
        };
        Ok(Node {
            id,
            generation,
            store,
            peers: Peers::default(),
            rng: NodeRng::seed_from_u64(seed),
            cursor: DigestCursor::default(),
            rumors: Rumors::default(),
            view: view.map(Box::new),
            round: 0,
            next_round: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            flow: config
                .flow_control
                .map(|flow| FlowState::new(flow.initial_rate)),
            members: members.map(Box::new),
            fd: fd.map(Box::new),
            tombstones: VecDeque::new(),
            expiring: None,
            digests: 0,
            catch_up: BTreeMap::new(),
            chains: BTreeMap::new(),
            unrelayed: None,
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

    /// The member table in id order, this node included (empty when membership is off), with
    /// the incarnation this node now speaks under for itself.
    pub fn members(&self) -> Vec<Member> {
        let mut members = self
            .members
            .as_deref()
            .map(Membership::members)
            .unwrap_or_default();
        if let (Some(fd), Some(me)) = (&self.fd, members.iter_mut().find(|m| m.id == self.id)) {
            me.incarnation = fd.incarnation;
        }
        // Under the heartbeat detector addresses are entries (the reserved address key), not
        // the table's: looked up for a networked node (one that announces its own).
        if self.known_address(self.id).is_some() {
            for member in members.iter_mut().filter(|m| m.address.is_none()) {
                member.address = self.known_address(member.id);
            }
        }
        members
    }

    /// One member's status (`None`: membership off, or never heard of).
    pub fn member_status(&self, id: NodeId) -> Option<MemberStatus> {
        self.members.as_deref()?.status(id)
    }

    /// The failure detector of one member (`None`: membership off, or never heard of).
    pub fn detector(&self, id: NodeId) -> Option<&PhiDetector> {
        self.members.as_deref()?.detector(id)
    }

    /// SWIM's local health multiplier (Lifeguard): 0 when healthy; probes slow down by
    /// `1 + score` (`None`: SWIM not running).
    pub fn local_health(&self) -> Option<u32> {
        self.fd.as_deref().map(Fd::awareness)
    }

    /// SWIM: membership updates waiting to be gossiped (`None`: SWIM not running).
    pub fn queued_updates(&self) -> Option<usize> {
        self.fd.as_deref().map(|fd| fd.queue.len())
    }

    /// The partial view, when [`Config::view`] is on.
    pub fn view(&self) -> Option<&View> {
        self.view.as_deref()
    }

    // --- peers ---

    /// Adds a peer to gossip with.
    ///
    /// A peer this node holds removed is told of its removal at once: a transport adds a peer
    /// when it hears from it (`hearsay-net` on a hello, after a partition that outlasted
    /// [`MembershipConfig::removal_after`](crate::MembershipConfig::removal_after) made it
    /// forget the address), so the member is reachable now, and it comes back as a new
    /// generation without waiting for the next reconnect (up to
    /// [`MembershipConfig::reconnect_interval`](crate::MembershipConfig::reconnect_interval)
    /// later: the round's reconnect is often spent at the removal itself, when the member
    /// cannot be reached).
    pub fn add_peer(&mut self, peer: NodeId) {
        if peer == self.id || self.peers.contains(peer) {
            return;
        }
        self.peers.insert(peer);
        self.tell_removed(peer);
    }

    /// Stops gossiping with a peer.
    pub fn remove_peer(&mut self, peer: NodeId) {
        self.peers.remove(peer);
    }

    /// Replaces the peer set.
    pub fn set_peers(&mut self, peers: Peers) {
        self.peers = peers;
    }

    /// Changes the largest number of deltas per message (experiments cut it mid-run).
    pub fn set_max_deltas(&mut self, max_deltas: Option<usize>) -> Result<(), Error> {
        if max_deltas == Some(0) {
            return Err(Error::config("max_deltas", "must be at least 1"));
        }
        Arc::make_mut(&mut self.config).max_deltas = max_deltas;
        Ok(())
    }

    // --- time ---

    /// Runs a gossip round if one is due at `now` (the first call always runs one), and
    /// schedules the next one a [`Config::gossip_interval`] later ([`Node::poll_timeout`]).
    ///
    /// This is the only timer entry point: to run rounds back to back, call it at each
    /// [`Node::poll_timeout`] (or any later instant).
    pub fn handle_timeout(&mut self, now: Instant) {
        let starved = self.starved(now);
        if self.next_round.is_none_or(|due| now >= due) {
            self.run_round(now, starved);
        }
        self.fd_timeout(now, starved);
    }

    /// Whether the node is called at `now` so long after the earliest instant it asked for
    /// ([`Node::poll_timeout`]) that it was not running: more than a probe interval (and more
    /// than a gossip interval, the coarsest step a lockstep driver takes) late. Its inputs,
    /// acks and refutations among them, are then queued behind this call: a starved node
    /// concludes no probe cycle and expires no suspicion in it (Lifeguard's local health: it
    /// counts against its own score instead). Only with SWIM.
    fn starved(&self, now: Instant) -> bool {
        let (Some(fd), Some(due)) = (&self.fd, self.poll_timeout()) else {
            return false;
        };
        let slack = fd.config.probe_interval.max(self.config.gossip_interval);
        now.saturating_duration_since(due) > slack
    }

    /// Runs one gossip round at `now`, and schedules the next one an interval later; a
    /// `starved` node ([`Node::starved`]) expires no suspicion in it (the next round, after the
    /// queued refutations, decides).
    fn run_round(&mut self, now: Instant, starved: bool) {
        self.next_round = Some(now + self.config.gossip_interval);
        self.round += 1;
        self.stats.rounds += 1;
        self.adapt_rate();
        if self.config.heartbeats {
            self.store.beat(self.id, self.generation);
        }
        self.collect_garbage(now);
        self.expire_keys(now);
        self.check_members(now);
        if !starved {
            self.expire_suspicions(now);
        }
        self.tick_view();
        let backlog = self.config.mode.rumors() && self.rumor_round();
        // Heartbeat failure detection feeds on heartbeat progress, which travels with digests:
        // the exchange then runs every round whatever the mode's cadence (SWIM needs nothing).
        let heartbeat_fd = self.members.is_some() && self.fd.is_none();
        // With more news than a rumor message holds, rumor messages (one per exchange) are the
        // bottleneck; anti-entropy's catch-up moves a backlog many messages at a time, so the
        // combined mode runs it in every such round (pure rumor mongering stays as it is).
        let overflow = backlog && matches!(self.config.mode, Mode::Combined { .. });
        if self.config.mode.anti_entropy_in(self.round)
            || overflow
            || (heartbeat_fd && self.config.mode != Mode::Rumor)
        {
            self.anti_entropy_round();
        }
        self.resume_catch_up();
        if let Some(peer) = self.probe(now) {
            // A removed member is told so (an exchange would be ignored at both ends).
            if !self.tell_removed(peer) {
                self.anti_entropy_with(peer);
            }
        }
    }

    // --- messages ---

    /// Handles one datagram from a peer. Errors leave the node's state untouched.
    pub fn handle_datagram(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        self.handle_datagram_from(now, bytes, None)
    }

    /// [`Node::handle_datagram`] for a transport that authenticates its peers: a message whose
    /// `from` is not `sender` (a key holder claiming another node's id on its own link or
    /// datagram) is rejected, counted in [`Stats::rejected`], and changes nothing.
    pub fn handle_datagram_from(
        &mut self,
        now: Instant,
        bytes: &[u8],
        sender: Option<NodeId>,
    ) -> Result<(), Error> {
        let message = match Message::decode(bytes, self.config.cluster, self.config.max_incoming) {
            Ok(message) => message,
            Err(error) => {
                self.stats.rejected += 1;
                return Err(error);
            }
        };
        if let Some(sender) = sender.filter(|&sender| sender != message.from) {
            self.stats.rejected += 1;
            return Err(Error::SenderMismatch {
                claimed: message.from,
                sender,
            });
        }
        if message.from == self.id {
            self.stats.rejected += 1;
            return Err(Error::FromSelf(self.id));
        }
        self.stats.record_received(message.body.kind(), bytes.len());
        let from = message.from;
        self.tell_removed(from);
        self.tell_down(now, from);
        self.confirm(now, from);
        if let Some(view) = &mut self.view {
            view.heard(from);
        }
        match message.body {
            Body::View(message) => match &mut self.view {
                Some(view) => {
                    view.handle_message(from, message, &mut self.rng);
                    self.drain_view();
                }
                None => self.stats.ignored_view_messages += 1,
            },
            Body::Syn {
                digest,
                reply_digest,
                more,
            } => {
                let digest = digest.map(|d| self.without_removed(now, from, d));
                self.on_syn(now, from, digest, reply_digest, more)
            }
            Body::SynAck { deltas, digest } => {
                let digest = digest.map(|d| self.without_removed(now, from, d));
                let part = digest.is_none();
                let before = self.on_answer(now, from, &deltas);
                if let Some(digest) = digest {
                    self.on_syn_ack_digest(now, from, &digest);
                }
                self.follow_up(from, bytes.len(), &deltas, before, part);
            }
            Body::Ack { deltas } => {
                let before = self.on_answer(now, from, &deltas);
                self.follow_up(from, bytes.len(), &deltas, before, false);
            }
            Body::Rumor(rumor) => self.on_rumor(now, from, rumor),
            Body::Probe(message) => self.on_probe(now, from, message),
        }
        Ok(())
    }

    /// The budget left for a message whose containers `body` shows empty.
    fn budget(&self, body: &Body) -> Budget {
        let (cluster, from) = (self.config.cluster, self.id);
        let envelope = crate::wire::codec::envelope_len(PROTOCOL_VERSION, cluster, from, body)
            .unwrap_or_else(|| {
                encoded_len(&Message {
                    version: PROTOCOL_VERSION,
                    cluster,
                    from,
                    body: body.clone(),
                })
            });
        // Room for the growth of up to four top-level arrays (a rumor has four).
        let used = envelope + 4 * ARRAY_GROWTH;
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
            addr: None,
        });
    }

    /// Where `to`'s runtime is reached, as membership or the partial view last said: the
    /// address every message to `to` leaves with ([`Transmit::addr`]).
    pub fn address(&self, to: NodeId) -> Option<Arc<str>> {
        match self.members.as_deref().and_then(|m| m.address(to)) {
            Some(addr) => Some(addr.clone()),
            None => self.view.as_deref().and_then(|v| v.address(to)).cloned(),
        }
    }

    /// Sends `deltas` to `to` in an `Ack`, unless there are none.
    fn send_ack(&mut self, to: NodeId, mut deltas: Vec<OriginDelta>) {
        self.send_hints(to, &mut deltas);
        if !deltas.is_empty() {
            self.send(to, Body::Ack { deltas });
        }
    }

    // --- outputs ---

    /// The next message to send. Local writes made since the last call are relayed first
    /// ([`Config::relay`]), so that writes made together go out together.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(first) = self.unrelayed.take() {
            self.relay_writes(first);
        }
        // The address as known now, not when the message was queued: an answer queued before
        // the updates of the same message were applied (a stranger's ping) goes where they said.
        let mut transmit = pop_shrinking(&mut self.transmits, 1)?;
        transmit.addr = self.address(transmit.to);
        Some(transmit)
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        pop_shrinking(&mut self.events, 0)
    }

    /// When [`Node::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let fd = self.fd.as_deref().and_then(Fd::deadline);
        match (self.next_round, fd) {
            (Some(round), Some(fd)) => Some(round.min(fd)),
            (round, fd) => round.or(fd),
        }
    }
}

/// The front of an output queue, giving back the queue's room beyond `keep` slots once it is
/// drained: a node spends most of its life with nothing to send, and 100,000 nodes each keeping
/// a few slots of [`Transmit`] and [`Event`] would hold ~70 MB for nothing. The transmit queue
/// keeps one slot (64 bytes): a round's one datagram then costs no allocation of room.
fn pop_shrinking<T>(queue: &mut VecDeque<T>, keep: usize) -> Option<T> {
    let front = queue.pop_front();
    if queue.is_empty() && queue.capacity() > keep {
        if keep == 0 {
            *queue = VecDeque::new();
        } else {
            queue.shrink_to(keep);
        }
    }
    front
}
