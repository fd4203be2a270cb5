//! The simulated network: per-link latency (fixed or random, so messages reorder), loss,
//! duplication and partitions, with every decision drawn from one seeded RNG.
//!
//! Node actors hand their datagrams to a [`NetworkLink`]; the [`Network`] actor decides each one's
//! fate and delivers it through a [`Router`] when its virtual delivery time comes. The harness's
//! links reach the network through its inbox (no mailbox message per datagram); a link made
//! from the network's address goes through its mailbox.

mod delivery_queue;
mod inbox;
mod reach;

use crate::{RecorderHandle, Router, Transport};
use actix::{Actor, Addr, AsyncContext, Context, Handler, Message, SpawnHandle};
use delivery_queue::DeliveryQueue;
use hearsay_proto::{NodeId, Transmit};
use inbox::Drain;
pub(crate) use inbox::{Inbound, Inbox};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
pub(crate) use reach::Reach;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;

/// How long a datagram takes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Latency {
    /// Always this long.
    Fixed(Duration),
    /// Uniformly between the two (datagrams overtake each other).
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
}

impl Latency {
    /// A latency drawn for one datagram, never above a day (so delivery times cannot overflow).
    fn sample(&self, rng: &mut ChaCha8Rng) -> Duration {
        self.draw(rng).min(Duration::from_secs(86_400))
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> Duration {
        match *self {
            Latency::Fixed(latency) => latency,
            Latency::Uniform { min, max } if max > min => {
                let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
                min + Duration::from_nanos(rng.random_range(0..=span))
            }
            Latency::Uniform { min, .. } => min,
        }
    }
}

/// The simulated network's behaviour. Defaults: 1 ms fixed latency, no loss, no duplication, at
/// most 4,000,000 datagrams in flight.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Latency of every link without its own.
    pub latency: Latency,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice (each copy with its own latency).
    pub duplicate: f64,
    /// Datagrams in flight at most; beyond, new ones are dropped (and counted as lost), so that a
    /// flood cannot grow the queue without bound.
    pub max_in_flight: usize,
}

impl Default for NetworkConfig {
    fn default() -> NetworkConfig {
        NetworkConfig {
            latency: Latency::Fixed(Duration::from_millis(1)),
            loss: 0.0,
            duplicate: 0.0,
            max_in_flight: 4_000_000,
        }
    }
}

/// A datagram handed to the network.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Outgoing {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Encoded message.
    pub payload: Vec<u8>,
    /// Where the sender's protocol said `to` is reached ([`Transmit::addr`]); the network
    /// delivers by `to` either way, but with address books ([`Network::with_address_books`]) a
    /// datagram without one reaches only a node its sender's book holds.
    pub addr: Option<std::sync::Arc<str>>,
}

/// Splits the nodes into groups that cannot reach each other; nodes in no group form one more.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Partition(pub Vec<Vec<NodeId>>);

/// Cuts one direction only: datagrams from any node of `from` to any node of `to` are lost,
/// those the other way pass (a link that sends but does not receive: a one-way firewall rule,
/// a misrouted return path). Cuts add up until [`Heal`].
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct Cut {
    /// Senders whose datagrams are lost...
    pub from: Vec<NodeId>,
    /// ...on their way to these nodes.
    pub to: Vec<NodeId>,
}

/// Ends every partition and every one-way cut.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Heal;

/// Changes the loss and duplication probabilities of every link from now on (a network that
/// heals, or gets worse, mid-run).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SetFaults {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
}

/// Gives the link from `from` to `to` its own latency.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SetLink {
    /// Sender side.
    pub from: NodeId,
    /// Receiver side.
    pub to: NodeId,
    /// Its latency.
    pub latency: Latency,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    at: Instant,
    seq: u64,
    from: NodeId,
    to: NodeId,
    payload: Vec<u8>,
}

/// The simulated network as an actor.
pub struct Network {
    config: NetworkConfig,
    rng: ChaCha8Rng,
    router: Router,
    recorder: Option<RecorderHandle>,
    queue: DeliveryQueue<InFlight>,
    seq: u64,
    wake: Option<(Instant, SpawnHandle)>,
    /// The partitions and one-way cuts in force.
    reach: Reach,
    links: BTreeMap<(NodeId, NodeId), Latency>,
    inbox: Inbox,
    /// Paused nodes' receive buffers: what reached them meanwhile, read when they resume.
    held: BTreeMap<NodeId, Held>,
    /// With address books ([`Network::with_address_books`]): per node, the ids its runtime holds
    /// an address for besides the ones its protocol names.
    books: Option<BTreeMap<NodeId, BTreeSet<NodeId>>>,
    /// With address books: whether a datagram delivered gives its receiver a way to answer its
    /// sender ([`Network::with_reply_paths`]).
    reply_paths: bool,
}

/// A change to a node's address book ([`Network::with_address_books`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum BookChange {
    /// `node` learnt where `peer` is reached (a hello from it, or its answer to one).
    Learn { node: NodeId, peer: NodeId },
    /// `node` forgot `peer` (it left or was removed).
    Forget { node: NodeId, peer: NodeId },
    /// `node`'s process started afresh, its book empty.
    Clear(NodeId),
}

/// The datagrams a paused node's socket holds, up to [`HELD_BYTES`]; later ones are lost.
#[derive(Default)]
struct Held {
    /// (sender, datagram), in arrival order.
    datagrams: Vec<(NodeId, Vec<u8>)>,
    bytes: usize,
}

/// What a paused node's receive buffer holds: Linux's default socket receive buffer
/// (`net.core.rmem_default`, 208 KiB).
pub const HELD_BYTES: usize = 212_992;

impl Network {
    /// A network delivering through `router`, deciding with an RNG seeded by `seed`.
    pub fn new(config: NetworkConfig, seed: u64, router: Router) -> Network {
        Network {
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            router,
            recorder: None,
            queue: DeliveryQueue::default(),
            seq: 0,
            wake: None,
            reach: Reach::default(),
            links: BTreeMap::new(),
            inbox: Inbox::default(),
            held: BTreeMap::new(),
            books: None,
            reply_paths: false,
        }
    }

    /// Models where each node's runtime can send, as `hearsay-net`'s datagram transport does: a
    /// datagram goes to the address its sender's protocol gave it ([`Outgoing::addr`]: the
    /// member's address in membership), else to the one its sender's address book holds, else
    /// nowhere (counted as lost). The books start empty; the harness fills them
    /// ([`crate::Simulation::learn_address`]) as the transport's hellos would.
    pub fn with_address_books(mut self) -> Network {
        self.books = Some(BTreeMap::new());
        self
    }

    /// With address books: a datagram delivered puts its sender in its receiver's book, as
    /// `hearsay-net`'s transports can always answer whoever reaches them: the datagram one keeps
    /// the source of an authenticated datagram from a peer it holds no address for
    /// (`AddressBook::heard_from`), the mesh the address an accepted link announced, dialed when
    /// there is something to send (`AddressBook::last_known`).
    pub fn with_reply_paths(mut self) -> Network {
        self.reply_paths = true;
        self
    }

    /// Hands a datagram to its receiver (with reply paths, teaching it where the sender is).
    fn deliver(&mut self, from: NodeId, to: NodeId, payload: Vec<u8>) {
        if let (true, Some(books)) = (self.reply_paths, &mut self.books) {
            books.entry(to).or_default().insert(from);
        }
        self.router.deliver(to, payload);
    }

    fn change_book(&mut self, change: BookChange) {
        let Some(books) = &mut self.books else {
            return;
        };
        match change {
            BookChange::Learn { node, peer } => {
                books.entry(node).or_default().insert(peer);
            }
            BookChange::Forget { node, peer } => {
                books.entry(node).or_default().remove(&peer);
            }
            BookChange::Clear(node) => {
                books.remove(&node);
            }
        }
    }

    /// Whether `out` has somewhere to go: an address, or no address books modelled, or one in
    /// its sender's book.
    fn addressed(&self, out: &Outgoing) -> bool {
        out.addr.is_some()
            || (self.books.as_ref()).is_none_or(|books| {
                books
                    .get(&out.from)
                    .is_some_and(|book| book.contains(&out.to))
            })
    }

    /// The queue the harness's links and fault controls reach this network through (see
    /// [`Inbox`]).
    pub(crate) fn inbox(&self) -> Inbox {
        self.inbox.clone()
    }

    /// Takes in one item of the inbox, as the mailbox handlers take theirs.
    fn receive(&mut self, item: Inbound, ctx: &mut Context<Self>) {
        match item {
            Inbound::Outgoing(out) => self.outgoing(out, ctx),
            Inbound::Partition(partition) => self.partition(partition),
            Inbound::Cut(cut) => self.cut(cut),
            Inbound::Heal => self.heal(),
            Inbound::SetFaults(faults) => self.set_faults(faults),
            Inbound::Hold(node) => {
                self.held.entry(node).or_default();
            }
            Inbound::Release { node, deliver } => self.release(node, deliver),
            Inbound::Book(change) => self.change_book(change),
        }
    }

    /// Reports losses and duplicates to `recorder`.
    pub fn with_recorder(mut self, recorder: RecorderHandle) -> Network {
        self.recorder = Some(recorder);
        self
    }

    /// Whether a partition or a one-way cut stands between `from` and `to`.
    fn blocked(&self, from: NodeId, to: NodeId) -> bool {
        !self.reach.passes(from, to)
    }

    fn schedule(&mut self, from: NodeId, to: NodeId, payload: Vec<u8>, now: Instant) {
        let latency = self
            .links
            .get(&(from, to))
            .unwrap_or(&self.config.latency)
            .sample(&mut self.rng);
        self.seq += 1;
        self.queue.push(InFlight {
            at: now + latency,
            seq: self.seq,
            from,
            to,
            payload,
        });
    }

    fn arm(&mut self, ctx: &mut Context<Self>, now: Instant) {
        let Some(next) = self.queue.peek() else {
            return;
        };
        let at = next.at;
        if self.wake.as_ref().is_some_and(|(due, _)| *due <= at) {
            return;
        }
        if let Some((_, handle)) = self.wake.take() {
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_later(at.saturating_duration_since(now), |network, ctx| {
            network.wake = None;
            network.deliver_due(ctx);
        });
        self.wake = Some((at, handle));
    }

    fn deliver_due(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        while self.queue.peek().is_some_and(|next| next.at <= now) {
            if let Some(due) = self.queue.pop() {
                // A partition that started while the datagram flew cuts it too.
                if self.blocked(due.from, due.to) {
                    if let Some(recorder) = &self.recorder {
                        recorder.lock().dropped(now, due.from, due.to, true);
                    }
                    continue;
                }
                if let Some(held) = self.held.get_mut(&due.to) {
                    if held.bytes + due.payload.len() <= HELD_BYTES {
                        held.bytes += due.payload.len();
                        held.datagrams.push((due.from, due.payload));
                    } else if let Some(recorder) = &self.recorder {
                        recorder.lock().dropped(now, due.from, due.to, false);
                    }
                    continue;
                }
                self.deliver(due.from, due.to, due.payload);
            }
        }
        self.arm(ctx, now);
    }

    /// Ends `node`'s pause: what its buffer holds is delivered, in arrival order, or lost.
    fn release(&mut self, node: NodeId, deliver: bool) {
        let Some(held) = self.held.remove(&node) else {
            return;
        };
        if deliver {
            for (from, payload) in held.datagrams {
                self.deliver(from, node, payload);
            }
        }
    }
}

impl Actor for Network {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.spawn(Drain);
    }
}

impl Network {
    fn outgoing(&mut self, out: Outgoing, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let (from, to) = (out.from, out.to);
        if self.blocked(from, to) {
            if let Some(recorder) = &self.recorder {
                recorder.lock().dropped(now, from, to, true);
            }
            return;
        }
        let full = self.queue.len() >= self.config.max_in_flight;
        if full
            || !self.addressed(&out)
            || (self.config.loss > 0.0 && self.rng.random_bool(self.config.loss.min(1.0)))
        {
            if let Some(recorder) = &self.recorder {
                recorder.lock().dropped(now, from, to, false);
            }
            return;
        }
        if self.config.duplicate > 0.0 && self.rng.random_bool(self.config.duplicate.min(1.0)) {
            if let Some(recorder) = &self.recorder {
                recorder.lock().duplicated(now, from, to);
            }
            self.schedule(from, to, out.payload.clone(), now);
        }
        self.schedule(from, to, out.payload, now);
        self.arm(ctx, now);
    }

    fn partition(&mut self, partition: Partition) {
        if let Some(recorder) = &self.recorder {
            recorder.lock().partitioned(Instant::now(), &partition.0);
        }
        self.reach.partition(partition.0.iter().map(Vec::as_slice));
    }

    fn cut(&mut self, cut: Cut) {
        if let Some(recorder) = &self.recorder {
            recorder.lock().cut(Instant::now(), &cut.from, &cut.to);
        }
        self.reach.cut(&cut.from, &cut.to);
    }

    fn heal(&mut self) {
        if let Some(recorder) = &self.recorder {
            recorder.lock().healed(Instant::now());
        }
        self.reach.heal();
    }

    fn set_faults(&mut self, faults: SetFaults) {
        if let Some(recorder) = &self.recorder {
            recorder
                .lock()
                .faults(Instant::now(), faults.loss, faults.duplicate);
        }
        self.config.loss = faults.loss.clamp(0.0, 1.0);
        self.config.duplicate = faults.duplicate.clamp(0.0, 1.0);
    }
}

impl Handler<Outgoing> for Network {
    type Result = ();

    fn handle(&mut self, out: Outgoing, ctx: &mut Context<Self>) {
        self.outgoing(out, ctx);
    }
}

impl Handler<Partition> for Network {
    type Result = ();

    fn handle(&mut self, partition: Partition, _: &mut Context<Self>) {
        self.partition(partition);
    }
}

impl Handler<Cut> for Network {
    type Result = ();

    fn handle(&mut self, cut: Cut, _: &mut Context<Self>) {
        self.cut(cut);
    }
}

impl Handler<Heal> for Network {
    type Result = ();

    fn handle(&mut self, _: Heal, _: &mut Context<Self>) {
        self.heal();
    }
}

impl Handler<SetFaults> for Network {
    type Result = ();

    fn handle(&mut self, faults: SetFaults, _: &mut Context<Self>) {
        self.set_faults(faults);
    }
}

impl Handler<SetLink> for Network {
    type Result = ();

    fn handle(&mut self, link: SetLink, _: &mut Context<Self>) {
        self.links.insert((link.from, link.to), link.latency);
    }
}

/// A node's transport into the simulated [`Network`].
#[derive(Clone, Debug)]
pub struct NetworkLink(LinkTo);

#[derive(Clone, Debug)]
enum LinkTo {
    /// Through the network's mailbox.
    Mailbox(Addr<Network>),
    /// Through the network's [`Inbox`] (the harness's links).
    Inbox(Inbox),
}

impl NetworkLink {
    /// A link into `network`, through its mailbox.
    pub fn new(network: Addr<Network>) -> NetworkLink {
        NetworkLink(LinkTo::Mailbox(network))
    }

    /// A link through `inbox`, without a mailbox message per datagram.
    pub(crate) fn through(inbox: Inbox) -> NetworkLink {
        NetworkLink(LinkTo::Inbox(inbox))
    }
}

impl Transport for NetworkLink {
    fn send(&mut self, from: NodeId, transmit: Transmit) {
        let out = Outgoing {
            from,
            to: transmit.to,
            payload: transmit.payload,
            addr: transmit.addr,
        };
        match &self.0 {
            LinkTo::Mailbox(network) => network.do_send(out),
            LinkTo::Inbox(inbox) => inbox.push(Inbound::Outgoing(out)),
        }
    }
}
