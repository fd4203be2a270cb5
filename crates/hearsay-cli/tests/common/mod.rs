//! Drives `hearsay node` processes through their stdin and stdout.

#![allow(dead_code)]

pub mod http;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Longest wait for one answer (a `wait` answers within 30 s by itself).
const ANSWER: Duration = Duration::from_secs(40);

/// One `hearsay node` process, driven through its stdin.
pub struct NodeProcess {
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
    /// Its stderr lines, when started with [`NodeProcess::start_logged`].
    logs: Option<mpsc::Receiver<String>>,
    pub addr: String,
}

/// Sends every line of `stream` to the receiver it answers, from a thread.
fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (sender, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
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
    lines
}

impl NodeProcess {
    pub fn start(args: &[&str]) -> NodeProcess {
        Self::start_with(Command::new(env!("CARGO_BIN_EXE_hearsay")), args)
    }

    pub fn start_with(command: Command, args: &[&str]) -> NodeProcess {
        Self::spawn(command, args, false)
    }

    /// [`NodeProcess::start`], keeping its logs (stderr) for [`NodeProcess::wait_log`].
    pub fn start_logged(args: &[&str]) -> NodeProcess {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_hearsay")), args, true)
    }

    fn spawn(mut command: Command, args: &[&str], logged: bool) -> NodeProcess {
        let mut child = command
            .arg("node")
            .args(["--interval-ms", "100"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if logged {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("hearsay node starts");
        let stdin = child.stdin.take().expect("stdin");
        let answers = lines_of(child.stdout.take().expect("stdout"));
        let logs = child.stderr.take().map(lines_of);
        let mut node = NodeProcess {
            child,
            stdin,
            answers,
            logs,
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
        self.send(line);
        self.answer(line)
    }

    /// Writes a command without waiting for its answer (see [`Self::answer`]).
    pub fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("command written");
        self.stdin.flush().expect("flushed");
    }

    /// The next answer line, that of the command `line` sent earlier.
    pub fn answer(&mut self, line: &str) -> String {
        self.answers
            .recv_timeout(ANSWER)
            .unwrap_or_else(|_| panic!("no answer to {line:?}"))
    }

    /// Asks `members` every 20 ms until `done` holds for the answer, for at most `within`; fails
    /// with the last answer. What a node knows of its peers arrives by gossip, a round or more
    /// after the writes a test waits for: a test samples it only through this bounded wait.
    pub fn wait_members(&mut self, within: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let members: Value =
                serde_json::from_str(&self.ask("members")).expect("members is JSON");
            if done(&members) {
                return members;
            }
            assert!(
                Instant::now() < deadline,
                "members did not get there within {within:?}; last answer: {members}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The addresses of the peers that `members` lists as connected.
    pub fn connected_peers(members: &Value) -> Vec<String> {
        members["peers"]
            .as_array()
            .map(|peers| {
                peers
                    .iter()
                    .filter(|peer| peer["connected"] == true)
                    .filter_map(|peer| peer["addr"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits at most `within` for the process to exit, with no further answer, and returns its
    /// status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        // Its stdout closes when it exits.
        match self
            .answers
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            Ok(line) => panic!("unexpected answer {line:?} while waiting for the exit"),
            Err(RecvTimeoutError::Timeout) => panic!("the node did not exit within {within:?}"),
            Err(RecvTimeoutError::Disconnected) => {}
        }
        exit_status(&mut self.child, deadline)
    }

    /// Waits (at most `within`) for a log line that contains `needle`, and answers it; fails with
    /// the lines seen. Needs [`NodeProcess::start_logged`].
    pub fn wait_log(&mut self, needle: &str, within: Duration) -> String {
        let logs = self.logs.as_ref().expect("started with start_logged");
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match logs.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.contains(needle) => return line,
                Ok(line) => seen.push(line),
                Err(_) => panic!("no log line with {needle:?} within {within:?}; saw {seen:#?}"),
            }
        }
    }

    /// Every log line written so far (without waiting). Needs [`NodeProcess::start_logged`].
    pub fn logs_so_far(&mut self) -> Vec<String> {
        let logs = self.logs.as_ref().expect("started with start_logged");
        logs.try_iter().collect()
    }

    /// Every log line until the process closes its stderr (it has exited), at most `within`.
    /// Needs [`NodeProcess::start_logged`].
    pub fn logs_until_closed(&mut self, within: Duration) -> Vec<String> {
        let logs = self.logs.as_ref().expect("started with start_logged");
        let deadline = Instant::now() + within;
        let mut lines = Vec::new();
        loop {
            match logs.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => lines.push(line),
                Err(RecvTimeoutError::Disconnected) => return lines,
                Err(RecvTimeoutError::Timeout) => {
                    panic!("stderr still open after {within:?}; so far {lines:#?}")
                }
            }
        }
    }

    /// Sends the process `signal` (`TERM`, `INT`) with kill(1), as a service manager would.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -s {signal} failed");
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

/// The status of `child`, which has closed its output and is exiting: std has no wait with a
/// timeout, so a short poll until `deadline`.
fn exit_status(child: &mut Child, deadline: Instant) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the process did not exit in time"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs `hearsay ARGS` with stdin closed and returns its output, failing (and killing it) if it
/// does not exit within `within`.
pub fn run_within(args: &[&str], within: Duration) -> Output {
    let deadline = Instant::now() + within;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearsay"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hearsay starts");
    let (sender, done) = mpsc::channel();
    let read = |mut stream: Box<dyn Read + Send>| {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stream.read_to_end(&mut bytes);
            let _ = sender.send(());
            bytes
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("stdout")));
    let stderr = read(Box::new(child.stderr.take().expect("stderr")));
    // Both streams close when it exits.
    for _ in 0..2 {
        if done
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_err()
        {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hearsay {args:?} did not exit within {within:?}");
        }
    }
    Output {
        status: exit_status(&mut child, deadline),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}
