//! One connection's handshake, encryption and timers, sans I/O, in the style of
//! [`hearsay_proto::Node`]: inputs are `handle_*` calls that take the current instant
//! ([`Session::handle_frame`], [`Session::handle_timeout`]) and commands ([`Session::send`]);
//! outputs are drained one at a time ([`Session::poll_transmit`], [`Session::poll_event`],
//! [`Session::poll_timeout`]). No socket, no clock, no randomness of its own: the caller owns all
//! three.
//!
//! Each side picks a fresh 16-byte *session random* per connection (from the OS). Nonces are
//! `random(16) | counter(8, big-endian)`: the hello is counter 0, sealed frames count from 1, so
//! no nonce repeats under a key unless two connections draw the same 128-bit random.
//!
//! ```text
//! dialer                                                acceptor
//!   H nonce=rd|0  seal(Hello{rd,…}, ad="hearsay/hello")    ──▶  opens with any key of its ring
//!   ◀──  H nonce=ra|0  seal(Hello{ra,…}, ad="hearsay/hello"|rd)   (bound to the dialer's random)
//!   S seal(Ping, nonce=rd|1, ad="hearsay/1"|rd|ra)         ──▶  established: the dialer holds the
//!   S seal(Gossip…, nonce=rd|2, …)                          ──▶  key and answered *this* random
//! ```
//!
//! A recorded session replayed later fails: its sealed frames are bound to the acceptor's old
//! random. A frame replayed, dropped or reordered inside a session fails: the receiver expects
//! exactly the next counter. A hello that no key opens is answered with a plaintext refusal.

use crate::frame::{self, HELLO, Hello, NONCE_LEN, Payload, RANDOM_LEN, REFUSED, SEALED, TAG_LEN};
use crate::{Error, Keyring};
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hearsay_proto::{Generation, NodeId};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Associated data of hellos.
const HELLO_AD: &[u8] = b"hearsay/hello";
/// Associated-data prefix of sealed frames.
const SESSION_AD: &[u8] = b"hearsay/1";

/// Who this node is, as it introduces itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Local {
    /// The cluster's name.
    pub cluster: String,
    /// The node's id.
    pub id: NodeId,
    /// The node's generation.
    pub generation: Generation,
    /// The address peers should dial.
    pub listen: String,
}

/// Which end of the connection this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Opened the connection; speaks first.
    Dialer,
    /// Accepted it.
    Acceptor,
}

/// A session's timers (their deadlines are data: [`Session::poll_timeout`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The handshake must be complete within this of the session's start.
    pub handshake: Duration,
    /// No complete frame for this long ends the session.
    pub idle: Duration,
    /// An established session seals a keep-alive this often.
    pub keepalive: Duration,
}

impl Default for Timeouts {
    /// [`crate::NetConfig::new`]'s: 5 s, 10 s, 2 s.
    fn default() -> Timeouts {
        Timeouts {
            handshake: Duration::from_secs(5),
            idle: Duration::from_secs(10),
            keepalive: Duration::from_secs(2),
        }
    }
}

/// What the peer said, drained by [`Session::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer is authenticated: it holds a key of the ring and belongs to this cluster.
    Established(Hello),
    /// A gossip message for the node.
    Gossip(Vec<u8>),
    /// The peer closes the connection on purpose.
    Bye(String),
}

#[derive(Clone, Debug)]
enum State {
    AwaitHello,
    /// Acceptor: the hello was good; waiting for the first sealed frame.
    AwaitConfirm(Hello),
    Established(Hello),
}

/// One connection's handshake, encryption and timer state.
///
/// After each input, drain in this order: [`Session::poll_transmit`] while there is room (frame
/// bodies for the peer, in order: sealed ones use up nonce counters the peer then expects, so none
/// may be lost; what finds no room waits here),
/// every [`Session::poll_event`], then re-arm one timer at [`Session::poll_timeout`]. An input
/// that answers `Err` means: send what is queued (a refusal), then close the connection.
#[derive(Clone, Debug)]
pub struct Session {
    role: Role,
    local: Local,
    random: [u8; RANDOM_LEN],
    peer_random: [u8; RANDOM_LEN],
    state: State,
    sent: u64,
    received: u64,
    /// Index of the key that opened the last frame: tried first next time.
    last_key: usize,
    timeouts: Timeouts,
    /// When the session started (the handshake deadline counts from it).
    started: Instant,
    /// When the last complete frame arrived (or the session started).
    last_frame: Instant,
    /// When the next keep-alive is due.
    next_keepalive: Instant,
    transmits: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl Session {
    /// The dialer's session, started at `now`, its hello queued (the first
    /// [`Session::poll_transmit`]).
    pub fn dial(
        now: Instant,
        local: Local,
        keyring: &Keyring,
        random: [u8; RANDOM_LEN],
        timeouts: Timeouts,
    ) -> Result<Session, Error> {
        let mut session = Session::new(now, Role::Dialer, local, random, timeouts);
        let hello = session.seal_hello(keyring, HELLO_AD.to_vec())?;
        session.transmits.push_back(hello);
        Ok(session)
    }

    /// The acceptor's session, started at `now`: it waits for the dialer's hello.
    pub fn accept(
        now: Instant,
        local: Local,
        random: [u8; RANDOM_LEN],
        timeouts: Timeouts,
    ) -> Session {
        Session::new(now, Role::Acceptor, local, random, timeouts)
    }

    fn new(
        now: Instant,
        role: Role,
        local: Local,
        random: [u8; RANDOM_LEN],
        timeouts: Timeouts,
    ) -> Session {
        Session {
            role,
            local,
            random,
            peer_random: [0; RANDOM_LEN],
            state: State::AwaitHello,
            sent: 0,
            received: 0,
            last_key: 0,
            timeouts,
            started: now,
            last_frame: now,
            next_keepalive: now + timeouts.keepalive,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The authenticated peer, once established.
    pub fn peer(&self) -> Option<&Hello> {
        match &self.state {
            State::Established(hello) => Some(hello),
            _ => None,
        }
    }

    /// Whether the handshake is complete.
    pub fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    /// When the next timer fires: the handshake deadline until established, the idle deadline,
    /// and, once established, the next keep-alive.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let idle = self.last_frame + self.timeouts.idle;
        Some(if self.is_established() {
            idle.min(self.next_keepalive)
        } else {
            idle.min(self.started + self.timeouts.handshake)
        })
    }

    /// The next frame body to send to the peer. A caller with no room to send it leaves it (and
    /// those after it) queued: frames must reach the peer in order, and none may be skipped.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmits.pop_front()
    }

    /// The next thing the peer said.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Fires the timers due at `now`: an [`Error::Timeout`] (close the connection) when the
    /// handshake or the link stalled; a keep-alive queued when one is due and no frame waits.
    pub fn handle_timeout(&mut self, now: Instant, keyring: &Keyring) -> Result<(), Error> {
        if !self.is_established() && now >= self.started + self.timeouts.handshake {
            return Err(Error::Timeout(format!(
                "no handshake within {:?}",
                self.timeouts.handshake
            )));
        }
        if now >= self.last_frame + self.timeouts.idle {
            return Err(Error::Timeout(format!(
                "no complete frame for {:?}",
                self.timeouts.idle
            )));
        }
        if now >= self.next_keepalive {
            self.next_keepalive = now + self.timeouts.keepalive;
            // A frame still waiting to go out will keep the link alive as well as a ping.
            if self.is_established() && self.transmits.is_empty() {
                self.send(keyring, &Payload::Ping)?;
            }
        }
        Ok(())
    }

    /// Feeds one frame body that arrived at `now`. Transmits are queued even when an error
    /// follows (a refusal to send before closing); any error means: close the connection.
    pub fn handle_frame(
        &mut self,
        now: Instant,
        keyring: &Keyring,
        body: &[u8],
    ) -> Result<(), Error> {
        self.last_frame = now;
        let Some((&kind, rest)) = body.split_first() else {
            return Err(Error::Frame("empty frame"));
        };
        match (kind, &self.state) {
            (HELLO, State::AwaitHello) => self.receive_hello(keyring, rest),
            (SEALED, State::AwaitConfirm(_) | State::Established(_)) => {
                let plain = self.open_sealed(keyring, rest)?;
                if let State::AwaitConfirm(hello) = &self.state {
                    let hello = hello.clone();
                    self.events.push_back(Event::Established(hello.clone()));
                    self.state = State::Established(hello);
                }
                match Payload::decode(&plain)? {
                    Payload::Gossip(bytes) => self.events.push_back(Event::Gossip(bytes)),
                    Payload::Ping => {}
                    Payload::Bye(reason) => self.events.push_back(Event::Bye(reason)),
                }
                Ok(())
            }
            (REFUSED, State::AwaitHello) if self.role == Role::Dialer => {
                let reason = frame::printable(&rest[..rest.len().min(frame::MAX_REASON)]);
                Err(Error::Refused(format!("the peer refused us: {reason}")))
            }
            (HELLO, _) => Err(Error::Unexpected("hello")),
            (SEALED, _) => Err(Error::Unexpected("sealed")),
            (REFUSED, _) => Err(Error::Unexpected("refusal")),
            _ => Err(Error::Frame("unknown frame kind")),
        }
    }

    /// Seals a payload for the peer (after the handshake) and queues it: the next
    /// [`Session::poll_transmit`]. A caller that may have to drop it checks for room first: a
    /// sealed frame uses up a counter the peer then expects.
    pub fn send(&mut self, keyring: &Keyring, payload: &Payload) -> Result<(), Error> {
        let frame = self.seal(keyring, payload)?;
        self.transmits.push_back(frame);
        Ok(())
    }

    fn seal(&mut self, keyring: &Keyring, payload: &Payload) -> Result<Vec<u8>, Error> {
        if !self.is_established() {
            return Err(Error::Unexpected("send before the handshake"));
        }
        self.sent = self
            .sent
            .checked_add(1)
            .ok_or(Error::Frame("session counter exhausted"))?;
        let nonce = nonce(&self.random, self.sent);
        seal_frame(
            keyring,
            &[SEALED],
            &nonce,
            &payload.encode(),
            &self.session_ad(),
        )
    }

    fn receive_hello(&mut self, keyring: &Keyring, rest: &[u8]) -> Result<(), Error> {
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Frame("truncated hello"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let mut ad = HELLO_AD.to_vec();
        if self.role == Role::Dialer {
            ad.extend_from_slice(&self.random);
        }
        let plain = match self.open(keyring, nonce, sealed, &ad) {
            Ok(plain) => plain,
            Err(error) => {
                if self.role == Role::Acceptor {
                    self.transmits.push_back(frame::refused(
                        "authentication failed: no key of this node's keyring opens your hello \
                         (wrong cluster key?)",
                    ));
                }
                return Err(error);
            }
        };
        let hello = Hello::decode(&plain)?;
        if nonce[..RANDOM_LEN] != hello.random || nonce[RANDOM_LEN..] != [0; 8] {
            return Err(Error::Frame("hello nonce does not match its random"));
        }
        self.peer_random = hello.random;
        let mismatch = self.mismatch(&hello);
        match self.role {
            Role::Acceptor => {
                // Answer even a mismatched hello, so that the dialer can log why it was refused.
                let mut reply_ad = HELLO_AD.to_vec();
                reply_ad.extend_from_slice(&hello.random);
                let reply = self.seal_hello(keyring, reply_ad)?;
                self.transmits.push_back(reply);
                if let Some(error) = mismatch {
                    return Err(error);
                }
                self.state = State::AwaitConfirm(hello);
            }
            Role::Dialer => {
                if let Some(error) = mismatch {
                    return Err(error);
                }
                self.state = State::Established(hello.clone());
                self.events.push_back(Event::Established(hello));
                self.send(keyring, &Payload::Ping)?;
            }
        }
        Ok(())
    }

    /// Why a peer with this (authenticated) hello cannot be talked to, if it cannot.
    fn mismatch(&self, hello: &Hello) -> Option<Error> {
        if hello.version != hearsay_proto::PROTOCOL_VERSION {
            return Some(Error::Refused(format!(
                "protocol version mismatch: peer {} speaks v{}, this node v{}",
                hello.id.0,
                hello.version,
                hearsay_proto::PROTOCOL_VERSION
            )));
        }
        if hello.cluster != self.local.cluster {
            return Some(Error::Refused(format!(
                "cluster mismatch: peer {} is in cluster {:?}, this node in {:?}",
                hello.id.0, hello.cluster, self.local.cluster
            )));
        }
        if hello.id == self.local.id {
            return Some(Error::SelfConnection(hello.id.0));
        }
        None
    }

    fn seal_hello(&mut self, keyring: &Keyring, ad: Vec<u8>) -> Result<Vec<u8>, Error> {
        let hello = Hello {
            version: hearsay_proto::PROTOCOL_VERSION,
            cluster: self.local.cluster.clone(),
            id: self.local.id,
            generation: self.local.generation,
            listen: self.local.listen.clone(),
            random: self.random,
        };
        let nonce = nonce(&self.random, 0);
        // A hello carries its nonce: the receiver does not know the sender's random yet.
        let mut head = vec![HELLO];
        head.extend_from_slice(&nonce);
        seal_frame(keyring, &head, &nonce, &hello.encode(), &ad)
    }

    fn open_sealed(&mut self, keyring: &Keyring, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let expected = self
            .received
            .checked_add(1)
            .ok_or(Error::Frame("session counter exhausted"))?;
        let nonce = nonce(&self.peer_random, expected);
        let ad = self.session_ad();
        let plain = self.open(keyring, &nonce, sealed, &ad)?;
        self.received = expected;
        Ok(plain)
    }

    /// Opens with the key that worked last, then every other key of the ring.
    fn open(
        &mut self,
        keyring: &Keyring,
        nonce: &[u8],
        sealed: &[u8],
        ad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let keys = keyring.keys();
        let first = self.last_key.min(keys.len() - 1);
        let order = std::iter::once(first).chain((0..keys.len()).filter(|&at| at != first));
        for at in order {
            let opened = cipher(&keys[at]).decrypt(
                XNonce::from_slice(nonce),
                AeadPayload {
                    msg: sealed,
                    aad: ad,
                },
            );
            if let Ok(plain) = opened {
                self.last_key = at;
                return Ok(plain);
            }
        }
        Err(Error::Auth)
    }

    fn session_ad(&self) -> Vec<u8> {
        let (dialer, acceptor) = match self.role {
            Role::Dialer => (&self.random, &self.peer_random),
            Role::Acceptor => (&self.peer_random, &self.random),
        };
        let mut ad = Vec::with_capacity(SESSION_AD.len() + 2 * RANDOM_LEN);
        ad.extend_from_slice(SESSION_AD);
        ad.extend_from_slice(dialer);
        ad.extend_from_slice(acceptor);
        ad
    }
}

fn nonce(random: &[u8; RANDOM_LEN], counter: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0; NONCE_LEN];
    nonce[..RANDOM_LEN].copy_from_slice(random);
    nonce[RANDOM_LEN..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

/// A frame body: `head`, then `plain` sealed under the ring's primary key.
fn seal_frame(
    keyring: &Keyring,
    head: &[u8],
    nonce: &[u8; NONCE_LEN],
    plain: &[u8],
    ad: &[u8],
) -> Result<Vec<u8>, Error> {
    let sealed = cipher(keyring.primary())
        .encrypt(
            XNonce::from_slice(nonce),
            AeadPayload {
                msg: plain,
                aad: ad,
            },
        )
        .map_err(|_| Error::Frame("too large to seal"))?;
    let mut body = Vec::with_capacity(head.len() + sealed.len());
    body.extend_from_slice(head);
    body.extend_from_slice(&sealed);
    Ok(body)
}

fn cipher(key: &crate::Key) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.as_bytes().into())
}
