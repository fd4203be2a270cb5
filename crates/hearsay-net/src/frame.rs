//! The bytes inside one length-delimited TCP frame.
//!
//! A TCP stream carries frames `len: u32 BE | body`, `len` at most the configured frame limit
//! (checked before anything is allocated). A body is one of:
//!
//! | kind | layout | when |
//! |---|---|---|
//! | `H` hello | `'H' nonce[24] sealed(Hello)` | first frame each way |
//! | `S` sealed | `'S' sealed(Payload)` | every frame after the hello |
//! | `R` refused | `'R' reason (UTF-8, ≤ 200 bytes)` | a hello that failed authentication |
//!
//! `sealed(x)` is XChaCha20-Poly1305 ciphertext of `x` plus its 16-byte tag; see
//! [`crate::session`] for the nonces and associated data. Decoding never panics and never
//! allocates more than the frame's own length.

use crate::Error;
use hearsay_proto::{Generation, NodeId};

/// Kind byte of a hello frame.
pub const HELLO: u8 = b'H';
/// Kind byte of a sealed frame.
pub const SEALED: u8 = b'S';
/// Kind byte of a plaintext refusal.
pub const REFUSED: u8 = b'R';

/// Length of a session random (the nonce prefix each side picks per connection).
pub const RANDOM_LEN: usize = 16;
/// Length of an XChaCha20 nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Longest refusal reason sent in clear.
pub const MAX_REASON: usize = 200;
/// Longest cluster name.
pub const MAX_CLUSTER_NAME: usize = 64;
/// Longest advertised address (`[v6]:port`).
pub const MAX_ADDRESS: usize = 64;

/// The longest hello plaintext ([`Hello::encode`]'s layout with both strings at their longest).
pub const MAX_HELLO: usize = 1 + 8 + 8 + RANDOM_LEN + 1 + MAX_CLUSTER_NAME + 1 + MAX_ADDRESS;

/// A node's introduction, the first sealed content each side sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The protocol version (`hearsay_proto::PROTOCOL_VERSION`).
    pub version: u8,
    /// The cluster's name; nodes of different clusters refuse each other.
    pub cluster: String,
    /// The node's id.
    pub id: NodeId,
    /// The node's incarnation.
    pub generation: Generation,
    /// Where the node listens (what peers should dial), as text.
    pub listen: String,
    /// The sender's session random: nonce prefix of every frame it seals on this connection.
    pub random: [u8; RANDOM_LEN],
}

impl Hello {
    /// The plaintext layout: `version u8 | id u64 | generation u64 | random[16] | cluster_len u8 |
    /// cluster | listen_len u8 | listen` (integers big-endian).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(35 + self.cluster.len() + self.listen.len());
        out.push(self.version);
        out.extend_from_slice(&self.id.0.to_be_bytes());
        out.extend_from_slice(&self.generation.0.to_be_bytes());
        out.extend_from_slice(&self.random);
        push_short(&mut out, &self.cluster, MAX_CLUSTER_NAME);
        push_short(&mut out, &self.listen, MAX_ADDRESS);
        out
    }

    /// Reads the plaintext layout; every field is checked against the bytes left.
    pub fn decode(bytes: &[u8]) -> Result<Hello, Error> {
        let mut reader = Reader(bytes);
        let version = reader.u8()?;
        let id = NodeId(reader.u64()?);
        let generation = Generation(reader.u64()?);
        let random = reader.array::<RANDOM_LEN>()?;
        let cluster = reader.short_str(MAX_CLUSTER_NAME)?;
        let listen = reader.short_str(MAX_ADDRESS)?;
        if !reader.0.is_empty() {
            return Err(Error::Frame("trailing bytes after hello"));
        }
        Ok(Hello {
            version,
            cluster,
            id,
            generation,
            listen,
            random,
        })
    }
}

/// What a sealed frame carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// One gossip message for the node (`hearsay_proto::wire` bytes).
    Gossip(Vec<u8>),
    /// Keeps an idle connection alive (and confirms a session).
    Ping,
    /// The sender closes the connection on purpose, with a reason.
    Bye(String),
}

impl Payload {
    /// The plaintext layout: a tag byte (`G`, `P`, `B`) then the gossip bytes or the reason.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Payload::Gossip(bytes) => {
                let mut out = Vec::with_capacity(1 + bytes.len());
                out.push(b'G');
                out.extend_from_slice(bytes);
                out
            }
            Payload::Ping => vec![b'P'],
            Payload::Bye(reason) => {
                let mut out = vec![b'B'];
                out.extend_from_slice(truncate(reason, MAX_REASON).as_bytes());
                out
            }
        }
    }

    /// Reads the plaintext layout.
    pub fn decode(bytes: &[u8]) -> Result<Payload, Error> {
        match bytes.split_first() {
            Some((b'G', rest)) => Ok(Payload::Gossip(rest.to_vec())),
            Some((b'P', [])) => Ok(Payload::Ping),
            Some((b'B', rest)) if rest.len() <= MAX_REASON => Ok(Payload::Bye(printable(rest))),
            Some(_) => Err(Error::Frame("unknown payload")),
            None => Err(Error::Frame("empty payload")),
        }
    }
}

/// A plaintext refusal frame body.
pub fn refused(reason: &str) -> Vec<u8> {
    let mut out = vec![REFUSED];
    out.extend_from_slice(truncate(reason, MAX_REASON).as_bytes());
    out
}

/// A peer's text (a refusal's or a goodbye's reason) as it may go into a log line: invalid UTF-8
/// replaced, control characters escaped (`\n` stays two characters), so that a peer cannot end
/// the line and forge the next one.
pub fn printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for c in String::from_utf8_lossy(bytes).chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

pub(crate) fn push_short(out: &mut Vec<u8>, text: &str, max: usize) {
    let text = truncate(text, max);
    out.push(text.len() as u8);
    out.extend_from_slice(text.as_bytes());
}

/// A cursor over untrusted bytes: every read checks what is left.
pub(crate) struct Reader<'a>(pub(crate) &'a [u8]);

impl<'a> Reader<'a> {
    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        if self.0.len() < len {
            return Err(Error::Frame("truncated"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    pub(crate) fn short_str(&mut self, max: usize) -> Result<String, Error> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(Error::Frame("field too long"));
        }
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| Error::Frame("field not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peers_text_cannot_break_a_log_line() {
        let text = printable(b"no\nWARN forged line\r\x1b[31m\xff ok \xc3\xa9");
        assert_eq!(
            text,
            "no\\nWARN forged line\\r\\u{1b}[31m\u{fffd} ok \u{e9}"
        );
        assert!(!text.chars().any(char::is_control));
        // Bye reasons go through it too.
        let bye = Payload::decode(b"Bbye\nforged").expect("a goodbye");
        assert_eq!(bye, Payload::Bye("bye\\nforged".into()));
    }
}
