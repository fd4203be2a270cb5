//! What the admin listener remembers between readings: a time series of traffic and
//! convergence for the status page's plot (`/series`), and when each origin's heartbeat last
//! advanced here ("last heartbeat", stale origins).

use super::reading::Reading;
use hearsay_net::Counter;
use hearsay_proto::{Generation, MemberStatus, NodeId};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How often the sampler takes a reading.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Samples kept: five minutes at [`SAMPLE_EVERY`].
pub const KEPT: usize = 300;

/// An origin is stale once its heartbeat has not advanced here for this many gossip intervals
/// (heartbeats advance every round and travel with anti-entropy digests).
pub const STALE_ROUNDS: u32 = 30;

/// One point of the series: rates over the interval since the previous reading, and levels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the node started.
    pub t: f64,
    /// Bytes received per second (datagrams or frames, as on the wire).
    pub bytes_in_per_s: f64,
    /// Bytes sent per second.
    pub bytes_out_per_s: f64,
    /// Gossip messages received per second.
    pub messages_in_per_s: f64,
    /// Gossip messages sent per second.
    pub messages_out_per_s: f64,
    /// Deltas received per second that changed the state: news. It falls to 0 once the node has
    /// caught up with the cluster.
    pub news_per_s: f64,
    /// Deltas received per second that brought nothing new.
    pub redundant_per_s: f64,
    /// Members Up (membership on), or origins heard from recently (off).
    pub members_up: usize,
    /// Entries held, tombstones included.
    pub entries: usize,
}

/// Running totals the rates are computed from.
#[derive(Clone, Copy, Debug)]
struct Totals {
    at: Instant,
    bytes_in: u64,
    bytes_out: u64,
    messages_in: u64,
    messages_out: u64,
    news: u64,
    redundant: u64,
}

impl Totals {
    fn of(reading: &Reading) -> Totals {
        let stats = &reading.node.metrics.stats;
        Totals {
            at: reading.at,
            bytes_in: reading.counter(Counter::BytesIn),
            bytes_out: reading.counter(Counter::BytesOut),
            messages_in: reading.counter(Counter::GossipIn),
            messages_out: reading.counter(Counter::GossipOut),
            news: stats.deltas_applied,
            redundant: stats.deltas_redundant,
        }
    }
}

/// When an origin's heartbeat was last seen advancing.
#[derive(Clone, Copy, Debug)]
struct Heard {
    generation: Generation,
    heartbeat: u64,
    at: Instant,
}

/// The series and the heartbeat tracker.
#[derive(Debug)]
pub struct History {
    started: Instant,
    stale_after: Duration,
    samples: VecDeque<Sample>,
    previous: Option<Totals>,
    heard: BTreeMap<NodeId, Heard>,
}

impl History {
    /// An empty history for a node started at `started` whose rounds last `interval`.
    pub fn new(started: Instant, interval: Duration) -> History {
        History {
            started,
            stale_after: interval.saturating_mul(STALE_ROUNDS),
            samples: VecDeque::with_capacity(KEPT),
            previous: None,
            heard: BTreeMap::new(),
        }
    }

    /// Notes which heartbeats advanced since the last reading (forgetting origins the node no
    /// longer holds).
    pub fn track(&mut self, reading: &Reading) {
        let origins = &reading.node.origins;
        self.heard
            .retain(|id, _| origins.iter().any(|origin| origin.origin == *id));
        for origin in origins {
            let heard = self.heard.entry(origin.origin).or_insert(Heard {
                generation: origin.generation,
                heartbeat: origin.heartbeat,
                at: reading.at,
            });
            if (origin.generation, origin.heartbeat) != (heard.generation, heard.heartbeat) {
                *heard = Heard {
                    generation: origin.generation,
                    heartbeat: origin.heartbeat,
                    at: reading.at,
                };
            }
        }
    }

    /// Tracks `reading` and appends its sample (rates against the previous recorded reading).
    pub fn record(&mut self, reading: &Reading) {
        self.track(reading);
        let totals = Totals::of(reading);
        let rate = |now: u64, then: u64, seconds: f64| {
            if seconds > 0.0 {
                now.saturating_sub(then) as f64 / seconds
            } else {
                0.0
            }
        };
        let previous = self.previous.unwrap_or(totals);
        let seconds = totals
            .at
            .saturating_duration_since(previous.at)
            .as_secs_f64();
        let sample = Sample {
            t: reading
                .at
                .saturating_duration_since(self.started)
                .as_secs_f64(),
            bytes_in_per_s: rate(totals.bytes_in, previous.bytes_in, seconds),
            bytes_out_per_s: rate(totals.bytes_out, previous.bytes_out, seconds),
            messages_in_per_s: rate(totals.messages_in, previous.messages_in, seconds),
            messages_out_per_s: rate(totals.messages_out, previous.messages_out, seconds),
            news_per_s: rate(totals.news, previous.news, seconds),
            redundant_per_s: rate(totals.redundant, previous.redundant, seconds),
            members_up: self.members_up(reading),
            entries: reading.node.metrics.entries,
        };
        self.previous = Some(totals);
        if self.samples.len() == KEPT {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Members Up, or without membership the origins heard from recently.
    pub fn members_up(&self, reading: &Reading) -> usize {
        if reading.node.members.is_empty() {
            reading.node.origins.len() - self.stale_origins(reading)
        } else {
            reading
                .node
                .members
                .iter()
                .filter(|member| member.status == MemberStatus::Up)
                .count()
        }
    }

    /// How long ago `origin`'s heartbeat last advanced here, as of `now` (`None`: not held).
    pub fn last_heard(&self, origin: NodeId, now: Instant) -> Option<Duration> {
        self.heard
            .get(&origin)
            .map(|heard| now.saturating_duration_since(heard.at))
    }

    /// Origins held whose heartbeat has not advanced for [`STALE_ROUNDS`] rounds, as of the
    /// reading (the node's own origin never is).
    pub fn stale_origins(&self, reading: &Reading) -> usize {
        let me = reading.node.metrics.id;
        reading
            .node
            .origins
            .iter()
            .filter(|origin| origin.origin != me)
            .filter(|origin| {
                self.last_heard(origin.origin, reading.at)
                    .is_some_and(|ago| ago > self.stale_after)
            })
            .count()
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = &Sample> {
        self.samples.iter()
    }
}
