//! Randomness from the operating system, for keys and session nonces (never from a seeded RNG:
//! a predictable nonce prefix would let two sessions share nonces under one key).

use crate::Error;

/// Fills `bytes` from the operating system's random source.
pub(crate) fn fill(bytes: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(bytes).map_err(|error| Error::Random(error.to_string()))
}

/// A random `u64` (seeds for jitter RNGs, node ids).
pub fn random_u64() -> Result<u64, Error> {
    let mut bytes = [0; 8];
    fill(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}
