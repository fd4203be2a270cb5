//! The phi-accrual failure detector: statistics over a bounded window, phi against the exact
//! normal tail, the threshold crossing time, config validation and odd inputs.

use hearsay_proto::{Error, PhiConfig, PhiDetector, PhiModel};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f64::consts::{PI, SQRT_2};
use std::time::{Duration, Instant};

/// Complementary error function, Numerical Recipes' `erfcc` (Chebyshev fit): fractional error
/// below 1.2e-7 everywhere, so the tail probabilities built on it are exact to that relative
/// precision (phi to about 5e-8). Checked against known values in `reference_erfc_is_accurate`.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let ans = t * poly.exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// P(X > mean + y·std) for a normal X: the exact tail the detector approximates.
fn normal_tail(y: f64) -> f64 {
    0.5 * erfc(y / SQRT_2)
}

/// Exact normal phi at `y` standard deviations past the (pause-shifted) mean.
fn exact_phi(y: f64) -> f64 {
    -normal_tail(y).log10()
}

/// A standard normal draw by Box–Muller.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

/// Population mean and standard deviation.
fn stats(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn detector(config: PhiConfig) -> PhiDetector {
    PhiDetector::new(config).expect("valid config")
}

/// Real root of `0.070566 y³ + 1.5976 y = z` (Cardano; one real root since both coefficients are
/// positive): the `y` at which Akka's logistic phi equals `log10(1 + e^z)`.
fn logistic_y_for(phi: f64) -> f64 {
    // phi = log10(1 + e^z)  <=>  z = ln(10^phi - 1)
    let z = (10f64.powf(phi) - 1.0).ln();
    let p = 1.5976 / 0.070566;
    let q = z / 0.070566; // y³ + p y - q = 0
    let d = (q * q / 4.0 + p * p * p / 27.0).sqrt();
    (q / 2.0 + d).cbrt() + (q / 2.0 - d).cbrt()
}

#[test]
fn reference_erfc_is_accurate() {
    // Values from a libm erfc (double precision).
    let known = [
        (0.0, 1.0),
        (0.5, 0.479_500_122_186_953_5),
        (1.0, 0.157_299_207_050_285_13),
        (2.0, 0.004_677_734_981_047_265),
        (3.0, 2.209_049_699_858_543_8e-5),
        (4.0, 1.541_725_790_028_002e-8),
        (-1.0, 1.842_700_792_949_715),
        (-2.0, 1.995_322_265_018_952_8),
    ];
    for (x, want) in known {
        let got = erfc(x);
        assert!(
            ((got - want) / want).abs() < 2e-7,
            "erfc({x}) = {got}, want {want}"
        );
    }
}

/// (1) A trace with N(1 s, 0.1 s) intervals: the detector's mean and standard deviation are the
/// statistics of the last 1,000 intervals and match the generator; phi matches the exact normal
/// tail within the logistic approximation's error.
#[test]
fn synthetic_normal_trace_matches_model() {
    const TRUE_MEAN: f64 = 1.0;
    const TRUE_STD: f64 = 0.1;
    let config = PhiConfig {
        // Below the trace's spread, so the model uses the estimated deviation itself.
        min_std_deviation: Duration::from_millis(1),
        ..PhiConfig::default()
    };
    let pause = config.acceptable_heartbeat_pause.as_secs_f64();
    let mut d = detector(config);
    let mut rng = ChaCha8Rng::seed_from_u64(0x9e37_79b9);
    let start = Instant::now();
    let mut t = start;
    d.heartbeat(t);
    let mut fed = Vec::new();
    for _ in 0..3000 {
        let interval = secs((TRUE_MEAN + TRUE_STD * standard_normal(&mut rng)).max(0.001));
        t += interval;
        d.heartbeat(t);
        fed.push(interval.as_secs_f64());
    }
    assert_eq!(d.sample_count(), 1000);
    let (mean, std) = stats(&fed[fed.len() - 1000..]);

    // The detector's estimates are the window's statistics (up to ns rounding of Duration).
    let got_mean = d.mean().as_secs_f64();
    let got_std = d.std_deviation().as_secs_f64();
    assert!((got_mean - mean).abs() < 1e-8, "mean {got_mean} vs {mean}");
    assert!((got_std - std).abs() < 1e-8, "std {got_std} vs {std}");
    // And they match the generator: the standard error of the mean of 1,000 draws is
    // 0.1/√1000 ≈ 0.0032 s, that of the standard deviation 0.1/√2000 ≈ 0.0022 s; the tolerances
    // are about 4.5 standard errors.
    assert!((got_mean - TRUE_MEAN).abs() < 0.015, "mean {got_mean}");
    assert!((got_std - TRUE_STD).abs() < 0.01, "std {got_std}");

    let last = d.last_heartbeat().expect("heartbeats were fed");
    assert_eq!(last, t);
    for y in [
        -3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0,
    ] {
        let elapsed = secs(mean + pause + y * std);
        let phi = d.phi(last + elapsed);
        assert!(phi.is_finite() && phi >= 0.0);
        // The y the detector actually sees (after ns rounding of the elapsed time).
        let y = (elapsed.as_secs_f64() - mean - pause) / std;
        let tail = normal_tail(y);
        // CDF space: Akka's logistic CDF is within 1.4e-4 of the normal CDF (Bowling et al.
        // 2009: max 1.4e-4 near |y| = 2.7); 1.5e-4 leaves room for erfc's 1.2e-7.
        let cdf_error = (10f64.powf(-phi) - tail).abs();
        assert!(cdf_error < 1.5e-4, "y = {y}: CDF error {cdf_error}");
        if y <= 2.0 {
            // Phi space: d(phi) = dP / (P ln 10), so the CDF bound gives at most
            // 1.4e-4 / (0.0228 · ln 10) ≈ 2.7e-3 for tails of at least P(y = 2) = 0.0228.
            let err = (phi - exact_phi(y)).abs();
            assert!(err < 3e-3, "y = {y}: phi {phi} vs exact {}", exact_phi(y));
        }
        if y >= 2.5 {
            // In the far tail the logistic decays like e^(-0.07 y³), faster than the normal's
            // e^(-y²/2): phi is higher than the exact one (the detector is quicker to suspect).
            assert!(
                phi > exact_phi(y),
                "y = {y}: phi {phi} vs exact {}",
                exact_phi(y)
            );
        }
    }
}

/// phi is exactly Akka's expression (with its two branches), evaluated where it does not
/// overflow.
#[test]
fn phi_equals_akka_formula() {
    let config = PhiConfig::default();
    let pause = config.acceptable_heartbeat_pause.as_secs_f64();
    let min_std = config.min_std_deviation.as_secs_f64();
    let mut d = detector(config);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let start = Instant::now();
    let mut t = start;
    d.heartbeat(t);
    for _ in 0..50 {
        t += secs(0.5 + rng.random::<f64>());
        d.heartbeat(t);
    }
    let mean = d.mean().as_secs_f64() + pause;
    let std = d.std_deviation().as_secs_f64().max(min_std);
    for ms in (0..8000).step_by(37) {
        let elapsed = Duration::from_millis(ms);
        let time_diff = elapsed.as_secs_f64();
        let y = (time_diff - mean) / std;
        let e = (-y * (1.5976 + 0.070566 * y * y)).exp();
        let akka = if time_diff > mean {
            -(e / (1.0 + e)).log10()
        } else {
            -(1.0 - 1.0 / (1.0 + e)).log10()
        };
        if !akka.is_finite() || akka < 1e-6 {
            // Akka's `1 - 1/(1 + e)` cancels catastrophically for tiny phi (relative error
            // ~1e-16 / phi), and overflows to +inf far in the tail; skip those points.
            continue;
        }
        let phi = d.phi(t + elapsed);
        assert!(
            ((phi - akka) / akka).abs() < 1e-6,
            "elapsed {ms} ms: phi {phi} vs akka {akka}"
        );
    }
}

/// (2) phi never decreases as the silence grows, and rises from 0 to past the threshold.
#[test]
fn phi_grows_monotonically_with_silence() {
    let mut d = detector(PhiConfig::default());
    let start = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut t = start;
    d.heartbeat(t);
    for _ in 0..200 {
        t += secs(1.0 + 0.2 * (rng.random::<f64>() - 0.5));
        d.heartbeat(t);
    }
    let mut previous = d.phi(t);
    assert!(previous < 1e-9, "phi right after a heartbeat: {previous}");
    for step in 1..=4000u64 {
        let phi = d.phi(t + Duration::from_millis(5 * step));
        assert!(phi.is_finite(), "step {step}: {phi}");
        assert!(phi >= previous, "step {step}: {phi} < {previous}");
        if previous > 1e-9 {
            assert!(phi > previous, "step {step}: phi stalled at {phi}");
        }
        previous = phi;
    }
    assert!(previous > 100.0, "phi after 20 s of silence: {previous}");
}

/// (3) With regular 1 s heartbeats and the defaults, the model is mean 1 s + 3 s pause and the
/// 100 ms floor of the deviation; phi reaches 8 at 4 s + 0.1 s · y*, y* the root of
/// `0.070566 y³ + 1.5976 y = ln(10⁸ - 1)` (≈ 5.226, so ≈ 4.5226 s).
#[test]
fn threshold_crossed_at_predicted_time() {
    let config = PhiConfig::default();
    assert_eq!(config.threshold, 8.0);
    let mut d = detector(config);
    let start = Instant::now();
    let mut t = start;
    d.heartbeat(t);
    for _ in 0..1500 {
        t += Duration::from_secs(1);
        d.heartbeat(t);
    }
    assert_eq!(d.mean(), Duration::from_secs(1));
    assert!(d.std_deviation() < Duration::from_micros(1));

    let y_star = logistic_y_for(8.0);
    let crossing = 4.0 + 0.1 * y_star;
    assert!((4.52..4.53).contains(&crossing), "crossing {crossing}");
    let window = 0.001;
    assert!(d.phi(t + secs(crossing - window)) < 8.0);
    assert!(d.phi(t + secs(crossing + window)) >= 8.0);
    assert!(d.is_available(t + secs(crossing - window)));
    assert!(!d.is_available(t + secs(crossing + window)));
    // At the shifted mean the logistic CDF is 1/2: phi = log10 2.
    let at_mean = d.phi(t + Duration::from_secs(4));
    assert!((at_mean - 2f64.log10()).abs() < 1e-12, "{at_mean}");
    // Scan in 1 ms steps: the first unavailable instant is within a millisecond of the
    // prediction.
    let first = (4000..6000u64)
        .map(Duration::from_millis)
        .find(|&e| !d.is_available(t + e))
        .expect("crosses within 6 s");
    assert!(
        (first.as_secs_f64() - crossing).abs() <= window,
        "crossed at {first:?}, predicted {crossing}"
    );
}

/// Right after the first heartbeat the history is Akka's seed: mean 1 s, deviation 250 ms, so
/// phi 8 comes at 4 s + 0.25 s · y*.
#[test]
fn first_heartbeat_uses_seeded_history() {
    let mut d = detector(PhiConfig::default());
    let start = Instant::now();
    assert!(!d.is_monitoring());
    assert_eq!(d.last_heartbeat(), None);
    assert_eq!(d.phi(start + Duration::from_secs(3600)), 0.0);
    assert!(d.is_available(start + Duration::from_secs(3600)));
    assert_eq!(d.sample_count(), 2);

    d.heartbeat(start);
    assert!(d.is_monitoring());
    assert_eq!(d.last_heartbeat(), Some(start));
    assert_eq!(d.sample_count(), 2);
    assert_eq!(d.mean(), Duration::from_secs(1));
    assert_eq!(d.std_deviation(), Duration::from_millis(250));
    let crossing = 4.0 + 0.25 * logistic_y_for(8.0);
    assert!(d.is_available(start + secs(crossing - 0.001)));
    assert!(!d.is_available(start + secs(crossing + 0.001)));
}

/// (4) Only the last `max_sample_size` intervals are kept, and the statistics follow a change
/// of the interval distribution once the old intervals have left the window.
#[test]
fn history_is_bounded() {
    let mut d = detector(PhiConfig::default());
    let start = Instant::now();
    let mut t = start;
    d.heartbeat(t);
    let mut fed = Vec::new();
    for i in 0..5000 {
        // 0.9/1.1 s for 4,000 heartbeats, then 1.9/2.1 s.
        let base = if i < 4000 { 1000 } else { 2000 };
        let interval = Duration::from_millis(if i % 2 == 0 { base - 100 } else { base + 100 });
        t += interval;
        d.heartbeat(t);
        fed.push(interval.as_secs_f64());
        assert!(d.sample_count() <= 1000);
        let n = fed.len();
        if n == 4000 || n == 4500 || n == 5000 {
            assert_eq!(d.sample_count(), 1000);
            let (mean, std) = stats(&fed[n - 1000..]);
            let got_mean = d.mean().as_secs_f64();
            let got_std = d.std_deviation().as_secs_f64();
            assert!(
                (got_mean - mean).abs() < 1e-8,
                "n {n}: {got_mean} vs {mean}"
            );
            assert!((got_std - std).abs() < 1e-8, "n {n}: {got_std} vs {std}");
        }
        if n == 4000 {
            assert!((d.mean().as_secs_f64() - 1.0).abs() < 1e-8);
        }
        if n == 4500 {
            // Half 0.9/1.1, half 1.9/2.1: mean 1.5, variance 2.51 - 1.5² = 0.26.
            assert!((d.mean().as_secs_f64() - 1.5).abs() < 1e-8);
            assert!((d.std_deviation().as_secs_f64() - 0.26f64.sqrt()).abs() < 1e-8);
        }
    }
    assert_eq!(d.sample_count(), 1000);
    assert!((d.mean().as_secs_f64() - 2.0).abs() < 1e-8);
    assert!((d.std_deviation().as_secs_f64() - 0.1).abs() < 1e-8);

    // A tiny window: only the last three intervals count (the seeds are gone too).
    let mut small = detector(PhiConfig {
        max_sample_size: 3,
        ..PhiConfig::default()
    });
    let mut t = start;
    small.heartbeat(t);
    for ms in [500, 1000, 2000, 3000] {
        t += Duration::from_millis(ms);
        small.heartbeat(t);
    }
    assert_eq!(small.sample_count(), 3);
    assert_eq!(small.mean(), Duration::from_secs(2));
}

/// A heartbeat arriving after the node was deemed unavailable resets the time but does not
/// enter the history (Akka: the outage would skew the statistics).
#[test]
fn heartbeat_after_outage_is_not_a_sample() {
    let mut d = detector(PhiConfig::default());
    let start = Instant::now();
    let mut t = start;
    d.heartbeat(t);
    for _ in 0..10 {
        t += Duration::from_secs(1);
        d.heartbeat(t);
    }
    let (count, mean, std) = (d.sample_count(), d.mean(), d.std_deviation());
    t += Duration::from_secs(60);
    assert!(!d.is_available(t));
    d.heartbeat(t);
    assert_eq!(d.last_heartbeat(), Some(t));
    assert_eq!(
        (d.sample_count(), d.mean(), d.std_deviation()),
        (count, mean, std)
    );
    assert!(d.is_available(t + Duration::from_secs(1)));
}

/// (5) `validate` (and `PhiDetector::new`) reject bad configurations with `Error::Config`.
#[test]
fn validate_rejects_bad_configs() {
    assert_eq!(PhiConfig::default().validate(), Ok(()));
    let ok = [
        PhiConfig {
            acceptable_heartbeat_pause: Duration::ZERO, // Akka's generic default
            ..PhiConfig::default()
        },
        PhiConfig {
            threshold: 1e-3,
            max_sample_size: 1,
            min_std_deviation: Duration::from_nanos(1),
            first_heartbeat_estimate: Duration::from_nanos(1),
            ..PhiConfig::default()
        },
    ];
    for config in ok {
        assert_eq!(config.validate(), Ok(()), "{config:?}");
    }
    let mut bad = Vec::new();
    for threshold in [0.0, -0.0, -1.0, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        bad.push(PhiConfig {
            threshold,
            ..PhiConfig::default()
        });
    }
    bad.push(PhiConfig {
        max_sample_size: 0,
        ..PhiConfig::default()
    });
    bad.push(PhiConfig {
        min_std_deviation: Duration::ZERO,
        ..PhiConfig::default()
    });
    bad.push(PhiConfig {
        first_heartbeat_estimate: Duration::ZERO,
        ..PhiConfig::default()
    });
    for config in bad {
        assert!(
            matches!(config.validate(), Err(Error::Config { .. })),
            "accepted {config:?}"
        );
        assert!(
            matches!(PhiDetector::new(config.clone()), Err(Error::Config { .. })),
            "new accepted {config:?}"
        );
    }
}

/// (6) Times before the last heartbeat give a finite phi (as if no time had passed) and
/// out-of-order heartbeats are ignored; extreme settings and long silences stay finite.
#[test]
fn time_going_backwards_is_harmless() {
    let mut d = detector(PhiConfig::default());
    let start = Instant::now();
    let mut t = start;
    for _ in 0..20 {
        t += Duration::from_secs(1);
        d.heartbeat(t);
    }
    let (count, mean) = (d.sample_count(), d.mean());
    for back in [
        start,
        t - Duration::from_millis(1),
        t - Duration::from_secs(10),
    ] {
        let phi = d.phi(back);
        assert!(phi.is_finite() && phi >= 0.0, "{phi}");
        assert_eq!(phi, d.phi(t));
        assert!(d.is_available(back));
        d.heartbeat(back);
        assert_eq!(d.last_heartbeat(), Some(t));
        assert_eq!((d.sample_count(), d.mean()), (count, mean));
    }
    // A heartbeat at the same instant is a zero interval, as in Akka.
    d.heartbeat(t);
    assert_eq!(d.sample_count(), count + 1);

    // Far in the tail phi stays finite (Akka's literal formula gives +inf there).
    let far = d.phi(t + Duration::from_secs(1_000_000));
    assert!(far.is_finite() && far > 1e6, "{far}");

    let mut extreme = detector(PhiConfig {
        threshold: f64::MAX,
        max_sample_size: 1,
        min_std_deviation: Duration::from_nanos(1),
        acceptable_heartbeat_pause: Duration::ZERO,
        first_heartbeat_estimate: Duration::from_nanos(1),
        model: PhiModel::Normal,
    });
    extreme.heartbeat(start);
    extreme.heartbeat(start); // zero interval: zero deviation, floored at 1 ns
    for e in [0, 1, 1_000, 1_000_000_000, 10_000_000_000_000_000] {
        let phi = extreme.phi(start + Duration::from_nanos(e));
        assert!(phi.is_finite() && phi >= 0.0, "{e} ns: {phi}");
    }
    assert!(extreme.is_available(start + Duration::from_secs(10_000_000)));
    let phi = extreme.phi(start.checked_sub(Duration::from_secs(1)).unwrap_or(start));
    assert!(phi.is_finite());
}

/// The exponential model (heartbeats relayed by gossip): phi is 0 through the pause, then grows
/// linearly — 8 at `pause + 18.4 × mean` — and a gap that the normal model of the same history
/// takes for a death (ten means) is only a doubt; at the extremes it stays finite and
/// non-negative.
#[test]
fn the_exponential_model_reaches_the_threshold_at_the_pause_plus_18_4_means() {
    let start = Instant::now();
    let exponential = PhiConfig {
        model: PhiModel::Exponential,
        ..PhiConfig::default()
    };
    let (mut relayed, mut direct) = (detector(exponential), detector(PhiConfig::default()));
    for s in 0..=20 {
        relayed.heartbeat(start + secs(f64::from(s)));
        direct.heartbeat(start + secs(f64::from(s)));
    }
    let last = start + secs(20.0);
    assert_eq!(relayed.mean(), Duration::from_secs(1));
    assert_eq!(relayed.phi(last + secs(3.0)), 0.0, "within the pause");
    let at_threshold = 3.0 + 8.0 / std::f64::consts::LOG10_E;
    assert!(relayed.is_available(last + secs(at_threshold - 0.01)));
    assert!(!relayed.is_available(last + secs(at_threshold + 0.01)));
    let ten = last + secs(10.0);
    assert!(
        !direct.is_available(ten),
        "the normal model: dead after 10 means"
    );
    assert!(
        relayed.is_available(ten),
        "the exponential model: phi {}",
        relayed.phi(ten)
    );
    let mut extreme = detector(PhiConfig {
        threshold: f64::MAX,
        max_sample_size: 1,
        acceptable_heartbeat_pause: Duration::ZERO,
        first_heartbeat_estimate: Duration::from_nanos(1),
        model: PhiModel::Exponential,
        ..PhiConfig::default()
    });
    extreme.heartbeat(start);
    extreme.heartbeat(start); // a zero interval: a zero mean, floored
    for e in [0, 1, 1_000, 1_000_000_000, 10_000_000_000_000_000] {
        let phi = extreme.phi(start + Duration::from_nanos(e));
        assert!(phi.is_finite() && phi >= 0.0, "{e} ns: {phi}");
    }
}
