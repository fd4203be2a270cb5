//! A hand-written msgpack codec for the anti-entropy messages (`Syn`, `SynAck`, `Ack`), the bulk
//! of every cluster's traffic.
//!
//! It writes exactly the bytes rmp-serde writes for the same message and reads them back several
//! times faster (serde's generic decoder spent ~2,000 instructions on a 30-byte digest). It is a
//! fast path, not a second format: [`encode`] and [`encoded_len`] answer `None` for the other
//! bodies, and [`decode`] answers `None` for anything outside the canonical encoding of an
//! anti-entropy message (another body, an integer in a signed marker, a struct written as a map,
//! a string that is not UTF-8, …), and [`super::Message::decode`] then leaves the bytes to serde.
//! So a message decodes to the same value, or fails the same way, whichever path reads it: when
//! [`decode`] gives `Some(message)`, rmp-serde gives `Ok(message)` (a property test checks this on
//! arbitrary and corrupted bytes).
//!
//! [`decode`] allocates no more than the frame's bytes can fill: a declared length is a capacity
//! only up to the bytes left, a string or value is a copy of a slice of the frame, and the
//! message must end where the frame does; what it reads, [`super::validate`] would accept whole
//! (which is why [`super::Message::decode`] runs that check only on what the codec declines).

use super::{Body, Message};
use crate::{
    Bounds, ClusterId, Delta, Digest, Generation, ItemId, NodeId, OriginDelta, OriginItems,
    OriginSummary, Value, Version,
};

/// The message's encoding, if its body is an anti-entropy one (and no string, value or list in
/// it is longer than msgpack can say: serde then reports the error).
pub fn encode(message: &Message) -> Option<Vec<u8>> {
    let mut out = Buf {
        bytes: Vec::with_capacity(super::ENCODE_CAPACITY),
        fits: true,
    };
    let Message {
        version,
        cluster,
        from,
        body,
    } = message;
    write_fields(&mut out, *version, *cluster, *from, body)?;
    out.fits.then_some(out.bytes)
}

/// The length of [`encode`]'s bytes, without writing them.
pub fn encoded_len(message: &Message) -> Option<usize> {
    envelope_len(
        message.version,
        message.cluster,
        message.from,
        &message.body,
    )
}

/// The length of the encoding of a message with these fields, without building it.
pub(crate) fn envelope_len(
    version: u8,
    cluster: ClusterId,
    from: NodeId,
    body: &Body,
) -> Option<usize> {
    let mut count = Count { len: 0, fits: true };
    write_fields(&mut count, version, cluster, from, body)?;
    count.fits.then_some(count.len)
}

/// Reads an anti-entropy message in its canonical encoding; `None` for anything else (serde
/// decides those).
pub fn decode(bytes: &[u8]) -> Option<Message> {
    let mut reader = Reader { bytes, at: 0 };
    let message = reader.message()?;
    (reader.at == bytes.len()).then_some(message)
}

// --- writing ---

/// Where encoded bytes go: a buffer, or a counter.
pub(crate) trait Sink {
    fn put(&mut self, byte: u8);
    fn put_slice(&mut self, bytes: &[u8]);
    /// A length past 32 bits: the encoding cannot be written.
    fn too_long(&mut self);
}

/// Writes the bytes.
struct Buf {
    bytes: Vec<u8>,
    fits: bool,
}

impl Sink for Buf {
    fn put(&mut self, byte: u8) {
        self.bytes.push(byte);
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }

    fn too_long(&mut self) {
        self.fits = false;
    }
}

/// Counts the bytes instead of writing them.
struct Count {
    len: usize,
    fits: bool,
}

impl Sink for Count {
    fn put(&mut self, _: u8) {
        self.len += 1;
    }

    fn put_slice(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }

    fn too_long(&mut self) {
        self.fits = false;
    }
}

fn write_fields(
    out: &mut impl Sink,
    version: u8,
    cluster: ClusterId,
    from: NodeId,
    body: &Body,
) -> Option<()> {
    // Only the anti-entropy bodies; the others go through serde.
    if !matches!(
        body,
        Body::Syn { .. } | Body::SynAck { .. } | Body::Ack { .. }
    ) {
        return None;
    }
    array(out, 4);
    uint(out, u64::from(version));
    uint(out, cluster.0);
    uint(out, from.0);
    match body {
        Body::Syn {
            digest,
            reply_digest,
            more,
        } => {
            tag(out, "s");
            array(out, if *more > 0 { 3 } else { 2 });
            option(out, digest.as_ref(), write_digest);
            out.put(if *reply_digest { 0xc3 } else { 0xc2 });
            if *more > 0 {
                uint(out, u64::from(*more));
            }
        }
        Body::SynAck { deltas, digest } => {
            tag(out, "a");
            array(out, 2);
            list(out, deltas);
            option(out, digest.as_ref(), write_digest);
        }
        Body::Ack { deltas } => {
            tag(out, "k");
            array(out, 1);
            list(out, deltas);
        }
        Body::Rumor(_) | Body::View(_) | Body::Probe(_) => return None,
    }
    Some(())
}

fn write_digest(out: &mut impl Sink, digest: &Digest) {
    match digest {
        Digest::Scuttlebutt { range, origins } => {
            tag(out, "s");
            array(out, 2);
            option(out, range.as_ref(), |out, range| {
                write_bounds(out, range, |out, id| uint(out, id.0))
            });
            list(out, origins);
        }
        Digest::Precise { range, origins } => {
            tag(out, "p");
            array(out, 2);
            option(out, range.as_ref(), |out, range| {
                write_bounds(out, range, |out, item| {
                    array(out, 2);
                    uint(out, item.origin.0);
                    string(out, &item.key);
                })
            });
            list(out, origins);
        }
    }
}

/// The four fields both kinds of digest start an origin with, opening its five-field array.
fn origin_head(out: &mut impl Sink, id: NodeId, generation: Generation, heartbeat: u64, rate: u32) {
    array(out, 5);
    uint(out, id.0);
    uint(out, generation.0);
    uint(out, heartbeat);
    uint(out, u64::from(rate));
}

fn write_bounds<S: Sink, T>(out: &mut S, bounds: &Bounds<T>, end: impl Fn(&mut S, &T)) {
    array(out, 2);
    option(out, bounds.from.as_ref(), &end);
    option(out, bounds.to.as_ref(), &end);
}

/// A list: its length, then each element.
fn list<T: Encode>(out: &mut impl Sink, items: &[T]) {
    array(out, items.len());
    for item in items {
        item.write(out);
    }
}

/// The parts of messages the codec writes element by element (a digest's origins, groups of
/// deltas, deltas), and whose sizes budgets count one by one: written, and counted, by the same
/// code as whole messages.
pub(crate) trait Encode {
    /// Writes the value as rmp-serde does.
    fn write(&self, out: &mut impl Sink);

    /// Its encoded length: `size::encoded_len` without serde (equal, as a test checks).
    fn encoded_len(&self) -> usize {
        let mut count = Count { len: 0, fits: true };
        self.write(&mut count);
        count.len
    }
}

impl Encode for OriginSummary {
    fn write(&self, out: &mut impl Sink) {
        origin_head(out, self.origin, self.generation, self.heartbeat, self.rate);
        uint(out, self.watermark.0);
    }
}

impl Encode for OriginItems {
    fn write(&self, out: &mut impl Sink) {
        origin_head(out, self.origin, self.generation, self.heartbeat, self.rate);
        array(out, self.items.len());
        for (key, version) in &self.items {
            array(out, 2);
            string(out, key);
            uint(out, version.0);
        }
    }
}

impl Encode for OriginDelta {
    fn write(&self, out: &mut impl Sink) {
        array(out, 6);
        uint(out, self.origin.0);
        uint(out, self.generation.0);
        uint(out, self.heartbeat);
        uint(out, self.from.0);
        uint(out, self.to.0);
        list(out, &self.deltas);
    }
}

impl Encode for Delta {
    fn write(&self, out: &mut impl Sink) {
        array(out, 3);
        string(out, &self.key);
        uint(out, self.version.0);
        option(out, self.value.as_ref(), |out, value| {
            bin(out, value.as_bytes())
        });
    }
}

fn option<S: Sink, T>(out: &mut S, value: Option<&T>, write: impl Fn(&mut S, &T)) {
    match value {
        Some(value) => write(out, value),
        None => out.put(0xc0),
    }
}

/// A variant: a map of one entry from its tag to its fields.
fn tag(out: &mut impl Sink, name: &str) {
    out.put(0x81);
    string(out, name);
}

fn uint(out: &mut impl Sink, value: u64) {
    if value < 0x80 {
        out.put(value as u8);
    } else if let Ok(value) = u8::try_from(value) {
        out.put(0xcc);
        out.put(value);
    } else if let Ok(value) = u16::try_from(value) {
        out.put(0xcd);
        out.put_slice(&value.to_be_bytes());
    } else if let Ok(value) = u32::try_from(value) {
        out.put(0xce);
        out.put_slice(&value.to_be_bytes());
    } else {
        out.put(0xcf);
        out.put_slice(&value.to_be_bytes());
    }
}

/// A length after a marker: `fix` (with the length in its low bits) below `fix_limit`, else
/// the 8- (when `marker8` is given), 16- or 32-bit form.
fn length(
    out: &mut impl Sink,
    len: usize,
    fix: u8,
    fix_limit: usize,
    marker8: Option<u8>,
    marker16: u8,
) {
    if len < fix_limit {
        out.put(fix | len as u8);
    } else if let (Some(marker), Ok(len)) = (marker8, u8::try_from(len)) {
        out.put(marker);
        out.put(len);
    } else if let Ok(len) = u16::try_from(len) {
        out.put(marker16);
        out.put_slice(&len.to_be_bytes());
    } else if let Ok(len) = u32::try_from(len) {
        out.put(marker16 + 1);
        out.put_slice(&len.to_be_bytes());
    } else {
        out.too_long();
    }
}

fn array(out: &mut impl Sink, len: usize) {
    length(out, len, 0x90, 16, None, 0xdc);
}

fn string(out: &mut impl Sink, text: &str) {
    length(out, text.len(), 0xa0, 32, Some(0xd9), 0xda);
    out.put_slice(text.as_bytes());
}

fn bin(out: &mut impl Sink, bytes: &[u8]) {
    // bin has no fix form: a limit of 0 never takes it.
    length(out, bytes.len(), 0, 0, Some(0xc4), 0xc5);
    out.put_slice(bytes);
}

// --- reading ---

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn byte(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(len)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn be(&mut self, width: usize) -> Option<u64> {
        Some(
            self.take(width)?
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        )
    }

    fn uint(&mut self) -> Option<u64> {
        match self.byte()? {
            small @ 0x00..=0x7f => Some(u64::from(small)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => None,
        }
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0xc2 => Some(false),
            0xc3 => Some(true),
            _ => None,
        }
    }

    /// Consumes a nil, if one is next.
    fn nil(&mut self) -> bool {
        let nil = self.peek() == Some(0xc0);
        self.at += usize::from(nil);
        nil
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.nil() {
            Some(None)
        } else {
            read(self).map(Some)
        }
    }

    fn array(&mut self) -> Option<usize> {
        match self.byte()? {
            marker @ 0x90..=0x9f => Some(usize::from(marker & 0x0f)),
            0xdc => self.be(2).map(|len| len as usize),
            0xdd => self.be(4).map(|len| len as usize),
            _ => None,
        }
    }

    /// An array of exactly `len` elements (a struct's fields).
    fn fields(&mut self, len: usize) -> Option<()> {
        (self.array()? == len).then_some(())
    }

    /// A vector of what `read` reads, as many as the array declares.
    fn vec<T>(&mut self, mut read: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let len = self.array()?;
        let mut items = Vec::with_capacity(capacity_for::<T>(len, self.bytes.len() - self.at));
        for _ in 0..len {
            items.push(read(self)?);
        }
        Some(items)
    }

    fn str(&mut self) -> Option<&'a str> {
        let len = match self.byte()? {
            marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => self.be(1)? as usize,
            0xda => self.be(2)? as usize,
            0xdb => self.be(4)? as usize,
            _ => return None,
        };
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn bin(&mut self) -> Option<&'a [u8]> {
        let len = match self.byte()? {
            0xc4 => self.be(1)?,
            0xc5 => self.be(2)?,
            0xc6 => self.be(4)?,
            _ => return None,
        };
        self.take(usize::try_from(len).ok()?)
    }

    /// A variant's tag: a map of one entry whose key is a one-letter string (compared as bytes:
    /// a tag that is not one of the expected letters is declined, UTF-8 or not).
    fn tag(&mut self) -> Option<u8> {
        (self.byte()? == 0x81 && self.byte()? == 0xa1).then_some(())?;
        self.byte()
    }

    fn node(&mut self) -> Option<NodeId> {
        self.uint().map(NodeId)
    }

    fn message(&mut self) -> Option<Message> {
        self.fields(4)?;
        let version = u8::try_from(self.uint()?).ok()?;
        let cluster = ClusterId(self.uint()?);
        let from = self.node()?;
        let body = match self.tag()? {
            b's' => {
                // Two fields, or three with a chain's pull's `more`.
                let fields = self.array()?;
                let digest = self.option(Self::digest)?;
                let reply_digest = self.bool()?;
                let more = match fields {
                    2 => 0,
                    3 => u8::try_from(self.uint()?).ok()?,
                    _ => return None,
                };
                Body::Syn {
                    digest,
                    reply_digest,
                    more,
                }
            }
            b'a' => {
                self.fields(2)?;
                let deltas = self.vec(Self::group)?;
                let digest = self.option(Self::digest)?;
                Body::SynAck { deltas, digest }
            }
            b'k' => {
                self.fields(1)?;
                Body::Ack {
                    deltas: self.vec(Self::group)?,
                }
            }
            _ => return None,
        };
        Some(Message {
            version,
            cluster,
            from,
            body,
        })
    }

    fn digest(&mut self) -> Option<Digest> {
        match self.tag()? {
            b's' => {
                self.fields(2)?;
                let range = self.option(|r| r.bounds(Self::node))?;
                let origins = self.vec(|r| {
                    let (origin, generation, heartbeat, rate) = r.origin_head()?;
                    Some(OriginSummary {
                        origin,
                        generation,
                        heartbeat,
                        rate,
                        watermark: Version(r.uint()?),
                    })
                })?;
                Some(Digest::Scuttlebutt { range, origins })
            }
            b'p' => {
                self.fields(2)?;
                let range = self.option(|r| {
                    r.bounds(|r| {
                        r.fields(2)?;
                        Some(ItemId {
                            origin: r.node()?,
                            key: r.str()?.to_owned(),
                        })
                    })
                })?;
                let origins = self.vec(|r| {
                    let (origin, generation, heartbeat, rate) = r.origin_head()?;
                    Some(OriginItems {
                        origin,
                        generation,
                        heartbeat,
                        rate,
                        items: r.vec(|r| {
                            r.fields(2)?;
                            Some((r.str()?.to_owned(), Version(r.uint()?)))
                        })?,
                    })
                })?;
                Some(Digest::Precise { range, origins })
            }
            _ => None,
        }
    }

    /// The four fields both kinds of digest start an origin with ([`origin_head`]).
    fn origin_head(&mut self) -> Option<(NodeId, Generation, u64, u32)> {
        self.fields(5)?;
        let origin = self.node()?;
        let generation = Generation(self.uint()?);
        let heartbeat = self.uint()?;
        let rate = u32::try_from(self.uint()?).ok()?;
        Some((origin, generation, heartbeat, rate))
    }

    fn bounds<T>(&mut self, mut end: impl FnMut(&mut Self) -> Option<T>) -> Option<Bounds<T>> {
        self.fields(2)?;
        let from = self.option(&mut end)?;
        let to = self.option(&mut end)?;
        Some(Bounds { from, to })
    }

    fn group(&mut self) -> Option<OriginDelta> {
        self.fields(6)?;
        Some(OriginDelta {
            origin: self.node()?,
            generation: Generation(self.uint()?),
            heartbeat: self.uint()?,
            from: Version(self.uint()?),
            to: Version(self.uint()?),
            deltas: self.vec(|r| {
                r.fields(3)?;
                Some(Delta {
                    key: r.str()?.to_owned(),
                    version: Version(r.uint()?),
                    value: r.option(|r| r.bin().map(Value::new))?,
                })
            })?,
        })
    }
}

/// The capacity to reserve for a vector that declares `len` elements with `left` bytes to read:
/// every element takes at least a byte, and what is reserved up front takes no more memory than
/// the bytes left, so a declared length costs only what is then decoded. (Session 26: it was
/// `len.min(left)` elements, up to ~70 times the bytes for a vector of groups.)
fn capacity_for<T>(len: usize, left: usize) -> usize {
    len.min(left / std::mem::size_of::<T>().max(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::size::encoded_len;
    use proptest::prelude::*;

    #[test]
    fn a_declared_length_reserves_no_more_memory_than_the_bytes_left() {
        use crate::OriginDelta;
        let size = std::mem::size_of::<OriginDelta>();
        assert!(size > 1);
        // 3,000 groups declared, 12,000 bytes left.
        let reserved = capacity_for::<OriginDelta>(3_000, 12_000);
        assert!(
            reserved * size <= 12_000,
            "{reserved} groups of {size} bytes"
        );
        assert_eq!(capacity_for::<u8>(3_000, 12_000), 3_000);
        assert_eq!(capacity_for::<u8>(30, 12_000), 30);
    }

    fn number() -> impl Strategy<Value = u64> {
        prop_oneof![0u64..300, any::<u64>(), Just(u64::MAX), Just(0x1_0000)]
    }

    fn delta() -> impl Strategy<Value = Delta> {
        let value = prop_oneof![
            Just(None),
            prop::collection::vec(any::<u8>(), 0..300).prop_map(|v| Some(Value::new(v))),
            (256usize..70_000).prop_map(|len| Some(Value::new(vec![1u8; len]))),
        ];
        ("\\PC{0,40}|[a-z]{250,300}", number(), value).prop_map(|(key, version, value)| Delta {
            key,
            version: Version(version),
            value,
        })
    }

    proptest! {
        /// The parts budgets count one by one measure as serde measures them.
        #[test]
        fn parts_measure_as_serde_does(
            numbers in prop::collection::vec(number(), 6),
            rate in any::<u32>(),
            deltas in prop::collection::vec(delta(), 0..20),
        ) {
            let summary = OriginSummary {
                origin: NodeId(numbers[0]),
                generation: Generation(numbers[1]),
                heartbeat: numbers[2],
                rate,
                watermark: Version(numbers[3]),
            };
            prop_assert_eq!(summary.encoded_len(), encoded_len(&summary));
            for delta in &deltas {
                prop_assert_eq!(delta.encoded_len(), encoded_len(delta));
            }
            let group = OriginDelta {
                origin: NodeId(numbers[4]),
                generation: Generation(numbers[5]),
                heartbeat: numbers[0],
                from: Version(numbers[1]),
                to: Version(numbers[2]),
                deltas,
            };
            prop_assert_eq!(group.encoded_len(), encoded_len(&group));
        }
    }

    /// A length msgpack cannot say (past 32 bits) makes the encoding fail instead of wrapping:
    /// `encode` then answers `None` and serde reports the error.
    #[test]
    fn a_length_past_32_bits_does_not_fit() {
        let mut count = Count { len: 0, fits: true };
        array(&mut count, u32::MAX as usize);
        assert!(count.fits);
        assert_eq!(count.len, 5);
        array(&mut count, u32::MAX as usize + 1);
        assert!(!count.fits);
    }
}
