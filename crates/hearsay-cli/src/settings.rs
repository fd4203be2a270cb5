//! What a `hearsay node` runs with: the command-line flags over the `--config` file over the
//! defaults, resolved into one typed [`Settings`] before the node starts.

use crate::config_file::FileSettings;
use crate::logs::LogFormat;
use crate::node::NodeArgs;
use clap::ValueEnum;
use hearsay_proto::MembershipConfig;
use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

/// How gossip travels (`--transport`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Sealed UDP datagrams, no connections (the default).
    #[default]
    Datagram,
    /// Encrypted TCP connections: to every peer (a full mesh), or with `--views` only to the
    /// peers a node has something to send to.
    Stream,
}

impl Transport {
    /// Its name, as `--transport` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Datagram => "datagram",
            Transport::Stream => "stream",
        }
    }
}

/// Membership presets by name (`--preset`): SWIM failure detection sized for a network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// A data centre: 1 s probes, 500 ms timeout, 3 relays (`MembershipConfig::lan`; what
    /// `--membership` alone runs).
    #[default]
    Lan,
    /// Across regions: 5 s probes, 2.5 s timeout, longer suspicions (`MembershipConfig::wan`).
    Wan,
    /// One machine or loopback: 200 ms timeouts, one relay (`MembershipConfig::local`).
    Local,
}

impl Preset {
    /// The membership settings it names.
    pub fn membership(self) -> MembershipConfig {
        match self {
            Preset::Lan => MembershipConfig::lan(),
            Preset::Wan => MembershipConfig::wan(),
            Preset::Local => MembershipConfig::local(),
        }
    }
}

/// The default `--bind`.
pub const DEFAULT_BIND: &str = "127.0.0.1:7000";
/// The default `--cluster`.
pub const DEFAULT_CLUSTER: &str = "hearsay";
/// The default `--interval-ms`.
pub const DEFAULT_INTERVAL_MS: u64 = 1000;
/// The longest `--interval-ms`: an hour.
pub const MAX_INTERVAL_MS: u64 = 3_600_000;

/// The settings a node runs with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Settings {
    /// Where to listen. Default: [`DEFAULT_BIND`].
    pub bind: SocketAddr,
    /// How gossip travels. Default: datagrams.
    pub transport: Transport,
    /// Peers to join through, `ip:port` or `host:port`. Default: none.
    pub seed_peers: Vec<String>,
    /// The cluster's name. Default: [`DEFAULT_CLUSTER`].
    pub cluster: String,
    /// The key file. Required.
    pub key_file: PathBuf,
    /// The node's id. Default: random.
    pub id: Option<u64>,
    /// The node's generation. Default: Unix time in milliseconds.
    pub generation: Option<u64>,
    /// The address told to peers. Default: the bound one.
    pub advertise: Option<SocketAddr>,
    /// Gossip round interval in milliseconds, 1 to [`MAX_INTERVAL_MS`]. Default:
    /// [`DEFAULT_INTERVAL_MS`].
    pub interval_ms: u64,
    /// Seed of the protocol's RNG. Default: random.
    pub rng_seed: Option<u64>,
    /// Keep running when stdin closes. Default: off.
    pub stay: bool,
    /// Membership, with its preset. Default: off; `--membership` alone is [`Preset::Lan`].
    pub membership: Option<Preset>,
    /// Partial views (HyParView, `ViewConfig::default()`). Default: off.
    pub views: bool,
    /// The admin listener's address. Default: off.
    pub admin: Option<SocketAddr>,
    /// How logs are written. Default: text.
    pub log_format: LogFormat,
    /// Where the node's state is kept across restarts. Default: nowhere.
    pub state_file: Option<PathBuf>,
}

/// An address given as `ip:port`, or `host:port` looked up through the system resolver (the
/// first address it gives).
pub fn resolve_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let mut addrs = text.to_socket_addrs().map_err(|error| {
        format!("{text:?} is neither ip:port nor a host:port that resolves: {error}")
    })?;
    addrs
        .next()
        .ok_or_else(|| format!("{text:?} resolves to no address"))
}

/// A config file's address setting, its error naming the key.
fn file_addr(key: &str, text: Option<&String>) -> Result<Option<SocketAddr>, String> {
    text.map(|text| resolve_addr(text).map_err(|error| format!("config file: {key}: {error}")))
        .transpose()
}

impl Settings {
    /// The flags of `args` over its `--config` file (if any) over the defaults.
    pub fn resolve(args: &NodeArgs) -> Result<Settings, String> {
        let file = match &args.config {
            Some(path) => FileSettings::load(path)?,
            None => FileSettings::default(),
        };
        Settings::merge(args, file)
    }

    /// The flags of `args` over `file` over the defaults.
    pub fn merge(args: &NodeArgs, file: FileSettings) -> Result<Settings, String> {
        let default_bind: SocketAddr = DEFAULT_BIND
            .parse()
            .map_err(|_| "the default bind address does not parse".to_owned())?;
        let bind = match args.bind {
            Some(bind) => bind,
            None => file_addr("bind", file.bind.as_ref())?.unwrap_or(default_bind),
        };
        let advertise = match args.advertise {
            Some(advertise) => Some(advertise),
            None => file_addr("advertise", file.advertise.as_ref())?,
        };
        let admin = match args.admin {
            Some(admin) => Some(admin),
            None => file_addr("admin", file.admin.as_ref())?,
        };
        let interval_ms = args
            .interval_ms
            .or(file.interval_ms)
            .unwrap_or(DEFAULT_INTERVAL_MS);
        if !(1..=MAX_INTERVAL_MS).contains(&interval_ms) {
            return Err(format!(
                "config file: interval-ms: must be 1 to {MAX_INTERVAL_MS}, got {interval_ms}"
            ));
        }
        let key_file = args.key_file.clone().or(file.key_file).ok_or_else(|| {
            "no key file: give --key-file FILE, or key-file in the --config file".to_owned()
        })?;
        let seed_peers = if args.seed_peers.is_empty() {
            file.seed_peers.unwrap_or_default()
        } else {
            args.seed_peers.clone()
        };
        let preset = args.preset.or(file.preset);
        // A preset turns membership on: a file that says `membership = false` beside one says
        // two things at once (session 26: the preset quietly won). A `--preset` flag overrides
        // the file, as every flag does.
        if file.membership == Some(false) && file.preset.is_some() && args.preset.is_none() {
            return Err(
                "config file: membership = false, but a preset (which turns membership \
                 on) is given: drop one of the two"
                    .to_owned(),
            );
        }
        let membership_on = args.membership || file.membership.unwrap_or(false);
        let membership = match preset {
            Some(preset) => Some(preset),
            None if membership_on => Some(Preset::Lan),
            None => None,
        };
        Ok(Settings {
            bind,
            transport: args.transport.or(file.transport).unwrap_or_default(),
            seed_peers,
            cluster: args
                .cluster
                .clone()
                .or(file.cluster)
                .unwrap_or_else(|| DEFAULT_CLUSTER.to_owned()),
            key_file,
            id: args.id.or(file.id),
            generation: args.generation.or(file.generation),
            advertise,
            interval_ms,
            rng_seed: args.rng_seed.or(file.rng_seed),
            stay: args.stay || file.stay.unwrap_or(false),
            membership,
            views: args.views || file.views.unwrap_or(false),
            admin,
            state_file: args.state_file.clone().or(file.state_file),
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// `hearsay node ARGS` as clap parses it.
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        node: NodeArgs,
    }

    fn args(flags: &[&str]) -> NodeArgs {
        let mut all = vec!["hearsay"];
        all.extend(flags);
        Cli::try_parse_from(all).expect("flags parse").node
    }

    fn file(text: &str) -> FileSettings {
        FileSettings::parse(text).expect("file parses")
    }

    #[test]
    fn flags_override_the_file_which_overrides_the_defaults() {
        let from_file = file(
            r#"
            bind = "127.0.0.1:7100"
            cluster = "from-file"
            key-file = "/file.key"
            interval-ms = 250
            seed-peers = ["127.0.0.1:7001"]
            preset = "wan"
            admin = "127.0.0.1:9090"
            log-format = "json"
            "#,
        );
        let settings = Settings::merge(
            &args(&["--cluster", "from-flag", "--seed-peer", "127.0.0.1:7002"]),
            from_file.clone(),
        )
        .expect("settings");
        assert_eq!(settings.bind, "127.0.0.1:7100".parse().expect("addr"));
        assert_eq!(settings.cluster, "from-flag");
        assert_eq!(settings.key_file, PathBuf::from("/file.key"));
        assert_eq!(settings.interval_ms, 250);
        assert_eq!(settings.seed_peers, ["127.0.0.1:7002"]);
        assert_eq!(settings.membership, Some(Preset::Wan));
        assert_eq!(
            settings.admin,
            Some("127.0.0.1:9090".parse().expect("addr"))
        );
        assert_eq!(settings.log_format, LogFormat::Json);
        let flags = args(&[
            "--bind",
            "127.0.0.1:7200",
            "--interval-ms",
            "50",
            "--preset",
            "local",
            "--log-format",
            "text",
            "--key-file",
            "/flag.key",
        ]);
        let settings = Settings::merge(&flags, from_file).expect("settings");
        assert_eq!(settings.bind, "127.0.0.1:7200".parse().expect("addr"));
        assert_eq!(settings.interval_ms, 50);
        assert_eq!(settings.membership, Some(Preset::Local));
        assert_eq!(settings.log_format, LogFormat::Text);
        assert_eq!(settings.key_file, PathBuf::from("/flag.key"));
        // Nothing given: the defaults.
        let settings = Settings::merge(&args(&["--key-file", "k"]), FileSettings::default())
            .expect("settings");
        assert_eq!(settings.bind, DEFAULT_BIND.parse().expect("addr"));
        assert_eq!(settings.cluster, DEFAULT_CLUSTER);
        assert_eq!(settings.interval_ms, DEFAULT_INTERVAL_MS);
        assert_eq!(settings.transport, Transport::Datagram);
        assert_eq!(settings.membership, None);
        assert_eq!(settings.admin, None);
        assert!(!settings.stay);
        assert!(!settings.views);
        // Views from the file, or from the flag.
        let views = |flags: &[&str], text| {
            Settings::merge(&args(flags), file(text))
                .expect("settings")
                .views
        };
        assert!(views(&["--key-file", "k"], "views = true"));
        assert!(views(&["--key-file", "k", "--views"], ""));
        assert!(!views(&["--key-file", "k"], "views = false"));
        // A preset beside `membership = false` is a contradiction, not a quiet choice.
        let both = Settings::merge(
            &args(&["--key-file", "k"]),
            file("membership = false\npreset = \"wan\""),
        );
        assert!(both.is_err_and(|e| e.contains("membership = false")));
        // A --preset flag overrides the file's `membership = false`.
        let flag = Settings::merge(
            &args(&["--key-file", "k", "--preset", "wan"]),
            file("membership = false"),
        )
        .expect("the flag wins");
        assert_eq!(flag.membership, Some(Preset::Wan));
        // --membership alone is the LAN preset.
        let settings = Settings::merge(&args(&["--key-file", "k", "--membership"]), file(""))
            .expect("settings");
        assert_eq!(settings.membership, Some(Preset::Lan));
    }

    #[test]
    fn bad_file_values_name_their_key() {
        for (text, needle) in [
            ("bind = \"nowhere\"\nkey-file = \"k\"", "bind"),
            ("admin = \"x:y:z\"\nkey-file = \"k\"", "admin"),
            ("interval-ms = 0\nkey-file = \"k\"", "interval-ms"),
            ("", "no key file"),
        ] {
            let error = Settings::merge(&args(&[]), file(text)).expect_err(text);
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }
}
