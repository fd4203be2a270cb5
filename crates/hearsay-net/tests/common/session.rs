//! Fixtures for the sans-I/O session tests: keys and rings, hellos, two sessions driven by hand
//! through the handshake, and their outputs.

use hearsay_net::frame::{HELLO, Hello, Payload, RANDOM_LEN, SEALED};
use hearsay_net::session::{Event, Local, Role, Session, Timeouts};
use hearsay_net::{Error, Key, Keyring};
use hearsay_proto::{Generation, NodeId, PROTOCOL_VERSION};
use std::time::Instant;

// --- fixtures --------------------------------------------------------------------------------

pub const CLUSTER: &str = "sessions";

pub fn key(byte: u8) -> Key {
    Key::from_bytes([byte; 32])
}

pub fn ring(bytes: &[u8]) -> Keyring {
    Keyring::from_keys(bytes.iter().map(|&byte| key(byte)).collect()).expect("ring")
}

pub fn local(cluster: &str, id: u64) -> Local {
    Local {
        cluster: cluster.into(),
        id: NodeId(id),
        generation: Generation(100 + id),
        listen: format!("127.0.0.1:{}", 7000 + id),
    }
}

/// A session random: distinct fills stand for distinct draws from the OS.
pub fn random(byte: u8) -> [u8; RANDOM_LEN] {
    [byte; RANDOM_LEN]
}

/// What one input made a session say: its events, then its frames (both drained).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Send(Vec<u8>),
    Established(Hello),
    Gossip(Vec<u8>),
    Bye(String),
}

/// Drains a session: events first, then frame bodies.
pub fn drain(session: &mut Session) -> Vec<Output> {
    let mut out = Vec::new();
    while let Some(event) = session.poll_event() {
        out.push(match event {
            Event::Established(hello) => Output::Established(hello),
            Event::Gossip(bytes) => Output::Gossip(bytes),
            Event::Bye(reason) => Output::Bye(reason),
        });
    }
    while let Some(body) = session.poll_transmit() {
        out.push(Output::Send(body));
    }
    out
}

/// The sessions' clock: these tests fire no timer (but `timers_are_data`).
pub fn now() -> Instant {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// A dialer and its hello.
pub fn dial(local: Local, keyring: &Keyring, random: [u8; RANDOM_LEN]) -> (Session, Vec<u8>) {
    let mut session =
        Session::dial(now(), local, keyring, random, Timeouts::default()).expect("dial");
    let hello = session.poll_transmit().expect("a hello");
    assert_eq!(session.poll_transmit(), None);
    (session, hello)
}

pub fn accept(local: Local, random: [u8; RANDOM_LEN]) -> Session {
    Session::accept(now(), local, random, Timeouts::default())
}

/// Seals one payload: sent, then drained.
pub fn seal(session: &mut Session, keyring: &Keyring, payload: &Payload) -> Result<Vec<u8>, Error> {
    session.send(keyring, payload)?;
    Ok(session.poll_transmit().expect("the sealed frame"))
}

/// Feeds one body; returns the outputs and the result.
pub fn feed(
    session: &mut Session,
    keyring: &Keyring,
    body: &[u8],
) -> (Vec<Output>, Result<(), Error>) {
    let result = session.handle_frame(now(), keyring, body);
    (drain(session), result)
}

/// The frame bodies among outputs.
pub fn sends(out: &[Output]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|output| match output {
            Output::Send(body) => Some(body.clone()),
            _ => None,
        })
        .collect()
}

/// Whether outputs hand the node anything (gossip, or a newly authenticated peer).
pub fn delivers(out: &[Output]) -> bool {
    out.iter()
        .any(|output| matches!(output, Output::Gossip(_) | Output::Established(_)))
}

/// A frame that must fail: the right error, nothing delivered, the session not (newly)
/// established.
pub fn assert_fails(
    session: &mut Session,
    keyring: &Keyring,
    body: &[u8],
    expected: fn(&Error) -> bool,
    what: &str,
) {
    let was_established = session.is_established();
    let (out, result) = feed(session, keyring, body);
    match &result {
        Err(error) => assert!(expected(error), "{what}: wrong error {error:?}"),
        Ok(()) => panic!("{what}: accepted, outputs {out:?}"),
    }
    assert!(!delivers(&out), "{what}: delivered {out:?}");
    assert_eq!(session.is_established(), was_established, "{what}");
}

pub fn is_auth(error: &Error) -> bool {
    matches!(error, Error::Auth)
}

/// Both ends of an established connection, and every frame body the dialer sent.
pub struct Pair {
    pub dialer: Session,
    pub acceptor: Session,
    /// The dialer's frames in order: hello, confirming ping.
    pub dialer_frames: Vec<Vec<u8>>,
    /// The acceptor's hello.
    pub reply: Vec<u8>,
}

/// Runs the handshake by hand, checking every step.
pub fn handshake(dialer_ring: &Keyring, acceptor_ring: &Keyring) -> Pair {
    let (mut dialer, hello) = dial(local(CLUSTER, 1), dialer_ring, random(0xd1));
    assert_eq!(dialer.role(), Role::Dialer);
    assert_eq!(hello[0], HELLO);
    assert!(!dialer.is_established());
    let mut acceptor = accept(local(CLUSTER, 2), random(0xa1));
    assert_eq!(acceptor.role(), Role::Acceptor);

    // 1. The acceptor opens the hello and answers with its own; not established yet.
    let (out, result) = feed(&mut acceptor, acceptor_ring, &hello);
    result.expect("hello accepted");
    assert!(!delivers(&out), "{out:?}");
    let replies = sends(&out);
    assert_eq!(replies.len(), 1, "{out:?}");
    let reply = replies[0].clone();
    assert_eq!(reply[0], HELLO);
    assert!(!acceptor.is_established());
    assert!(acceptor.peer().is_none());

    // 2. The dialer opens the reply: established, and it confirms with a sealed ping.
    let (out, result) = feed(&mut dialer, dialer_ring, &reply);
    result.expect("reply accepted");
    let [Output::Established(peer), Output::Send(confirm)] = out.as_slice() else {
        panic!("dialer outputs {out:?}");
    };
    assert_eq!(confirm[0], SEALED);
    assert_eq!(peer.id, NodeId(2));
    assert_eq!(peer.cluster, CLUSTER);
    assert_eq!(peer.generation, Generation(102));
    assert_eq!(peer.listen, "127.0.0.1:7002");
    assert_eq!(peer.random, random(0xa1));
    assert_eq!(peer.version, PROTOCOL_VERSION);
    assert!(dialer.is_established());
    assert_eq!(dialer.peer(), Some(peer));

    // 3. The acceptor opens the ping: established.
    let (out, result) = feed(&mut acceptor, acceptor_ring, confirm);
    result.expect("confirm accepted");
    let [Output::Established(peer)] = out.as_slice() else {
        panic!("acceptor outputs {out:?}");
    };
    assert_eq!(peer.id, NodeId(1));
    assert_eq!(peer.generation, Generation(101));
    assert_eq!(peer.listen, "127.0.0.1:7001");
    assert_eq!(peer.random, random(0xd1));
    assert!(acceptor.is_established());

    Pair {
        dialer,
        acceptor,
        dialer_frames: vec![hello, confirm.clone()],
        reply,
    }
}

pub fn gossip(session: &mut Session, keyring: &Keyring, bytes: &[u8]) -> Vec<u8> {
    seal(session, keyring, &Payload::Gossip(bytes.to_vec())).expect("seal")
}

/// Feeds a frame that must deliver exactly this gossip.
pub fn assert_delivers(session: &mut Session, keyring: &Keyring, body: &[u8], bytes: &[u8]) {
    let (out, result) = feed(session, keyring, body);
    result.expect("frame accepted");
    assert_eq!(out, vec![Output::Gossip(bytes.to_vec())]);
}
