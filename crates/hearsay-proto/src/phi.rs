//! Phi-accrual failure detection (Hayashibara et al., "The φ Accrual Failure Detector", 2004),
//! as implemented by Akka's `PhiAccrualFailureDetector` and used by Cassandra.
//!
//! Instead of a binary "up/down" verdict after a fixed timeout, an accrual detector outputs a
//! suspicion level on a continuous scale:
//!
//! ```text
//! phi(t) = -log10( P(no heartbeat for t - last_heartbeat | heartbeat history) )
//! ```
//!
//! so phi = 1 means a 10 % chance that a heartbeat this late is still normal, phi = 2 a 1 %
//! chance, phi = 8 a 10⁻⁸ chance. The application picks a threshold ([`PhiConfig::threshold`])
//! and treats the node as unavailable once phi reaches it.
//!
//! The probability comes from a model of the inter-arrival intervals of heartbeats, estimated
//! from a bounded window of recent intervals ([`PhiConfig::max_sample_size`]). Two models
//! ([`PhiModel`]): for heartbeats relayed by gossip, an exponential distribution of the
//! window's mean (Cassandra, chitchat: `phi = log10(e) · max(0, t − pause) / mean`), which fits
//! their geometric tail; for heartbeats sent directly, a normal distribution of the window's
//! mean and standard deviation, exactly like Akka:
//!
//! - the mean is shifted by [`PhiConfig::acceptable_heartbeat_pause`], so that pauses up to that
//!   long (GC, network hiccups) do not raise suspicion;
//! - the standard deviation is floored at [`PhiConfig::min_std_deviation`], so that perfectly
//!   regular heartbeats do not make the detector hair-triggered;
//! - the normal tail is approximated by the logistic function
//!   `1 / (1 + exp(-y (1.5976 + 0.070566 y²)))` (Bowling et al. 2009, absolute CDF error below
//!   1.5 × 10⁻⁴), with `y = (time since last heartbeat - mean) / std`;
//! - before the first heartbeat phi is 0; the first heartbeat only records the time, and the
//!   history is seeded with two intervals `estimate ∓ estimate / 4`
//!   ([`PhiConfig::first_heartbeat_estimate`]), giving mean `estimate` and standard deviation
//!   `estimate / 4`;
//! - a heartbeat that arrives while the node is already deemed unavailable is not added to the
//!   history (the long pause would skew the statistics), it only resets the time.
//!
//! The module is sans-I/O and deterministic: it reads no clock, every time is passed in as an
//! [`Instant`], and identical inputs give identical outputs. No input panics; times that go
//! backwards are treated as "no time has passed".

use crate::Error;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::f64::consts::LN_10;
use std::time::{Duration, Instant};

/// Configuration of a [`PhiDetector`]. Every field has a documented default
/// ([`PhiConfig::default`]), the one of Akka's cluster failure detector.
///
/// ```
/// use hearsay_proto::PhiConfig;
/// use std::time::Duration;
/// let config = PhiConfig {
///     threshold: 12.0,
///     acceptable_heartbeat_pause: Duration::from_secs(5),
///     ..PhiConfig::default()
/// };
/// config.validate()?;
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhiConfig {
    /// Suspicion level from which the node is deemed unavailable: [`PhiDetector::is_available`]
    /// is `phi < threshold`. A low value detects crashes fast but makes more mistakes. Must be
    /// finite and positive. Default: 8.0.
    pub threshold: f64,
    /// Number of most recent inter-arrival intervals the statistics are computed over. Must be at
    /// least 1. Default: 1,000.
    pub max_sample_size: usize,
    /// Floor of the standard deviation used to compute phi, so that very regular heartbeats do
    /// not make the detector suspect a node after a tiny delay. Must be positive.
    /// Default: 100 ms.
    pub min_std_deviation: Duration,
    /// Pause that is tolerated on top of the mean interval before suspicion rises: it is added to
    /// the mean of the model. Default: 3 s (Akka's cluster failure detector; Akka's generic
    /// `PhiAccrualFailureDetector` constructor defaults to 0).
    pub acceptable_heartbeat_pause: Duration,
    /// Interval assumed before any has been observed: the history is seeded with mean
    /// `first_heartbeat_estimate` and standard deviation `first_heartbeat_estimate / 4`. Set it
    /// to the expected heartbeat interval. Must be positive. Default: 1 s.
    pub first_heartbeat_estimate: Duration,
    /// How the intervals are distributed. Default: [`PhiModel::Normal`] (Akka's, for
    /// heartbeats sent directly); [`crate::HeartbeatConfig`] uses [`PhiModel::Exponential`]
    /// for heartbeats relayed by gossip.
    #[serde(default)]
    pub model: PhiModel,
}

/// The distribution a [`PhiDetector`] takes the intervals between heartbeats to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PhiModel {
    /// Normal, of the history's mean plus [`PhiConfig::acceptable_heartbeat_pause`] and its
    /// standard deviation floored at [`PhiConfig::min_std_deviation`] (Akka). Fits heartbeats
    /// sent at a fixed rate over one link: intervals close to the rate, a thin tail.
    #[default]
    Normal,
    /// Exponential, of the history's mean floored at [`PhiConfig::min_std_deviation`], after
    /// [`PhiConfig::acceptable_heartbeat_pause`]: `phi = log10(e) · max(0, t − pause) / mean`
    /// (Cassandra's and chitchat's model). Fits heartbeats relayed by gossip, whose progress
    /// reaches an observer after a random number of exchanges: intervals with a geometric tail,
    /// under which the normal model takes a gap of a few means for a death. phi = 8 is reached
    /// `pause + 18.4 × mean` after the last heartbeat.
    Exponential,
}

impl Default for PhiConfig {
    /// Threshold 8, 1,000 samples, minimum standard deviation 100 ms, acceptable pause 3 s,
    /// first heartbeat estimate 1 s.
    fn default() -> PhiConfig {
        PhiConfig {
            threshold: 8.0,
            max_sample_size: 1000,
            min_std_deviation: Duration::from_millis(100),
            acceptable_heartbeat_pause: Duration::from_secs(3),
            first_heartbeat_estimate: Duration::from_secs(1),
            model: PhiModel::Normal,
        }
    }
}

impl PhiConfig {
    /// Checks the settings: the threshold is finite and positive, `max_sample_size` is at least
    /// 1, `min_std_deviation` and `first_heartbeat_estimate` are positive.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.threshold.is_finite() && self.threshold > 0.0) {
            return Err(Error::config(
                "phi.threshold",
                format!("must be finite and positive, got {}", self.threshold),
            ));
        }
        if self.max_sample_size == 0 {
            return Err(Error::config("phi.max_sample_size", "must be at least 1"));
        }
        if self.min_std_deviation.is_zero() {
            return Err(Error::config("phi.min_std_deviation", "must be positive"));
        }
        if self.first_heartbeat_estimate.is_zero() {
            return Err(Error::config(
                "phi.first_heartbeat_estimate",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// The bounded window of inter-arrival intervals, in seconds, with their running sum and sum of
/// squares (O(1) per heartbeat).
#[derive(Clone, Debug)]
struct History {
    intervals: VecDeque<f64>,
    capacity: usize,
    sum: f64,
    squares: f64,
    /// Intervals added since the sums were last recomputed from scratch.
    since_resum: usize,
}

impl History {
    /// The history of a node before any real interval: `estimate ∓ estimate / 4`.
    fn seeded(capacity: usize, estimate: Duration) -> History {
        let capacity = capacity.max(1);
        let mut history = History {
            // Grown as intervals arrive, not reserved up front: a node monitors every member,
            // and a full window (8 KB at the default 1,000 samples) per member and node made a
            // 1,000-node cluster hold 8 GB before any interval was measured.
            intervals: VecDeque::new(),
            capacity,
            sum: 0.0,
            squares: 0.0,
            since_resum: 0,
        };
        let mean = estimate.as_secs_f64();
        let std = mean / 4.0;
        history.push(mean - std);
        history.push(mean + std);
        history
    }

    fn push(&mut self, interval: f64) {
        if self.intervals.len() >= self.capacity
            && let Some(old) = self.intervals.pop_front()
        {
            self.sum -= old;
            self.squares -= old * old;
        }
        self.intervals.push_back(interval);
        self.sum += interval;
        self.squares += interval * interval;
        // Adding and subtracting leaves rounding residue; recompute the sums exactly once per
        // window length, which keeps them accurate at an amortized O(1) cost.
        self.since_resum += 1;
        if self.since_resum >= self.capacity {
            self.since_resum = 0;
            self.sum = self.intervals.iter().sum();
            self.squares = self.intervals.iter().map(|x| x * x).sum();
        }
    }

    fn len(&self) -> usize {
        self.intervals.len()
    }

    /// Mean in seconds (never empty: seeded with two intervals and only ever grows to capacity).
    fn mean(&self) -> f64 {
        if self.intervals.is_empty() {
            0.0
        } else {
            self.sum / self.intervals.len() as f64
        }
    }

    /// Population standard deviation in seconds, as Akka.
    fn std_deviation(&self) -> f64 {
        if self.intervals.is_empty() {
            return 0.0;
        }
        let mean = self.mean();
        let variance = self.squares / self.intervals.len() as f64 - mean * mean;
        variance.max(0.0).sqrt()
    }
}

/// A phi-accrual failure detector for one monitored node.
///
/// Feed it the arrival time of every heartbeat of that node ([`PhiDetector::heartbeat`]) and ask
/// it for the suspicion level ([`PhiDetector::phi`]) or the verdict
/// ([`PhiDetector::is_available`]) at any time.
///
/// The model ([`PhiConfig::model`]) is Akka's by default: `phi = -log10(P(no heartbeat for this
/// long | history))`, where the inter-arrival intervals are taken as normally distributed with
/// the mean of the last [`PhiConfig::max_sample_size`] intervals plus
/// [`PhiConfig::acceptable_heartbeat_pause`] and their standard deviation floored at
/// [`PhiConfig::min_std_deviation`], and the normal tail is approximated by Akka's logistic
/// function (absolute CDF error below 1.5 × 10⁻⁴; beyond about 2.5 standard deviations it
/// underestimates the tail, so phi is higher than the exact normal phi: with the defaults,
/// phi = 8 is reached about 5.23 standard deviations past the shifted mean, not 5.61). The first heartbeat only records the time; the history starts seeded with
/// mean [`PhiConfig::first_heartbeat_estimate`] and standard deviation a quarter of it.
///
/// ```
/// use hearsay_proto::{PhiConfig, PhiDetector};
/// use std::time::{Duration, Instant};
///
/// let mut detector = PhiDetector::new(PhiConfig::default())?;
/// let start = Instant::now();
/// assert!(detector.is_available(start)); // never heard of: phi = 0
/// for s in 0..10 {
///     detector.heartbeat(start + Duration::from_secs(s));
/// }
/// let last = start + Duration::from_secs(9);
/// assert_eq!(detector.last_heartbeat(), Some(last));
/// assert_eq!(detector.mean(), Duration::from_secs(1));
/// // A 2 s gap is within the 3 s acceptable pause; 10 s of silence is not.
/// assert!(detector.phi(last + Duration::from_secs(2)) < 0.01);
/// assert!(detector.is_available(last + Duration::from_secs(2)));
/// assert!(!detector.is_available(last + Duration::from_secs(10)));
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PhiDetector {
    config: PhiConfig,
    history: History,
    last: Option<Instant>,
}

impl PhiDetector {
    /// A detector that has seen no heartbeat yet (phi 0, available). Fails with
    /// [`Error::Config`] if the configuration does not [validate](PhiConfig::validate).
    pub fn new(config: PhiConfig) -> Result<PhiDetector, Error> {
        config.validate()?;
        let history = History::seeded(config.max_sample_size, config.first_heartbeat_estimate);
        Ok(PhiDetector {
            config,
            history,
            last: None,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &PhiConfig {
        &self.config
    }

    /// Records a heartbeat that arrived at `now`.
    ///
    /// The first heartbeat only records the time (and resets the history to its seed). Later
    /// ones add the interval since the previous heartbeat to the history, unless the node was
    /// already deemed unavailable at `now` (the interval is then an outage, not a sample), and
    /// record `now` as the last heartbeat. A heartbeat earlier than the last one (time going
    /// backwards, or reordered events) is ignored.
    pub fn heartbeat(&mut self, now: Instant) {
        match self.last {
            None => {
                self.history = History::seeded(
                    self.config.max_sample_size,
                    self.config.first_heartbeat_estimate,
                );
            }
            Some(last) if now < last => return,
            Some(last) => {
                if self.is_available(now) {
                    let interval = now.saturating_duration_since(last).as_secs_f64();
                    self.history.push(interval);
                }
            }
        }
        self.last = Some(now);
    }

    /// The suspicion level at `now`: `-log10` of the probability, under the model, that a
    /// heartbeat is still to come after this much silence. 0 before the first heartbeat; always
    /// finite and non-negative; non-decreasing in `now`. If `now` is before the last heartbeat
    /// it is treated as the time of the last heartbeat.
    pub fn phi(&self, now: Instant) -> f64 {
        let Some(last) = self.last else {
            return 0.0;
        };
        let elapsed = now.saturating_duration_since(last).as_secs_f64();
        let pause = self.config.acceptable_heartbeat_pause.as_secs_f64();
        match self.config.model {
            PhiModel::Normal => {
                let std = self
                    .history
                    .std_deviation()
                    .max(self.config.min_std_deviation.as_secs_f64());
                phi(elapsed, self.history.mean() + pause, std)
            }
            PhiModel::Exponential => {
                // Floored as the normal model's deviation is: progress that arrives in bursts
                // (several relays at one instant) must not make a member Down a few
                // milliseconds after the pause.
                let mean = self
                    .history
                    .mean()
                    .max(self.config.min_std_deviation.as_secs_f64());
                (elapsed - pause).max(0.0) / mean * std::f64::consts::LOG10_E
            }
        }
    }

    /// Whether the node is deemed available at `now`: `phi(now) < threshold`.
    pub fn is_available(&self, now: Instant) -> bool {
        self.phi(now) < self.config.threshold
    }

    /// Whether at least one heartbeat has been recorded.
    pub fn is_monitoring(&self) -> bool {
        self.last.is_some()
    }

    /// Mean of the intervals in the history (without the acceptable pause). Before any real
    /// interval it is the seed's, [`PhiConfig::first_heartbeat_estimate`].
    pub fn mean(&self) -> Duration {
        secs_to_duration(self.history.mean())
    }

    /// Population standard deviation of the intervals in the history (before the floor
    /// [`PhiConfig::min_std_deviation`] that [`PhiDetector::phi`] applies).
    pub fn std_deviation(&self) -> Duration {
        secs_to_duration(self.history.std_deviation())
    }

    /// Number of intervals in the history, at most [`PhiConfig::max_sample_size`] (the two seed
    /// intervals count until real ones push them out).
    pub fn sample_count(&self) -> usize {
        self.history.len()
    }

    /// When the last heartbeat arrived, if any has.
    pub fn last_heartbeat(&self) -> Option<Instant> {
        self.last
    }
}

/// Converts non-negative seconds to a duration, saturating, without panicking on odd floats.
fn secs_to_duration(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::MAX)
}

/// Akka's phi for `elapsed` seconds of silence under a normal model with `mean` and `std`:
///
/// ```text
/// y = (elapsed - mean) / std
/// e = exp(-y (1.5976 + 0.070566 y²))
/// phi = -log10(e / (1 + e))        if elapsed > mean
///       -log10(1 - 1 / (1 + e))    otherwise
/// ```
///
/// Both branches equal `log10(1 + exp(z))` with `z = y (1.5976 + 0.070566 y²)`; this computes
/// it as `(z + ln(1 + exp(-z))) / ln 10` for `z > 0` and `ln(1 + exp(z)) / ln 10` otherwise,
/// which gives the same values without overflowing to infinity far in the tail.
fn phi(elapsed: f64, mean: f64, std: f64) -> f64 {
    let y = (elapsed - mean) / std;
    let z = y * (1.5976 + 0.070566 * y * y);
    let value = if elapsed > mean {
        (z + (-z).exp().ln_1p()) / LN_10
    } else {
        z.exp().ln_1p() / LN_10
    };
    if value.is_nan() {
        0.0
    } else {
        value.clamp(0.0, f64::MAX)
    }
}
