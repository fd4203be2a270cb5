//! The sealed datagram of the UDP transport, sans I/O: what one UDP payload carries, how it is
//! sealed under the cluster keyring and how an untrusted one is opened.
//!
//! ```text
//! 'D' | nonce[24] | sealed(kind u8 | id u64 | generation u64 | body)
//! ```
//!
//! `sealed(x)` is XChaCha20-Poly1305 ciphertext of `x` plus its 16-byte tag, under the keyring's
//! primary key; the receiver tries every key of its ring. The associated data binds the cluster
//! name and the protocol version into every seal: a datagram of another cluster, another
//! version, another key, or tampered with, fails authentication alike and is dropped (and
//! counted). The nonce is `random[16] | counter u64` with a fresh OS random per [`Sealer`], so no
//! nonce repeats under a key.
//!
//! | kind | body |
//! |---|---|
//! | `G` gossip | one protocol message (`hearsay_proto::wire` bytes) |
//! | `H` hello | `addr_len u8 | addr | to_len u8 | to`: where the sender is reached, and the address it sent this to |
//! | `W` welcome | `addr_len u8 | addr | to_len u8 | to | echo[24]`: answering a hello, `to` echoed (so that a seed dialed by address learns its id) and `echo` the hello's nonce |
//!
//! A gossip datagram does not carry the sender's address: addresses travel in hellos and in the
//! reserved key [`hearsay_proto::membership::ADDR_KEY`], both sealed, so a datagram replayed from
//! another source address cannot redirect a node's traffic. Replays of gossip are not refused:
//! the protocol is idempotent (a replayed message is an old duplicate; generations and
//! incarnations order every claim), as with memberlist's UDP. Replays of hellos and welcomes
//! are refused ([`crate::replay`]): a welcome counts only if it echoes the nonce of a hello its
//! receiver is waiting on, and a hello only if its nonce is newer than the last one taken from
//! its sender.
//!
//! Opening never panics and never allocates more than the datagram's own length.

use crate::frame::{MAX_ADDRESS, MAX_CLUSTER_NAME, NONCE_LEN, RANDOM_LEN, Reader, TAG_LEN};
use crate::{Error, Keyring};
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{Tag, XChaCha20Poly1305, XNonce};
use hearsay_proto::{Generation, NodeId};

/// Kind byte of a sealed datagram.
pub const DATAGRAM: u8 = b'D';

/// The sealed header: kind, id, generation.
const HEADER_LEN: usize = 1 + 8 + 8;

/// Bytes a sealed gossip datagram adds to the protocol message: kind byte, nonce, tag, and the
/// sealed header (58).
pub const DATAGRAM_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN + HEADER_LEN;

/// The largest UDP payload (IPv4: 65,535 − 8 − 20).
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// Associated-data prefix of datagrams.
///
/// Version 2 (session 27): a welcome echoes the hello's nonce. Nodes of version 1 and 2 fail
/// each other's authentication, as nodes of two protocol versions do.
const DATAGRAM_AD: &[u8] = b"hearsay/datagram/2";

/// What a datagram carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// One gossip message for the node.
    Gossip(Vec<u8>),
    /// An introduction to an address (a seed): "I am reached at `addr`; you are `to` to me".
    Hello {
        /// Where the sender is reached.
        addr: String,
        /// The address the sender sent this to.
        to: String,
    },
    /// The answer to a hello, `to` and its nonce echoed from it.
    Welcome {
        /// Where the sender is reached.
        addr: String,
        /// The hello's `to`.
        to: String,
        /// The hello's nonce: only its sender, waiting on it, takes this welcome.
        echo: Nonce,
    },
    /// "Your id runs elsewhere, newer" — or "ran, and is gone" ([`Notice`]).
    Superseded(Notice),
}

/// "Your id runs elsewhere, newer" — or "ran, and is gone": the sender holds `id` at
/// `generation`, reached at `addr` (or, `departed`, that generation left the cluster or was
/// removed), and got gossip or a hello sealed by `id` under an older generation from the
/// receiver's socket. Two processes run one id, or ran it; the receiver, the older, hears nothing
/// else that would tell it (every answer to the id goes to the newer, or nowhere). A live newer
/// one is told without refuting: the receiver logs and counts it, its state untouched. A
/// departed one is moved above: the receiver is what is left of the id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The id the receiver sealed under.
    pub id: NodeId,
    /// The generation the sender holds for it (or held, `departed`), newer than the receiver's.
    pub generation: Generation,
    /// That generation left the cluster or was removed.
    pub departed: bool,
    /// The generation the answered datagram was sealed under: only the process running it takes
    /// the notice (a captured notice resent to another process of the id is ignored).
    pub yours: Generation,
    /// Where the sender reaches that generation (empty when it departed).
    pub addr: String,
}

impl Notice {
    /// Its bytes: `id u64 | generation u64 | departed u8 | yours u64 | addr_len u8 | addr`.
    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0.to_be_bytes());
        out.extend_from_slice(&self.generation.0.to_be_bytes());
        out.push(u8::from(self.departed));
        out.extend_from_slice(&self.yours.0.to_be_bytes());
        crate::frame::push_short(out, &self.addr, MAX_ADDRESS);
    }

    fn len(&self) -> usize {
        26 + self.addr.len()
    }

    fn read(reader: &mut Reader<'_>) -> Result<Notice, Error> {
        let id = NodeId(reader.u64()?);
        let generation = Generation(reader.u64()?);
        let departed = match reader.u8()? {
            0 => false,
            1 => true,
            _ => return Err(Error::Frame("a notice's state is neither 0 nor 1")),
        };
        let yours = Generation(reader.u64()?);
        let addr = reader.short_str(MAX_ADDRESS)?;
        Ok(Notice {
            id,
            generation,
            departed,
            yours,
            addr,
        })
    }
}

/// A datagram's nonce: its sealer's random prefix and the sealer's counter, unique per datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nonce {
    /// The sealer's random prefix, fresh from the OS per sealer.
    pub random: [u8; RANDOM_LEN],
    /// The sealer's counter (1 for its first datagram).
    pub counter: u64,
}

impl Nonce {
    fn to_bytes(self) -> [u8; NONCE_LEN] {
        let mut bytes = [0; NONCE_LEN];
        bytes[..RANDOM_LEN].copy_from_slice(&self.random);
        bytes[RANDOM_LEN..].copy_from_slice(&self.counter.to_be_bytes());
        bytes
    }

    fn read(reader: &mut Reader<'_>) -> Result<Nonce, Error> {
        Ok(Nonce {
            random: reader.array::<RANDOM_LEN>()?,
            counter: reader.u64()?,
        })
    }
}

/// An opened datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    /// The sender's id, as sealed.
    pub from: NodeId,
    /// The sender's generation, as sealed.
    pub generation: Generation,
    /// The datagram's nonce (authenticated: it is the AEAD's nonce).
    pub nonce: Nonce,
    /// What it carries.
    pub body: Body,
}

/// The associated data of a cluster's datagrams.
fn associated_data(cluster: &str) -> Vec<u8> {
    let mut ad = Vec::with_capacity(DATAGRAM_AD.len() + 2 + cluster.len());
    ad.extend_from_slice(DATAGRAM_AD);
    ad.push(hearsay_proto::PROTOCOL_VERSION);
    crate::frame::push_short(&mut ad, cluster, MAX_CLUSTER_NAME);
    ad
}

fn cipher(key: &crate::Key) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.as_bytes().into())
}

/// Seals one node's datagrams: its id and generation, a nonce prefix of its own, a counter.
#[derive(Clone, Debug)]
pub struct Sealer {
    from: NodeId,
    generation: Generation,
    ad: Vec<u8>,
    random: [u8; RANDOM_LEN],
    counter: u64,
}

impl Sealer {
    /// A sealer for node `from` of `cluster` with nonce prefix `random` (fresh from the OS:
    /// two sealers must never share one under a key).
    pub fn new(
        cluster: &str,
        from: NodeId,
        generation: Generation,
        random: [u8; RANDOM_LEN],
    ) -> Sealer {
        Sealer {
            from,
            generation,
            ad: associated_data(cluster),
            random,
            counter: 0,
        }
    }

    /// A sealer with a nonce prefix from the operating system.
    pub fn fresh(cluster: &str, from: NodeId, generation: Generation) -> Result<Sealer, Error> {
        let mut random = [0; RANDOM_LEN];
        crate::random::fill(&mut random)?;
        Ok(Sealer::new(cluster, from, generation, random))
    }

    /// The generation this sealer seals under.
    pub fn generation(&self) -> Generation {
        self.generation
    }

    /// Seals under `generation` from now on (the node moved up: a refutation). The nonce
    /// prefix and counter go on, so no nonce repeats under a key.
    pub fn follow(&mut self, generation: Generation) {
        self.generation = self.generation.max(generation);
    }

    /// The nonce of the datagram sealed last (counter 0 before the first).
    pub fn last_nonce(&self) -> Nonce {
        Nonce {
            random: self.random,
            counter: self.counter,
        }
    }

    /// Seals `body` under the ring's primary key.
    pub fn seal(&mut self, keyring: &Keyring, body: &Body) -> Result<Vec<u8>, Error> {
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(Error::Frame("datagram counter exhausted"))?;
        let nonce = self.last_nonce().to_bytes();
        // One buffer: the head, then the plaintext sealed in place, then the tag.
        let mut out = Vec::with_capacity(DATAGRAM_OVERHEAD + body_len(body));
        out.push(DATAGRAM);
        out.extend_from_slice(&nonce);
        out.push(match body {
            Body::Gossip(_) => b'G',
            Body::Hello { .. } => b'H',
            Body::Welcome { .. } => b'W',
            Body::Superseded(_) => b'S',
        });
        out.extend_from_slice(&self.from.0.to_be_bytes());
        out.extend_from_slice(&self.generation.0.to_be_bytes());
        match body {
            Body::Gossip(bytes) => out.extend_from_slice(bytes),
            Body::Hello { addr, to } | Body::Welcome { addr, to, .. } => {
                crate::frame::push_short(&mut out, addr, MAX_ADDRESS);
                crate::frame::push_short(&mut out, to, MAX_ADDRESS);
            }
            Body::Superseded(notice) => notice.write(&mut out),
        }
        if let Body::Welcome { echo, .. } = body {
            out.extend_from_slice(&echo.to_bytes());
        }
        let tag = cipher(keyring.primary())
            .encrypt_in_place_detached(
                XNonce::from_slice(&nonce),
                &self.ad,
                &mut out[1 + NONCE_LEN..],
            )
            .map_err(|_| Error::Frame("too large to seal"))?;
        out.extend_from_slice(&tag);
        Ok(out)
    }
}

fn body_len(body: &Body) -> usize {
    match body {
        Body::Gossip(bytes) => bytes.len(),
        Body::Hello { addr, to } => 2 + addr.len() + to.len(),
        Body::Welcome { addr, to, .. } => 2 + addr.len() + to.len() + NONCE_LEN,
        Body::Superseded(notice) => notice.len(),
    }
}

/// Opens a cluster's datagrams.
#[derive(Clone, Debug)]
pub struct Opener {
    ad: Vec<u8>,
    /// The index of the key that opened the last datagram (tried first).
    last_key: usize,
    /// Largest datagram accepted.
    max: usize,
}

impl Opener {
    /// An opener for `cluster`'s datagrams of at most `max` bytes.
    pub fn new(cluster: &str, max: usize) -> Opener {
        Opener {
            ad: associated_data(cluster),
            last_key: 0,
            max,
        }
    }

    /// Opens an untrusted datagram: [`Error::Auth`] when no key of the ring opens it (another
    /// cluster, version or key, or tampered), [`Error::Frame`] when it is malformed or too large.
    pub fn open(&mut self, keyring: &Keyring, datagram: &[u8]) -> Result<Opened, Error> {
        if datagram.len() > self.max {
            return Err(Error::Frame("datagram too large"));
        }
        let Some((&DATAGRAM, rest)) = datagram.split_first() else {
            return Err(Error::Frame("not a datagram"));
        };
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Frame("datagram too short"));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let (ciphertext, tag) = sealed.split_at(sealed.len() - TAG_LEN);
        // One copy, opened in place: the tag is checked before anything is decrypted, so a key
        // that fails leaves the ciphertext as it was for the next one.
        let mut plain = ciphertext.to_vec();
        let keys = keyring.keys();
        let first = self.last_key.min(keys.len() - 1);
        let order = std::iter::once(first).chain((0..keys.len()).filter(|&at| at != first));
        let mut opened = false;
        for at in order {
            let result = cipher(&keys[at]).decrypt_in_place_detached(
                XNonce::from_slice(nonce),
                &self.ad,
                &mut plain,
                Tag::from_slice(tag),
            );
            if result.is_ok() {
                self.last_key = at;
                opened = true;
                break;
            }
        }
        if !opened {
            return Err(Error::Auth);
        }
        let nonce = Nonce::read(&mut Reader(nonce))?;
        decode(plain, nonce)
    }
}

/// Reads the plaintext of a sealed datagram (a gossip body keeps its buffer).
fn decode(mut plain: Vec<u8>, nonce: Nonce) -> Result<Opened, Error> {
    let mut reader = Reader(&plain);
    let kind = reader.u8()?;
    let from = NodeId(reader.u64()?);
    let generation = Generation(reader.u64()?);
    let body = match kind {
        b'G' => {
            plain.drain(..HEADER_LEN);
            Body::Gossip(plain)
        }
        b'H' | b'W' => {
            let addr = reader.short_str(MAX_ADDRESS)?;
            let to = reader.short_str(MAX_ADDRESS)?;
            let body = if kind == b'H' {
                Body::Hello { addr, to }
            } else {
                let echo = Nonce::read(&mut reader)?;
                Body::Welcome { addr, to, echo }
            };
            if !reader.0.is_empty() {
                return Err(Error::Frame("trailing bytes after a hello"));
            }
            body
        }
        b'S' => {
            let notice = Notice::read(&mut reader)?;
            if !reader.0.is_empty() {
                return Err(Error::Frame("trailing bytes after a notice"));
            }
            Body::Superseded(notice)
        }
        _ => return Err(Error::Frame("unknown datagram kind")),
    };
    Ok(Opened {
        from,
        generation,
        nonce,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Key;

    fn ring(byte: u8) -> Keyring {
        Keyring::new(Key::from_bytes([byte; 32]))
    }

    fn sealer(cluster: &str) -> Sealer {
        Sealer::new(cluster, NodeId(7), Generation(3), [9; RANDOM_LEN])
    }

    #[test]
    fn a_sealed_datagram_opens_to_what_was_sealed() {
        let mut sealer = sealer("prod");
        let mut opener = Opener::new("prod", MAX_UDP_PAYLOAD);
        for body in [
            Body::Gossip(b"message".to_vec()),
            Body::Gossip(Vec::new()),
            Body::Hello {
                addr: "127.0.0.1:7001".into(),
                to: "127.0.0.1:7000".into(),
            },
            Body::Welcome {
                addr: "[::1]:7000".into(),
                to: "seed.example:7000".into(),
                echo: Nonce {
                    random: [5; RANDOM_LEN],
                    counter: u64::MAX - 1,
                },
            },
            Body::Superseded(Notice {
                id: NodeId(7),
                generation: Generation(u64::MAX),
                departed: false,
                yours: Generation(3),
                addr: "10.0.0.9:7000".into(),
            }),
            Body::Superseded(Notice {
                id: NodeId(7),
                generation: Generation(9),
                departed: true,
                yours: Generation(1),
                addr: String::new(),
            }),
        ] {
            let datagram = sealer.seal(&ring(1), &body).expect("sealed");
            assert_eq!(datagram.len(), body_len(&body) + DATAGRAM_OVERHEAD);
            let opened = opener.open(&ring(1), &datagram).expect("opened");
            assert_eq!(opened.from, NodeId(7));
            assert_eq!(opened.generation, Generation(3));
            assert_eq!(opened.nonce, sealer.last_nonce());
            assert_eq!(opened.body, body);
        }
        assert_eq!(sealer.last_nonce().counter, 6);
    }

    #[test]
    fn another_cluster_key_or_a_flipped_bit_fails_authentication() {
        let body = Body::Gossip(b"message".to_vec());
        let datagram = sealer("prod").seal(&ring(1), &body).expect("sealed");
        let auth = |result: Result<Opened, Error>| matches!(result, Err(Error::Auth));
        assert!(auth(
            Opener::new("test", MAX_UDP_PAYLOAD).open(&ring(1), &datagram)
        ));
        assert!(auth(
            Opener::new("prod", MAX_UDP_PAYLOAD).open(&ring(2), &datagram)
        ));
        for at in 1..datagram.len() {
            let mut tampered = datagram.clone();
            tampered[at] ^= 0x10;
            assert!(auth(
                Opener::new("prod", MAX_UDP_PAYLOAD).open(&ring(1), &tampered)
            ));
        }
    }

    #[test]
    fn every_key_of_the_ring_opens() {
        let rotated = Keyring::from_keys(vec![Key::from_bytes([2; 32]), Key::from_bytes([1; 32])])
            .expect("ring");
        let body = Body::Gossip(b"m".to_vec());
        let mut opener = Opener::new("prod", MAX_UDP_PAYLOAD);
        for sealing in [ring(1), ring(2)] {
            let datagram = sealer("prod").seal(&sealing, &body).expect("sealed");
            assert_eq!(opener.open(&rotated, &datagram).expect("opened").body, body);
        }
    }

    #[test]
    fn nonces_never_repeat_within_a_sealer() {
        let mut sealer = sealer("prod");
        let body = Body::Gossip(Vec::new());
        let nonces: std::collections::BTreeSet<Vec<u8>> = (0..100)
            .map(|_| sealer.seal(&ring(1), &body).expect("sealed")[1..1 + NONCE_LEN].to_vec())
            .collect();
        assert_eq!(nonces.len(), 100);
    }

    #[test]
    fn malformed_and_oversized_datagrams_are_refused_without_panicking() {
        let mut opener = Opener::new("prod", 100);
        for bad in [
            &[][..],
            b"X",
            b"D",
            &[DATAGRAM; 40][..],
            &[DATAGRAM; 101][..],
        ] {
            assert!(opener.open(&ring(1), bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            opener.open(&ring(1), &[DATAGRAM; 101]),
            Err(Error::Frame("datagram too large"))
        ));
    }
}
