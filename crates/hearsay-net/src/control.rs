//! The line-oriented control interface `hearsay node` reads on stdin: one command per line, one
//! answer line per command on stdout, so that a person or a script can drive a node.
//!
//! | command | answer |
//! |---|---|
//! | `set KEY VALUE…` | `OK <version>` (the value is the rest of the line); `ERR` if the entry does not fit one message (`Config::mtu`) |
//! | `setex KEY SECONDS VALUE…` | `OK <version>`: as `set`, and this node deletes the key once SECONDS (a decimal number, from a millisecond to a year) have passed, unless written again first ([`hearsay_actor::SetWithTtl`]) |
//! | `get KEY` | the value (newest write of KEY by any node), or `(nil)` |
//! | `del KEY` | `OK <version>` |
//! | `wait KEY VALUE…` | `OK` once `get KEY` would print VALUE, or `ERR timeout` after 30 s |
//! | `members` | JSON: this node, the peers it dials with link state, the member table, and the partial views (`null` without) |
//! | `dump` | JSON: every origin's entries, `null` for deletions |
//! | `stats` | JSON: the links' counters |
//! | `reload-keys` | `OK <n> keys` after re-reading the key file (key rotation) |
//! | `help` | the command list |
//! | `quit` | ends the node |
//!
//! Words are separated by white space: spaces, tabs or any other Unicode white space
//! ([`char::is_whitespace`]). A KEY is one word, so it never holds white space, and every key
//! `set` writes can be named by `get`, `del` and `wait`; the VALUE of `set` and `wait` is the rest
//! of the line after the white space character that ends the KEY.
//!
//! Errors answer `ERR <reason>` and the node goes on. Lines are capped at [`MAX_LINE`] bytes.

use crate::{Error, Keyring, NetNode};
use hearsay_actor::{Delete, GetEntries, Set, SetWithTtl};
use hearsay_proto::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Longest command line, in bytes.
pub const MAX_LINE: usize = 1 << 20;

/// Longest time to live `setex` takes: a year.
pub const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(365 * 24 * 3600);

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
    /// Writes a value under a key of this node, to be deleted after a while.
    SetEx {
        /// The key.
        key: String,
        /// How long it lives.
        ttl: std::time::Duration,
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

/// Parses one line; `Ok(None)` for a blank line. Words are separated by any white space (see the
/// [module documentation](self)).
///
/// ```
/// use hearsay_net::control::{Command, parse};
/// assert_eq!(
///     parse("set color dark blue")?,
///     Some(Command::Set { key: "color".into(), value: "dark blue".into() })
/// );
/// // A tab separates words as a space does.
/// assert_eq!(parse("get\tcolor")?, Some(Command::Get { key: "color".into() }));
/// assert_eq!(parse("  ")?, None);
/// assert!(parse("get").is_err());
/// assert!(parse("get dark color").is_err());
/// # Ok::<(), hearsay_net::Error>(())
/// ```
pub fn parse(line: &str) -> Result<Option<Command>, Error> {
    let (word, rest) = first_word(line);
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
            let (key, value) = first_word(rest);
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
        "setex" => {
            const USAGE: &str = "usage: setex KEY SECONDS VALUE";
            let (key, rest) = first_word(rest);
            let (seconds, value) = first_word(rest);
            if key.is_empty() || seconds.is_empty() {
                return Err(Error::Command(USAGE.into()));
            }
            let ttl = seconds
                .parse::<f64>()
                .ok()
                .filter(|s| *s >= 0.001 && *s <= MAX_TTL.as_secs_f64())
                .map(std::time::Duration::from_secs_f64)
                .ok_or_else(|| {
                    Error::Command(format!(
                        "{USAGE} (SECONDS: a number from 0.001 to {}; not {seconds:?})",
                        MAX_TTL.as_secs()
                    ))
                })?;
            Ok(Some(Command::SetEx {
                key: key.to_owned(),
                ttl,
                value: value.to_owned(),
            }))
        }
        "get" | "del" => {
            let (key, more) = first_word(rest);
            if key.is_empty() {
                return Err(Error::Command(format!("usage: {word} KEY")));
            }
            if !more.trim().is_empty() {
                return Err(Error::Command(format!(
                    "usage: {word} KEY (a key is one word, without white space)"
                )));
            }
            let key = key.to_owned();
            Ok(Some(if word == "get" {
                Command::Get { key }
            } else {
                Command::Del { key }
            }))
        }
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

/// Checks that the control interface can name `key`: not empty and without white space. Every
/// key [`parse`] returns passes; [`Controller::execute`] refuses commands whose key does not.
///
/// ```
/// use hearsay_net::control::check_key;
/// assert!(check_key("color").is_ok());
/// assert!(check_key("dark\tcolor").is_err());
/// assert!(check_key("").is_err());
/// ```
pub fn check_key(key: &str) -> Result<(), Error> {
    if key.is_empty() {
        return Err(Error::Command("a key cannot be empty".into()));
    }
    if key.contains(char::is_whitespace) {
        return Err(Error::Command(format!(
            "a key cannot hold white space (the control interface could not name it): {key:?}"
        )));
    }
    Ok(())
}

/// The first word of `text` (after any leading white space) and the rest of it, after the one
/// white space character that ends the word.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    text.split_once(char::is_whitespace).unwrap_or((text, ""))
}

/// Why [`Controller::serve`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// A `quit` (or `exit`) command: the node should stop.
    Quit,
    /// The input ended without `quit`.
    EndOfInput,
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

    /// Runs one command; the answer is one line (without its newline). A key that
    /// [`check_key`] refuses is an error, so that nothing is written under a key the control
    /// interface could not name. `quit` only answers: [`Self::serve`] is what stops.
    pub async fn execute(&self, command: &Command) -> Result<String, Error> {
        let node = self.net.node();
        if let Command::Set { key, .. }
        | Command::SetEx { key, .. }
        | Command::Del { key }
        | Command::Get { key }
        | Command::Wait { key, .. } = command
        {
            check_key(key)?;
        }
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
            Command::SetEx { key, ttl, value } => {
                let version = node
                    .send(SetWithTtl {
                        key: key.clone(),
                        value: Value::from(value.as_str()),
                        ttl: *ttl,
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
                let observed = node.send(hearsay_actor::Observe).await?;
                let me = serde_json::json!({
                    "id": observed.metrics.id.0,
                    "addr": self.net.advertised().to_string(),
                });
                let peers = self.net.links().await?;
                let views = (observed.views.as_ref())
                    .map(|v| serde_json::json!({ "active": v.active, "passive": v.passive }));
                let members: Vec<serde_json::Value> = observed
                    .members
                    .into_iter()
                    .map(|member| {
                        serde_json::json!({
                            "id": member.id.0,
                            "generation": member.generation.0,
                            "status": member.status.name(),
                            "unconfirmed": member.unconfirmed,
                            "addr": member.address.as_deref(),
                        })
                    })
                    .collect();
                let answer = serde_json::json!({
                    "self": me, "peers": peers, "members": members, "views": views,
                });
                Ok(answer.to_string())
            }
            Command::Dump => {
                let mut origins: BTreeMap<String, BTreeMap<String, Option<String>>> =
                    BTreeMap::new();
                for entry in node.send(GetEntries).await?? {
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
                self.net.set_keyring(keyring).await?;
                tracing::info!(keys = count, "keyring reloaded");
                Ok(format!("OK {count} keys"))
            }
            Command::Help => Ok(
                "commands: set KEY VALUE | setex KEY SECONDS VALUE | get KEY | del KEY | wait KEY VALUE | members | dump | stats | reload-keys | quit"
                    .into(),
            ),
            Command::Quit => Ok("OK bye".into()),
        }
    }

    /// The newest value of `key` written by any node (highest version, then highest origin id).
    async fn newest(&self, key: &str) -> Result<Option<String>, Error> {
        let view = self.net.node().send(GetEntries).await??;
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

    /// Reads commands from `input` until it ends or `quit`, answering each on `output`, and tells
    /// which of the two ended it. Once `quit` is answered, nothing more is read.
    pub async fn serve(
        &self,
        input: impl AsyncRead + Unpin,
        mut output: impl AsyncWrite + Unpin,
    ) -> Result<Ending, Error> {
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
                return Ok(Ending::Quit);
            }
        }
        Ok(Ending::EndOfInput)
    }
}

/// How long `wait` waits.
pub const WAIT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Turns a node's change notifications into wake-ups for `wait`; stops once `wait` is over (its
/// receiver dropped), so the node drops the subscription. (Before session 26 it stopped only at
/// the next change under the key: a `wait` on a key that never changed again left an actor and
/// a subscription behind for good.)
struct Watcher(tokio::sync::mpsc::UnboundedSender<()>);

impl actix::Actor for Watcher {
    type Context = actix::Context<Self>;

    fn started(&mut self, ctx: &mut actix::Context<Self>) {
        use actix::{ActorFutureExt, AsyncContext, WrapFuture};
        let sender = self.0.clone();
        let over = async move { sender.closed().await };
        ctx.spawn(
            over.into_actor(self)
                .map(|(), _, ctx| actix::ActorContext::stop(ctx)),
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_stops_when_its_wait_is_over() {
        actix::System::new().block_on(async {
            let (sender, changes) = tokio::sync::mpsc::unbounded_channel();
            let watcher = actix::Actor::start(Watcher(sender));
            tokio::task::yield_now().await;
            assert!(watcher.connected());
            drop(changes);
            for _ in 0..100 {
                if !watcher.connected() {
                    return;
                }
                tokio::task::yield_now().await;
            }
            panic!("the watcher outlived its wait");
        });
    }

    fn parsed(line: &str) -> Command {
        match parse(line) {
            Ok(Some(command)) => command,
            other => panic!("{line:?}: {other:?}"),
        }
    }

    fn refused(line: &str, needle: &str) {
        match parse(line) {
            Err(Error::Command(reason)) => assert!(reason.contains(needle), "{line:?}: {reason}"),
            other => panic!("{line:?}: expected an error about {needle}, got {other:?}"),
        }
    }

    fn set(key: &str, value: &str) -> Command {
        Command::Set {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn words_are_separated_by_any_white_space() {
        assert_eq!(parsed("set a\tb v"), set("a", "b v"));
        assert_eq!(parsed("\tset\ta\tdark blue"), set("a", "dark blue"));
        assert_eq!(parsed("set a\u{a0}b"), set("a", "b"));
        assert_eq!(parsed("set a\u{3000}b"), set("a", "b"));
        assert_eq!(parsed("set a\u{b}b"), set("a", "b"));
        assert_eq!(
            parsed("wait a\tdark blue"),
            Command::Wait {
                key: "a".into(),
                value: "dark blue".into()
            }
        );
        assert_eq!(parsed("get\ta\t"), Command::Get { key: "a".into() });
        assert_eq!(parsed("del\u{3000}a"), Command::Del { key: "a".into() });
        assert_eq!(parsed("members\t"), Command::Members);
        // The value is the rest of the line after the one white space character ending the key.
        assert_eq!(parsed("set a  b "), set("a", " b "));
        assert_eq!(parsed("set a"), set("a", ""));
        // Other characters belong to the key.
        assert_eq!(parsed("set a\u{0}b\u{1f}/é v"), set("a\u{0}b\u{1f}/é", "v"));
    }

    #[test]
    fn a_key_is_one_word() {
        refused("set", "usage: set KEY VALUE");
        refused("set \t", "usage: set KEY VALUE");
        refused("wait", "usage: wait KEY VALUE");
        refused("get", "usage: get KEY");
        refused("get a\tb", "white space");
        refused("del a b", "white space");
        refused("dump\tx", "takes no argument");
    }

    #[test]
    fn setex_takes_a_key_seconds_and_a_value() {
        assert_eq!(
            parsed("setex lease 1.5 held by me"),
            Command::SetEx {
                key: "lease".into(),
                ttl: std::time::Duration::from_millis(1500),
                value: "held by me".into(),
            }
        );
        refused("setex", "usage: setex KEY SECONDS VALUE");
        refused("setex lease", "usage: setex KEY SECONDS VALUE");
        for seconds in [
            "0", "1e-300", "-1", "soon", "NaN", "inf", "1e30", "31536001",
        ] {
            refused(&format!("setex lease {seconds} v"), "a number from 0.001");
        }
        assert!(
            matches!(parsed("setex lease 31536000 v"), Command::SetEx { ttl, .. } if ttl == MAX_TTL)
        );
    }

    /// Whatever key `set` or `wait` takes, `get`, `del` and `wait` can name.
    #[test]
    fn every_key_set_can_be_named_by_every_command() {
        for line in [
            "set a\tb v",
            "set a\u{b}b v",
            "set a\u{c}b v",
            "set a\u{a0}b v",
            "set a\u{85}b v",
            "set a\u{2028}b v",
            "set a\u{3000}b v",
            "set\u{2003}a b",
            "set  a  b",
            "wait a\tb v",
            "set a\u{0}\u{1f}\u{7f}\u{200b}b v",
        ] {
            let key = match parsed(line) {
                Command::Set { key, .. } | Command::Wait { key, .. } => key,
                other => panic!("{line:?}: {other:?}"),
            };
            assert!(check_key(&key).is_ok(), "{line:?}: {key:?}");
            assert_eq!(
                parsed(&format!("get {key}")),
                Command::Get { key: key.clone() }
            );
            assert_eq!(
                parsed(&format!("del {key}")),
                Command::Del { key: key.clone() }
            );
            assert_eq!(
                parsed(&format!("wait {key} v")),
                Command::Wait {
                    key: key.clone(),
                    value: "v".into()
                }
            );
        }
    }

    #[test]
    fn keys_with_white_space_or_empty_are_refused() {
        assert!(check_key("a").is_ok());
        for key in ["", "a b", "a\tb", "a\u{a0}b", "\u{3000}"] {
            match check_key(key) {
                Err(Error::Command(reason)) => assert!(reason.contains("key"), "{reason}"),
                other => panic!("{key:?}: {other:?}"),
            }
        }
    }
}
