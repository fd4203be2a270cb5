//! [`Throttle`]: at most one log line per cause per period, with a count of those held back, so
//! that a flood of bad datagrams or connections costs a line every few seconds, not one each.
//! The node actor uses it for rejected messages, the network adapter for rejected datagrams and
//! connections.

use std::time::{Duration, Instant};

/// How often one cause may log.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// One cause's log budget.
///
/// ```
/// use hearsay_actor::throttle::{LOG_EVERY, Throttle};
/// use std::time::Instant;
/// let (mut throttle, now) = (Throttle::default(), Instant::now());
/// assert_eq!(throttle.allow(now), Some(0)); // log it
/// assert_eq!(throttle.allow(now), None); // held back
/// assert_eq!(throttle.allow(now + LOG_EVERY), Some(1)); // log it, saying 1 was held back
/// ```
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
    held_back: u64,
}

impl Throttle {
    /// Whether to log now; if so, how many occurrences were held back since the last line.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now < last + LOG_EVERY => {
                self.held_back += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.held_back))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_period_with_the_count_held_back() {
        let start = Instant::now();
        let mut throttle = Throttle::default();
        assert_eq!(throttle.allow(start), Some(0));
        for at in 1..=5 {
            assert_eq!(throttle.allow(start + Duration::from_secs(at)), None);
        }
        assert_eq!(throttle.allow(start + LOG_EVERY), Some(5));
        assert_eq!(throttle.allow(start + LOG_EVERY), None);
    }
}
