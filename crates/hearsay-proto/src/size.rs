//! Encoded sizes: how many bytes a value takes in rmp-serde's compact encoding, without encoding it
//! into memory, and the byte/delta budget that keeps every message within the MTU.

use serde::Serialize;

/// Bytes a msgpack array header may take beyond the one byte counted for an empty array.
pub(crate) const ARRAY_GROWTH: usize = 4;

/// Encoded length of `value`, counted through a sink that stores nothing.
pub(crate) fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = Counter(0);
    // A counting writer never fails, and every type of this crate serializes.
    match rmp_serde::encode::write(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX / 4,
    }
}

struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Encoded length of a precise digest item `(key, version)`, computed without serializing (digests
/// name thousands of items). Equal to `encoded_len(&(key, version))`, as a test checks.
pub(crate) fn item_len(key: &str, version: crate::Version) -> usize {
    1 + str_len(key.len()) + uint_len(version.0)
}

/// Encoded length of a msgpack string of `len` bytes.
fn str_len(len: usize) -> usize {
    len + match len {
        0..32 => 1,
        32..256 => 2,
        256..65_536 => 3,
        _ => 5,
    }
}

/// Encoded length of a msgpack unsigned integer.
fn uint_len(value: u64) -> usize {
    match value {
        0..128 => 1,
        128..256 => 2,
        256..65_536 => 3,
        65_536..4_294_967_296 => 5,
        _ => 9,
    }
}

/// What is left to fill in one message: bytes, and (for experiments) a number of deltas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Bytes still free.
    pub bytes: usize,
    /// Deltas still allowed.
    pub deltas: usize,
}

impl Budget {
    /// A budget of `bytes` bytes and `deltas` deltas.
    pub fn new(bytes: usize, deltas: usize) -> Budget {
        Budget { bytes, deltas }
    }

    /// A budget with no limit (for tests and tools).
    pub fn unlimited() -> Budget {
        Budget::new(usize::MAX, usize::MAX)
    }

    /// Takes `bytes` bytes (and `deltas` deltas) if they fit; returns whether they did.
    pub fn take(&mut self, bytes: usize, deltas: usize) -> bool {
        if bytes <= self.bytes && deltas <= self.deltas {
            self.bytes -= bytes;
            self.deltas -= deltas;
            true
        } else {
            false
        }
    }

    /// Splits off at most `bytes` bytes into a budget of its own, to be given back with
    /// [`Budget::restore`].
    pub(crate) fn split(&mut self, bytes: usize) -> Budget {
        let part = bytes.min(self.bytes);
        self.bytes -= part;
        Budget::new(part, self.deltas)
    }

    /// Gives back what a split-off part left unused.
    pub(crate) fn restore(&mut self, part: Budget) {
        self.bytes += part.bytes;
    }

    /// Whether no delta can be added any more.
    pub fn exhausted(&self) -> bool {
        self.deltas == 0 || self.bytes < MIN_DELTA_BYTES
    }
}

/// The smallest encoded delta: array header, empty key, version, nil.
pub(crate) const MIN_DELTA_BYTES: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Version;

    #[test]
    fn item_len_matches_the_encoder() {
        let versions = [
            0,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            u32::MAX as u64,
            1 << 32,
            u64::MAX,
        ];
        for len in [0, 1, 31, 32, 255, 256, 65_535, 65_536] {
            let key = "k".repeat(len);
            for v in versions {
                let item = (key.clone(), Version(v));
                assert_eq!(
                    item_len(&key, Version(v)),
                    encoded_len(&item),
                    "len {len} version {v}"
                );
            }
        }
    }
}
