//! [`Connection`]: one TCP connection to a peer, as an actor.
//!
//! It reads length-delimited frames (the limit checked before any allocation), feeds them to its
//! [`Session`], hands gossip to the node, and writes through a bounded queue drained by a writer
//! task, so that a peer that stops reading costs it frames, never memory, and never blocks the
//! node. Timeouts close connections whose handshake, frames or writes stall. Whatever goes wrong
//! ends this connection only; the mesh redials.

use crate::frame_codec::{Authenticated, FrameReader, codec};
use crate::link::{Close, LinkDown, LinkHandle, LinkUp, Links, Rekey, SendGossip};
use crate::session::{Event, Local, Role, Session, Timeouts};
use crate::stats::{Counter, NetStats};
use crate::{Error, Keyring, NetConfig, frame::Payload};
use actix::{
    Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, Recipient, Running,
    SpawnHandle, StreamHandler,
};
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use hearsay_actor::Datagram;
use hearsay_proto::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite};

/// The sizes and timeouts a connection runs with (a copy of [`NetConfig`]'s).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub max_frame: usize,
    pub send_queue: usize,
    pub write_timeout: std::time::Duration,
    pub timeouts: Timeouts,
    /// A dialed link that carries no gossip for this long closes itself (on-demand links).
    pub unused_after: Option<std::time::Duration>,
}

impl Limits {
    pub fn of(config: &NetConfig) -> Limits {
        Limits {
            max_frame: config.max_frame,
            send_queue: config.send_queue,
            write_timeout: config.write_timeout,
            timeouts: Timeouts {
                handshake: config.handshake_timeout,
                idle: config.idle_timeout,
                keepalive: config.keepalive,
            },
            unused_after: None,
        }
    }
}

/// What a new connection is given: who it speaks for, the keys, where its gossip and link events
/// go, and what it counts.
pub(crate) struct Setup {
    pub limits: Limits,
    pub local: Local,
    /// The keyring when the connection starts; [`Rekey`] replaces it.
    pub keyring: Arc<Keyring>,
    /// The node actor, which gets every gossip message.
    pub node: Recipient<Datagram>,
    pub links: Links,
    /// Counters every connection adds to (atomics: read by anyone without a round trip).
    pub stats: Arc<NetStats>,
    pub writers: Arc<Writers>,
}

/// Counts running writer tasks; wakes waiters when one ends. Shared by the writer tasks (which
/// outlive their actors, to flush a goodbye) and [`crate::NetNode::shutdown_and_flush`], which
/// is no actor: a counter and a notification, not a lock.
#[derive(Debug, Default)]
pub(crate) struct Writers {
    running: AtomicUsize,
    ended: tokio::sync::Notify,
}

impl Writers {
    /// Waits until no writer runs, or `deadline`; answers whether all ended.
    pub async fn drained(&self, deadline: Instant) -> bool {
        loop {
            let ended = self.ended.notified();
            if self.running.load(Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return false;
            }
        }
    }
}

/// The writer task gave up (write error or timeout).
#[derive(Message)]
#[rtype(result = "()")]
struct WriterFailed(String);

/// One TCP connection, dialed or accepted.
pub(crate) struct Connection {
    id: u64,
    limits: Limits,
    keyring: Arc<Keyring>,
    node: Recipient<Datagram>,
    links: Links,
    stats: Arc<NetStats>,
    writers: Arc<Writers>,
    session: Session,
    remote: SocketAddr,
    writer: mpsc::Sender<Bytes>,
    /// The one timer, and when it fires: at or before the session's next deadline.
    timer: Option<(SpawnHandle, Instant)>,
    /// Why the connection closed, when it closed on purpose or on an error.
    reason: Option<String>,
    /// The authenticated peer turned out to be this node.
    self_connection: bool,
    /// When gossip last went out (or the connection started): see [`Limits::unused_after`].
    last_gossip: Instant,
    /// Closed for want of use, not for a failure.
    unused: bool,
    /// Set once the session is established: the reader then takes frames up to `max_frame`.
    authenticated: Authenticated,
    pending: Option<(OwnedReadHalf, OwnedWriteHalf, mpsc::Receiver<Bytes>)>,
}

impl Connection {
    /// Starts a connection actor over `stream`. A dialer sends its hello at once.
    pub(crate) fn start(
        id: u64,
        setup: Setup,
        stream: TcpStream,
        role: Role,
        remote: SocketAddr,
    ) -> Result<Addr<Connection>, Error> {
        let _ = stream.set_nodelay(true);
        let mut random = [0; crate::frame::RANDOM_LEN];
        crate::random::fill(&mut random)?;
        let now = Instant::now().into_std();
        let Setup {
            limits,
            local,
            keyring,
            node,
            links,
            stats,
            writers,
        } = setup;
        let session = match role {
            Role::Dialer => Session::dial(now, local, &keyring, random, limits.timeouts)?,
            Role::Acceptor => Session::accept(now, local, random, limits.timeouts),
        };
        let (read, write) = stream.into_split();
        let (writer, queue) = mpsc::channel(limits.send_queue);
        let connection = Connection {
            id,
            limits,
            keyring,
            node,
            links,
            stats,
            writers,
            session,
            remote,
            writer,
            timer: None,
            reason: None,
            self_connection: false,
            last_gossip: Instant::now(),
            unused: false,
            authenticated: Authenticated::default(),
            pending: Some((read, write, queue)),
        };
        Ok(connection.start())
    }

    fn close(&mut self, ctx: &mut Context<Self>, reason: String) {
        if self.reason.is_none() {
            self.reason = Some(reason);
        }
        ctx.stop();
    }

    /// Tells the peer why (when there is room), then closes.
    fn say_bye(&mut self, reason: String, ctx: &mut Context<Self>) {
        self.flush();
        let room = self.session.is_established() && self.writer.capacity() > 0;
        if room
            && self
                .session
                .send(&self.keyring, &Payload::Bye(reason.clone()))
                .is_ok()
        {
            self.drain(Ok(()), ctx);
        }
        self.close(ctx, reason);
    }

    fn peer_name(&self) -> String {
        match self.session.peer() {
            Some(hello) => format!("node {} at {}", hello.id.0, self.remote),
            None => format!("{}", self.remote),
        }
    }

    /// Moves the session's frames to the writer while it has room; the rest waits in the
    /// session, in order (sealed frames carry counters the peer expects in sequence), until the
    /// next input.
    fn flush(&mut self) {
        while let Ok(permit) = self.writer.try_reserve() {
            let Some(frame) = self.session.poll_transmit() else {
                break;
            };
            permit.send(Bytes::from(frame));
        }
    }

    /// After every input to the session: queues its frames, acts on its events, re-arms its
    /// timer; then, if the input failed, closes (once the refusal or goodbye is queued).
    fn drain(&mut self, result: Result<(), Error>, ctx: &mut Context<Self>) {
        self.flush();
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Established(hello) => {
                    self.authenticated.set();
                    self.stats.add(Counter::Established, 1);
                    tracing::info!(
                        peer = hello.id.0,
                        generation = hello.generation.0,
                        remote = %self.remote,
                        role = ?self.session.role(),
                        "link established"
                    );
                    let me = ctx.address();
                    self.links.up.do_send(LinkUp {
                        connection: self.id,
                        role: self.session.role(),
                        remote: self.remote,
                        hello,
                        handle: LinkHandle {
                            gossip: me.clone().recipient(),
                            close: me.recipient(),
                        },
                    });
                }
                Event::Gossip(payload) => {
                    self.stats.add(Counter::GossipIn, 1);
                    // The node's mailbox is bounded: a flood is dropped and counted, not queued.
                    let datagram = Datagram {
                        payload,
                        sender: self.session.peer().map(|hello| hello.id),
                    };
                    if self.node.try_send(datagram).is_err() {
                        self.stats.add(Counter::InboundDropped, 1);
                    }
                }
                Event::Bye(reason) => {
                    tracing::info!(peer = %self.peer_name(), %reason, "peer closed the link");
                    self.close(ctx, format!("peer said goodbye: {reason}"));
                }
            }
        }
        if let Err(error) = result {
            let counter = match &error {
                Error::Auth => Counter::AuthFailures,
                Error::Refused(_) => Counter::Refused,
                Error::SelfConnection(_) => {
                    self.self_connection = true;
                    Counter::Refused
                }
                Error::Timeout(_) => Counter::Timeouts,
                _ => Counter::BadFrames,
            };
            self.stats.add(counter, 1);
            if error.kind() == ErrorKind::Peer {
                tracing::warn!(peer = %self.peer_name(), %error, "closing connection");
            } else {
                tracing::error!(peer = %self.peer_name(), %error, "closing connection");
            }
            self.close(ctx, error.to_string());
            return;
        }
        // One timer: kept when it fires no later than the session's next deadline (firing early
        // is harmless: the session checks its deadlines, and the drain re-arms), so that a busy
        // link, whose idle deadline moves with every frame, does not re-arm at every frame.
        let Some(deadline) = self.session.poll_timeout().map(Instant::from_std) else {
            return;
        };
        if let Some((handle, at)) = self.timer {
            if at <= deadline {
                return;
            }
            ctx.cancel_future(handle);
        }
        let handle = ctx.run_later(
            deadline.saturating_duration_since(Instant::now()),
            |connection, ctx| {
                connection.timer = None;
                let now = Instant::now().into_std();
                let result = connection.session.handle_timeout(now, &connection.keyring);
                connection.drain(result, ctx);
            },
        );
        self.timer = Some((handle, deadline));
    }
}

/// Writes queued frames until the queue closes; gives up on the first error or timeout.
async fn write_frames(
    write: OwnedWriteHalf,
    max_frame: usize,
    mut queue: mpsc::Receiver<Bytes>,
    timeout: std::time::Duration,
    stats: Arc<NetStats>,
) -> Result<(), String> {
    let mut sink = FramedWrite::new(write, codec(max_frame));
    while let Some(frame) = queue.recv().await {
        let len = frame.len() as u64 + 4;
        match tokio::time::timeout(timeout, sink.send(frame)).await {
            Ok(Ok(())) => {
                stats.add(Counter::FramesOut, 1);
                stats.add(Counter::BytesOut, len);
            }
            Ok(Err(error)) => return Err(format!("write failed: {error}")),
            Err(_) => {
                stats.add(Counter::Timeouts, 1);
                return Err(format!("write timed out after {timeout:?}"));
            }
        }
    }
    // The connection is closing: whatever was queued (a refusal, a goodbye) is out; say FIN.
    let _ = tokio::time::timeout(timeout, SinkExt::<Bytes>::close(&mut sink)).await;
    Ok(())
}

impl Actor for Connection {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let limits = self.limits;
        ctx.set_mailbox_capacity(limits.send_queue);
        if let Some((read, write, queue)) = self.pending.take() {
            let reader = FrameReader::new(limits.max_frame, self.authenticated.clone());
            ctx.add_stream(FramedRead::new(read, reader));
            // A task of its own: it drains the queue (a refusal, a goodbye) even after the actor
            // stopped, and ends when the queue's sender is dropped.
            let me = ctx.address();
            let stats = self.stats.clone();
            let writers = self.writers.clone();
            writers.running.fetch_add(1, Ordering::SeqCst);
            actix_rt::spawn(async move {
                let written =
                    write_frames(write, limits.max_frame, queue, limits.write_timeout, stats);
                if let Err(reason) = written.await {
                    me.do_send(WriterFailed(reason));
                }
                writers.running.fetch_sub(1, Ordering::SeqCst);
                writers.ended.notify_waiters();
            });
        }
        if let (Some(unused_after), Role::Dialer) = (limits.unused_after, self.session.role()) {
            ctx.run_interval(unused_after / 4, move |connection, ctx| {
                if connection.last_gossip.elapsed() >= unused_after {
                    connection.unused = true;
                    connection.say_bye(format!("unused for {unused_after:?}"), ctx);
                }
            });
        }
        // The dialer's hello, and the first timer.
        self.drain(Ok(()), ctx);
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.links.down.do_send(LinkDown {
            connection: self.id,
            role: self.session.role(),
            remote: self.remote,
            peer: self.session.peer().map(|hello| hello.id),
            reason: self.reason.take().unwrap_or_else(|| "closed".into()),
            self_connection: self.self_connection,
            unused: self.unused,
        });
    }
}

impl StreamHandler<Result<BytesMut, std::io::Error>> for Connection {
    fn handle(&mut self, item: Result<BytesMut, std::io::Error>, ctx: &mut Context<Self>) {
        match item {
            Ok(body) => {
                self.stats.add(Counter::FramesIn, 1);
                self.stats.add(Counter::BytesIn, body.len() as u64 + 4);
                let now = Instant::now().into_std();
                let result = self.session.handle_frame(now, &self.keyring, &body);
                self.drain(result, ctx);
            }
            Err(error) => {
                // An oversized length prefix ends here before any allocation (the codec's
                // InvalidData); a reset or a peer gone mid-frame is no misbehaviour to count.
                if error.kind() == std::io::ErrorKind::InvalidData {
                    self.stats.add(Counter::BadFrames, 1);
                    tracing::warn!(peer = %self.peer_name(), %error, "closing connection");
                } else {
                    tracing::info!(peer = %self.peer_name(), %error, "connection lost");
                }
                self.close(ctx, format!("read failed: {error}"));
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        self.close(ctx, "the peer closed the connection".into());
    }
}

impl Handler<SendGossip> for Connection {
    type Result = ();

    fn handle(&mut self, SendGossip(payload): SendGossip, ctx: &mut Context<Self>) {
        // Dropped, never sealed, without room: sealed, it could only wait in the session.
        self.flush();
        if !self.session.is_established() || self.writer.capacity() == 0 {
            self.stats.add(Counter::Dropped, 1);
            return;
        }
        match self.session.send(&self.keyring, &Payload::Gossip(payload)) {
            Ok(()) => {
                self.last_gossip = Instant::now();
                self.stats.add(Counter::GossipOut, 1);
                self.drain(Ok(()), ctx);
            }
            Err(error) => {
                self.stats.add(Counter::Dropped, 1);
                tracing::warn!(peer = %self.peer_name(), %error, "cannot seal");
            }
        }
    }
}

impl Handler<Close> for Connection {
    type Result = ();

    fn handle(&mut self, Close(reason): Close, ctx: &mut Context<Self>) {
        self.say_bye(reason, ctx);
    }
}

impl Handler<Rekey> for Connection {
    type Result = ();

    fn handle(&mut self, Rekey(keyring): Rekey, _: &mut Context<Self>) {
        self.keyring = keyring;
    }
}

impl Handler<WriterFailed> for Connection {
    type Result = ();

    fn handle(&mut self, WriterFailed(reason): WriterFailed, ctx: &mut Context<Self>) {
        tracing::warn!(peer = %self.peer_name(), %reason, "closing connection");
        self.close(ctx, reason);
    }
}
