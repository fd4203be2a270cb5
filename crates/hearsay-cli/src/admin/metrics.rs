//! `/metrics`: a reading in the Prometheus text format (OpenMetrics), encoded by
//! `prometheus-client`. Every value is a real counter or level of the running node: the
//! protocol's [`hearsay_proto::Stats`], the links' [`hearsay_net::NetStats`], the member table,
//! the failure detectors, the store. `docs/operations.md` lists and explains each metric.
//!
//! The node keeps its own counters, so each scrape builds a fresh registry and sets every
//! counter to the node's value (a counter starts at 0 and is incremented by it once).

use super::Info;
use super::health::Readiness;
use super::history::History;
use super::reading::Reading;
use hearsay_net::Counter as NetCounter;
use hearsay_proto::{MemberStatus, MessageKind};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// The `Content-Type` of [`render`]'s text (OpenMetrics), served to scrapers that accept it
/// (Prometheus does).
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The `Content-Type` of [`classic`]'s text (Prometheus text format 0.0.4), served to everyone
/// else (`curl`, `promtool check metrics`, older scrapers).
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Turns [`render`]'s OpenMetrics text into the classic Prometheus text format: a counter's
/// `HELP` and `TYPE` name its samples (`…_total`), and the `UNIT` and `EOF` lines, which the
/// classic format lacks, go. Samples are unchanged.
pub fn classic(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let comment = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match comment {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    text.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    text.push_str(line);
                }
            }
            None => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// A metric's labels.
type Labels = Vec<(&'static str, String)>;

/// A family of counters, each set once.
#[derive(Default)]
struct Counters(Family<Labels, Counter>);

impl Counters {
    fn set(&self, labels: &[(&'static str, &str)], value: u64) {
        let labels: Labels = labels
            .iter()
            .map(|&(name, value)| (name, value.to_owned()))
            .collect();
        self.0.get_or_create(&labels).inc_by(value);
    }
}

/// A family of integer gauges.
#[derive(Default)]
struct Gauges(Family<Labels, Gauge>);

impl Gauges {
    fn set(&self, labels: &[(&'static str, &str)], value: u64) {
        let labels: Labels = labels
            .iter()
            .map(|&(name, value)| (name, value.to_owned()))
            .collect();
        self.0
            .get_or_create(&labels)
            .set(i64::try_from(value).unwrap_or(i64::MAX));
    }
}

fn counter(value: u64) -> Counter {
    let counter = Counter::default();
    counter.inc_by(value);
    counter
}

fn gauge(value: u64) -> Gauge {
    let gauge = Gauge::default();
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
    gauge
}

fn float_gauge(value: f64) -> Gauge<f64, AtomicU64> {
    let gauge = Gauge::<f64, AtomicU64>::default();
    gauge.set(value);
    gauge
}

/// The reading as Prometheus text.
pub fn render(
    info: &Info,
    reading: &Reading,
    history: &History,
    readiness: Readiness,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("hearsay");
    let metrics = &reading.node.metrics;
    let stats = &metrics.stats;
    let net = |counter: NetCounter| reading.counter(counter);

    // An info metric as a gauge of 1 (the classic text format has no `info` type).
    let node = Gauges::default();
    node.set(
        &[
            ("id", &metrics.id.0.to_string()),
            ("generation", &metrics.generation.0.to_string()),
            ("transport", info.transport),
            ("membership", if info.membership { "true" } else { "false" }),
        ],
        1,
    );
    registry.register(
        "node_info",
        "The node: id, generation, transport, whether membership runs (always 1)",
        node.0,
    );
    registry.register(
        "ready",
        "1 once the node has joined its cluster (as /health answers 200), 0 while joining or leaving",
        gauge(u64::from(readiness.is_ready())),
    );

    // The protocol's traffic.
    registry.register("gossip_rounds", "Gossip rounds run", counter(stats.rounds));
    let messages = Counters::default();
    let bytes = Counters::default();
    for kind in MessageKind::ALL {
        for (direction, traffic) in [
            ("sent", stats.sent[kind as usize]),
            ("received", stats.received[kind as usize]),
        ] {
            let labels = [("direction", direction), ("kind", kind.name())];
            messages.set(&labels, traffic.messages);
            bytes.set(&labels, traffic.bytes);
        }
    }
    registry.register(
        "gossip_messages",
        "Protocol messages sent, and received and accepted, by kind",
        messages.0,
    );
    registry.register_with_unit(
        "gossip",
        "Encoded bytes of protocol messages sent, and received and accepted, by kind",
        Unit::Bytes,
        bytes.0,
    );
    registry.register(
        "deltas_sent",
        "Deltas (entry updates) sent",
        counter(stats.deltas_sent),
    );
    let deltas = Counters::default();
    deltas.set(&[("outcome", "applied")], stats.deltas_applied);
    deltas.set(&[("outcome", "redundant")], stats.deltas_redundant);
    deltas.set(&[("outcome", "refused")], stats.deltas_refused);
    registry.register(
        "deltas_received",
        "Deltas received: applied (news), redundant (known already), refused (key too long)",
        deltas.0,
    );

    // Everything dropped, by cause.
    let dropped = Counters::default();
    for (direction, cause, value) in [
        ("in", "auth_failure", net(NetCounter::AuthFailures)),
        ("in", "bad_frame", net(NetCounter::BadFrames)),
        ("in", "rejected", stats.rejected),
        ("in", "inbound_queue_full", net(NetCounter::InboundDropped)),
        ("out", "undeliverable", net(NetCounter::Dropped)),
        ("out", "unaddressed", net(NetCounter::Unaddressed)),
        ("out", "over_mtu", stats.over_mtu),
    ] {
        dropped.set(&[("direction", direction), ("cause", cause)], value);
    }
    registry.register(
        "dropped_messages",
        "Datagrams, frames or messages dropped, by direction and cause",
        dropped.0,
    );

    // The links.
    let frames = Counters::default();
    let wire = Counters::default();
    frames.set(&[("direction", "in")], net(NetCounter::FramesIn));
    frames.set(&[("direction", "out")], net(NetCounter::FramesOut));
    wire.set(&[("direction", "in")], net(NetCounter::BytesIn));
    wire.set(&[("direction", "out")], net(NetCounter::BytesOut));
    registry.register(
        "net_frames",
        "Datagrams (or TCP frames) received and sent, any kind",
        frames.0,
    );
    registry.register_with_unit(
        "net",
        "Bytes received and sent on the wire, sealing and length prefixes included",
        Unit::Bytes,
        wire.0,
    );
    for (name, help, value) in [
        (
            "net_dials",
            "Dials attempted (or hellos sent to a seed)",
            NetCounter::Dials,
        ),
        (
            "net_established",
            "Handshakes completed (or seeds that answered a hello)",
            NetCounter::Established,
        ),
        (
            "net_refused",
            "Handshakes refused: another cluster, version or id, or refused by the peer",
            NetCounter::Refused,
        ),
        (
            "net_timeouts",
            "Connections closed for a timeout: handshake, idle or write",
            NetCounter::Timeouts,
        ),
        (
            "net_accepted",
            "TCP connections accepted",
            NetCounter::Accepted,
        ),
        (
            "net_over_limit",
            "Connections refused or dials put off because of the connection limit",
            NetCounter::OverLimit,
        ),
        (
            "net_replays",
            "Hellos and welcomes refused as replays or duplicates (datagrams)",
            NetCounter::Replays,
        ),
        (
            "net_superseded_notices",
            "Peers told that another process runs their id at a newer generation (datagrams)",
            NetCounter::SupersededNotices,
        ),
        (
            "net_superseded",
            "Notices that another process runs this node's id at a newer generation (datagrams)",
            NetCounter::Superseded,
        ),
    ] {
        registry.register(name, help, counter(net(value)));
    }
    let links = Gauges::default();
    let connected = reading.links.iter().filter(|link| link.connected).count();
    links.set(&[("state", "connected")], connected as u64);
    links.set(
        &[("state", "disconnected")],
        (reading.links.len() - connected) as u64,
    );
    registry.register(
        "links",
        "Peers this node reaches, by link state (datagrams: addresses known; streams: connections)",
        links.0,
    );

    // Membership and failure detection.
    let members = Gauges::default();
    for status in [
        MemberStatus::Joining,
        MemberStatus::Up,
        MemberStatus::Suspect,
        MemberStatus::Down,
        MemberStatus::Left,
        MemberStatus::Removed,
    ] {
        let count = reading
            .node
            .members
            .iter()
            .filter(|member| member.status == status)
            .count();
        members.set(&[("status", status.name())], count as u64);
    }
    registry.register(
        "members",
        "Members in this node's table by status, itself included (all 0 without membership)",
        members.0,
    );
    let unconfirmed = (reading.node.members.iter())
        .filter(|member| member.unconfirmed)
        .count();
    registry.register(
        "members_unconfirmed",
        "Of the members Down here, those on fewer witnesses than the quorum (this node was left \
         with fewer members to witness): not removed until others confirm them",
        gauge(unconfirmed as u64),
    );
    let phi = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    for &(member, value) in &reading.node.phi {
        phi.get_or_create(&vec![("member", member.0.to_string())])
            .set(value);
    }
    registry.register(
        "member_phi",
        "Suspicion level phi of each member under the heartbeat detector (absent under SWIM)",
        phi,
    );
    if let Some(health) = reading.node.local_health {
        registry.register(
            "swim_local_health",
            "SWIM's local health score (Lifeguard): 0 healthy; probes slow down by 1 + score",
            gauge(u64::from(health)),
        );
    }
    if let Some(queued) = reading.node.queued_updates {
        registry.register(
            "swim_queued_updates",
            "SWIM membership updates waiting to be gossiped",
            gauge(queued as u64),
        );
    }
    if let Some(views) = &reading.node.views {
        let sizes = Family::<Labels, Gauge>::default();
        for (view, peers) in [("active", &views.active), ("passive", &views.passive)] {
            sizes
                .get_or_create(&vec![("view", view.to_owned())])
                .set(peers.len() as i64);
        }
        registry.register(
            "view_peers",
            "Peers in this node's partial views, active and passive (absent without views)",
            sizes,
        );
    }
    registry.register(
        "late_probe_cycles",
        "SWIM probe cycles concluded more than a probe interval late (the node was starved)",
        counter(stats.late_probe_cycles),
    );
    let refutations = Counters::default();
    refutations.set(&[("kind", "generation")], stats.refutations);
    refutations.set(&[("kind", "incarnation")], stats.refutations_fd);
    registry.register(
        "refutations",
        "Times the node refuted news about itself: a newer generation, or a higher incarnation against a suspicion",
        refutations.0,
    );

    // The store.
    registry.register(
        "store_entries",
        "Entries held, every origin's, tombstones included",
        gauge(metrics.entries as u64),
    );
    registry.register(
        "store_origins",
        "Origins (nodes) whose state is held",
        gauge(reading.node.origins.len() as u64),
    );
    registry.register(
        "store_stale_origins",
        "Origins held whose heartbeat has not advanced here for 30 gossip rounds",
        gauge(history.stale_origins(reading) as u64),
    );
    registry.register(
        "hot_rumors",
        "Rumors this node is still spreading",
        gauge(metrics.hot_rumors as u64),
    );

    // Flow control.
    registry.register(
        "writes_throttled",
        "Local writes refused by flow control",
        counter(stats.throttled),
    );
    registry.register(
        "congested_rounds",
        "Rounds in which flow control saw congestion",
        counter(stats.congested_rounds),
    );
    if let Some(rate) = metrics.allowed_rate {
        registry.register(
            "flow_allowed_write_rate",
            "Writes per second flow control allows this node",
            float_gauge(rate),
        );
    }

    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(samples_in_order(&text))
}

/// The samples of each family in label order: a family's labelled series come out of
/// `prometheus_client` in hash order, different at every scrape (a diff of two scrapes, or a
/// reader of the text, saw `hearsay_members` shuffled). Only for families of counters and
/// gauges: a histogram's buckets must keep their `le` order (this registry has none).
fn samples_in_order(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run: Vec<&str> = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            run.sort_unstable();
            for sample in run.drain(..) {
                out.push_str(sample);
                out.push('\n');
            }
            out.push_str(line);
            out.push('\n');
        } else {
            run.push(line);
        }
    }
    run.sort_unstable();
    for sample in run {
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{classic, samples_in_order};

    #[test]
    fn the_samples_of_a_family_come_in_label_order() {
        let text = "# HELP m Members.\n# TYPE m gauge\nm{status=\"up\"} 3\nm{status=\"down\"} 1\n\
                    # HELP y Level.\n# TYPE y gauge\ny 1\n# EOF\n";
        assert_eq!(
            samples_in_order(text),
            "# HELP m Members.\n# TYPE m gauge\nm{status=\"down\"} 1\nm{status=\"up\"} 3\n\
             # HELP y Level.\n# TYPE y gauge\ny 1\n# EOF\n"
        );
    }

    #[test]
    fn classic_text_names_counters_by_their_samples() {
        let openmetrics = "# HELP x_bytes Bytes.\n# TYPE x_bytes counter\n# UNIT x_bytes bytes\n\
                           x_bytes_total{a=\"b\"} 3\n# HELP y Level.\n# TYPE y gauge\ny 1\n# EOF\n";
        assert_eq!(
            classic(openmetrics),
            "# HELP x_bytes_total Bytes.\n# TYPE x_bytes_total counter\n\
             x_bytes_total{a=\"b\"} 3\n# HELP y Level.\n# TYPE y gauge\ny 1\n"
        );
    }
}
