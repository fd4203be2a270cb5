//! Drives `hearsay node` processes through their stdin and stdout.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest wait for one answer (a `wait` answers within 30 s by itself).
const ANSWER: Duration = Duration::from_secs(40);

/// One `hearsay node` process, driven through its stdin.
pub struct NodeProcess {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
    pub addr: String,
}

impl NodeProcess {
    pub fn start(args: &[&str]) -> NodeProcess {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_hearsay")), args)
    }

    pub fn start_with(mut command: Command, args: &[&str]) -> NodeProcess {
        let mut child = command
            .arg("node")
            .args(["--interval-ms", "100"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("hearsay node starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        if sender.send(line).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let mut node = NodeProcess {
            child,
            stdin,
            answers,
            addr: String::new(),
        };
        let members: Value = serde_json::from_str(&node.ask("members")).expect("members is JSON");
        node.addr = members["self"]["addr"]
            .as_str()
            .expect("own address")
            .to_owned();
        node
    }

    pub fn ask(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").expect("command written");
        self.stdin.flush().expect("flushed");
        self.answers
            .recv_timeout(ANSWER)
            .unwrap_or_else(|_| panic!("no answer to {line:?}"))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
