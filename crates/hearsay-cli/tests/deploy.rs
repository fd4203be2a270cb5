//! The deployment recipes of `deploy/` and the `Dockerfile`: the example configs are valid and
//! agree with each other, the alerting rules load in Prometheus's own checker, and the image
//! builds — each where its tool is available, skipped with the reason otherwise.

mod common;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The repository root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `hearsay node --config PATH --check`: the settings as the node resolves them.
fn checked(path: &Path) -> Value {
    let output = common::run_within(
        &["node", "--config", path.to_str().expect("path"), "--check"],
        Duration::from_secs(10),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}: {stderr}", path.display());
    serde_json::from_slice(&output.stdout).expect("JSON settings")
}

/// The three compose nodes' configs pass `--check`, each seeds through the others' advertised
/// addresses, and the compose file mounts each of them.
#[test]
fn the_compose_example_is_consistent() {
    let dir = root().join("deploy/compose");
    let compose = std::fs::read_to_string(dir.join("compose.yaml")).expect("compose.yaml");
    let nodes: Vec<Value> = (1..=3)
        .map(|n| {
            let name = format!("node-{n}.toml");
            assert!(
                compose.contains(&format!("./{name}:")),
                "{name} not mounted"
            );
            checked(&dir.join(name))
        })
        .collect();
    let advertised: BTreeSet<String> = nodes
        .iter()
        .map(|node| node["advertise"].as_str().expect("advertise").to_owned())
        .collect();
    assert_eq!(advertised.len(), 3, "{advertised:?}");
    for node in &nodes {
        let own = node["advertise"].as_str().expect("advertise");
        let ip = own.split(':').next().expect("ip");
        assert!(compose.contains(&format!("ipv4_address: {ip}")), "{ip}");
        let seeds: BTreeSet<String> = node["seed-peers"]
            .as_array()
            .expect("seeds")
            .iter()
            .map(|seed| seed.as_str().expect("seed").to_owned())
            .collect();
        let others: BTreeSet<String> = advertised.iter().filter(|a| *a != own).cloned().collect();
        assert_eq!(seeds, others, "{node}");
        assert_eq!(node["cluster"], "demo");
        assert_eq!(node["membership"], "lan");
        assert_eq!(node["admin"], "0.0.0.0:9090");
        assert_eq!(node["key-file"], "/run/secrets/cluster_key");
    }
    let systemd = checked(&root().join("deploy/systemd/node.toml"));
    assert_eq!(systemd["log-format"], "json");
}

/// `deploy/prometheus/alerts.yml` passes `promtool check rules`.
#[test]
fn the_alerting_rules_load_in_promtool() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("skipped: promtool is not installed (Debian: apt-get install prometheus)");
        return;
    }
    let rules = root().join("deploy/prometheus/alerts.yml");
    let output = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The `Dockerfile` builds an image whose `hearsay` runs. Needs a running Docker engine (it
/// takes minutes: a release build inside the image).
#[test]
fn the_image_builds_where_docker_runs() {
    let engine = Command::new("docker")
        .arg("info")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(engine, Ok(status) if status.success()) {
        eprintln!(
            "skipped: `docker info` fails (no Docker engine here), so the image cannot be built"
        );
        return;
    }
    let tag = "hearsay:test";
    let built = Command::new("docker")
        .args(["build", "-t", tag, "."])
        .current_dir(root())
        .status()
        .expect("docker build runs");
    assert!(built.success(), "docker build failed");
    let output = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "hearsay", tag, "keygen"])
        .output()
        .expect("docker run runs");
    assert!(output.status.success());
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim().len(), 64);
}
