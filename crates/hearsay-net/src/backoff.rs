//! Redial delays: exponential backoff with full jitter (a uniform draw below the capped
//! exponential), so that peers that lost one node do not all redial it in the same instant.

use rand::RngExt;
use std::time::Duration;

/// Attempts in a row (dials, or hellos) a seed has failed when the node says so in its log, once
/// per streak: about 3 s with the default backoff. Before session 32 a seed at a wrong address,
/// or running the other transport, was retried forever without a line at the default level
/// (a hostile user: 19 failed dials in 25 s, two start-up lines and nothing else).
pub const SEED_SILENT_AFTER: u32 = 5;

/// The delay before redial number `attempt` (0 for the first retry): uniform in
/// `[0, min(max, initial * 2^attempt)]`.
///
/// ```
/// use hearsay_net::backoff::delay;
/// use rand::SeedableRng;
/// use std::time::Duration;
/// let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
/// let (initial, max) = (Duration::from_millis(100), Duration::from_secs(5));
/// for attempt in 0..100 {
///     let cap = max.min(initial * 2u32.saturating_pow(attempt.min(31)));
///     assert!(delay(&mut rng, attempt, initial, max) <= cap);
/// }
/// ```
pub fn delay<R: rand::Rng + ?Sized>(
    rng: &mut R,
    attempt: u32,
    initial: Duration,
    max: Duration,
) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(31));
    let cap = initial.saturating_mul(factor).min(max);
    cap.mul_f64(rng.random::<f64>())
}
