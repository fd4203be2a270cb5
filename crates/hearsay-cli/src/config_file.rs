//! `hearsay node --config FILE`: the node's settings as TOML, one key per command-line flag
//! (the flag's name without `--`; the repeatable `--seed-peer` is the list `seed-peers`).
//! Unknown keys and values of the wrong type are errors that name the key; relative paths are
//! relative to the file's directory.
//!
//! ```toml
//! preset = "lan"               # or "wan", "local"; membership on with that SWIM preset
//! views = true                  # partial views: for hundreds of nodes, and TCP past ~500
//! bind = "0.0.0.0:7000"
//! advertise = "10.0.0.5:7000"
//! seed-peers = ["seed-1.example:7000", "10.0.0.6:7000"]
//! cluster = "prod"
//! key-file = "cluster.key"
//! admin = "127.0.0.1:9090"
//! log-format = "json"
//! state-file = "node.state"      # the node's state kept across restarts
//! stay = true
//! ```

use crate::logs::LogFormat;
use crate::settings::{Preset, Transport};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// The largest config file read, in bytes.
pub const MAX_CONFIG_FILE: u64 = 1 << 20;

/// A config file's settings: each is optional, a command-line flag overrides it, and what
/// neither gives takes the flag's default ([`crate::settings::Settings`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FileSettings {
    /// `--bind`.
    pub bind: Option<String>,
    /// `--transport`.
    pub transport: Option<Transport>,
    /// `--seed-peer`, each.
    pub seed_peers: Option<Vec<String>>,
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--key-file` (relative to the config file's directory).
    pub key_file: Option<PathBuf>,
    /// `--id`.
    pub id: Option<u64>,
    /// `--generation`.
    pub generation: Option<u64>,
    /// `--advertise`.
    pub advertise: Option<String>,
    /// `--interval-ms`.
    pub interval_ms: Option<u64>,
    /// `--rng-seed`.
    pub rng_seed: Option<u64>,
    /// `--stay`.
    pub stay: Option<bool>,
    /// `--membership`.
    pub membership: Option<bool>,
    /// `--preset`.
    pub preset: Option<Preset>,
    /// `--views`.
    pub views: Option<bool>,
    /// `--admin`.
    pub admin: Option<String>,
    /// `--log-format`.
    pub log_format: Option<LogFormat>,
    /// `--state-file`.
    pub state_file: Option<PathBuf>,
}

impl FileSettings {
    /// Parses TOML text; errors name the offending key (and its line).
    pub fn parse(text: &str) -> Result<FileSettings, String> {
        toml::from_str(text).map_err(|error| error.to_string().trim_end().to_owned())
    }

    /// Reads and parses `path` (at most [`MAX_CONFIG_FILE`] bytes); a relative `key-file` is
    /// made relative to the file's directory.
    pub fn load(path: &Path) -> Result<FileSettings, String> {
        let failed = |error: String| format!("config file {}: {error}", path.display());
        let bytes = hearsay_net::read_bounded(path, MAX_CONFIG_FILE)
            .map_err(|error| failed(error.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|_| failed("not UTF-8".into()))?;
        let mut settings = FileSettings::parse(&text).map_err(failed)?;
        if settings
            .key_file
            .as_ref()
            .is_some_and(|key_file| key_file.as_os_str().is_empty())
        {
            return Err(failed(
                "key-file is empty: give the path of a key file".into(),
            ));
        }
        if let Some(dir) = path.parent() {
            for file in [&mut settings.key_file, &mut settings.state_file] {
                if let Some(relative) = file.as_ref().filter(|f| f.is_relative()) {
                    *file = Some(dir.join(relative));
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_parses() {
        let settings = FileSettings::parse(
            r#"
            bind = "127.0.0.1:7000"
            transport = "stream"
            seed-peers = ["127.0.0.1:7001", "seed.example:7000"]
            cluster = "prod"
            key-file = "/etc/hearsay/cluster.key"
            id = 7
            generation = 9
            advertise = "10.0.0.1:7000"
            interval-ms = 250
            rng-seed = 3
            stay = true
            membership = true
            preset = "wan"
            views = true
            admin = "127.0.0.1:9090"
            log-format = "json"
            state-file = "node.state"
            "#,
        )
        .expect("parses");
        assert_eq!(settings.state_file, Some(PathBuf::from("node.state")));
        assert_eq!(settings.transport, Some(Transport::Stream));
        assert_eq!(settings.seed_peers.as_ref().map(Vec::len), Some(2));
        assert_eq!(settings.preset, Some(Preset::Wan));
        assert_eq!(settings.views, Some(true));
        assert_eq!(settings.log_format, Some(LogFormat::Json));
        assert_eq!(settings.interval_ms, Some(250));
        assert_eq!(settings.stay, Some(true));
    }

    #[test]
    fn errors_name_the_key() {
        for (text, needle) in [
            ("bnd = \"127.0.0.1:7000\"", "unknown field `bnd`"),
            ("transport = \"pigeon\"", "transport"),
            ("interval-ms = \"fast\"", "interval-ms"),
            ("preset = \"moon\"", "preset"),
            ("seed-peers = \"a:1\"", "seed-peers"),
            ("[net]\nbind = 1", "unknown field `net`"),
            ("bind = ", "bind"),
        ] {
            let error = FileSettings::parse(text).expect_err(text);
            assert!(error.contains(needle), "{text:?}: {error}");
        }
    }
}
