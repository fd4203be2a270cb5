//! How long a suspicion lasts before Down: long when one member suspects, down to a minimum as
//! independent witnesses confirm (Lifeguard's local-health-aware suspicion, with memberlist's
//! formula).

use std::time::Duration;

/// The timeout of a suspicion with `confirmations` witnesses besides the first:
/// `max − (max − min) · ln(c + 1) / ln(k + 1)`, never below `min`; `k` confirmations or more
/// give `min` (memberlist's `remainingSuspicionTime`).
///
/// ```text
/// min 12 s, max 72 s, k = 2:   c = 0 → 72 s,   c = 1 → 34.1 s,   c ≥ 2 → 12 s
/// ```
pub(crate) fn suspicion_timeout(
    min: Duration,
    max: Duration,
    k: u32,
    confirmations: u32,
) -> Duration {
    if k == 0 || confirmations >= k {
        return min;
    }
    let frac = f64::from(confirmations + 1).ln() / f64::from(k + 1).ln();
    let span = max.saturating_sub(min).as_secs_f64();
    let timeout = max.as_secs_f64() - span * frac;
    Duration::from_secs_f64(timeout.max(min.as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_falls_with_confirmations_to_the_minimum() {
        let (min, max) = (Duration::from_secs(12), Duration::from_secs(72));
        assert_eq!(suspicion_timeout(min, max, 2, 0), max);
        let one = suspicion_timeout(min, max, 2, 1).as_secs_f64();
        // 72 − 60 · ln 2 / ln 3 = 34.15…
        assert!((one - 34.15).abs() < 0.01, "{one}");
        assert_eq!(suspicion_timeout(min, max, 2, 2), min);
        assert_eq!(suspicion_timeout(min, max, 2, 9), min);
        assert_eq!(suspicion_timeout(min, max, 0, 0), min);
    }
}
