//! The logs of `hearsay node` on stderr: text or one JSON object per line (`--log-format`), the
//! level from `RUST_LOG` (default `info`), and lines repeated from one call site rate-limited
//! ([`RateLimit`]): a flood of bad connections or datagrams costs a few lines and a count, not
//! one line each (a 40 s connection flood once wrote 12,000 lines).

use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tracing::Subscriber;
use tracing::callsite::Identifier;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written (`--log-format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `2026-01-01T00:00:00.000000Z  INFO target: message key=value` (the default).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `message` and the event's
    /// fields, for log collectors.
    Json,
}

/// Lines one call site may write per [`WINDOW`] before the rest are counted instead.
pub const BURST: u32 = 10;

/// The rate limit's window; the counts of suppressed lines are reported at this pace.
pub const WINDOW: Duration = Duration::from_secs(10);

/// The target of the lines that report suppressed ones (never limited themselves).
const REPORT_TARGET: &str = "hearsay::logs";

/// Counts lines per call site: the first [`BURST`] of each window pass, the rest are held back
/// and counted until [`RateLimit::take_suppressed`] reports them. Time is a parameter.
#[derive(Debug)]
pub struct RateLimit<K> {
    burst: u32,
    window: Duration,
    sites: HashMap<K, Site>,
}

#[derive(Debug)]
struct Site {
    label: String,
    window_start: Instant,
    passed: u32,
    suppressed: u64,
}

impl<K: Hash + Eq> RateLimit<K> {
    /// `burst` lines per `window` and call site.
    pub fn new(burst: u32, window: Duration) -> RateLimit<K> {
        RateLimit {
            burst,
            window,
            sites: HashMap::new(),
        }
    }

    /// Whether a line from `site` at `now` is written; `label` names the site (called once).
    pub fn allow(&mut self, site: K, now: Instant, label: impl FnOnce() -> String) -> bool {
        let window = self.window;
        let site = self.sites.entry(site).or_insert_with(|| Site {
            label: label(),
            window_start: now,
            passed: 0,
            suppressed: 0,
        });
        if now.saturating_duration_since(site.window_start) >= window {
            site.window_start = now;
            site.passed = 0;
        }
        if site.passed < self.burst {
            site.passed += 1;
            true
        } else {
            site.suppressed += 1;
            false
        }
    }

    /// The sites that held lines back since the last call, with how many, sorted by label; their
    /// counts start again from 0.
    pub fn take_suppressed(&mut self) -> Vec<(String, u64)> {
        let mut taken: Vec<(String, u64)> = self
            .sites
            .values_mut()
            .filter(|site| site.suppressed > 0)
            .map(|site| (site.label.clone(), std::mem::take(&mut site.suppressed)))
            .collect();
        taken.sort();
        taken
    }
}

/// The process's rate limit, shared by the layer and [`report_suppressed`].
fn limit() -> MutexGuard<'static, RateLimit<Identifier>> {
    static LIMIT: OnceLock<Mutex<RateLimit<Identifier>>> = OnceLock::new();
    LIMIT
        .get_or_init(|| Mutex::new(RateLimit::new(BURST, WINDOW)))
        .lock()
        // Every update leaves the counts usable.
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The layer that applies the rate limit to every event that passes the level filter.
struct Limiter;

impl<S: Subscriber> Layer<S> for Limiter {
    fn event_enabled(&self, event: &tracing::Event<'_>, _: Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if metadata.target() == REPORT_TARGET {
            return true;
        }
        limit().allow(metadata.callsite(), Instant::now(), || {
            format!(
                "{} ({}:{})",
                metadata.target(),
                metadata.file().unwrap_or("?"),
                metadata.line().unwrap_or(0)
            )
        })
    }
}

/// Logs, at warning level, how many lines each call site held back since the last report.
/// `hearsay node` calls it every [`WINDOW`] and once when it stops.
pub fn report_suppressed() {
    let taken = limit().take_suppressed();
    for (site, suppressed) in taken {
        tracing::warn!(target: REPORT_TARGET, suppressed, %site, "repeated log lines suppressed");
    }
}

/// Reports suppressed lines every [`WINDOW`], forever (spawn it on the node's runtime).
pub async fn report_every_window() {
    let mut every = tokio::time::interval(WINDOW);
    every.tick().await;
    loop {
        every.tick().await;
        report_suppressed();
    }
}

/// The filter `RUST_LOG` asks for: `info` when it is unset or empty (an empty filter would
/// hide every line, warnings included), and when it is not a filter — then with the reason, to be
/// logged once logging runs.
fn log_filter(rust_log: Option<&str>) -> (tracing_subscriber::EnvFilter, Option<String>) {
    let info = || tracing_subscriber::EnvFilter::new("info");
    match rust_log.map(str::trim).filter(|value| !value.is_empty()) {
        None => (info(), None),
        Some(value) => match tracing_subscriber::EnvFilter::try_new(value) {
            Ok(filter) => (filter, None),
            Err(error) => (
                info(),
                Some(format!(
                    "RUST_LOG={value:?} is not a log filter ({error}): logging at info"
                )),
            ),
        },
    }
}

/// Sends logs to stderr in `format`; `RUST_LOG` picks the level (default `info`, also when it
/// is empty or not a filter: then said in a warning).
pub fn init(format: LogFormat) {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (chosen, refused) = log_filter(rust_log.as_deref());
    let registry = tracing_subscriber::registry().with(chosen).with(Limiter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let _ = match format {
        LogFormat::Text => registry.with(fmt).try_init(),
        LogFormat::Json => registry
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
            )
            .try_init(),
    };
    if let Some(refused) = refused {
        tracing::warn!("{refused}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_empty_or_not_a_filter_logs_at_info() {
        for value in [None, Some(""), Some("  ")] {
            let (chosen, refused) = log_filter(value);
            assert_eq!(chosen.to_string(), "info");
            assert!(refused.is_none());
        }
        let (chosen, refused) = log_filter(Some("garbage["));
        assert_eq!(chosen.to_string(), "info");
        assert!(refused.is_some_and(|r| r.contains("garbage[")));
        let (chosen, refused) = log_filter(Some("debug"));
        assert_eq!(chosen.to_string(), "debug");
        assert!(refused.is_none());
    }

    #[test]
    fn a_burst_per_window_passes_and_the_rest_is_counted() {
        let start = Instant::now();
        let mut limit = RateLimit::new(3, Duration::from_secs(10));
        let passed = (0..100)
            .filter(|_| limit.allow("flood", start, || "flood".into()))
            .count();
        assert_eq!(passed, 3);
        // Another call site has its own budget.
        assert!(limit.allow("other", start, || "other".into()));
        assert_eq!(limit.take_suppressed(), vec![("flood".to_owned(), 97)]);
        assert_eq!(limit.take_suppressed(), vec![]);
        // Still the same window: held back.
        assert!(!limit.allow("flood", start + Duration::from_secs(9), || unreachable!()));
        // A new window: a new burst.
        let later = start + Duration::from_secs(10);
        let passed = (0..5)
            .filter(|_| limit.allow("flood", later, || unreachable!()))
            .count();
        assert_eq!(passed, 3);
        assert_eq!(limit.take_suppressed(), vec![("flood".to_owned(), 3)]);
    }
}
