//! `hearsay node` runs one networked node driven by the control interface on stdin, and
//! `hearsay keygen` prints a cluster key.

use crate::admin::{self, Admin};
use crate::logs::LogFormat;
use crate::settings::{MAX_INTERVAL_MS, Preset, Settings, Transport};
use clap::Args;
use hearsay_net::control::{Controller, Ending};
use hearsay_net::{Key, Keyring, NetConfig, NetNode, StateFile, TransportKind};
use hearsay_proto::{ClusterId, Config, Generation, Mode, Node, NodeId, ViewConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `hearsay node`. Every flag may also be given in the `--config` file (the flag
/// overrides the file); a flag left out takes the file's value, else the default shown
/// ([`Settings`]).
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// A TOML file of settings: one key per flag, named as the flag without `--`
    /// (`seed-peers` is a list); flags override it; unknown keys are errors.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Address to listen on, `ip:port` or `host:port` (port 0: any free port; `members` tells
    /// which) [default: 127.0.0.1:7000].
    #[arg(long, value_parser = crate::settings::resolve_addr)]
    pub bind: Option<SocketAddr>,
    /// How gossip travels: sealed UDP datagrams, or TCP connections [default: datagram].
    #[arg(long, value_enum)]
    pub transport: Option<Transport>,
    /// A peer to join through, `ip:port` or `host:port` (a host name is looked up at start and
    /// every 30 s, retried until it resolves); repeat for several.
    #[arg(long = "seed-peer")]
    pub seed_peers: Vec<String>,
    /// The cluster's name (1-64 bytes); nodes of other clusters are refused [default: hearsay].
    #[arg(long)]
    pub cluster: Option<String>,
    /// The key file: one key per line as `hearsay keygen` prints it, the first used to seal
    /// (required, here or in the config file).
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// The node's id (default: random).
    #[arg(long)]
    pub id: Option<u64>,
    /// The node's generation; must grow across restarts of one id (default: Unix time in ms).
    #[arg(long)]
    pub generation: Option<u64>,
    /// The address to tell peers, when it differs from --bind: `ip:port` or `host:port`
    /// (looked up at start).
    #[arg(long, value_parser = crate::settings::resolve_addr)]
    pub advertise: Option<SocketAddr>,
    /// Gossip round interval in milliseconds [default: 1000].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_INTERVAL_MS))]
    pub interval_ms: Option<u64>,
    /// Seed of the protocol's peer-selection RNG (default: random).
    #[arg(long)]
    pub rng_seed: Option<u64>,
    /// Keep running when stdin closes (then stop with SIGTERM or SIGINT, which leave as `quit`
    /// does); `quit` still stops the node.
    #[arg(long)]
    pub stay: bool,
    /// Membership and failure detection: member statuses (SWIM probes, suspicion and
    /// refutation, the `lan` preset), a graceful leave on `quit`, departed members forgotten.
    #[arg(long)]
    pub membership: bool,
    /// Membership on with a named preset of failure detection: `lan` (a data centre), `wan`
    /// (across regions), `local` (one machine).
    #[arg(long, value_enum)]
    pub preset: Option<Preset>,
    /// Partial views (HyParView; 5 active peers, 30 passive): a node gossips with its active
    /// view and links only the peers it has something to send to, not every member — for
    /// clusters of hundreds of nodes, and over `--transport stream` past the full mesh's limit
    /// (about 500 nodes). Give every node of a cluster the same setting.
    #[arg(long)]
    pub views: bool,
    /// Serve the admin endpoints over HTTP on this address, `ip:port` (off by default):
    /// `/metrics` (Prometheus), `/health`, `/members`, `/state`, `/series` and a status page
    /// at `/`. Bind it to loopback or a private network: it has no authentication.
    #[arg(long, value_parser = crate::settings::resolve_addr)]
    pub admin: Option<SocketAddr>,
    /// How logs are written to stderr: `text` or `json` (one object per line) [default: text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Keep the node's state in this file (off by default; one process per file): saved within
    /// a second of each own write, every 30 s and at exit, and
    /// read back at the next start, which comes back as a new generation with its own entries
    /// and the members' addresses (no seed needed) and, without `--id`, the saved node's id.
    #[arg(long, value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// Check the settings (flags over the config file) and print them resolved, as JSON, then
    /// exit: nothing is bound and the key file is not read.
    #[arg(long)]
    pub check: bool,
}

/// Seeds given as addresses, and those given as host names (looked up by the node, again and
/// again, so that a seed whose name is not published yet is found later).
fn split_seeds(given: &[String]) -> (Vec<SocketAddr>, Vec<String>) {
    let mut addrs = Vec::new();
    let mut names = Vec::new();
    for seed in given {
        match seed.parse() {
            Ok(addr) => addrs.push(addr),
            Err(_) => names.push(seed.clone()),
        }
    }
    (addrs, names)
}

/// The protocol's settings.
fn protocol_config(settings: &Settings) -> Config {
    let mut protocol = Config {
        cluster: ClusterId::from_name(&settings.cluster),
        gossip_interval: Duration::from_millis(settings.interval_ms),
        ..Config::default()
    };
    if let Some(preset) = settings.membership {
        protocol.mode = Mode::AntiEntropy;
        protocol.membership = Some(preset.membership());
    }
    if settings.views {
        protocol.view = Some(ViewConfig::default());
    }
    protocol
}

/// The network adapter's settings.
fn net_config(settings: &Settings) -> NetConfig {
    let (seeds, seed_names) = split_seeds(&settings.seed_peers);
    NetConfig {
        seeds,
        seed_names,
        state: settings.state_file.clone().map(StateFile::new),
        advertise: settings.advertise,
        transport: match settings.transport {
            Transport::Datagram => TransportKind::Datagram,
            Transport::Stream => TransportKind::Stream,
        },
        ..NetConfig::new(settings.cluster.clone(), settings.bind)
    }
}

/// `--check`: validates the settings as the node would at start (without reading the key file
/// or binding anything) and prints them, resolved, as JSON.
fn check(settings: &Settings) -> Result<(), String> {
    protocol_config(settings)
        .validate()
        .map_err(|error| error.to_string())?;
    net_config(settings)
        .validate()
        .map_err(|error| error.to_string())?;
    let json = serde_json::to_string_pretty(settings).map_err(|error| error.to_string())?;
    out!("{json}");
    Ok(())
}

/// Runs a node until `quit`, SIGTERM or SIGINT, or until the end of stdin without `--stay`;
/// then it leaves (with membership) and flushes its links.
pub fn run(args: NodeArgs) -> Result<(), String> {
    let settings = Settings::resolve(&args)?;
    if args.check {
        return check(&settings);
    }
    crate::logs::init(settings.log_format);
    let keyring = Keyring::load(&settings.key_file).map_err(|error| error.to_string())?;
    let state = settings.state_file.clone().map(StateFile::new);
    // Taken before the read: no other process saves between this read and the start.
    let lock = (state.as_ref().map(StateFile::lock).transpose()).map_err(|e| e.to_string())?;
    // Read once: its id is the node's when `--id` is not given.
    let saved = match &state {
        Some(state) => state.saved().map_err(|error| error.to_string())?,
        None => None,
    };
    let id = match settings.id.or(saved.as_ref().map(|snapshot| snapshot.id.0)) {
        Some(id) => id,
        None => hearsay_net::random_u64().map_err(|error| error.to_string())?,
    };
    let generation = match settings.generation {
        Some(generation) => generation,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|error| error.to_string())?
            .as_millis() as u64,
    };
    let rng_seed = match settings.rng_seed {
        Some(seed) => seed,
        None => hearsay_net::random_u64().map_err(|error| error.to_string())?,
    };
    let node = match &state {
        Some(state) => state.start_from(
            saved,
            NodeId(id),
            Generation(generation),
            protocol_config(&settings),
            rng_seed,
        ),
        None => Node::new(
            NodeId(id),
            Generation(generation),
            protocol_config(&settings),
            rng_seed,
        )
        .map_err(|error| hearsay_net::Error::Node(error.into())),
    }
    .map_err(|error| error.to_string())?;
    let generation = node.generation().0;
    let net = net_config(&settings);
    let admin_info = admin::Info {
        transport: settings.transport.name(),
        membership: settings.membership.is_some(),
        expects_peers: !settings.seed_peers.is_empty(),
        interval: Duration::from_millis(settings.interval_ms),
    };
    let membership = settings.membership.is_some();
    let (stay, key_file, admin_addr) = (settings.stay, settings.key_file, settings.admin);
    let system = actix_rt::System::new();
    let (stopped_by, state_saved) = system.block_on(async move {
        let admin_listener = match admin_addr {
            Some(addr) => Some(admin::bind(addr).await?),
            None => None,
        };
        let started = match lock {
            Some(lock) => NetNode::start_locked(node, net, keyring, lock).await,
            None => NetNode::start(node, net, keyring).await,
        };
        let net_node = Arc::new(started.map_err(|error| error.to_string())?);
        if state.is_some() {
            // At once: a process that dies before the first periodic save still comes back
            // under this id.
            net_node
                .save_state()
                .await
                .map_err(|error| error.to_string())?;
        }
        tracing::info!(id, generation, "node started");
        tokio::spawn(crate::logs::report_every_window());
        let admin = match admin_listener {
            Some(listener) => {
                let admin = Admin::new(net_node.clone(), admin_info);
                admin::serve(listener, admin.clone())?;
                Some(admin)
            }
            None => None,
        };
        let controller = Controller::new(&net_node, Some(key_file.clone()));
        let mut stopped_by = None;
        let served = tokio::select! {
            served = controller.serve(tokio::io::stdin(), tokio::io::stdout()) => Some(served),
            signal = stop_signal(!stay) => {
                stopped_by = Some(signal);
                None
            }
        };
        // A control interface that fails (its terminal gone, its output closed) ends like the
        // end of stdin: the node still leaves, saves and flushes below.
        let ending = served.transpose().unwrap_or_else(|error| {
            tracing::warn!(%error, "the control interface failed");
            Some(Ending::EndOfInput)
        });
        // --stay outlives the end of stdin, never a `quit`.
        if ending == Some(Ending::EndOfInput) && stay {
            tracing::info!("stdin closed; --stay: running until a signal");
            stopped_by = Some(stop_signal(false).await);
        }
        if let Some(signal) = stopped_by {
            tracing::info!(signal, "stopping");
        }
        if let Some(admin) = &admin {
            admin.stopping();
        }
        // The leave goes out on the links before the goodbyes.
        let grace = Duration::from_secs(2);
        let left = if membership {
            net_node.leave(grace).await.map(Some)
        } else {
            Ok(None)
        };
        let stopped = match left {
            Ok(Some(stopped)) => stopped,
            Ok(None) => net_node.shutdown_and_flush(grace).await,
            Err(error) => {
                tracing::warn!(%error, "could not announce the leave");
                net_node.shutdown_and_flush(grace).await
            }
        };
        if !stopped.clean() {
            tracing::warn!("the node did not stop cleanly: see the warnings above");
        }
        crate::logs::report_suppressed();
        Ok::<_, String>((stopped_by, stopped.saved))
    })?;
    // Writes since the last save are lost: the exit status says so (a supervisor or a script
    // sees it), as the log did.
    let code = if state_saved { 0 } else { 1 };
    if stopped_by.is_some() || !state_saved {
        // A read of stdin may be in progress on the runtime's blocking pool, which cannot be
        // cancelled and which the runtime would wait for when dropped (tokio::io::stdin's
        // documented caveat): the node has left and flushed, so the process ends here.
        if !state_saved {
            eprintln!("error: the node's state could not be saved at its stop (see the log)");
        }
        std::process::exit(code);
    }
    Ok(())
}

/// Waits for SIGTERM (how systemd, Kubernetes and `docker stop` stop a service), SIGINT
/// (Ctrl-C) or, with `hangup`, SIGHUP (its terminal closed); answers its name. Each stops the
/// node as `quit` does: leave, save, flush, exit 0. A node that runs on past its stdin
/// (`--stay`) leaves SIGHUP alone: under `nohup` it is ignored, as its user asked.
async fn stop_signal(hangup: bool) -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut terminate) = signal(SignalKind::terminate()) {
            let mut hangup = hangup.then(|| signal(SignalKind::hangup()).ok()).flatten();
            let hung_up = async {
                match &mut hangup {
                    Some(hangup) => hangup.recv().await,
                    None => std::future::pending().await,
                }
            };
            return tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
                // The terminal closed: the node leaves and saves as on SIGTERM, rather than
                // dying at the signal's default.
                _ = hung_up => "SIGHUP",
            };
        }
    }
    let _ = hangup;
    match tokio::signal::ctrl_c().await {
        Ok(()) => "SIGINT",
        // No signal can be listened for: only `quit` or the end of stdin stop the node.
        Err(_) => std::future::pending().await,
    }
}

/// Prints a new key.
pub fn keygen() -> Result<(), String> {
    let key = Key::generate().map_err(|error| error.to_string())?;
    out!("{}", key.to_hex());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_seeds;
    use crate::settings::resolve_addr;

    #[test]
    fn addresses_may_be_host_names() {
        let addr = resolve_addr("localhost:7000").expect("localhost resolves");
        assert!(addr.ip().is_loopback() && addr.port() == 7000, "{addr}");
        assert_eq!(
            resolve_addr("10.0.0.1:7").expect("an ip"),
            "10.0.0.1:7".parse().expect("addr")
        );
        assert!(resolve_addr("no-port").is_err());
        let (addrs, names) = split_seeds(&["10.0.0.1:7".into(), "seed.example:7000".into()]);
        assert_eq!(addrs, vec!["10.0.0.1:7".parse().expect("addr")]);
        assert_eq!(names, vec!["seed.example:7000".to_owned()]);
    }
}
