//! [`NodeRng`]: the generator a node draws its random choices from — ChaCha with 8 rounds, word
//! for word the stream of `rand_chacha::ChaCha8Rng` seeded the same way, in a third of its size.
//!
//! `ChaCha8Rng` buffers four 64-byte blocks of output (304 bytes in all); a node draws a handful
//! of words a round, and at 100,000 nodes in one process those buffers were 30 MB, and a draw
//! touched the far end of one. `NodeRng` keeps the key, the block counter and one block (112
//! bytes). It computes a block at a time where `rand_chacha` computes four with SIMD, which costs
//! a few hundred instructions every sixteen words. Same seed, same words, same runs: the tests
//! compare it with `rand_chacha` draw for draw.

use rand::{SeedableRng, TryRng};
use std::convert::Infallible;

/// Words in one ChaCha block.
const BLOCK: usize = 16;

/// "expand 32-byte k", ChaCha's constant words.
const CONSTANTS: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// ChaCha8 over a 256-bit key, a 64-bit block counter and stream 0, as `rand_chacha` lays them
/// out (`constant ×4, key ×8, counter ×2, stream ×2`), buffering one block.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct NodeRng {
    key: [u32; 8],
    /// The block the buffer will hold next.
    counter: u64,
    block: [u32; BLOCK],
    /// The next word of `block` to hand out; [`BLOCK`]: none left.
    at: u8,
}

impl std::fmt::Debug for NodeRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The state is the node's future choices: not for logs.
        f.write_str("NodeRng { .. }")
    }
}

impl NodeRng {
    /// The next word, computing the next block when the buffer is spent.
    fn word(&mut self) -> u32 {
        if usize::from(self.at) >= BLOCK {
            self.refill();
        }
        let word = self.block[usize::from(self.at)];
        self.at += 1;
        word
    }

    /// Computes block `counter` into the buffer and moves the counter on.
    fn refill(&mut self) {
        let mut input = [0u32; BLOCK];
        input[..4].copy_from_slice(&CONSTANTS);
        input[4..12].copy_from_slice(&self.key);
        input[12] = self.counter as u32;
        input[13] = (self.counter >> 32) as u32;
        // Words 14 and 15, the stream, stay 0.
        let mut x = input;
        for _ in 0..4 {
            quarter(&mut x, 0, 4, 8, 12);
            quarter(&mut x, 1, 5, 9, 13);
            quarter(&mut x, 2, 6, 10, 14);
            quarter(&mut x, 3, 7, 11, 15);
            quarter(&mut x, 0, 5, 10, 15);
            quarter(&mut x, 1, 6, 11, 12);
            quarter(&mut x, 2, 7, 8, 13);
            quarter(&mut x, 3, 4, 9, 14);
        }
        for ((out, mixed), original) in self.block.iter_mut().zip(x).zip(input) {
            *out = mixed.wrapping_add(original);
        }
        self.counter = self.counter.wrapping_add(1);
        self.at = 0;
    }
}

/// ChaCha's quarter round on words `a`, `b`, `c`, `d` of the state.
fn quarter(x: &mut [u32; BLOCK], a: usize, b: usize, c: usize, d: usize) {
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(16);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(12);
    x[a] = x[a].wrapping_add(x[b]);
    x[d] = (x[d] ^ x[a]).rotate_left(8);
    x[c] = x[c].wrapping_add(x[d]);
    x[b] = (x[b] ^ x[c]).rotate_left(7);
}

impl SeedableRng for NodeRng {
    type Seed = [u8; 32];

    fn from_seed(seed: [u8; 32]) -> NodeRng {
        let mut key = [0u32; 8];
        for (word, bytes) in key.iter_mut().zip(seed.chunks_exact(4)) {
            *word = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        NodeRng {
            key,
            counter: 0,
            block: [0; BLOCK],
            at: BLOCK as u8,
        }
    }
}

/// Words are handed out in stream order whatever the call: a `u64` is two words, low first, and
/// bytes are filled four at a time, the rest of a partly used word dropped — as `rand_core`'s
/// block generator does, so that every call sequence sees what `ChaCha8Rng` would give.
impl TryRng for NodeRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.word())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let low = self.word();
        let high = self.word();
        Ok(u64::from(high) << 32 | u64::from(low))
    }

    fn try_fill_bytes(&mut self, bytes: &mut [u8]) -> Result<(), Infallible> {
        for chunk in bytes.chunks_mut(4) {
            let word = self.word().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{Rng, RngExt};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn small() {
        assert!(std::mem::size_of::<NodeRng>() <= 112);
    }

    #[test]
    fn long_stream_equals_rand_chacha() {
        for seed in [0, 1, 7, u64::MAX] {
            let mut ours = NodeRng::seed_from_u64(seed);
            let mut theirs = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..10_000 {
                assert_eq!(ours.next_u32(), theirs.next_u32());
            }
        }
    }

    /// One draw of each kind the node (and `rand`'s helpers over it) makes.
    #[derive(Clone, Debug)]
    enum Draw {
        U32,
        U64,
        Bytes(usize),
        Range(u64),
        Bool(f64),
    }

    fn draw() -> impl Strategy<Value = Draw> {
        prop_oneof![
            Just(Draw::U32),
            Just(Draw::U64),
            (0usize..70).prop_map(Draw::Bytes),
            (1u64..u64::MAX).prop_map(Draw::Range),
            (0.0f64..=1.0).prop_map(Draw::Bool),
        ]
    }

    /// What a draw gave, comparable across generators.
    fn take<R: Rng>(rng: &mut R, draw: &Draw) -> Vec<u64> {
        match draw {
            Draw::U32 => vec![u64::from(rng.next_u32())],
            Draw::U64 => vec![rng.next_u64()],
            Draw::Bytes(n) => {
                let mut bytes = vec![0u8; *n];
                rng.fill_bytes(&mut bytes);
                bytes.into_iter().map(u64::from).collect()
            }
            Draw::Range(n) => vec![rng.random_range(0..*n)],
            Draw::Bool(p) => vec![u64::from(rng.random_bool(*p))],
        }
    }

    proptest! {
        /// Any sequence of draws gives what `ChaCha8Rng` gives, across block boundaries (a
        /// `u64` or bytes straddling two blocks included).
        #[test]
        fn draws_equal_rand_chacha(seed: u64, draws in prop::collection::vec(draw(), 0..200)) {
            let mut ours = NodeRng::seed_from_u64(seed);
            let mut theirs = ChaCha8Rng::seed_from_u64(seed);
            for d in &draws {
                prop_assert_eq!(take(&mut ours, d), take(&mut theirs, d), "{:?}", d);
            }
            prop_assert_eq!(ours.next_u32(), theirs.next_u32());
        }
    }
}
