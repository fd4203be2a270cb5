//! Operating `hearsay node` as real processes: a `--config` file with flags over it, presets,
//! JSON logs, and repeated log lines rate-limited under a connection flood.

mod common;

use common::NodeProcess;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-ops-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn write_key(dir: &Path) {
    let output = Command::new(env!("CARGO_BIN_EXE_hearsay"))
        .arg("keygen")
        .output()
        .expect("keygen runs");
    assert!(output.status.success());
    std::fs::write(dir.join("key"), &output.stdout).expect("key written");
}

/// A node run from a config file (a relative key file and state file, a preset, JSON logs, an
/// admin listener): flags given on the command line win over the file's values.
#[test]
fn a_config_file_runs_a_node_and_flags_override_it() {
    let dir = temp_dir("config");
    write_key(&dir);
    let config = dir.join("node.toml");
    std::fs::write(
        &config,
        "# a node of the test cluster\n\
         id = 5\n\
         bind = \"127.0.0.1:0\"\n\
         key-file = \"key\"\n\
         cluster = \"ops-test\"\n\
         preset = \"local\"\n\
         admin = \"127.0.0.1:0\"\n\
         log-format = \"json\"\n\
         state-file = \"node.state\"\n",
    )
    .expect("config written");
    let _ = std::fs::remove_file(dir.join("node.state"));
    let config = config.to_str().expect("path");
    let mut node = NodeProcess::start_logged(&["--config", config, "--id", "6"]);
    let members: Value = serde_json::from_str(&node.ask("members")).expect("JSON");
    assert_eq!(members["self"]["id"], 6, "the flag wins: {members}");
    // The preset turned membership on: the node lists itself.
    assert_eq!(members["members"][0]["status"], "up", "{members}");
    // JSON logs: one object per line, with the event's fields flattened.
    let line = node.wait_log("admin listening", Duration::from_secs(10));
    let log: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
    assert_eq!(log["level"], "INFO", "{log}");
    assert_eq!(log["message"], "admin listening", "{log}");
    let admin = log["addr"].as_str().unwrap_or_else(|| panic!("{log}"));
    let state = common::http::get(admin, "/state").json();
    assert_eq!(state["self"]["id"], 6, "{state}");
    assert_eq!(state["membership"], true, "{state}");
    // A second node joins with the file's cluster name given as a flag, and a text log.
    let key = dir.join("key");
    let mut second = NodeProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        key.to_str().expect("path"),
        "--cluster",
        "ops-test",
        "--id",
        "7",
        "--preset",
        "local",
        "--seed-peer",
        &node.addr,
    ]);
    assert!(second.ask("set joined yes").starts_with("OK "));
    assert_eq!(node.ask("wait joined yes"), "OK");
    for line in node.logs_so_far() {
        assert!(
            serde_json::from_str::<Value>(&line).is_ok(),
            "not JSON: {line}"
        );
    }
    // The state file, relative to the config file's directory, is written at exit.
    assert_eq!(node.ask("quit"), "OK bye");
    node.wait_exit(Duration::from_secs(20));
    let saved = std::fs::read(dir.join("node.state")).expect("state saved beside the config");
    let snapshot = hearsay_proto::Snapshot::decode(&saved).expect("a snapshot");
    assert_eq!(snapshot.id, hearsay_proto::NodeId(6));
}

/// Bad config files stop the node before it starts, with an error that names the file and the
/// offending key.
#[test]
fn bad_config_files_fail_naming_the_key() {
    let dir = temp_dir("bad-config");
    write_key(&dir);
    for (name, text, needles) in [
        (
            "unknown.toml",
            "key-file = \"key\"\nbnd = \"127.0.0.1:0\"\n",
            &["unknown field `bnd`", "unknown.toml"][..],
        ),
        (
            "variant.toml",
            "key-file = \"key\"\ntransport = \"pigeon\"\n",
            &["transport", "pigeon"][..],
        ),
        (
            "address.toml",
            "key-file = \"key\"\nadmin = \"not an address\"\n",
            &["admin"][..],
        ),
        (
            "syntax.toml",
            "key-file = \"key\"\nbind = \n",
            &["bind"][..],
        ),
        ("no-key.toml", "bind = \"127.0.0.1:0\"\n", &["key file"][..]),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("written");
        let output = common::run_within(
            &["node", "--config", path.to_str().expect("path")],
            Duration::from_secs(10),
        );
        assert!(!output.status.success(), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        for needle in needles {
            assert!(stderr.contains(needle), "{name}: {stderr}");
        }
    }
    let output = common::run_within(
        &["node", "--config", "/nonexistent/node.toml"],
        Duration::from_secs(10),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/node.toml"));
    // A taken admin port stops the node before it starts.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().expect("addr").to_string();
    let key = dir.join("key");
    let output = common::run_within(
        &[
            "node",
            "--bind",
            "127.0.0.1:0",
            "--key-file",
            key.to_str().expect("path"),
            "--admin",
            &taken,
        ],
        Duration::from_secs(10),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--admin") && stderr.contains("cannot listen"),
        "{stderr}"
    );
    let output = common::run_within(
        &["node", "--preset", "moon", "--key-file", "key"],
        Duration::from_secs(10),
    );
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--preset"));
}

/// Connections that send a 4 GiB length prefix each cost a warning (or, past one host's share
/// of the handshakes, a refusal); 300 of them write a burst of those warnings and a line
/// counting the rest, not 300 lines.
#[test]
fn a_connection_flood_writes_a_few_log_lines() {
    let dir = temp_dir("flood");
    write_key(&dir);
    let key = dir.join("key");
    let mut node = NodeProcess::start_logged(&[
        "--bind",
        "127.0.0.1:0",
        "--transport",
        "stream",
        "--key-file",
        key.to_str().expect("path"),
    ]);
    const FLOOD: u64 = 300;
    for _ in 0..FLOOD {
        let mut stream = std::net::TcpStream::connect(&node.addr).expect("connect");
        stream.write_all(&[0xff; 8]).expect("written");
    }
    // Each connection is read and refused for its bytes (`bad_frames`), or — one host holding
    // more than its share of the handshakes (`handshake_budget_per_source`) — closed at once
    // (`over_limit`).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats: Value = serde_json::from_str(&node.ask("stats")).expect("JSON");
        let count = |name: &str| stats[name].as_u64().unwrap_or(0);
        if count("bad_frames") + count("over_limit") >= FLOOD {
            break;
        }
        assert!(Instant::now() < deadline, "flood not seen: {stats}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(node.ask("quit"), "OK bye");
    node.wait_exit(Duration::from_secs(10));
    let logs = node.logs_until_closed(Duration::from_secs(10));
    let warnings = logs
        .iter()
        .filter(|line| {
            line.contains("closing connection") || line.contains("refusing a connection")
        })
        .count();
    // A burst of 10 per call site (an oversized prefix is refused at one; a connection over
    // the limits at another) and 10 s window: one window here, two on a machine so slow that
    // the flood outlasts a window.
    assert!(
        (1..=40).contains(&warnings),
        "{warnings} warnings: {logs:#?}"
    );
    let suppressed: u64 = logs
        .iter()
        .filter(|line| line.contains("repeated log lines suppressed"))
        .map(|report| {
            report
                .split_whitespace()
                .find_map(|word| word.strip_prefix("suppressed="))
                .and_then(|count| count.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no count in {report}"))
        })
        .sum();
    assert!(
        suppressed + warnings as u64 >= FLOOD,
        "{suppressed} suppressed, {warnings} written: {logs:#?}"
    );
    assert!(logs.len() < 60, "{} lines: {logs:#?}", logs.len());
}
