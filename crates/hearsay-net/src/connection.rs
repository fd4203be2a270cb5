//! [`Connection`]: one TCP connection to a peer, as an actor.
//!
//! It reads length-delimited frames (the limit checked before any allocation), feeds them to its
//! [`Session`], hands gossip to the node, and writes through a bounded queue drained by a writer
//! task, so that a peer that stops reading costs it frames, never memory, and never blocks the
//! node. Timeouts close connections whose handshake, frames or writes stall. Whatever goes wrong
//! ends this connection only; the mesh redials.

use crate::mesh::{LinkDown, LinkUp, Mesh};
use crate::session::{Local, Output, Role, Session};
use crate::stats::{Counter, NetStats};
use crate::{Error, Keyring, NetConfig, frame::Payload};
use actix::{
    Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, Running, StreamHandler,
};
use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use hearsay_actor::Datagram;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// What every connection of a node shares.
pub(crate) struct Shared {
    pub config: NetConfig,
    pub keyring: Arc<RwLock<Keyring>>,
    pub stats: Arc<NetStats>,
    pub local: Local,
    pub node: actix::Recipient<Datagram>,
    /// Writer tasks still running (a graceful shutdown waits for them to flush).
    pub writers: Arc<Writers>,
}

/// Counts running writer tasks; wakes waiters when one ends.
#[derive(Debug, Default)]
pub(crate) struct Writers {
    running: std::sync::atomic::AtomicUsize,
    ended: tokio::sync::Notify,
}

impl Writers {
    /// Waits until no writer runs, or `deadline`; answers whether all ended.
    pub async fn drained(&self, deadline: tokio::time::Instant) -> bool {
        loop {
            let ended = self.ended.notified();
            if self.running.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return false;
            }
        }
    }
}

impl Shared {
    /// The current keyring, read-locked (never held across an await; rotations wait for it).
    pub fn keyring(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        match self.keyring.read() {
            Ok(ring) => ring,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// Sends one gossip message to the connection's peer (dropped, and counted, when the queue is
/// full or the handshake is not done).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct SendGossip(pub Vec<u8>);

/// Closes the connection after telling the peer why.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Close(pub String);

/// The writer task gave up (write error or timeout).
#[derive(Message)]
#[rtype(result = "()")]
struct WriterFailed(String);

/// One TCP connection, dialed or accepted.
pub(crate) struct Connection {
    id: u64,
    shared: Arc<Shared>,
    mesh: Addr<Mesh>,
    session: Session,
    remote: SocketAddr,
    writer: mpsc::Sender<Bytes>,
    last_frame: Instant,
    /// Why the connection closed, when it closed on purpose or on an error.
    reason: Option<String>,
    /// The authenticated peer turned out to be this node.
    self_connection: bool,
    pending: Option<mpsc::Receiver<Bytes>>,
    pending_write: Option<OwnedWriteHalf>,
    pending_read: Option<tokio::net::tcp::OwnedReadHalf>,
}

/// The frame codec: 4-byte big-endian length, at most `max_frame` bytes after it.
pub(crate) fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(4)
        .max_frame_length(max_frame)
        .new_codec()
}

impl Connection {
    /// Starts a connection actor over `stream`. A dialer sends its hello at once.
    pub(crate) fn start(
        id: u64,
        shared: Arc<Shared>,
        mesh: Addr<Mesh>,
        stream: TcpStream,
        role: Role,
        remote: SocketAddr,
    ) -> Result<Addr<Connection>, Error> {
        let _ = stream.set_nodelay(true);
        let mut random = [0; crate::frame::RANDOM_LEN];
        crate::random::fill(&mut random)?;
        let local = shared.local.clone();
        let (session, hello) = match role {
            Role::Dialer => {
                let (session, hello) = Session::dial(local, &shared.keyring(), random)?;
                (session, Some(hello))
            }
            Role::Acceptor => (Session::accept(local, random), None),
        };
        let (read, write) = stream.into_split();
        let (writer, queue) = mpsc::channel(shared.config.send_queue);
        let mut connection = Connection {
            id,
            shared,
            mesh,
            session,
            remote,
            writer,
            last_frame: Instant::now(),
            reason: None,
            self_connection: false,
            pending: Some(queue),
            pending_write: Some(write),
            pending_read: Some(read),
        };
        if let Some(hello) = hello {
            connection.push(hello);
        }
        Ok(connection.start())
    }

    /// Queues a frame body for the writer; a full queue drops it.
    fn push(&mut self, body: Vec<u8>) -> bool {
        match self.writer.try_send(Bytes::from(body)) {
            Ok(()) => true,
            Err(_) => {
                self.shared.stats.add(Counter::Dropped, 1);
                false
            }
        }
    }

    /// Seals and queues a payload, taking the queue slot first: a sealed frame uses up a nonce
    /// counter the peer then expects, so it must never be dropped after sealing.
    fn send_sealed(&mut self, payload: &Payload) -> bool {
        let Ok(permit) = self.writer.try_reserve() else {
            self.shared.stats.add(Counter::Dropped, 1);
            return false;
        };
        let sealed = self.session.seal(&self.shared.keyring(), payload);
        match sealed {
            Ok(frame) => {
                permit.send(Bytes::from(frame));
                true
            }
            Err(error) => {
                self.shared.stats.add(Counter::Dropped, 1);
                tracing::warn!(peer = %self.peer_name(), %error, "cannot seal");
                false
            }
        }
    }

    fn close(&mut self, ctx: &mut Context<Self>, reason: String) {
        if self.reason.is_none() {
            self.reason = Some(reason);
        }
        ctx.stop();
    }

    fn peer_name(&self) -> String {
        match self.session.peer() {
            Some(hello) => format!("node {} at {}", hello.id.0, self.remote),
            None => format!("{}", self.remote),
        }
    }

    fn on_frame(&mut self, body: BytesMut, ctx: &mut Context<Self>) {
        let stats = &self.shared.stats;
        stats.add(Counter::FramesIn, 1);
        stats.add(Counter::BytesIn, body.len() as u64 + 4);
        self.last_frame = Instant::now();
        let mut outputs = Vec::new();
        let result = self
            .session
            .receive(&self.shared.keyring(), &body, &mut outputs);
        for output in outputs {
            match output {
                Output::Send(frame) => {
                    // Handshake frames (the confirming one is sealed): losing one breaks the
                    // session, so a full queue closes the connection.
                    if !self.push(frame) {
                        self.close(ctx, "send queue full during the handshake".into());
                        return;
                    }
                }
                Output::Established(hello) => {
                    self.shared.stats.add(Counter::Established, 1);
                    tracing::info!(
                        peer = hello.id.0,
                        generation = hello.generation.0,
                        remote = %self.remote,
                        role = ?self.session.role(),
                        "link established"
                    );
                    self.mesh.do_send(LinkUp {
                        connection: self.id,
                        role: self.session.role(),
                        remote: self.remote,
                        hello,
                        address: ctx.address(),
                    });
                }
                Output::Gossip(payload) => {
                    self.shared.stats.add(Counter::GossipIn, 1);
                    self.shared.node.do_send(Datagram { payload });
                }
                Output::Bye(reason) => {
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
                _ => Counter::BadFrames,
            };
            self.shared.stats.add(counter, 1);
            tracing::warn!(peer = %self.peer_name(), %error, "closing connection");
            self.close(ctx, error.to_string());
        }
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
        let config = &self.shared.config;
        ctx.set_mailbox_capacity(config.send_queue);
        if let Some(read) = self.pending_read.take() {
            ctx.add_stream(FramedRead::new(read, codec(config.max_frame)));
        }
        if let (Some(write), Some(queue)) = (self.pending_write.take(), self.pending.take()) {
            // A task of its own: it drains the queue (a refusal, a goodbye) even after the actor
            // stopped, and ends when the queue's sender is dropped.
            let me = ctx.address();
            let stats = self.shared.stats.clone();
            let (max_frame, timeout) = (config.max_frame, config.write_timeout);
            let writers = self.shared.writers.clone();
            writers
                .running
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            actix_rt::spawn(async move {
                if let Err(reason) = write_frames(write, max_frame, queue, timeout, stats).await {
                    me.do_send(WriterFailed(reason));
                }
                writers
                    .running
                    .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                writers.ended.notify_waiters();
            });
        }
        let handshake_timeout = config.handshake_timeout;
        ctx.run_later(handshake_timeout, move |connection, ctx| {
            if !connection.session.is_established() {
                connection.shared.stats.add(Counter::Timeouts, 1);
                tracing::warn!(remote = %connection.remote, "handshake timed out");
                connection.close(
                    ctx,
                    format!("handshake timed out after {handshake_timeout:?}"),
                );
            }
        });
        let idle_timeout = config.idle_timeout;
        ctx.run_interval(idle_timeout / 4, move |connection, ctx| {
            if connection.last_frame.elapsed() > idle_timeout {
                connection.shared.stats.add(Counter::Timeouts, 1);
                tracing::warn!(peer = %connection.peer_name(), "no frame for {idle_timeout:?}");
                connection.close(ctx, format!("idle for {idle_timeout:?}"));
            }
        });
        ctx.run_interval(config.keepalive, |connection, _| {
            if connection.session.is_established() {
                connection.send_sealed(&Payload::Ping);
            }
        });
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.mesh.do_send(LinkDown {
            connection: self.id,
            role: self.session.role(),
            remote: self.remote,
            peer: self.session.peer().map(|hello| hello.id),
            reason: self.reason.take().unwrap_or_else(|| "closed".into()),
            self_connection: self.self_connection,
        });
    }
}

impl StreamHandler<Result<BytesMut, std::io::Error>> for Connection {
    fn handle(&mut self, item: Result<BytesMut, std::io::Error>, ctx: &mut Context<Self>) {
        match item {
            Ok(body) => self.on_frame(body, ctx),
            Err(error) => {
                // An oversized length prefix ends here before any allocation (the codec's
                // InvalidData); a reset or a peer gone mid-frame is no misbehaviour to count.
                if error.kind() == std::io::ErrorKind::InvalidData {
                    self.shared.stats.add(Counter::BadFrames, 1);
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

    fn handle(&mut self, SendGossip(payload): SendGossip, _: &mut Context<Self>) {
        if !self.session.is_established() {
            self.shared.stats.add(Counter::Dropped, 1);
            return;
        }
        if self.send_sealed(&Payload::Gossip(payload)) {
            self.shared.stats.add(Counter::GossipOut, 1);
        }
    }
}

impl Handler<Close> for Connection {
    type Result = ();

    fn handle(&mut self, Close(reason): Close, ctx: &mut Context<Self>) {
        if self.session.is_established() {
            self.send_sealed(&Payload::Bye(reason.clone()));
        }
        self.close(ctx, reason);
    }
}

impl Handler<WriterFailed> for Connection {
    type Result = ();

    fn handle(&mut self, WriterFailed(reason): WriterFailed, ctx: &mut Context<Self>) {
        tracing::warn!(peer = %self.peer_name(), %reason, "closing connection");
        self.close(ctx, reason);
    }
}
