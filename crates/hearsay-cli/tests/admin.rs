//! The admin listener (`hearsay node --admin`) of real node processes on loopback: `/metrics`
//! parsed as Prometheus text, `/health` flipping to ready after the join, `/members` and
//! `/state`, and the status page rendered by headless Chromium.

mod common;

use common::NodeProcess;
use common::http::{self, Answer};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-admin-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn key_file(dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hearsay"))
        .arg("keygen")
        .output()
        .expect("keygen runs");
    assert!(output.status.success());
    let path = dir.join("key");
    std::fs::write(&path, &output.stdout).expect("key written");
    path.to_str().expect("path").to_owned()
}

/// Starts a node with `--admin 127.0.0.1:0` and answers it with its admin address, read from
/// its log line.
fn start_with_admin(args: &[&str]) -> (NodeProcess, String) {
    let mut all = args.to_vec();
    all.extend(["--admin", "127.0.0.1:0"]);
    let mut node = NodeProcess::start_logged(&all);
    let line = node.wait_log("admin listening", Duration::from_secs(10));
    let addr = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no addr= in {line:?}"))
        .to_owned();
    (node, addr)
}

/// Polls `GET path` every 50 ms until `done` holds for the answer, for at most `within`; fails
/// with the last answer.
fn poll(admin: &str, path: &str, within: Duration, done: impl Fn(&Answer) -> bool) -> Answer {
    let deadline = Instant::now() + within;
    loop {
        let answer = http::get(admin, path);
        if done(&answer) {
            return answer;
        }
        assert!(
            Instant::now() < deadline,
            "GET {path} did not get there within {within:?}; last answer: {answer:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The members `GET /members` lists with status `up`.
fn up_members(admin: &str) -> Vec<u64> {
    let members = http::get(admin, "/members").json();
    members["members"]
        .as_array()
        .unwrap_or_else(|| panic!("{members}"))
        .iter()
        .filter(|member| member["status"] == "up")
        .filter_map(|member| member["id"].as_u64())
        .collect()
}

/// A scrape parsed as Prometheus text.
fn scrape(admin: &str) -> prometheus_parse::Scrape {
    let answer = http::get(admin, "/metrics");
    assert_eq!(answer.status, 200, "{answer:?}");
    let content_type = answer.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let lines = answer.body.lines().map(|line| Ok(line.to_owned()));
    prometheus_parse::Scrape::parse(lines).expect("Prometheus text")
}

/// The value of `metric` with exactly `labels`; fails if absent.
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|sample| {
            sample.metric == metric
                && sample.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(name, value)| sample.labels.get(name) == Some(*value))
        })
        .unwrap_or_else(|| panic!("no sample {metric}{labels:?}"));
    match sample.value {
        prometheus_parse::Value::Counter(value)
        | prometheus_parse::Value::Gauge(value)
        | prometheus_parse::Value::Untyped(value) => value,
        ref other => panic!("{metric}: unexpected {other:?}"),
    }
}

/// A node given a seed that never answers is not ready (503, `joining`); once another node
/// joins through it, `/health` answers 200 and `/metrics` — parsed as Prometheus text — counts
/// both members Up and the gossip between them; `/members` and `/state` agree.
#[test]
fn health_flips_to_ready_after_the_join_and_metrics_parse() {
    let dir = temp_dir("health");
    let key = key_file(&dir);
    // A seed that never answers: a socket this test holds and never reads.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let silent = silent.local_addr().expect("addr").to_string();
    let (first, admin) = start_with_admin(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        &key,
        "--id",
        "1",
        "--membership",
        "--seed-peer",
        &silent,
    ]);
    let health = http::get(&admin, "/health");
    assert_eq!(health.status, 503, "{health:?}");
    assert_eq!(health.json()["status"], "joining", "{health:?}");
    let before = scrape(&admin);
    assert_eq!(value(&before, "hearsay_ready", &[]), 0.0);
    assert_eq!(value(&before, "hearsay_members", &[("status", "up")]), 1.0);

    let _second = NodeProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        &key,
        "--id",
        "2",
        "--membership",
        "--seed-peer",
        &first.addr,
    ]);
    let health = poll(&admin, "/health", Duration::from_secs(10), |answer| {
        answer.status == 200
    });
    assert_eq!(health.json()["status"], "ready", "{health:?}");

    let after = scrape(&admin);
    assert_eq!(value(&after, "hearsay_ready", &[]), 1.0);
    assert_eq!(value(&after, "hearsay_members", &[("status", "up")]), 2.0);
    assert_eq!(value(&after, "hearsay_members", &[("status", "down")]), 0.0);
    let received: f64 = ["syn", "synack", "ack", "probe"]
        .iter()
        .map(|kind| {
            value(
                &after,
                "hearsay_gossip_messages_total",
                &[("direction", "received"), ("kind", kind)],
            )
        })
        .sum();
    assert!(received > 0.0, "no message received");
    let bytes_in = value(&after, "hearsay_net_bytes_total", &[("direction", "in")]);
    assert!(bytes_in > 0.0);
    // Counters only grow between scrapes.
    assert!(bytes_in >= value(&before, "hearsay_net_bytes_total", &[("direction", "in")]));
    assert_eq!(
        value(
            &after,
            "hearsay_dropped_messages_total",
            &[("direction", "in"), ("cause", "auth_failure")]
        ),
        0.0
    );
    assert!(value(&after, "hearsay_store_origins", &[]) >= 2.0);
    assert!(value(&after, "hearsay_gossip_rounds_total", &[]) > 0.0);
    // Every metric is documented by a HELP line.
    for sample in &after.samples {
        let family = after
            .docs
            .keys()
            .any(|name| sample.metric.starts_with(name.as_str()));
        assert!(family, "no HELP for {}", sample.metric);
    }

    let members = http::get(&admin, "/members").json();
    assert_eq!(members["self"]["id"], 1, "{members}");
    let mut up = up_members(&admin);
    up.sort_unstable();
    assert_eq!(up, [1, 2], "{members}");
    let state = http::get(&admin, "/state").json();
    assert_eq!(state["health"]["status"], "ready", "{state}");
    assert!(
        state["net"]["bytes_in"].as_u64().expect("bytes_in") > 0,
        "{state}"
    );
    assert_eq!(state["transport"], "datagram", "{state}");
    // Unknown paths are 404s, and the node goes on.
    assert_eq!(http::get(&admin, "/nope").status, 404);
    assert_eq!(http::get(&admin, "/health").status, 200);
}
