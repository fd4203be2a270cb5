//! Shared by the multi-process examples: the example binary re-executes itself with `--child` to
//! become one networked node (the same code `hearsay node` runs: `NetNode` + the stdin control
//! interface), and the parent drives its children through their stdin/stdout.

#![allow(dead_code)]

use hearsay::net::control::Controller;
use hearsay::net::{Key, Keyring, NetConfig, NetNode};
use hearsay::proto::{ClusterId, Config, Generation, Node, NodeId};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const CLUSTER: &str = "example";

/// If this process was started as a child node, runs it and exits.
pub fn run_child_if_asked() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) != Some("--child") {
        return;
    }
    let arg = |at: usize| args.get(at).cloned().unwrap_or_default();
    let (id, key_file, interval_ms, seed) = (arg(2), arg(3), arg(4), arg(5));
    let outcome = child(&id, &key_file, &interval_ms, &seed);
    if let Err(error) = outcome {
        eprintln!("child node: {error}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

fn child(id: &str, key_file: &str, interval_ms: &str, seed: &str) -> Result<(), String> {
    let id: u64 = id.parse().map_err(|_| "bad id")?;
    let interval: u64 = interval_ms.parse().map_err(|_| "bad interval")?;
    let keyring = Keyring::load(Path::new(key_file)).map_err(|e| e.to_string())?;
    let config = Config {
        cluster: ClusterId::from_name(CLUSTER),
        gossip_interval: Duration::from_millis(interval),
        ..Config::default()
    };
    let node = Node::new(NodeId(id), Generation(1), config, id).map_err(|e| e.to_string())?;
    let mut net = NetConfig::new(CLUSTER, "127.0.0.1:0".parse().map_err(|_| "addr")?);
    if !seed.is_empty() {
        net.seeds.push(seed.parse().map_err(|_| "bad seed")?);
    }
    actix_rt::System::new().block_on(async move {
        let net = NetNode::start(node, net, keyring)
            .await
            .map_err(|e| e.to_string())?;
        Controller::new(&net, None)
            .serve(tokio::io::stdin(), tokio::io::stdout())
            .await
            .map_err(|e| e.to_string())?;
        net.shutdown();
        Ok(())
    })
}

/// One child node process.
pub struct Child {
    pub id: u64,
    pub pid: u32,
    pub addr: String,
    process: std::process::Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl Child {
    /// Writes one command line without waiting for its answer.
    pub fn send(&mut self, line: &str) {
        let _ = writeln!(self.stdin, "{line}");
        let _ = self.stdin.flush();
    }

    /// Reads the next answer line (40 s at most).
    pub fn answer(&mut self) -> String {
        self.answers
            .recv_timeout(Duration::from_secs(40))
            .unwrap_or_else(|_| "ERR no answer".into())
    }

    /// Sends a command and reads its answer.
    pub fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.answer()
    }

    /// CPU seconds (user + system) the process has used, from /proc (Linux).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let after = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts `count` node processes on loopback, each seeded with the first.
pub fn spawn_cluster(count: usize, interval_ms: u64) -> Vec<Child> {
    let key = Key::generate().expect("OS randomness");
    let key_file = std::env::temp_dir().join(format!("hearsay-example-{}.key", std::process::id()));
    std::fs::write(&key_file, format!("{}\n", key.to_hex())).expect("key file written");
    let exe = std::env::current_exe().expect("own path");
    let mut children: Vec<Child> = Vec::with_capacity(count);
    for id in 1..=count as u64 {
        let seed = children
            .first()
            .map(|first| first.addr.clone())
            .unwrap_or_default();
        let mut process = Command::new(&exe)
            .args(["--child", &id.to_string()])
            .arg(&key_file)
            .args([interval_ms.to_string(), seed])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("child starts");
        let stdin = process.stdin.take().expect("stdin");
        let stdout = process.stdout.take().expect("stdout");
        let (sender, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        let mut child = Child {
            id,
            pid: process.id(),
            addr: String::new(),
            process,
            stdin,
            answers,
        };
        let members: serde_json::Value =
            serde_json::from_str(&child.ask("members")).expect("members answers JSON");
        child.addr = members["self"]["addr"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        children.push(child);
    }
    children
}
