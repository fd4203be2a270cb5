//! The stream's framing: `len: u32 BE | body`, with a limit on `len` that is small until the
//! peer has authenticated.
//!
//! `tokio_util`'s [`LengthDelimitedCodec`] checks a length against its limit and then reserves
//! the whole announced body at once. With one limit for every frame, four bytes from anyone who
//! can open a connection made the node reserve `max_frame` (65,600 bytes by default, up to
//! 16 MiB as configured) per connection before any authentication, and a hello of that size cost
//! one decryption attempt per key of the ring. [`FrameReader`] holds a connection's reads to
//! [`MAX_HANDSHAKE_FRAME`] — the largest hello, refusal or confirmation there is — until its
//! session is established, and to `max_frame` after.

use crate::frame::{MAX_HELLO, MAX_REASON, NONCE_LEN, TAG_LEN};
use bytes::{Buf, BytesMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::codec::{Decoder, LengthDelimitedCodec};

/// Length of the frame header: the body's length, a big-endian `u32`.
pub const LENGTH_LEN: usize = 4;

/// The longest frame body a connection reads before its session is established: a sealed hello
/// (`'H' nonce sealed(hello)`, 204 bytes), a refusal (`'R' reason`, 201) or the dialer's sealed
/// confirmation (a ping, 18).
pub const MAX_HANDSHAKE_FRAME: usize = {
    let hello = 1 + NONCE_LEN + MAX_HELLO + TAG_LEN;
    let refusal = 1 + MAX_REASON;
    if hello > refusal { hello } else { refusal }
};

/// The codec both ends write with: 4-byte big-endian length, at most `max_frame` bytes after.
pub(crate) fn codec(max_frame: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .length_field_length(LENGTH_LEN)
        .max_frame_length(max_frame)
        .new_codec()
}

/// Whether a connection's session is established: set by the connection, read by its
/// [`FrameReader`] before each frame.
#[derive(Clone, Debug, Default)]
pub(crate) struct Authenticated(Arc<AtomicBool>);

impl Authenticated {
    /// From now on the reader takes frames up to `max_frame`.
    pub fn set(&self) {
        self.0.store(true, Ordering::Release);
    }

    fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A connection's frame decoder: [`MAX_HANDSHAKE_FRAME`] until [`Authenticated::set`], then
/// `max_frame`. A frame over the limit is an [`std::io::ErrorKind::InvalidData`] error, seen in
/// its first four bytes, before anything is reserved for it.
///
/// It keeps no state between calls: a frame's header stays in the buffer until its whole body
/// is there, so the header it checks is always a header, however the stream splits the bytes.
/// (Until session 31 it checked the buffer's first four bytes and then called
/// [`LengthDelimitedCodec`], which takes a header off the buffer as soon as it has read it: when
/// a body arrived in more than one read, the next call took the body's first four bytes for a
/// length — an `'H'` or `'S'` frame read as 1.2–1.4 GB — and the connection closed. A hostile
/// user's relay that passed 100-byte pieces kept two nodes from ever linking; on loopback, 3,000
/// keys took 31 s over TCP, with 41 connections lost, against 1 s over datagrams.)
pub(crate) struct FrameReader {
    max_frame: usize,
    authenticated: Authenticated,
}

impl FrameReader {
    pub fn new(max_frame: usize, authenticated: Authenticated) -> FrameReader {
        FrameReader {
            max_frame,
            authenticated,
        }
    }

    fn limit(&self) -> usize {
        if self.authenticated.get() {
            self.max_frame
        } else {
            MAX_HANDSHAKE_FRAME.min(self.max_frame)
        }
    }
}

impl Decoder for FrameReader {
    type Item = BytesMut;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<BytesMut>, std::io::Error> {
        let Some(head) = src.first_chunk::<LENGTH_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*head) as usize;
        let limit = self.limit();
        if len > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a frame of {len} bytes, over the limit of {limit}"),
            ));
        }
        let whole = LENGTH_LEN + len;
        if src.len() < whole {
            // Room for the rest of this frame (at most the limit checked above).
            src.reserve(whole - src.len());
            return Ok(None);
        }
        src.advance(LENGTH_LEN);
        Ok(Some(src.split_to(len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Hello, MAX_ADDRESS, MAX_CLUSTER_NAME, RANDOM_LEN, REFUSED};

    fn frame(body: &[u8]) -> BytesMut {
        let mut bytes = BytesMut::from(&(body.len() as u32).to_be_bytes()[..]);
        bytes.extend_from_slice(body);
        bytes
    }

    /// The length of the frame `reader` reads from `body` framed.
    fn read(reader: &mut FrameReader, body: &[u8]) -> usize {
        let mut src = frame(body);
        let read = reader.decode(&mut src).expect("under the limit");
        read.expect("a whole frame").len()
    }

    #[test]
    fn before_authentication_a_long_prefix_fails_without_reserving_its_body() {
        let mut reader = FrameReader::new(16 << 20, Authenticated::default());
        let mut src = BytesMut::with_capacity(8);
        src.extend_from_slice(&(16u32 << 20).to_be_bytes());
        let error = reader.decode(&mut src).expect_err("over the limit");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(src.capacity() < 1024, "reserved {} bytes", src.capacity());
        // One byte over the handshake's largest frame is refused too.
        let mut src = frame(&vec![0; MAX_HANDSHAKE_FRAME + 1]);
        assert!(reader.decode(&mut src).is_err());
    }

    /// Frames split anywhere — a byte at a time, or a read ending inside a header or a body —
    /// are read whole and in order (session 31: a body split across reads closed the link).
    #[test]
    fn frames_split_anywhere_are_read_whole() {
        let authenticated = Authenticated::default();
        authenticated.set();
        let bodies: Vec<Vec<u8>> = (0..20u8)
            .map(|i| vec![b'S' ^ i; 1 + usize::from(i) * 97])
            .collect();
        let stream: Vec<u8> = bodies
            .iter()
            .flat_map(|body| frame(body).to_vec())
            .collect();
        for piece in [1, 2, 3, 5, 100, 1448] {
            let mut reader = FrameReader::new(65_600, authenticated.clone());
            let mut src = BytesMut::new();
            let mut read = Vec::new();
            for chunk in stream.chunks(piece) {
                src.extend_from_slice(chunk);
                while let Some(body) = reader.decode(&mut src).expect("under the limit") {
                    read.push(body.to_vec());
                }
            }
            assert_eq!(read, bodies, "pieces of {piece} bytes");
            assert!(src.is_empty());
        }
    }

    #[test]
    fn the_largest_hello_and_refusal_fit_and_the_limit_rises_once_authenticated() {
        let hello = Hello {
            version: 1,
            cluster: "c".repeat(MAX_CLUSTER_NAME),
            id: hearsay_proto::NodeId(u64::MAX),
            generation: hearsay_proto::Generation(u64::MAX),
            listen: "a".repeat(MAX_ADDRESS),
            random: [7; RANDOM_LEN],
        };
        assert_eq!(hello.encode().len(), MAX_HELLO);
        let largest_hello = vec![0; 1 + NONCE_LEN + hello.encode().len() + TAG_LEN];
        let authenticated = Authenticated::default();
        let mut reader = FrameReader::new(65_600, authenticated.clone());
        assert_eq!(read(&mut reader, &largest_hello), 204);
        let mut refusal = vec![REFUSED];
        refusal.extend_from_slice(&[b'x'; MAX_REASON]);
        let mut src = frame(&refusal);
        assert!(reader.decode(&mut src).expect("under the limit").is_some());
        let gossip = vec![0; 60_000];
        let mut src = frame(&gossip);
        assert!(reader.decode(&mut src).is_err());
        authenticated.set();
        assert_eq!(read(&mut reader, &gossip), 60_000);
        let mut src = frame(&vec![0; 65_601]);
        assert!(reader.decode(&mut src).is_err());
    }
}
