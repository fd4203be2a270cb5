//! Shared helpers for the loopback tests: nodes on 127.0.0.1 with real sockets and real time
//! (every wait bounded by a deadline; waits are for events, never sleeps).

#![allow(dead_code)]

pub mod session;

use actix::{Actor, Context, Handler};
use hearsay_actor::{KeyChanged, Subscribe};
use hearsay_net::{Key, Keyring, NetConfig, NetNode, TransportKind};
use hearsay_proto::{ClusterId, Config, Generation, Node, NodeId};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long any test waits for anything.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn keyring(byte: u8) -> Keyring {
    Keyring::new(Key::from_bytes([byte; 32]))
}

pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Network settings scaled down for tests: short keep-alives and timeouts.
pub fn net_config(cluster: &str, seeds: Vec<SocketAddr>) -> NetConfig {
    NetConfig {
        seeds,
        handshake_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(3),
        keepalive: Duration::from_millis(500),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(500),
        ..NetConfig::new(cluster, loopback())
    }
}

/// [`net_config`] over TCP connections (the mesh) instead of datagrams.
pub fn stream_config(cluster: &str, seeds: Vec<SocketAddr>) -> NetConfig {
    NetConfig {
        transport: TransportKind::Stream,
        ..net_config(cluster, seeds)
    }
}

pub fn protocol(cluster: &str, id: u64, generation: u64) -> Node {
    let config = Config {
        cluster: ClusterId::from_name(cluster),
        gossip_interval: Duration::from_millis(100),
        ..Config::default()
    };
    Node::new(NodeId(id), Generation(generation), config, id).expect("valid config")
}

/// Starts node `id` over datagrams (the default transport).
pub async fn start(
    cluster: &str,
    id: u64,
    generation: u64,
    keyring: Keyring,
    seeds: Vec<SocketAddr>,
) -> NetNode {
    start_with_config(id, generation, keyring, net_config(cluster, seeds)).await
}

/// Starts node `id` over TCP connections.
pub async fn start_stream(
    cluster: &str,
    id: u64,
    generation: u64,
    keyring: Keyring,
    seeds: Vec<SocketAddr>,
) -> NetNode {
    start_with_config(id, generation, keyring, stream_config(cluster, seeds)).await
}

/// Starts node `id` with `config`.
pub async fn start_with_config(
    id: u64,
    generation: u64,
    keyring: Keyring,
    config: NetConfig,
) -> NetNode {
    let node = protocol(&config.cluster.clone(), id, generation);
    NetNode::start(node, config, keyring)
        .await
        .expect("node starts")
}

/// Forwards a node's changes into a channel.
pub struct Changes(pub mpsc::UnboundedSender<KeyChanged>);

impl Actor for Changes {
    type Context = Context<Self>;
}

impl Handler<KeyChanged> for Changes {
    type Result = ();

    fn handle(&mut self, changed: KeyChanged, _: &mut Context<Self>) {
        let _ = self.0.send(changed);
    }
}

/// Subscribes to a node's changes of keys under `prefix`.
pub async fn watch(node: &NetNode, prefix: &str) -> mpsc::UnboundedReceiver<KeyChanged> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let changes = Changes(sender).start();
    node.node()
        .send(Subscribe {
            prefix: prefix.into(),
            recipient: changes.recipient(),
        })
        .await
        .expect("subscribed");
    receiver
}

/// Waits until `changes` reports `key` = `value` from `origin`; false at the deadline.
pub async fn wait_for(
    changes: &mut mpsc::UnboundedReceiver<KeyChanged>,
    origin: u64,
    key: &str,
    value: &str,
    deadline: Duration,
) -> bool {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        match tokio::time::timeout_at(until, changes.recv()).await {
            Ok(Some(changed)) => {
                if changed.origin == NodeId(origin)
                    && changed.key == key
                    && changed.value.as_ref().map(|v| v.as_bytes()) == Some(value.as_bytes())
                {
                    return true;
                }
            }
            Ok(None) | Err(_) => return false,
        }
    }
}

/// Waits until `condition` holds (checked every millisecond: for state that no event reports,
/// such as a counter); false at [`DEADLINE`].
pub async fn until(mut condition: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !condition() {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// Reads what `node` holds for `origin`'s `key`.
pub async fn get(node: &NetNode, origin: u64, key: &str) -> Option<String> {
    node.node()
        .send(hearsay_actor::Get {
            origin: Some(NodeId(origin)),
            key: key.into(),
        })
        .await
        .expect("mailbox")
        .expect("node up")
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// Length-prefixes a frame body (4-byte big-endian length), as the codec does.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// Connects to `addr`, within the deadline.
pub async fn connect(addr: SocketAddr) -> TcpStream {
    tokio::time::timeout(DEADLINE, TcpStream::connect(addr))
        .await
        .expect("connect in time")
        .expect("connect")
}

/// Writes `bytes`; false when the peer already closed (a reset or a broken pipe).
pub async fn write_all(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(DEADLINE, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// What a raw client saw when the node closed its connection.
#[derive(Debug)]
pub struct Closed {
    /// From the call of [`wait_closed`] to the end of file or the reset.
    pub after: Duration,
    /// Everything read before.
    pub received: Vec<u8>,
}

/// Reads until the peer closes the connection (end of file or an error such as a reset); `None`
/// when it is still open at the deadline.
pub async fn wait_closed(stream: &mut TcpStream, deadline: Duration) -> Option<Closed> {
    let started = tokio::time::Instant::now();
    let until = started + deadline;
    let mut received = Vec::new();
    let mut buffer = [0; 4096];
    loop {
        match tokio::time::timeout_at(until, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some(Closed {
                    after: started.elapsed(),
                    received,
                });
            }
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
            Err(_) => return None,
        }
    }
}

/// The frame bodies in `bytes` (a trailing partial frame is ignored).
pub fn frame_bodies(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut bodies = Vec::new();
    while bytes.len() >= 4 {
        let len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if bytes.len() < 4 + len {
            break;
        }
        bodies.push(bytes[4..4 + len].to_vec());
        bytes = &bytes[4 + len..];
    }
    bodies
}

/// Reads one frame body, within the deadline.
pub async fn read_frame(stream: &mut TcpStream) -> Vec<u8> {
    tokio::time::timeout(DEADLINE, async {
        let mut len = [0; 4];
        stream.read_exact(&mut len).await.expect("length");
        let mut body = vec![0; u32::from_be_bytes(len) as usize];
        stream.read_exact(&mut body).await.expect("body");
        body
    })
    .await
    .expect("a frame in time")
}

/// A TCP proxy that forwards to a target set later and records, per connection, the bytes the
/// client sent.
pub struct RecordingProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    target: Arc<Mutex<Option<SocketAddr>>>,
    recorded: Arc<Mutex<Vec<Vec<u8>>>>,
    /// The tasks forwarding each connection's two directions.
    forwarding: Arc<Mutex<Vec<actix_rt::task::JoinHandle<()>>>>,
    /// Forwards in writes of at most this many bytes (0: as read).
    piece: Arc<std::sync::atomic::AtomicUsize>,
}

/// Writes `bytes` to `to` in writes of at most `piece` bytes (0: one write), letting the other
/// tasks run between them, so that the reader sees the bytes in pieces.
async fn forward_in_pieces(
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    bytes: &[u8],
    piece: usize,
) -> std::io::Result<()> {
    if piece == 0 {
        return to.write_all(bytes).await;
    }
    for chunk in bytes.chunks(piece) {
        to.write_all(chunk).await?;
        to.flush().await?;
        tokio::task::yield_now().await;
    }
    Ok(())
}

impl RecordingProxy {
    /// Binds on loopback and forwards until the actix system stops. Connections made before
    /// [`RecordingProxy::forward_to`] are dropped.
    pub async fn start() -> RecordingProxy {
        let listener = TcpListener::bind(loopback()).await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let target: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let recorded: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let forwarding: Arc<Mutex<Vec<actix_rt::task::JoinHandle<()>>>> = Arc::default();
        let piece: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (to, record, tasks) = (target.clone(), recorded.clone(), forwarding.clone());
        let pieces = piece.clone();
        actix_rt::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Some(target) = *to.lock().expect("lock") else {
                    continue;
                };
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let piece = pieces.load(std::sync::atomic::Ordering::Relaxed);
                let index = {
                    let mut record = record.lock().expect("lock");
                    record.push(Vec::new());
                    record.len() - 1
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let record = record.clone();
                let upstream = actix_rt::spawn(async move {
                    let mut buffer = [0; 4096];
                    loop {
                        let read = match client_read.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(read) => read,
                        };
                        // Recorded before forwarding: what the server saw, the test has.
                        record.lock().expect("lock")[index].extend_from_slice(&buffer[..read]);
                        let forwarded =
                            forward_in_pieces(&mut server_write, &buffer[..read], piece).await;
                        if forwarded.is_err() {
                            break;
                        }
                    }
                    let _ = server_write.shutdown().await;
                });
                let downstream = actix_rt::spawn(async move {
                    let mut buffer = [0; 4096];
                    loop {
                        let read = match server_read.read(&mut buffer).await {
                            Ok(0) | Err(_) => break,
                            Ok(read) => read,
                        };
                        let forwarded =
                            forward_in_pieces(&mut client_write, &buffer[..read], piece).await;
                        if forwarded.is_err() {
                            break;
                        }
                    }
                    let _ = client_write.shutdown().await;
                });
                tasks.lock().expect("lock").extend([upstream, downstream]);
            }
        });
        RecordingProxy {
            addr,
            target,
            recorded,
            forwarding,
            piece,
        }
    }

    /// From the next connection on, forwards each direction in writes of at most `piece` bytes
    /// (a path with a small MSS, a middlebox that splits segments).
    pub fn split_into(&self, piece: usize) {
        (self.piece).store(piece, std::sync::atomic::Ordering::Relaxed);
    }

    /// Cuts the way through (a partition): every forwarded connection is dropped, and new ones
    /// are closed at once until [`RecordingProxy::forward_to`] is called again.
    pub fn cut(&self) {
        *self.target.lock().expect("lock") = None;
        for task in self.forwarding.lock().expect("lock").drain(..) {
            task.abort();
        }
    }

    /// Where to forward connections from now on.
    pub fn forward_to(&self, target: SocketAddr) {
        *self.target.lock().expect("lock") = Some(target);
    }

    /// Connections forwarded so far.
    pub fn connections(&self) -> usize {
        self.recorded.lock().expect("lock").len()
    }

    /// What the client of connection `index` has sent so far.
    pub fn client_bytes(&self, index: usize) -> Vec<u8> {
        self.recorded.lock().expect("lock")[index].clone()
    }
}

/// Runs a test body on a fresh actix system.
pub fn run<F: std::future::Future<Output = ()>>(test: F) {
    actix_rt::System::new().block_on(test);
}

/// Writes `key` = `value` at `node`.
pub async fn set(node: &NetNode, key: &str, value: &str) {
    node.node()
        .send(hearsay_actor::Set {
            key: key.into(),
            value: value.into(),
        })
        .await
        .expect("mailbox")
        .expect("write");
}
