//! Three `hearsay node` processes in three network namespaces joined by veth links to a bridge:
//! different hosts as far as the kernel is concerned. Needs root and `ip netns`, so it is ignored
//! unless asked for (`docs/testing.md`); asked for where namespaces cannot be made, it fails,
//! saying why. Addresses are in the namespaces this test makes.

mod common;

use common::NodeProcess;
use std::process::Command;
use std::time::Duration;

/// Runs `ip` with `args`; the error says which command failed.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("ip: {error}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The namespaces, deleted (with their links) when dropped.
struct Hosts {
    hub: String,
    hosts: Vec<String>,
}

impl Hosts {
    fn create(count: usize) -> Result<Hosts, String> {
        let tag = std::process::id() % 100_000;
        let mut made = Hosts {
            hub: format!("hs{tag}hub"),
            hosts: Vec::new(),
        };
        ip(&["netns", "add", &made.hub])?;
        ip(&["-n", &made.hub, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &made.hub, "link", "set", "br0", "up"])?;
        for index in 1..=count {
            let host = format!("hs{tag}h{index}");
            ip(&["netns", "add", &host])?;
            made.hosts.push(host.clone());
            let (inner, outer) = ("eth0".to_owned(), format!("v{index}"));
            ip(&[
                "link", "add", "name", &inner, "netns", &host, "type", "veth", "peer", "name",
                &outer, "netns", &made.hub,
            ])?;
            ip(&[
                "-n",
                &host,
                "addr",
                "add",
                &format!("10.231.0.{index}/24"),
                "dev",
                &inner,
            ])?;
            ip(&["-n", &host, "link", "set", &inner, "up"])?;
            ip(&["-n", &host, "link", "set", "lo", "up"])?;
            ip(&["-n", &made.hub, "link", "set", &outer, "master", "br0"])?;
            ip(&["-n", &made.hub, "link", "set", &outer, "up"])?;
        }
        Ok(made)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for host in self.hosts.iter().chain(std::iter::once(&self.hub)) {
            let _ = ip(&["netns", "del", host]);
        }
    }
}

#[test]
#[ignore = "needs root and network namespaces: as root, cargo test --release -p hearsay-cli --test netns -- --ignored (docs/testing.md)"]
fn three_hosts_in_network_namespaces_converge() {
    let hosts = Hosts::create(3)
        .unwrap_or_else(|reason| panic!("cannot make network namespaces here: {reason}"));
    let key = std::env::temp_dir().join(format!("hearsay-netns-{}.key", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_hearsay"))
        .arg("keygen")
        .output()
        .expect("keygen");
    std::fs::write(&key, &output.stdout).expect("key written");
    let key = key.to_str().expect("path").to_owned();
    let mut nodes: Vec<NodeProcess> = (1..=3)
        .map(|index| {
            let bind = format!("10.231.0.{index}:7000");
            let id = index.to_string();
            let mut args = vec!["--bind", &bind, "--key-file", &key, "--id", &id];
            if index > 1 {
                args.extend(["--seed-peer", "10.231.0.1:7000"]);
            }
            let mut exec = Command::new("ip");
            exec.args([
                "netns",
                "exec",
                &hosts.hosts[index - 1],
                env!("CARGO_BIN_EXE_hearsay"),
            ]);
            NodeProcess::start_with(exec, &args)
        })
        .collect();
    assert!(nodes[2].ask("set where host three").starts_with("OK "));
    assert_eq!(nodes[0].ask("wait where host three"), "OK");
    assert_eq!(nodes[1].ask("wait where host three"), "OK");
    assert!(nodes[1].ask("set back from two").starts_with("OK "));
    assert_eq!(nodes[2].ask("wait back from two"), "OK");
    // Addresses arrive by gossip: node three comes to list both others, at their host addresses.
    let members = nodes[2].wait_members(Duration::from_secs(20), |members| {
        NodeProcess::connected_peers(members).len() == 2
    });
    let mut addrs = NodeProcess::connected_peers(&members);
    addrs.sort();
    assert_eq!(addrs, ["10.231.0.1:7000", "10.231.0.2:7000"], "{members}");
    drop(nodes);
    drop(hosts);
}
