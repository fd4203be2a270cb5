//! [`GossipNode`]: one gossip node as an actix actor, owning one protocol value.
//!
//! A timer drives the protocol's rounds, [`Datagram`]s from peers drive its input, and after every
//! input the actor drains the protocol's outputs: datagrams to its [`Transport`], changes to its
//! subscribers, and the next wake-up to its timer.

#[cfg(feature = "sim")]
use crate::RecorderHandle;
use crate::messages::{
    AddPeer, Cause, Datagram, Delete, Get, GetEntries, GetMembers, GetMetrics, GetPeers, Inspect,
    Join, KeyChanged, Leave, MemberChanged, MoveAbove, NodeMetrics, NodeSnapshot, Observation,
    Observe, OriginSummary, PeerFailed, RemovePeer, Set, SetWithTtl, StoredEntry, Subscribe,
    SubscribeMembership, TakeSnapshot, TrySet, Unsubscribe, UnsubscribeMembership, Views,
};
#[cfg(feature = "sim")]
use crate::messages::{Crash, Reincarnate, Restart, Resume, SetMaxDeltas};
use crate::node_inbox::InboxReader;
use crate::throttle::Throttle;
use crate::{Error, Router, Transport};
use actix::fut::ActorFuture;
use actix::{Actor, Addr, AsyncContext, Context, Handler, Recipient};
use hearsay_proto::Generation;
#[cfg(feature = "sim")]
use hearsay_proto::PurgeReason;
use hearsay_proto::{ErrorKind, Event, MemberStatus, Node, NodeId, Transmit, Version};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The largest mailbox capacity ([`GossipNode::with_mailbox_capacity`]): 2^30 messages, far
/// more than memory holds of datagrams.
pub const MAX_MAILBOX: usize = 1 << 30;

struct Subscription {
    prefix: String,
    recipient: Recipient<KeyChanged>,
}

impl Subscription {
    /// Whether `key` is the subscriber's: it starts with the prefix, and the protocol's reserved
    /// entries (a leave, a GC horizon, an address) reach only those who subscribe to their
    /// prefix explicitly.
    fn matches(&self, key: &str) -> bool {
        use hearsay_proto::membership::is_reserved;
        key.starts_with(&self.prefix) && (!is_reserved(key) || is_reserved(&self.prefix))
    }
}

/// Who hears of a node's changes. Boxed, and only once someone subscribes: most nodes of a large
/// in-process cluster have no subscriber, and the actor's size decides its task's allocation.
#[derive(Default)]
struct Subscribers {
    keys: Vec<Subscription>,
    members: Vec<Recipient<MemberChanged>>,
}

/// Where a node's datagrams go: the in-process [`Router`] held in the node itself (at 100,000
/// nodes a transport in a box of its own is one more cache miss per datagram sent), any other
/// transport boxed.
enum Outbound {
    Router(Router),
    Other(Box<dyn Transport>),
}

impl Outbound {
    fn new<T: Transport>(transport: T) -> Outbound {
        match transport.as_router() {
            Some(router) => Outbound::Router(router.clone()),
            None => Outbound::Other(Box::new(transport)),
        }
    }

    fn send(&mut self, from: NodeId, transmit: Transmit) {
        match self {
            Outbound::Router(router) => router.send(from, transmit),
            Outbound::Other(transport) => transport.send(from, transmit),
        }
    }
}

/// A gossip node as an actor.
///
/// ```
/// use hearsay_actor::{GossipNode, Router, Set, Get};
/// use hearsay_proto::{Config, Generation, Node, NodeId, Value};
///
/// actix_rt::System::new().block_on(async {
///     let router = Router::new();
///     let node = Node::new(NodeId(1), Generation(1), Config::default(), 7)?;
///     let addr = router.start(GossipNode::new(node, router.clone()));
///     addr.send(Set { key: "k".into(), value: Value::from("v") }).await??;
///     let got = addr.send(Get { origin: None, key: "k".into() }).await??;
///     assert_eq!(got, Some(Value::from("v")));
///     Ok::<(), hearsay_actor::Error>(())
/// })?;
/// # Ok::<(), hearsay_actor::Error>(())
/// ```
#[repr(C)]
pub struct GossipNode {
    // What every input reads first, then the protocol's node (whose own hot fields lead it):
    // `repr(C)` keeps them on the fewest cache lines.
    down: bool,
    /// The [`Wakeup`]'s sleep is registered for [`GossipNode::due`] (cleared when that moves).
    armed: bool,
    /// A datagram handled in this poll read the clock short of [`GossipNode::due`], the sleep
    /// armed for it: the sleep has not fired, and the [`Wakeup`] can leave it alone.
    quiet: bool,
    /// Whether the node said that a peer runs partial views and it does not (once). Here, and
    /// the next field, in the padding before `due`: the task stays in its allocator bin.
    told_mixed_views: bool,
    /// The node's [`hearsay_proto::Stats::removed_restarts`] (saturated) as of its last
    /// generation change: whether the next one is a removal's comeback or another incarnation
    /// of the id.
    removed_restarts: u32,
    /// When the protocol wants its next timeout (`None`: never, or down); the node's one
    /// [`Wakeup`] follows it.
    due: Option<std::time::Instant>,
    /// Where the node reads its datagrams when the [`Router`] started it ([`Router::start`]):
    /// here, on the line every input reads, not in the [`Wakeup`]'s box.
    inbox: Option<InboxReader>,
    transport: Outbound,
    #[cfg(feature = "sim")]
    recorder: Option<RecorderHandle>,
    /// The generation the node last ran (and the recorder last heard of): when the node's
    /// differs after an input, the node refuted another incarnation of its id and moved up by
    /// itself.
    generation: Generation,
    subscribers: Option<Box<Subscribers>>,
    node: Node,
    /// What `started` reads once (boxed: the actor's task stays in its allocator bin).
    start: Option<Box<StartOptions>>,
    /// Rejected datagrams are logged at most once per [`crate::throttle::LOG_EVERY`].
    rejections: Throttle,
}

/// The options a node reads when it starts.
#[derive(Default)]
struct StartOptions {
    first_round_after: Duration,
    /// The mailbox's capacity (`None`: actix's default).
    mailbox: Option<usize>,
}

impl GossipNode {
    /// Wraps a protocol node; its datagrams go to `transport`.
    pub fn new(node: Node, transport: impl Transport) -> GossipNode {
        GossipNode {
            generation: node.generation(),
            removed_restarts: saturated(node.stats().removed_restarts),
            node,
            transport: Outbound::new(transport),
            subscribers: None,
            #[cfg(feature = "sim")]
            recorder: None,
            start: None,
            inbox: None,
            due: None,
            armed: false,
            quiet: false,
            down: false,
            rejections: Throttle::default(),
            told_mixed_views: false,
        }
    }

    /// Bounds the mailbox: messages sent with `try_send` beyond `capacity` waiting are refused
    /// (a network adapter drops and counts inbound datagrams that way), and `send` waits.
    /// `do_send` ignores the bound, as in actix. Default: actix's (16). The capacity is taken
    /// between 1 and [`MAX_MAILBOX`] (actix reads 0 as "unbounded", and its channel overflows
    /// its counters past 2^62; "no bound" is the largest).
    pub fn with_mailbox_capacity(mut self, capacity: usize) -> GossipNode {
        self.start_options().mailbox = Some(capacity.clamp(1, MAX_MAILBOX));
        self
    }

    /// Reports traffic and changes to `recorder` (the simulation harness does this).
    #[cfg(feature = "sim")]
    pub fn with_recorder(mut self, recorder: RecorderHandle) -> GossipNode {
        self.recorder = Some(recorder);
        self
    }

    /// Delays the first round (so that nodes of a cluster do not all tick at the same instant).
    /// At most a day: a longer delay (`Duration::MAX` included) is taken as a day.
    pub fn with_first_round_after(mut self, delay: Duration) -> GossipNode {
        self.start_options().first_round_after = delay.min(Duration::from_secs(86_400));
        self
    }

    fn start_options(&mut self) -> &mut StartOptions {
        self.start.get_or_insert_with(Box::default)
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    fn now() -> Instant {
        Instant::now()
    }

    /// Moves the wake-up's deadline; the sleep is no longer armed for it when it moved.
    fn set_due(&mut self, due: Option<std::time::Instant>) {
        if due != self.due {
            self.due = due;
            self.armed = false;
        }
    }

    fn on_timer(&mut self) {
        self.set_due(None);
        if self.down {
            return;
        }
        let now = Self::now();
        self.node.handle_timeout(now.into_std());
        self.drain(now);
    }

    /// Sends every datagram, tells every subscriber, and re-arms the timer.
    #[cfg_attr(not(feature = "sim"), allow(unused_variables))]
    // Without the harness, the purge arm is a lone `if` that clippy would fold into the match.
    #[cfg_attr(not(feature = "sim"), allow(clippy::collapsible_match))]
    fn drain(&mut self, now: Instant) {
        let id = self.node.id();
        if self.node.generation() != self.generation {
            // A refutation: the node heard of another incarnation of its id and moved above it,
            // keeping its state. The recorder learns it before the events, which include the
            // node's live entries written again under the new generation.
            let was = std::mem::replace(&mut self.generation, self.node.generation());
            let removed = saturated(self.node.stats().removed_restarts);
            let why = if removed > std::mem::replace(&mut self.removed_restarts, removed) {
                "a peer had removed this node (it was cut off or paused for longer than \
                 removal_after, or a process restarted reusing its generation): it came back as \
                 a new generation, its entries written again"
            } else {
                "another incarnation of this node's id was heard of, and the node moved above \
                 it: a restart that reused or lowered its generation, or another process \
                 running with the same id (ids must be unique; one process per state file) — \
                 two such processes erase each other's entries everywhere"
            };
            tracing::warn!(node = %id, was = was.0, now = self.generation.0, "{why}");
            #[cfg(feature = "sim")]
            if let Some(recorder) = &self.recorder {
                recorder.lock().refuted(now, id, self.generation);
            }
        }
        while let Some(transmit) = self.node.poll_transmit() {
            #[cfg(feature = "sim")]
            if let Some(recorder) = &self.recorder {
                recorder.lock().sent(
                    now,
                    id,
                    transmit.to,
                    transmit.kind,
                    transmit.payload.len(),
                    transmit.deltas,
                );
            }
            self.transport.send(id, transmit);
        }
        while let Some(event) = self.node.poll_event() {
            match event {
                Event::Changed { change, via } => {
                    #[cfg(feature = "sim")]
                    if let Some(recorder) = &self.recorder {
                        recorder.lock().changed(now, id, &change, via);
                    }
                    self.notify(KeyChanged {
                        node: id,
                        origin: change.origin,
                        generation: change.generation,
                        key: change.key,
                        version: change.entry.version,
                        value: change.entry.value,
                        cause: Cause::Write(via),
                    });
                }
                Event::OriginReset { origin, generation } => {
                    #[cfg(feature = "sim")]
                    if let Some(recorder) = &self.recorder {
                        recorder.lock().reset(now, id, origin, generation);
                    }
                }
                Event::Member {
                    id: member,
                    generation,
                    status,
                } => {
                    // A removed member's state is dropped from the store at once.
                    if status == MemberStatus::Removed {
                        #[cfg(feature = "sim")]
                        if let Some(recorder) = &self.recorder {
                            recorder.lock().removed(now, id, member, generation);
                        }
                    }
                    if let Some(subscribers) = &mut self.subscribers {
                        subscribers.members.retain(|r| r.connected());
                        for subscriber in &subscribers.members {
                            subscriber.do_send(MemberChanged {
                                node: id,
                                member,
                                generation,
                                status,
                                existing: false,
                            });
                        }
                    }
                }
                Event::Purged {
                    origin,
                    generation,
                    key,
                    entry,
                    reason,
                } => {
                    // The recorder models resets and removals itself (from `OriginReset`,
                    // `Member` and restarts); only horizon drops are news to it.
                    #[cfg(feature = "sim")]
                    if let (Some(recorder), PurgeReason::Horizon) = (&self.recorder, reason) {
                        recorder
                            .lock()
                            .purged(now, id, origin, generation, &key, entry.version);
                    }
                    // A dropped tombstone needs no message: the subscriber saw the delete.
                    if entry.value.is_some() {
                        self.notify(KeyChanged {
                            node: id,
                            origin,
                            generation,
                            key,
                            version: entry.version,
                            value: None,
                            cause: Cause::dropped(reason),
                        });
                    }
                }
                _ => {}
            }
        }
        self.arm();
    }

    /// Sends a change to every subscriber of its key ([`Subscription::matches`]).
    fn notify(&mut self, change: KeyChanged) {
        let Some(subscribers) = &mut self.subscribers else {
            return;
        };
        subscribers.keys.retain(|s| s.recipient.connected());
        for subscriber in &subscribers.keys {
            if subscriber.matches(&change.key) {
                subscriber.recipient.do_send(change.clone());
            }
        }
    }

    /// Points the wake-up at the protocol's next timeout; the [`Wakeup`] re-sets its sleep when
    /// the actor's poll reaches it, after the input that moved it.
    fn arm(&mut self) {
        if let Some(due) = self.node.poll_timeout() {
            self.set_due(Some(due));
        }
    }

    fn write(
        &mut self,
        write: impl FnOnce(&mut Node) -> Result<Version, hearsay_proto::Error>,
    ) -> Result<Version, Error> {
        if self.down {
            return Err(Error::Down(self.node.id()));
        }
        let version = write(&mut self.node)?;
        self.drain(Self::now());
        Ok(version)
    }
}

impl Actor for GossipNode {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let start = self.start.take().unwrap_or_default();
        if let Some(capacity) = start.mailbox {
            ctx.set_mailbox_capacity(capacity);
        }
        let due = Self::now() + start.first_round_after;
        self.set_due(Some(due.into_std()));
        ctx.spawn(Wakeup {
            sleep: tokio::time::sleep_until(due),
        });
    }
}

pin_project_lite::pin_project! {
    /// The node's one timer, for its whole life: a sleep re-set to [`GossipNode::due`] whenever
    /// that moves, instead of a timer allocated, registered and cancelled per timeout (at 100,000
    /// nodes a round is 100,000 timeouts). The sleep lives in the future actix boxes anyway, not
    /// in a box of its own. A node started with an inbox ([`Router::start`]) reads it here,
    /// first: after the whole mailbox (the mailbox's datagrams ran between its other messages;
    /// in the harness that orders only what reaches a node in the same virtual instant).
    struct Wakeup {
        #[pin]
        sleep: Sleep,
    }
}

impl ActorFuture<GossipNode> for Wakeup {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        node: &mut GossipNode,
        _: &mut Context<GossipNode>,
        task: &mut std::task::Context<'_>,
    ) -> Poll<()> {
        if let Some(inbox) = &node.inbox {
            let waiting = inbox.take(task.waker());
            if !waiting.is_empty() {
                // One reading of the clock for what waited: it all arrived before this poll. (On
                // virtual time nothing moves it within a poll; on real time the batch's later
                // datagrams are handled a few microseconds early, which no timeout notices.)
                let now = GossipNode::now();
                for payload in waiting.payloads() {
                    node.receive(now, payload, None);
                }
            }
        }
        let mut sleep = self.project().sleep;
        // After a datagram (most polls), the sleep is left alone when its handler found it
        // armed for the deadline the node still wants and the clock short of it: it has not
        // fired, and when it fires it wakes the task and the next poll looks at it. (The sleep
        // lives apart from the actor: at 100,000 nodes touching it is a cache miss per datagram.)
        if std::mem::take(&mut node.quiet) && node.armed {
            return Poll::Pending;
        }
        // Actix polls its spawned futures after every batch of messages, so a timeout an input
        // moved is seen here before the actor waits again.
        while let Some(due) = node.due {
            let deadline = Instant::from_std(due);
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            if sleep.as_mut().poll(task).is_pending() {
                node.armed = true;
                return Poll::Pending;
            }
            node.on_timer();
            if node.due.is_some_and(|next| next <= due) {
                // The protocol asks again for a time already passed: the other actors run
                // before it fires again (as a timer re-armed at zero would let them).
                task.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
        Poll::Pending
    }
}

impl Handler<Datagram> for GossipNode {
    type Result = ();

    fn handle(&mut self, datagram: Datagram, _: &mut Context<Self>) {
        self.receive(Self::now(), &datagram.payload, datagram.sender);
    }
}

impl GossipNode {
    /// Starts the node reading its datagrams from an inbox in the router's table
    /// ([`Router::start`]).
    pub(crate) fn start_reading(mut self, inbox: InboxReader) -> Addr<GossipNode> {
        self.inbox = Some(inbox);
        self.start()
    }

    /// Handles one datagram (from the mailbox or the inbox).
    pub(crate) fn receive(&mut self, now: Instant, payload: &[u8], sender: Option<NodeId>) {
        if self.down {
            return;
        }
        // A rejected datagram (another cluster, garbage, a lying sender) changes nothing; the
        // node counts it (`Stats::rejected`), logs it (rate-limited) and drops it: a peer's
        // error is never the caller's.
        let handled = self
            .node
            .handle_datagram_from(now.into_std(), payload, sender);
        if let Err(error) = handled {
            debug_assert_eq!(error.kind(), ErrorKind::Peer, "{error}");
            if let Some(held_back) = self.rejections.allow(now.into_std()) {
                tracing::warn!(
                    node = self.node.id().0,
                    sender = sender.map(|s| s.0),
                    %error,
                    held_back,
                    "gossip message rejected"
                );
            }
        }
        if !self.told_mixed_views && self.node.stats().ignored_view_messages > 0 {
            self.told_mixed_views = true;
            tracing::warn!(
                node = self.node.id().0,
                sender = sender.map(|s| s.0),
                "a peer runs partial views and this node does not: their messages are ignored; \
                 give every node of a cluster the same views setting (`--views`)"
            );
        }
        self.drain(now);
        self.quiet = self.armed && self.due.is_some_and(|due| now.into_std() < due);
    }
}

impl Handler<Set> for GossipNode {
    type Result = Result<Version, Error>;

    fn handle(&mut self, set: Set, _: &mut Context<Self>) -> Self::Result {
        self.write(|node| node.set(Self::now().into_std(), &set.key, set.value))
    }
}

impl Handler<SetWithTtl> for GossipNode {
    type Result = Result<Version, Error>;

    fn handle(&mut self, set: SetWithTtl, _: &mut Context<Self>) -> Self::Result {
        let now = Self::now().into_std();
        self.write(|node| node.set_with_ttl(now, &set.key, set.value, set.ttl))
    }
}

impl Handler<TrySet> for GossipNode {
    type Result = Result<Option<Version>, Error>;

    fn handle(&mut self, set: TrySet, _: &mut Context<Self>) -> Self::Result {
        if self.down {
            return Err(Error::Down(self.node.id()));
        }
        let version = self
            .node
            .try_set(Self::now().into_std(), &set.key, set.value)?;
        self.drain(Self::now());
        Ok(version)
    }
}

#[cfg(feature = "sim")]
impl Handler<SetMaxDeltas> for GossipNode {
    type Result = Result<(), Error>;

    fn handle(&mut self, set: SetMaxDeltas, _: &mut Context<Self>) -> Self::Result {
        Ok(self.node.set_max_deltas(set.0)?)
    }
}

impl Handler<Delete> for GossipNode {
    type Result = Result<Version, Error>;

    fn handle(&mut self, delete: Delete, _: &mut Context<Self>) -> Self::Result {
        self.write(|node| node.delete(Self::now().into_std(), &delete.key))
    }
}

impl Handler<Get> for GossipNode {
    type Result = Result<Option<hearsay_proto::Value>, Error>;

    fn handle(&mut self, get: Get, _: &mut Context<Self>) -> Self::Result {
        if self.down {
            return Err(Error::Down(self.node.id()));
        }
        let origin = get.origin.unwrap_or(self.node.id());
        Ok(self.node.get_from(origin, &get.key).cloned())
    }
}

impl Handler<GetEntries> for GossipNode {
    type Result = Result<Vec<StoredEntry>, Error>;

    fn handle(&mut self, _: GetEntries, _: &mut Context<Self>) -> Self::Result {
        if self.down {
            return Err(Error::Down(self.node.id()));
        }
        let mut entries = Vec::new();
        for (origin, state) in self.node.store().origins() {
            for (key, entry) in state.entries() {
                entries.push(StoredEntry {
                    origin,
                    generation: state.generation(),
                    key: key.to_owned(),
                    version: entry.version,
                    value: entry.value.clone(),
                });
            }
        }
        Ok(entries)
    }
}

impl Handler<Subscribe> for GossipNode {
    type Result = ();

    /// Tells the subscriber every live matching entry the node holds now ([`Cause::Existing`]),
    /// then each change: the handler runs between two inputs, so nothing falls between the two.
    fn handle(&mut self, subscribe: Subscribe, _: &mut Context<Self>) {
        let subscription = Subscription {
            prefix: subscribe.prefix,
            recipient: subscribe.recipient,
        };
        let id = self.node.id();
        for (origin, state) in self.node.store().origins() {
            let live = state
                .entries()
                .filter(|(key, entry)| entry.value.is_some() && subscription.matches(key));
            for (key, entry) in live {
                subscription.recipient.do_send(KeyChanged {
                    node: id,
                    origin,
                    generation: state.generation(),
                    key: key.to_owned(),
                    version: entry.version,
                    value: entry.value.clone(),
                    cause: Cause::Existing,
                });
            }
        }
        let subscribers = self.subscribers.get_or_insert_with(Box::default);
        subscribers.keys.push(subscription);
    }
}

impl Handler<Unsubscribe> for GossipNode {
    type Result = bool;

    fn handle(&mut self, unsubscribe: Unsubscribe, _: &mut Context<Self>) -> bool {
        self.subscribers.as_deref_mut().is_some_and(|subscribers| {
            remove_where(&mut subscribers.keys, |s| {
                s.recipient == unsubscribe.recipient
            })
        })
    }
}

impl Handler<UnsubscribeMembership> for GossipNode {
    type Result = bool;

    fn handle(&mut self, unsubscribe: UnsubscribeMembership, _: &mut Context<Self>) -> bool {
        self.subscribers.as_deref_mut().is_some_and(|subscribers| {
            remove_where(&mut subscribers.members, |r| *r == unsubscribe.recipient)
        })
    }
}

/// Removes the items of `list` that `gone` names; answers whether there were any.
fn remove_where<T>(list: &mut Vec<T>, mut gone: impl FnMut(&T) -> bool) -> bool {
    let before = list.len();
    list.retain(|item| !gone(item));
    list.len() < before
}

impl GossipNode {
    fn metrics(&self) -> NodeMetrics {
        NodeMetrics {
            id: self.node.id(),
            generation: self.node.generation(),
            round: self.node.round(),
            stats: self.node.stats().clone(),
            hot_rumors: self.node.rumors().len(),
            entries: self.node.store().len(),
            down: self.down,
            allowed_rate: self.node.allowed_rate(),
            own_version: (self.node.store().origin(self.node.id()))
                .map_or(Version::ZERO, |own| own.max_version()),
        }
    }
}

impl Handler<GetMetrics> for GossipNode {
    type Result = actix::MessageResult<GetMetrics>;

    fn handle(&mut self, _: GetMetrics, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.metrics())
    }
}

impl Handler<Observe> for GossipNode {
    type Result = actix::MessageResult<Observe>;

    fn handle(&mut self, _: Observe, _: &mut Context<Self>) -> Self::Result {
        let now = Self::now().into_std();
        let members = self.node.members();
        let me = self.node.id();
        let phi = members
            .iter()
            .filter(|member| member.id != me)
            .filter_map(|member| {
                let detector = self.node.detector(member.id)?;
                Some((member.id, detector.phi(now)))
            })
            .collect();
        let origins = self
            .node
            .store()
            .origins()
            .map(|(origin, state)| OriginSummary {
                origin,
                generation: state.generation(),
                heartbeat: state.heartbeat(),
                entries: state.len(),
                max_version: state.max_version(),
            })
            .collect();
        actix::MessageResult(Observation {
            metrics: self.metrics(),
            members,
            phi,
            local_health: self.node.local_health(),
            queued_updates: self.node.queued_updates(),
            origins,
            views: self.node.view().map(|view| Views {
                active: view.active().iter().copied().collect(),
                passive: view.passive().iter().copied().collect(),
            }),
        })
    }
}

impl Handler<Inspect> for GossipNode {
    type Result = actix::MessageResult<Inspect>;

    fn handle(&mut self, _: Inspect, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(NodeSnapshot {
            id: self.node.id(),
            generation: self.node.generation(),
            down: self.down,
            store: self.node.store().clone(),
            members: self.node.members(),
            stats: self.node.stats().clone(),
            active_view: self
                .node
                .view()
                .map(|view| view.active().iter().copied().collect()),
            contacts: (self.node.view())
                .map(|view| view.contacts().to_vec())
                .unwrap_or_default(),
        })
    }
}

impl Handler<TakeSnapshot> for GossipNode {
    type Result = actix::MessageResult<TakeSnapshot>;

    fn handle(&mut self, _: TakeSnapshot, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(self.node.snapshot())
    }
}

#[cfg(feature = "sim")]
impl Handler<Crash> for GossipNode {
    type Result = ();

    fn handle(&mut self, _: Crash, _: &mut Context<Self>) {
        self.down = true;
        self.set_due(None);
        if let Some(recorder) = &self.recorder {
            recorder.lock().crashed(Self::now(), self.node.id());
        }
    }
}

#[cfg(feature = "sim")]
impl Handler<Resume> for GossipNode {
    type Result = ();

    fn handle(&mut self, _: Resume, _: &mut Context<Self>) {
        if !self.down {
            return;
        }
        let now = Self::now();
        self.down = false;
        if let Some(recorder) = &self.recorder {
            recorder.lock().resumed(now, self.node.id());
        }
        // The timers that fell due during the pause fire now, late.
        self.node.handle_timeout(now.into_std());
        self.drain(now);
    }
}

#[cfg(feature = "sim")]
impl Handler<Restart> for GossipNode {
    type Result = Result<(), Error>;

    fn handle(&mut self, restart: Restart, _: &mut Context<Self>) -> Self::Result {
        let now = Self::now();
        self.node
            .restart(now.into_std(), restart.generation, restart.keep_state)?;
        self.generation = restart.generation;
        self.down = false;
        if let Some(recorder) = &self.recorder {
            recorder
                .lock()
                .restarted(now, self.node.id(), restart.generation, restart.keep_state);
        }
        // Writes the restart made (own entries under the new generation) go out; the first round
        // of the new incarnation runs at once.
        self.node.handle_timeout(now.into_std());
        self.drain(now);
        Ok(())
    }
}

#[cfg(feature = "sim")]
impl Handler<Reincarnate> for GossipNode {
    type Result = Result<(), Error>;

    fn handle(&mut self, again: Reincarnate, _: &mut Context<Self>) -> Self::Result {
        let now = Self::now();
        let mut node = Node::new(
            self.node.id(),
            again.generation,
            self.node.config().clone(),
            again.seed,
        )?;
        node.set_peers(again.peers);
        if let Some(addr) = &again.addr {
            node.advertise(now.into_std(), addr)?;
        }
        let old = std::mem::replace(&mut self.node, node);
        self.removed_restarts = 0;
        // Everything the old process held is gone: its subscribers hear of each live entry.
        for (origin, state) in old.store().origins() {
            for (key, entry) in state.entries().filter(|(_, e)| e.value.is_some()) {
                self.notify(KeyChanged {
                    node: old.id(),
                    origin,
                    generation: state.generation(),
                    key: key.to_owned(),
                    version: entry.version,
                    value: None,
                    cause: Cause::Reset,
                });
            }
        }
        self.generation = again.generation;
        self.down = false;
        if let Some(recorder) = &self.recorder {
            recorder
                .lock()
                .restarted(now, self.node.id(), again.generation, false);
        }
        self.node.handle_timeout(now.into_std());
        self.drain(now);
        Ok(())
    }
}

impl Handler<AddPeer> for GossipNode {
    type Result = ();

    fn handle(&mut self, AddPeer(peer): AddPeer, _: &mut Context<Self>) {
        if peer != self.node.id() {
            self.node.add_peer(peer);
        }
    }
}

impl Handler<Join> for GossipNode {
    type Result = ();

    fn handle(&mut self, Join(contact): Join, _: &mut Context<Self>) {
        if self.down {
            return;
        }
        self.node.join(Self::now().into_std(), contact);
        self.drain(Self::now());
    }
}

impl Handler<PeerFailed> for GossipNode {
    type Result = ();

    fn handle(&mut self, PeerFailed(peer): PeerFailed, _: &mut Context<Self>) {
        if self.down {
            return;
        }
        self.node.peer_failed(Self::now().into_std(), peer);
        self.drain(Self::now());
    }
}

impl Handler<RemovePeer> for GossipNode {
    type Result = ();

    fn handle(&mut self, RemovePeer(peer): RemovePeer, _: &mut Context<Self>) {
        self.node.remove_peer(peer);
    }
}

impl Handler<GetPeers> for GossipNode {
    type Result = actix::MessageResult<GetPeers>;

    fn handle(&mut self, _: GetPeers, _: &mut Context<Self>) -> Self::Result {
        let me = self.node.id();
        actix::MessageResult(self.node.peers().iter().filter(|&id| id != me).collect())
    }
}

impl Handler<SubscribeMembership> for GossipNode {
    type Result = ();

    /// Tells the subscriber every member's status now (this node's own included), then each
    /// change: nothing falls between the two.
    fn handle(&mut self, subscribe: SubscribeMembership, _: &mut Context<Self>) {
        let id = self.node.id();
        if self.node.config().membership.is_none() {
            tracing::warn!(
                node = %id,
                "membership subscription on a node without membership \
                 (Config::membership is None): it will hear nothing"
            );
        }
        for member in self.node.members() {
            subscribe.recipient.do_send(MemberChanged {
                node: id,
                member: member.id,
                generation: member.generation,
                status: member.status,
                existing: true,
            });
        }
        let subscribers = self.subscribers.get_or_insert_with(Box::default);
        subscribers.members.push(subscribe.recipient);
    }
}

impl Handler<GetMembers> for GossipNode {
    type Result = Result<Vec<hearsay_proto::Member>, Error>;

    fn handle(&mut self, _: GetMembers, _: &mut Context<Self>) -> Self::Result {
        if self.down {
            return Err(Error::Down(self.node.id()));
        }
        Ok(self.node.members())
    }
}

impl Handler<MoveAbove> for GossipNode {
    type Result = actix::MessageResult<MoveAbove>;

    fn handle(&mut self, MoveAbove(other): MoveAbove, _: &mut Context<Self>) -> Self::Result {
        if !self.down
            && other > self.node.generation()
            && let Some(next) = other.0.checked_add(1)
        {
            let now = Self::now();
            // Keeps the state, so it fails only if the node's own versions are exhausted.
            if self
                .node
                .restart(now.into_std(), Generation(next), true)
                .is_ok()
            {
                self.drain(now);
            }
        }
        actix::MessageResult(self.node.generation())
    }
}

impl Handler<Leave> for GossipNode {
    type Result = Result<Version, Error>;

    fn handle(&mut self, _: Leave, _: &mut Context<Self>) -> Self::Result {
        self.write(|node| node.leave(Self::now().into_std()))
    }
}

/// A counter as a `u32`, saturated.
fn saturated(count: u64) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::GossipNode;
    use crate::{Datagram, GetMetrics, Router, Set};
    use actix::dev::ContextFut;
    use actix::{Actor, Context, Handler};
    use hearsay_proto::{Config, Generation, Node, NodeId, Value};
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    /// Notes when each datagram reaches it.
    struct Listener {
        start: tokio::time::Instant,
        heard: Rc<RefCell<Vec<Duration>>>,
    }

    impl Actor for Listener {
        type Context = Context<Self>;
    }

    impl Handler<Datagram> for Listener {
        type Result = ();

        fn handle(&mut self, _: Datagram, _: &mut Context<Self>) {
            self.heard.borrow_mut().push(self.start.elapsed());
        }
    }

    /// The wake-up leaves its sleep alone after a datagram that found the clock short of the
    /// deadline. Rounds must still run on time when datagrams keep coming, some at the very
    /// instant a round falls due; and a write that moves the deadline earlier must be relayed
    /// at once even when a datagram is handled after it in the same poll.
    #[test]
    fn timers_keep_time_while_datagrams_arrive_between_and_at_them() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        let system = actix::System::with_tokio_rt(move || runtime);
        let heard = Rc::new(RefCell::new(Vec::new()));
        let metrics = system.block_on({
            let heard = heard.clone();
            async move {
                let start = tokio::time::Instant::now();
                let router = Router::new();
                let listener = Listener { start, heard }.start();
                router.register(NodeId(2), listener.recipient());
                let mut node =
                    Node::new(NodeId(1), Generation(1), Config::default(), 7).expect("a node");
                node.add_peer(NodeId(2));
                let addr = GossipNode::new(node, router.clone()).start();
                // A datagram each 250 ms from 250 ms to 10 s (rejected: not a message, but
                // handled like any other input); at 5.75 s a write, then a datagram, handled in
                // one poll; at 8.25 s a datagram, then a write.
                let garbage = || Datagram {
                    payload: vec![0xc1],
                    sender: None,
                };
                let write = |value: &str| Set {
                    key: "k".into(),
                    value: Value::from(value),
                };
                for tick in 1..=40 {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    addr.do_send(garbage());
                    if tick == 22 {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        addr.do_send(write("a"));
                        addr.do_send(garbage());
                    }
                    if tick == 31 {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        addr.do_send(garbage());
                        addr.do_send(write("b"));
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                addr.send(GetMetrics).await.expect("the node answers")
            }
        });
        // Rounds at 0 s, 1 s, …, 10 s (10.6 s in all).
        assert_eq!(metrics.stats.rounds, 11);
        assert_eq!(metrics.stats.rejected, 42);
        let heard = heard.borrow();
        let at = |ms: u64| heard.iter().any(|t| *t == Duration::from_millis(ms));
        assert!(
            (0..=10).all(|s| at(s * 1000)),
            "a round missed its time: {heard:?}"
        );
        assert!(
            at(5750),
            "the first write was not relayed at once: {heard:?}"
        );
        assert!(
            at(8250),
            "the second write was not relayed at once: {heard:?}"
        );
    }

    /// "No bound" (`usize::MAX`) and 0 are taken within what actix's channel tracks: the
    /// node starts and takes every message that fits (`usize::MAX` overflowed actix's counters
    /// before session 28, a panic in debug builds), and 0 is a bound of one, not actix's
    /// "unbounded".
    #[test]
    fn any_mailbox_capacity_starts_a_node_that_takes_messages() {
        for (capacity, bounded) in [(0, true), (1, true), (usize::MAX, false)] {
            let (taken, metrics) = actix::System::new().block_on(async move {
                let node =
                    Node::new(NodeId(1), Generation(1), Config::default(), 7).expect("a node");
                let addr = GossipNode::new(node, Router::new())
                    .with_mailbox_capacity(capacity)
                    .start();
                // The capacity is set when the actor starts: let it start first.
                addr.send(GetMetrics).await.expect("answers");
                let taken = (0..100)
                    .filter(|i| {
                        let set = Set {
                            key: format!("k{i}"),
                            value: Value::from("v"),
                        };
                        addr.try_send(set).is_ok()
                    })
                    .count();
                (taken, addr.send(GetMetrics).await.expect("answers"))
            });
            assert_eq!(metrics.entries, taken, "capacity {capacity}");
            assert_eq!(taken < 100, bounded, "capacity {capacity}: {taken} taken");
        }
    }

    /// A node's task is one allocation: tokio's task cell (104 bytes of header and trailer
    /// around the future, rounded up to 128) holding actix's context and the actor. mimalloc
    /// serves a 128-aligned allocation from the bin of its size + 127: a cell of 1,408 bytes
    /// takes the 1,536-byte bin, one of 1,536 the 1,792-byte bin — 25 MB more at 100,000
    /// nodes. This test fails when the actor grows past that line (box what is rarely used).
    #[test]
    fn a_node_task_fits_the_1536_byte_bin() {
        let future = std::mem::size_of::<ContextFut<GossipNode, Context<GossipNode>>>();
        let cell = (104 + future).next_multiple_of(128);
        assert!(
            cell + 127 <= 1536,
            "task cell {cell} bytes (future {future})"
        );
    }
}
