//! Settings and key files from outside are checked, with clear errors.

use hearsay_net::{DATAGRAM_OVERHEAD, Error, Key, Keyring, NetConfig, NetNode, TransportKind};
use hearsay_proto::{ClusterId, Config, Generation, Node, NodeId};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn config() -> NetConfig {
    NetConfig::new("c", "127.0.0.1:0".parse().expect("addr"))
}

fn refused(config: NetConfig, needle: &str) {
    match config.validate() {
        Err(Error::Config(reason)) => assert!(reason.contains(needle), "{reason}"),
        other => panic!("expected a config error about {needle}, got {other:?}"),
    }
}

#[test]
fn bad_settings_are_refused() {
    assert!(config().validate().is_ok());
    for max_datagram in [0, 575, 65_508] {
        refused(
            NetConfig {
                max_datagram,
                ..config()
            },
            "max_datagram",
        );
    }
    refused(
        NetConfig {
            inbound_queue: 0,
            ..config()
        },
        "inbound_queue",
    );
    refused(
        NetConfig {
            cluster: String::new(),
            ..config()
        },
        "cluster",
    );
    refused(
        NetConfig {
            cluster: "x".repeat(65),
            ..config()
        },
        "cluster",
    );
    refused(
        NetConfig {
            max_frame: 10,
            ..config()
        },
        "max_frame",
    );
    refused(
        NetConfig {
            send_queue: 0,
            ..config()
        },
        "send_queue",
    );
    refused(
        NetConfig {
            idle_timeout: Duration::ZERO,
            ..config()
        },
        "idle_timeout",
    );
    refused(
        NetConfig {
            unused_after: Duration::ZERO,
            ..config()
        },
        "unused_after",
    );
    refused(
        NetConfig {
            self_redial: Duration::from_secs(86_401),
            ..config()
        },
        "self_redial",
    );
    refused(
        NetConfig {
            keepalive: Duration::from_secs(60),
            ..config()
        },
        "keepalive",
    );
    refused(
        NetConfig {
            backoff_initial: Duration::from_secs(60),
            ..config()
        },
        "backoff_initial",
    );
    refused(
        NetConfig::new("c", "0.0.0.0:7000".parse().expect("addr")),
        "advertise",
    );
    for name in ["seed.example", "seed.example:0", ":7000"] {
        refused(
            NetConfig {
                seed_names: vec![name.into()],
                ..config()
            },
            "seed name",
        );
    }
    refused(
        NetConfig {
            resolve_every: Duration::ZERO,
            ..config()
        },
        "resolve_every",
    );
    // Values at the edges of their types: a queue that tokio's channels refuse, a period that
    // would make a timer spin.
    for (config, field) in [
        (
            NetConfig {
                send_queue: usize::MAX,
                ..config()
            },
            "send_queue",
        ),
        (
            NetConfig {
                inbound_queue: hearsay_net::MAX_LIMIT + 1,
                ..config()
            },
            "inbound_queue",
        ),
        (
            NetConfig {
                max_connections: usize::MAX,
                ..config()
            },
            "max_connections",
        ),
        (
            NetConfig {
                unused_after: Duration::from_nanos(3),
                ..config()
            },
            "unused_after",
        ),
    ] {
        refused(config, field);
    }
    assert!(
        NetConfig {
            send_queue: hearsay_net::MAX_LIMIT,
            unused_after: Duration::from_millis(1),
            ..config()
        }
        .validate()
        .is_ok()
    );
    let by_name = NetConfig {
        seed_names: vec!["seed.example:7000".into()],
        ..config()
    };
    assert!(by_name.validate().is_ok());
    let mut behind_nat = NetConfig::new("c", "0.0.0.0:7000".parse().expect("addr"));
    behind_nat.advertise = Some("192.0.2.7:7000".parse().expect("addr"));
    assert!(behind_nat.validate().is_ok());
    // Seeds that can never answer: refused at start, not dropped in silence for good.
    let seeded = |seed: &str, transport| NetConfig {
        seeds: vec![seed.parse().expect("addr")],
        transport,
        ..config()
    };
    for seed in ["127.0.0.1:0", "0.0.0.0:7000", "[::]:7000"] {
        refused(seeded(seed, TransportKind::Datagram), "cannot be reached");
    }
    refused(
        seeded("[::1]:7000", TransportKind::Datagram),
        "address family",
    );
    assert!(
        seeded("[::1]:7000", TransportKind::Stream)
            .validate()
            .is_ok()
    );
    assert!(
        seeded("127.0.0.2:7000", TransportKind::Datagram)
            .validate()
            .is_ok()
    );
    // Bound to one IPv6 address, IPv6 only; bound to `[::]`, both (dual-stack).
    let bound = |bind: &str, seed: &str| NetConfig {
        seeds: vec![seed.parse().expect("addr")],
        ..NetConfig::new("c", bind.parse().expect("addr"))
    };
    refused(bound("[::1]:0", "127.0.0.1:7000"), "address family");
    let mut dual = bound("[::]:7000", "127.0.0.1:7001");
    dual.advertise = Some("[::1]:7000".parse().expect("addr"));
    assert!(dual.validate().is_ok());
}

/// What `NetNode::start` says of a node with `protocol` settings and `net` ones.
fn start_error(protocol: Config, net: NetConfig) -> String {
    actix_rt::System::new().block_on(async {
        let node = Node::new(NodeId(1), Generation(1), protocol, 1).expect("valid");
        let keyring = Keyring::new(Key::from_bytes([1; 32]));
        match NetNode::start(node, net, keyring).await {
            Err(Error::Config(reason)) => reason,
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("started with settings that disagree"),
        }
    })
}

/// The protocol's settings for cluster `c` (that of [`config`]).
fn protocol() -> Config {
    Config {
        cluster: ClusterId::from_name("c"),
        ..Config::default()
    }
}

#[test]
fn messages_larger_than_a_frame_are_refused_at_start() {
    let protocol = Config {
        mtu: 60_000,
        max_incoming: 65_507,
        ..protocol()
    };
    let net = NetConfig {
        transport: TransportKind::Stream,
        max_frame: 32_768,
        ..config()
    };
    let reason = start_error(protocol, net);
    assert!(reason.contains("max_frame"), "{reason}");
}

#[test]
fn messages_larger_than_a_datagram_are_refused_at_start() {
    // The default MTU fits the default datagram once sealed; 1,420 does not.
    assert!(1_400 + DATAGRAM_OVERHEAD <= config().max_datagram);
    let protocol = Config {
        mtu: 1_420,
        ..protocol()
    };
    let reason = start_error(protocol, config());
    assert!(
        reason.contains("max_datagram") && reason.contains("1414"),
        "{reason}"
    );
}

#[test]
fn a_cluster_named_twice_differently_is_refused_at_start() {
    // The node is of cluster "hearsay" (the default), the network settings of "c".
    let reason = start_error(Config::default(), config());
    assert!(
        reason.contains("NetConfig::cluster \"c\"") && reason.contains("Config::cluster"),
        "{reason}"
    );
}

#[test]
fn key_files_are_checked() {
    let one = "ab".repeat(32);
    assert_eq!(
        Keyring::parse(&format!("\n# comment\n{one}\n"))
            .expect("ring")
            .len(),
        1
    );
    for (text, needle) in [
        ("", "no key"),
        ("abc\n", "line 1"),
        (&format!("{one}\nzz{}\n", "0".repeat(62)), "line 2"),
        (&format!("{}\n", "0".repeat(9 * 64)), "line 1"),
    ] {
        match Keyring::parse(text) {
            Err(Error::Key(reason)) => assert!(reason.contains(needle), "{reason}"),
            other => panic!("{text:?}: {other:?}"),
        }
    }
    let many: String = (1..=9u8)
        .map(|b| format!("{}\n", Key::from_bytes([b; 32]).to_hex()))
        .collect();
    assert!(
        matches!(Keyring::parse(&many), Err(Error::Key(reason)) if reason.contains("at most 8"))
    );
    assert_eq!(format!("{:?}", Key::from_bytes([7; 32])), "Key(<redacted>)");
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-net-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("written");
    path
}

fn load_refused(path: &Path, needle: &str) {
    match Keyring::load(path) {
        Err(Error::Key(reason)) => {
            assert!(reason.contains(needle), "{reason}");
            assert!(reason.contains(&path.display().to_string()), "{reason}");
        }
        other => panic!(
            "{}: expected a key error about {needle}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn key_files_are_read_up_to_64_kib() {
    // A valid file of exactly the limit loads: a key, then comment lines as padding.
    let mut text = format!("{}\n", "ab".repeat(32));
    while text.len() + 64 <= 64 * 1024 {
        text.push_str(&format!("#{}\n", "x".repeat(62)));
    }
    text.push_str(&"\n".repeat(64 * 1024 - text.len()));
    assert_eq!(text.len(), 64 * 1024);
    let ring = Keyring::load(&temp_file("limit", text.as_bytes())).expect("64 KiB loads");
    assert_eq!(ring.primary().to_hex(), "ab".repeat(32));
    // One byte more is refused.
    text.push('\n');
    load_refused(&temp_file("over", text.as_bytes()), "larger than 64 KiB");
    // Not UTF-8, and missing.
    load_refused(&temp_file("binary", b"\xff\xfe\n"), "UTF-8");
    load_refused(Path::new("/nonexistent/hearsay.key"), "/nonexistent");
}

/// A file whose metadata says nothing of its length, here an endless one, is refused after
/// reading past the limit, never read to its end.
#[cfg(unix)]
#[test]
fn endless_key_files_are_refused_quickly() {
    let started = Instant::now();
    load_refused(Path::new("/dev/zero"), "larger than 64 KiB");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
