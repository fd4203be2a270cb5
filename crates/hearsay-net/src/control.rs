//! The line-oriented control interface `hearsay node` reads on stdin: one command per line, one
//! answer line per command on stdout, so that a person or a script can drive a node.
//!
//! | command | answer |
//! |---|---|
//! | `set KEY VALUE…` | `OK <version>` (the value is the rest of the line) |
//! | `get KEY` | the value (newest write of KEY by any node), or `(nil)` |
//! | `del KEY` | `OK <version>` |
//! | `wait KEY VALUE…` | `OK` once `get KEY` would print VALUE, or `ERR timeout` after 30 s |
//! | `members` | JSON: this node and the peers it dials, with link state |
//! | `dump` | JSON: every origin's entries, `null` for deletions |
//! | `stats` | JSON: the links' counters |
//! | `reload-keys` | `OK <n> keys` after re-reading the key file (key rotation) |
//! | `help` | the command list |
//! | `quit` | ends the node |
//!
//! Errors answer `ERR <reason>` and the node goes on. Lines are capped at [`MAX_LINE`] bytes.

use crate::{Error, Keyring, NetNode};
use hearsay_actor::{Delete, GetView, Set};
use hearsay_proto::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest command line, in bytes.
pub const MAX_LINE: usize = 1 << 20;

/// One control command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Writes a value under a key of this node.
    Set {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Reads the newest value of a key written by any node.
    Get {
        /// The key.
        key: String,
    },
    /// Deletes a key of this node.
    Del {
        /// The key.
        key: String,
    },
    /// Waits until the newest value of a key is the given one.
    Wait {
        /// The key.
        key: String,
        /// The value awaited.
        value: String,
    },
    /// Lists this node and its peers.
    Members,
    /// Prints every entry.
    Dump,
    /// Prints the link counters.
    Stats,
    /// Re-reads the key file.
    ReloadKeys,
    /// Lists the commands.
    Help,
    /// Stops the node.
    Quit,
}

/// Parses one line; `Ok(None)` for a blank line.
///
/// ```
/// use hearsay_net::control::{Command, parse};
/// assert_eq!(
///     parse("set color dark blue")?,
///     Some(Command::Set { key: "color".into(), value: "dark blue".into() })
/// );
/// assert_eq!(parse("  ")?, None);
/// assert!(parse("get").is_err());
/// # Ok::<(), hearsay_net::Error>(())
/// ```
pub fn parse(line: &str) -> Result<Option<Command>, Error> {
    let line = line.trim_start();
    let (word, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim_start();
    let key = |rest: &str| -> Result<String, Error> {
        let key = rest.trim_end();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(Error::Command(format!("usage: {word} KEY")));
        }
        Ok(key.to_owned())
    };
    let bare = |command: Command| -> Result<Option<Command>, Error> {
        if rest.trim().is_empty() {
            Ok(Some(command))
        } else {
            Err(Error::Command(format!("{word} takes no argument")))
        }
    };
    match word {
        "" => Ok(None),
        "set" | "wait" => {
            let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
            if key.is_empty() {
                return Err(Error::Command(format!("usage: {word} KEY VALUE")));
            }
            let (key, value) = (key.to_owned(), value.to_owned());
            Ok(Some(if word == "set" {
                Command::Set { key, value }
            } else {
                Command::Wait { key, value }
            }))
        }
        "get" => Ok(Some(Command::Get { key: key(rest)? })),
        "del" => Ok(Some(Command::Del { key: key(rest)? })),
        "members" => bare(Command::Members),
        "dump" => bare(Command::Dump),
        "stats" => bare(Command::Stats),
        "reload-keys" => bare(Command::ReloadKeys),
        "help" => bare(Command::Help),
        "quit" | "exit" => bare(Command::Quit),
        other => Err(Error::Command(format!(
            "unknown command {other:?} (try: help)"
        ))),
    }
}

/// Runs commands against a node.
pub struct Controller<'a> {
    net: &'a NetNode,
    key_file: Option<PathBuf>,
}

impl<'a> Controller<'a> {
    /// A controller for `net`; `key_file` is what `reload-keys` re-reads.
    pub fn new(net: &'a NetNode, key_file: Option<PathBuf>) -> Controller<'a> {
        Controller { net, key_file }
    }

    /// Runs one command; the answer is one line (without its newline).
    pub async fn execute(&self, command: &Command) -> Result<String, Error> {
        let node = self.net.node();
        match command {
            Command::Set { key, value } => {
                let version = node
                    .send(Set {
                        key: key.clone(),
                        value: Value::from(value.as_str()),
                    })
                    .await??;
                Ok(format!("OK {}", version.0))
            }
            Command::Del { key } => {
                let version = node.send(Delete { key: key.clone() }).await??;
                Ok(format!("OK {}", version.0))
            }
            Command::Get { key } => Ok(match self.newest(key).await? {
                Some(value) => one_line(&value),
                None => "(nil)".to_owned(),
            }),
            Command::Wait { key, value } => self.wait(key, value).await,
            Command::Members => {
                let me = serde_json::json!({
                    "id": node.send(hearsay_actor::GetMetrics).await?.id.0,
                    "addr": self.net.advertised().to_string(),
                });
                let peers = self.net.members().await?;
                let members: Vec<serde_json::Value> = node
                    .send(hearsay_actor::GetMembers)
                    .await??
                    .into_iter()
                    .map(|member| {
                        serde_json::json!({
                            "id": member.id.0,
                            "generation": member.generation.0,
                            "status": member.status.name(),
                        })
                    })
                    .collect();
                Ok(serde_json::json!({ "self": me, "peers": peers, "members": members }).to_string())
            }
            Command::Dump => {
                let mut origins: BTreeMap<String, BTreeMap<String, Option<String>>> =
                    BTreeMap::new();
                for entry in node.send(GetView).await?? {
                    origins.entry(entry.origin.0.to_string()).or_default().insert(
                        entry.key,
                        entry
                            .value
                            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()),
                    );
                }
                Ok(serde_json::to_string(&origins).unwrap_or_else(|_| "{}".into()))
            }
            Command::Stats => Ok(serde_json::to_string(&self.net.stats().snapshot().0)
                .unwrap_or_else(|_| "{}".into())),
            Command::ReloadKeys => {
                let Some(path) = &self.key_file else {
                    return Err(Error::Command("this node was started without a key file".into()));
                };
                let keyring = Keyring::load(path)?;
                let count = keyring.len();
                self.net.set_keyring(keyring);
                tracing::info!(keys = count, "keyring reloaded");
                Ok(format!("OK {count} keys"))
            }
            Command::Help => Ok(
                "commands: set KEY VALUE | get KEY | del KEY | wait KEY VALUE | members | dump | stats | reload-keys | quit"
                    .into(),
            ),
            Command::Quit => Ok("OK bye".into()),
        }
    }

    /// The newest value of `key` written by any node (highest version, then highest origin id).
    async fn newest(&self, key: &str) -> Result<Option<String>, Error> {
        let view = self.net.node().send(GetView).await??;
        let newest = view
            .into_iter()
            .filter(|entry| entry.key == key)
            .max_by_key(|entry| (entry.version, entry.origin));
        Ok(newest
            .and_then(|entry| entry.value)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned()))
    }

    /// Answers `OK` once [`Self::newest`] is `value`, re-checking on every change of `key`.
    async fn wait(&self, key: &str, value: &str) -> Result<String, Error> {
        let (sender, mut changes) = tokio::sync::mpsc::unbounded_channel();
        let watcher = actix::Actor::start(Watcher(sender));
        self.net
            .node()
            .send(hearsay_actor::Subscribe {
                prefix: key.to_owned(),
                recipient: watcher.recipient(),
            })
            .await?;
        let deadline = tokio::time::Instant::now() + WAIT_TIMEOUT;
        loop {
            if self.newest(key).await?.as_deref() == Some(value) {
                return Ok("OK".into());
            }
            match tokio::time::timeout_at(deadline, changes.recv()).await {
                Ok(Some(())) => {}
                Ok(None) | Err(_) => return Err(Error::Command("timeout".into())),
            }
        }
    }

    /// Reads commands from `input` until it ends or `quit`, answering each on `output`.
    pub async fn serve(
        &self,
        input: impl AsyncRead + Unpin,
        mut output: impl AsyncWrite + Unpin,
    ) -> Result<(), Error> {
        let mut input = BufReader::new(input);
        while let Some(line) = read_line(&mut input, MAX_LINE)
            .await
            .map_err(|error| Error::io("reading commands", error))?
        {
            let (answer, quit) = match line {
                Line::Text(line) => match parse(&line) {
                    Ok(None) => continue,
                    Ok(Some(command)) => {
                        let quit = command == Command::Quit;
                        match self.execute(&command).await {
                            Ok(answer) => (answer, quit),
                            Err(error) => (format!("ERR {}", one_line(&error.to_string())), quit),
                        }
                    }
                    Err(error) => (format!("ERR {}", one_line(&error.to_string())), false),
                },
                Line::TooLong => (format!("ERR line longer than {MAX_LINE} bytes"), false),
                Line::NotUtf8 => ("ERR the line is not UTF-8".to_owned(), false),
            };
            output
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .map_err(|error| Error::io("writing an answer", error))?;
            output
                .flush()
                .await
                .map_err(|error| Error::io("writing an answer", error))?;
            if quit {
                break;
            }
        }
        Ok(())
    }
}

/// How long `wait` waits.
pub const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Turns a node's change notifications into wake-ups for `wait`.
struct Watcher(tokio::sync::mpsc::UnboundedSender<()>);

impl actix::Actor for Watcher {
    type Context = actix::Context<Self>;
}

impl actix::Handler<hearsay_actor::KeyChanged> for Watcher {
    type Result = ();

    fn handle(&mut self, _: hearsay_actor::KeyChanged, ctx: &mut actix::Context<Self>) {
        if self.0.send(()).is_err() {
            actix::ActorContext::stop(ctx);
        }
    }
}

/// One line of input.
enum Line {
    Text(String),
    TooLong,
    NotUtf8,
}

/// Reads one `\n`-terminated line (a final line without one counts), holding at most `max` bytes
/// of it: a longer line is skipped to its end. `None` at the end of the input.
async fn read_line(
    input: &mut (impl AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buffer = input.fill_buf().await?;
        if buffer.is_empty() {
            if line.is_empty() && !too_long {
                return Ok(None);
            }
            break;
        }
        let (chunk, end) = match buffer.iter().position(|&byte| byte == b'\n') {
            Some(at) => (&buffer[..at], Some(at + 1)),
            None => (buffer, None),
        };
        if !too_long && line.len() + chunk.len() <= max {
            line.extend_from_slice(chunk);
        } else {
            too_long = true;
            line.clear();
        }
        let used = end.unwrap_or(buffer.len());
        input.consume(used);
        if end.is_some() {
            break;
        }
    }
    if too_long {
        return Ok(Some(Line::TooLong));
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(match String::from_utf8(line) {
        Ok(text) => Line::Text(text),
        Err(_) => Line::NotUtf8,
    }))
}

/// Keeps an answer on one line.
fn one_line(text: &str) -> String {
    text.replace(['\n', '\r'], " ")
}
