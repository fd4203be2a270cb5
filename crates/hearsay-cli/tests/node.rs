//! `hearsay node` as real OS processes on loopback (real sockets, real time, every wait bounded),
//! and `hearsay keygen`.

mod common;

use common::NodeProcess;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn key_file(dir: &Path, name: &str) -> PathBuf {
    let output = Command::new(env!("CARGO_BIN_EXE_hearsay"))
        .arg("keygen")
        .output()
        .expect("keygen runs");
    assert!(output.status.success());
    let path = dir.join(name);
    std::fs::write(&path, &output.stdout).expect("key written");
    path
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearsay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// The path of a fresh key, in a fresh directory `name`, for a cluster of processes.
fn fresh_key(name: &str) -> String {
    let dir = temp_dir(name);
    let key = key_file(&dir, "key");
    key.to_str().expect("path").to_owned()
}

#[test]
fn keygen_prints_fresh_hex_keys() {
    let dir = temp_dir("keygen");
    let first = std::fs::read_to_string(key_file(&dir, "a")).expect("read");
    let second = std::fs::read_to_string(key_file(&dir, "b")).expect("read");
    for key in [&first, &second] {
        let key = key.trim();
        assert_eq!(key.len(), 64);
        assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    }
    assert_ne!(first, second);
}

/// Output that cannot be written is an error, not a panic: a full disk exits 1 with a message,
/// a pipe closed by its reader (`hearsay … | head -1`) ends the process quietly with 0.
#[cfg(unix)]
#[test]
fn output_that_cannot_be_written_is_not_a_panic() {
    use std::process::{Command, Stdio};
    let bin = env!("CARGO_BIN_EXE_hearsay");
    if let Ok(full) = std::fs::File::options().write(true).open("/dev/full") {
        let output = Command::new(bin)
            .arg("keygen")
            .stdout(full)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("cannot write the output"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A reader that closes the pipe before the first line is written.
    let mut child = Command::new(bin)
        .args(["sim", "rumor", "--nodes", "200", "--runs", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("exits");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Two processes started with one id erase each other's entries everywhere (the newer
/// generation wins): the one that hears of the other says so in its log, naming the cause.
#[test]
fn two_processes_with_one_id_are_reported_in_the_log() {
    let dir = temp_dir("same-id");
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let mut first = NodeProcess::start_logged(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        key,
        "--id",
        "7",
        "--generation",
        "1",
    ]);
    let seed = first.addr.clone();
    let _second = NodeProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        key,
        "--id",
        "7",
        "--generation",
        "2",
        "--seed-peer",
        &seed,
    ]);
    let line = first.wait_log(
        "another process running with the same id",
        Duration::from_secs(20),
    );
    assert!(line.contains("WARN"), "{line}");
}

/// Two processes with one id under membership, the generations left to their defaults (the
/// later start's is newer): the members' updates carry the newer process's address, so every
/// answer to id 7 goes there and the older hears nothing — before session 34 a silent zombie
/// whose writes reached no one. A peer that gets its gossip, sealed under the older
/// generation from another socket than the newer's, now tells it (`Body::Superseded`), and it
/// says so loudly — without refuting (session 33's refutation moved the zombie to the newer
/// process): the newer keeps the id, its writes reach the cluster, and it is told nothing.
#[test]
fn a_superseded_process_under_membership_says_so_and_the_newer_keeps_the_id() {
    let key = fresh_key("same-id-membership");
    let common = ["--bind", "127.0.0.1:0", "--key-file", &key, "--membership"];
    let mut seed = NodeProcess::start(&[&common[..], &["--id", "1"]].concat());
    let seed_addr = seed.addr.clone();
    let mut older = NodeProcess::start_logged(
        &[&common[..], &["--id", "7", "--seed-peer", &seed_addr]].concat(),
    );
    assert!(older.ask("set before older").starts_with("OK "));
    assert_eq!(seed.ask("wait before older"), "OK");
    let mut newer = NodeProcess::start_logged(
        &[&common[..], &["--id", "7", "--seed-peer", &seed_addr]].concat(),
    );
    let line = older.wait_log(
        "another process runs this node's id at a newer generation",
        Duration::from_secs(30),
    );
    assert!(line.contains("ERROR"), "{line}");
    assert!(newer.ask("set after newer").starts_with("OK "));
    assert_eq!(seed.ask("wait after newer"), "OK");
    let told: Vec<String> = newer
        .logs_so_far()
        .into_iter()
        .filter(|line| {
            line.contains("another process runs") || line.contains("another incarnation")
        })
        .collect();
    assert!(told.is_empty(), "the newer process was told: {told:#?}");
    let stats: serde_json::Value = serde_json::from_str(&older.ask("stats")).expect("JSON");
    assert!(stats.to_string().contains("\"superseded\":"), "{stats}");
}

/// What is left of an id after its newer process leaves: a process started under a lower
/// generation (`--generation`, a clock stepped back, or the loser of a race between two
/// processes of one id) first hears that the id runs elsewhere (an ERROR, its hellos refused as
/// older than the one taken); once the newer leaves, every peer ignored it as older than the
/// departed generation, for good until the Left member was removed (5 minutes) — before
/// session 34 nothing told it. Now it is told the id departed, moves above it, and its writes
/// reach the cluster again.
#[test]
fn what_is_left_of_an_id_moves_above_its_departed_generation() {
    let key = fresh_key("same-id-departed");
    let common = ["--bind", "127.0.0.1:0", "--key-file", &key, "--membership"];
    let mut seed = NodeProcess::start(&[&common[..], &["--id", "1"]].concat());
    let seed_addr = seed.addr.clone();
    let with = |generation: &'static str| {
        [
            &common[..],
            &[
                "--id",
                "7",
                "--generation",
                generation,
                "--seed-peer",
                &seed_addr,
            ],
        ]
        .concat()
    };
    let mut higher = NodeProcess::start(&with("200"));
    assert!(higher.ask("set from higher").starts_with("OK "));
    assert_eq!(seed.ask("wait from higher"), "OK");
    let mut lower = NodeProcess::start_logged(&with("100"));
    let line = lower.wait_log(
        "another process runs this node's id at a newer generation",
        Duration::from_secs(30),
    );
    assert!(line.contains("ERROR"), "{line}");
    assert_eq!(higher.ask("quit"), "OK bye");
    let line = lower.wait_log("moved above it", Duration::from_secs(40));
    assert!(line.contains("WARN"), "{line}");
    assert!(lower.ask("set from lower").starts_with("OK "));
    wait_for(&mut seed, "from", "lower");
}

#[test]
fn three_processes_converge() {
    let dir = temp_dir("three");
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let mut first = NodeProcess::start(&["--bind", "127.0.0.1:0", "--key-file", key, "--id", "1"]);
    let seed = first.addr.clone();
    // The third node finds its seed by host name (looked up through the system resolver).
    let port = seed.rsplit_once(':').expect("ip:port").1;
    let by_name = format!("localhost:{port}");
    let mut others: Vec<NodeProcess> = (2..=3)
        .map(|id| {
            let seed = if id == 3 { &by_name } else { &seed };
            NodeProcess::start(&[
                "--bind",
                "127.0.0.1:0",
                "--key-file",
                key,
                "--id",
                &id.to_string(),
                "--seed-peer",
                seed,
            ])
        })
        .collect();
    assert!(others[0].ask("set greeting hello there").starts_with("OK "));
    assert_eq!(first.ask("wait greeting hello there"), "OK");
    assert_eq!(others[1].ask("wait greeting hello there"), "OK");
    assert_eq!(others[1].ask("get greeting"), "hello there");
    // A delete spreads too.
    assert!(first.ask("del greeting").starts_with("OK "));
    assert!(first.ask("set greeting second").starts_with("OK "));
    assert_eq!(others[0].ask("wait greeting second"), "OK");
    // The third node learns the second's address from gossip (the second's reserved address
    // entry, relayed by the first): it comes to list both peers as connected.
    others[1].wait_members(Duration::from_secs(20), |members| {
        NodeProcess::connected_peers(members).len() == 2
    });
    let stats: Value = serde_json::from_str(&first.ask("stats")).expect("JSON");
    assert_eq!(stats["auth_failures"], 0);
    assert!(stats["gossip_in"].as_u64().expect("count") > 0);
    // A key written with a time to live reaches the others, then goes everywhere once its
    // writer's second is up.
    assert!(others[1].ask("setex lease 1 held").starts_with("OK "));
    assert_eq!(first.ask("wait lease held"), "OK");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::iter::once(&mut first)
        .chain(others.iter_mut())
        .any(|node| node.ask("get lease") != "(nil)")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn killed_node_restarts_with_new_generation_and_catches_up() {
    let dir = temp_dir("restart");
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let mut first = NodeProcess::start(&["--bind", "127.0.0.1:0", "--key-file", key, "--id", "1"]);
    let seed = first.addr.clone();
    let start_third = |generation: &str, bind: &str| {
        NodeProcess::start(&[
            "--bind",
            bind,
            "--key-file",
            key,
            "--id",
            "3",
            "--generation",
            generation,
            "--seed-peer",
            &seed,
        ])
    };
    let mut second = NodeProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        key,
        "--id",
        "2",
        "--seed-peer",
        &seed,
    ]);
    let mut third = start_third("10", "127.0.0.1:0");
    let third_addr = third.addr.clone();
    assert!(
        third
            .ask("set stale from-the-old-incarnation")
            .starts_with("OK ")
    );
    assert_eq!(first.ask("wait stale from-the-old-incarnation"), "OK");
    third.kill();
    assert!(first.ask("set x 2").starts_with("OK "));
    assert_eq!(second.ask("wait x 2"), "OK");
    // Same id and address, newer generation, empty state (a lost disk).
    let mut third = start_third("11", &third_addr);
    assert_eq!(third.ask("wait x 2"), "OK");
    assert!(third.ask("set fresh yes").starts_with("OK "));
    assert_eq!(first.ask("wait fresh yes"), "OK");
    assert_eq!(second.ask("wait fresh yes"), "OK");
    // The old incarnation's entries are superseded everywhere, not resurrected.
    for node in [&mut first, &mut second] {
        let dump: Value = serde_json::from_str(&node.ask("dump")).expect("JSON");
        assert!(dump["3"].get("stale").is_none(), "{dump}");
        assert_eq!(dump["3"]["fresh"], "yes");
    }
}

/// The version a `set` answered (`OK <version>`).
fn written(answer: &str) -> u64 {
    answer
        .strip_prefix("OK ")
        .and_then(|version| version.parse().ok())
        .unwrap_or_else(|| panic!("not a write's answer: {answer:?}"))
}

/// Waits until `node`'s `get KEY` is `value` (the node's own bounded `wait`); on a timeout, fails
/// with what the node holds.
fn wait_for(node: &mut NodeProcess, key: &str, value: &str) {
    let answer = node.ask(&format!("wait {key} {value}"));
    if answer != "OK" {
        let dump = node.ask("dump");
        let addr = &node.addr;
        panic!("node at {addr}: `wait {key} {value}` answered {answer:?}; it holds {dump}");
    }
}

/// The generation node 3 runs at before it is killed in [`restart_reusing_generation`].
const OLD_GENERATION: u64 = 1_000;

/// Node 3 writes, is killed (SIGKILL) and comes back on the same port with `generation` instead
/// of its old one ([`OLD_GENERATION`]) and without its state, then writes again a key it wrote before. Without
/// the protocol's refutation this diverges for good: with the same generation its peers take the
/// new incarnation's versions for ones they hold already (or mix both incarnations' entries); with
/// a lower one they drop everything it writes as stale. With it, the new incarnation hears of its
/// old self, moves above it, and every node ends up with only the new incarnation's entries.
fn restart_reusing_generation(name: &str, generation: u64) {
    assert!(generation <= OLD_GENERATION);
    let dir = temp_dir(name);
    let key_path = key_file(&dir, "key");
    let key = key_path.to_str().expect("path");
    let start = |id: &str, generation: u64, bind: &str, seed: Option<&str>, key: &str| {
        let generation = generation.to_string();
        let mut args = vec![
            "--bind",
            bind,
            "--key-file",
            key,
            "--id",
            id,
            "--generation",
            &generation,
        ];
        if let Some(seed) = seed {
            args.extend(["--seed-peer", seed]);
        }
        NodeProcess::start(&args)
    };
    let mut first = start("1", 1, "127.0.0.1:0", None, key);
    let seed = first.addr.clone();
    let mut second = start("2", 1, "127.0.0.1:0", Some(&seed), key);
    let mut third = start("3", OLD_GENERATION, "127.0.0.1:0", Some(&seed), key);
    let third_addr = third.addr.clone();
    // The old incarnation writes `shared` (written again after the restart), `stale` (never
    // written again) and a few more, so that the versions the new incarnation writes below are
    // versions its peers hold already under the old generation.
    written(&third.ask("set shared old"));
    written(&third.ask("set stale from-the-old-incarnation"));
    let mut old_top = 0;
    for n in 0..5 {
        old_top = written(&third.ask(&format!("set filler{n} x")));
    }
    written(&first.ask("set x 1"));
    for node in [&mut first, &mut second] {
        assert_eq!(node.ask("wait shared old"), "OK");
        assert_eq!(node.ask("wait stale from-the-old-incarnation"), "OK");
        assert_eq!(node.ask("wait filler4 x"), "OK");
    }
    assert_eq!(second.ask("wait x 1"), "OK");
    assert_eq!(third.ask("wait x 1"), "OK");
    third.kill();
    written(&first.ask("set x 2"));
    assert_eq!(second.ask("wait x 2"), "OK");
    // Same id and address, no state (a lost disk), and a generation that is not newer. It
    // starts with another cluster key, so that no handshake (hence no gossip, which would move
    // its clock past the old versions) happens before its write; then it loads the right key.
    let wrong_key = key_file(&dir, "wrong-key");
    let wrong = wrong_key.to_str().expect("path");
    let mut third = start("3", generation, &third_addr, Some(&seed), wrong);
    let version = written(&third.ask("set shared new"));
    assert!(
        version < old_top,
        "the new write (version {version}) must be one the peers hold under the old generation \
         (up to {old_top}), so that only a newer generation can carry it"
    );
    std::fs::copy(&key_path, &wrong_key).expect("key copied");
    let reloaded = third.ask("reload-keys");
    assert!(reloaded.starts_with("OK"), "{reloaded}");
    wait_for(&mut first, "shared", "new");
    wait_for(&mut second, "shared", "new");
    wait_for(&mut third, "x", "2");
    // Everything of the old incarnation is gone everywhere, not mixed with the new one's
    // entries, nor resurrected.
    for node in [&mut first, &mut second, &mut third] {
        assert_eq!(node.ask("get shared"), "new");
        assert_eq!(node.ask("get stale"), "(nil)");
        assert_eq!(node.ask("get filler4"), "(nil)");
        let dump: Value = serde_json::from_str(&node.ask("dump")).expect("JSON");
        let entries = dump["3"].as_object().unwrap_or_else(|| panic!("{dump}"));
        let mut keys: Vec<&str> = entries.keys().map(String::as_str).collect();
        keys.sort_unstable();
        // The address is the runtime's: written again under the new generation.
        assert_eq!(keys, ["\u{0}hearsay/addr", "shared"], "{dump}");
        assert_eq!(entries["shared"], "new", "{dump}");
        assert_eq!(dump["1"]["x"], "2", "{dump}");
    }
}

#[test]
fn killed_node_restarted_with_the_same_generation_takes_over() {
    restart_reusing_generation("same-generation", OLD_GENERATION);
}

#[test]
fn killed_node_restarted_with_a_lower_generation_takes_over() {
    // As a clock stepped back does with the default generation (wall-clock milliseconds).
    restart_reusing_generation("lower-generation", 7);
}

#[test]
fn bad_arguments_fail_clearly() {
    let dir = temp_dir("bad");
    let hearsay = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_hearsay"))
            .arg("node")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("runs")
    };
    let output = hearsay(&["--key-file", "/nonexistent/key"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("/nonexistent/key"));
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "not a key\n").expect("written");
    let output = hearsay(&["--key-file", garbage.to_str().expect("path")]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 1"));
    let output = hearsay(&["--bind", "not-an-address", "--key-file", "x"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--bind"));
    // A port in use, for each transport.
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = udp.local_addr().expect("addr").to_string();
    let output = hearsay(&["--bind", &addr, "--key-file", key]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen"));
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = tcp.local_addr().expect("addr").to_string();
    let output = hearsay(&["--bind", &addr, "--transport", "stream", "--key-file", key]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot listen"));
    let output = hearsay(&["--seed-peer", "seed-without-port", "--key-file", key]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected host:port"));
    let output = hearsay(&["--transport", "carrier-pigeon", "--key-file", key]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--transport"));
}

#[test]
fn an_endless_key_file_is_refused_quickly() {
    let output = common::run_within(
        &["node", "--bind", "127.0.0.1:0", "--key-file", "/dev/zero"],
        Duration::from_secs(10),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/dev/zero: larger than 64 KiB"), "{stderr}");
}

#[test]
fn quit_leaves_and_exits_even_with_stay() {
    let dir = temp_dir("stay");
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let mut first = NodeProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        key,
        "--id",
        "1",
        "--membership",
    ]);
    let seed = first.addr.clone();
    let mut second = NodeProcess::start(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        key,
        "--id",
        "2",
        "--seed-peer",
        &seed,
        "--membership",
        "--stay",
    ]);
    assert!(second.ask("set joined yes").starts_with("OK "));
    assert_eq!(first.ask("wait joined yes"), "OK");
    // The first node waits for the second's leave: its reserved status entry turning `left`.
    let leave = "wait \u{0}hearsay/status left";
    first.send(leave);
    assert_eq!(second.ask("quit"), "OK bye");
    let status = second.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(0), "{status}");
    assert_eq!(first.answer(leave), "OK");
    let members: Value = serde_json::from_str(&first.ask("members")).expect("JSON");
    let second_member = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|member| member["id"] == 2)
        .unwrap_or_else(|| panic!("no member 2 in {members}"));
    assert_eq!(second_member["status"], "left", "{members}");
}

#[test]
fn a_failed_last_save_is_an_exit_status_of_1() {
    let dir = temp_dir("failed-save");
    let key = key_file(&dir, "key");
    let states = dir.join("states");
    let _ = std::fs::remove_dir_all(&states);
    std::fs::create_dir_all(&states).expect("directory");
    let state = states.join("node.state");
    let mut node = NodeProcess::start_logged(&[
        "--bind",
        "127.0.0.1:0",
        "--key-file",
        key.to_str().expect("path"),
        "--state-file",
        state.to_str().expect("path"),
    ]);
    assert!(node.ask("set unsaved yes").starts_with("OK "));
    // The directory goes (a volume unmounted, a disk gone): no save can be written there.
    std::fs::remove_dir_all(&states).expect("removed");
    assert_eq!(node.ask("quit"), "OK bye");
    let logs = node.logs_until_closed(Duration::from_secs(20));
    let status = node.wait_exit(Duration::from_secs(20));
    assert_eq!(status.code(), Some(1), "{status}; {logs:#?}");
    assert!(
        logs.iter().any(|line| line.contains("could not be saved")),
        "{logs:#?}"
    );
}

/// The member `id` as `node` lists it.
fn member_status(node: &mut NodeProcess, id: u64) -> String {
    let members: Value = serde_json::from_str(&node.ask("members")).expect("JSON");
    let member = members["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|member| member["id"] == id)
        .unwrap_or_else(|| panic!("no member {id} in {members}"))
        .clone();
    member["status"].as_str().unwrap_or_default().to_owned()
}

/// SIGTERM (how systemd, Kubernetes and `docker stop` stop a service) and SIGINT stop a node as
/// `quit` does: it leaves, flushes and exits 0, and the others list it Left, not Down.
/// Three processes with membership, nodes 2 and 3 started through node 1, whose writes node 1
/// has seen: a cluster that has formed.
fn three_members(name: &str) -> [NodeProcess; 3] {
    members(name)
}

/// `N` members (`--membership`), node 1 the others' seed, each heard of by node 1.
fn members<const N: usize>(name: &str) -> [NodeProcess; N] {
    members_with(name, &[])
}

/// [`members`], each started with the flags `extra` too.
fn members_with<const N: usize>(name: &str, extra: &[&str]) -> [NodeProcess; N] {
    let dir = temp_dir(name);
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let start = |id: &str, seed: Option<&str>| {
        let mut args = vec!["--bind", "127.0.0.1:0", "--key-file", key, "--id", id];
        args.push("--membership");
        args.extend(extra);
        if let Some(seed) = seed {
            args.extend(["--seed-peer", seed]);
        }
        NodeProcess::start(&args)
    };
    let first = start("1", None);
    let seed = first.addr.clone();
    let mut nodes = vec![first];
    for id in 2..=N {
        let mut node = start(&id.to_string(), Some(&seed));
        assert!(node.ask(&format!("set joined-{id} yes")).starts_with("OK "));
        assert_eq!(nodes[0].ask(&format!("wait joined-{id} yes")), "OK");
        nodes.push(node);
    }
    match nodes.try_into() {
        Ok(nodes) => nodes,
        Err(_) => unreachable!("N nodes started"),
    }
}

#[test]
fn sigterm_sigint_and_sighup_leave_gracefully() {
    let [mut first, mut second, mut third, mut fourth] = members("signals");
    for (signal, node, id) in [
        ("TERM", &mut fourth, 4),
        ("INT", &mut third, 3),
        ("HUP", &mut second, 2),
    ] {
        let leave = "wait \u{0}hearsay/status left";
        first.send(leave);
        node.signal(signal);
        let status = node.wait_exit(Duration::from_secs(20));
        assert_eq!(status.code(), Some(0), "SIG{signal}: {status}");
        assert_eq!(first.answer(leave), "OK", "SIG{signal}");
        assert_eq!(member_status(&mut first, id), "left", "SIG{signal}");
    }
}

/// A process that is stopped (`SIGSTOP`: a debugger, a suspended VM, a long pause) is Down for
/// the others; continued (`SIGCONT`), its timers all late, it is Up again without a restart and
/// its writes spread.
/// `--views` over TCP: five members with partial views, joined through node 1, hold each other
/// Up, a write reaches every one, `members` lists each node's views, and a member killed is Down
/// at the others (its probes and the views' failure signal work across processes).
#[test]
fn members_with_partial_views_over_tcp() {
    let mut nodes: [NodeProcess; 5] = members_with("views", &["--transport", "stream", "--views"]);
    let all_up = |members: &Value| {
        let rows = members["members"].as_array().into_iter().flatten();
        rows.filter(|member| member["status"] == "up").count() == 5
    };
    for node in &mut nodes {
        let members = node.wait_members(Duration::from_secs(30), all_up);
        let active = members["views"]["active"].as_array().map_or(0, Vec::len);
        assert!((1..=5).contains(&active), "views: {members}");
    }
    assert!(nodes[4].ask("set spread everywhere").starts_with("OK "));
    for node in &mut nodes[..4] {
        assert_eq!(node.ask("wait spread everywhere"), "OK");
    }
    nodes[2].kill();
    let third_down = |members: &Value| {
        (members["members"].as_array().into_iter().flatten())
            .any(|member| member["id"] == 3 && member["status"] == "down")
    };
    for index in [0, 1, 3, 4] {
        nodes[index].wait_members(Duration::from_secs(60), third_down);
    }
}

/// A seed that never answers — a wrong address, or a node of the other transport — is said in
/// the log at the default level after a few attempts, over either transport (session 32: both
/// retried it silently forever).
#[test]
fn a_seed_that_never_answers_is_logged() {
    let dir = temp_dir("silent-seed");
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    // A port where a datagram gets no answer and a connection is refused.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let seed = silent.local_addr().expect("addr").to_string();
    for (transport, needle) in [
        ("datagram", "a seed does not answer"),
        ("stream", "a seed does not link"),
    ] {
        let mut node = NodeProcess::start_logged(&[
            "--bind",
            "127.0.0.1:0",
            "--key-file",
            key,
            "--transport",
            transport,
            "--seed-peer",
            &seed,
        ]);
        let line = node.wait_log(needle, Duration::from_secs(30));
        assert!(line.contains(&seed) && line.contains("WARN"), "{line}");
    }
}

/// A cluster configured two ways — one node with `--views`, one without — converges and used
/// to say nothing; the node without views now says, once, that a peer runs them.
#[test]
fn a_peer_with_views_is_reported_by_a_node_without() {
    let dir = temp_dir("mixed-views");
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let common = ["--bind", "127.0.0.1:0", "--key-file", key, "--membership"];
    let mut plain = NodeProcess::start_logged(&[&common[..], &["--id", "1"]].concat());
    let seed = plain.addr.clone();
    let _viewing = NodeProcess::start(
        &[&common[..], &["--id", "2", "--views", "--seed-peer", &seed]].concat(),
    );
    let line = plain.wait_log("a peer runs partial views", Duration::from_secs(30));
    assert!(line.contains("WARN"), "{line}");
}

#[test]
fn a_stopped_process_is_down_and_then_up_again_once_continued() {
    let [mut first, mut second, mut third] = three_members("stopped");
    let third_is = |status: &'static str| {
        move |members: &Value| {
            (members["members"].as_array().into_iter().flatten())
                .any(|member| member["id"] == 3 && member["status"] == status)
        }
    };
    let generation = |members: &Value| {
        (members["members"].as_array().into_iter().flatten())
            .find(|member| member["id"] == 3)
            .map(|member| member["generation"].clone())
    };
    let before = generation(&first.wait_members(Duration::from_secs(20), third_is("up")));
    third.signal("STOP");
    first.wait_members(Duration::from_secs(90), third_is("down"));
    third.signal("CONT");
    let after = generation(&first.wait_members(Duration::from_secs(60), third_is("up")));
    assert_eq!(before, after, "it came back as another generation");
    assert!(third.ask("set back yes").starts_with("OK "));
    assert_eq!(first.ask("wait back yes"), "OK");
    assert_eq!(second.ask("wait back yes"), "OK");
}

/// With `--state-file`, a node that quits and starts again — no `--id`, no seed, another port —
/// comes back under its saved id as a new generation, holding its entries, and reaches its
/// peer through the address the file kept.
#[test]
fn a_node_with_a_state_file_comes_back_with_its_id_and_entries() {
    comes_back_from_its_state_file(false);
}

/// The same with membership (SWIM), where the members' addresses live in the member table, not
/// in the entries: the state file keeps them too. Before session 30 it did not, and the node
/// came back unable to reach anyone (every message unaddressed) while its health said ready.
#[test]
fn a_member_with_a_state_file_comes_back_and_reaches_its_peer() {
    comes_back_from_its_state_file(true);
}

fn comes_back_from_its_state_file(membership: bool) {
    let dir = temp_dir(if membership {
        "state-file-members"
    } else {
        "state-file"
    });
    let key = key_file(&dir, "key");
    let key = key.to_str().expect("path");
    let state = dir.join("second.state");
    let _ = std::fs::remove_file(&state);
    let state = state.to_str().expect("path");
    let flags: &[&str] = if membership { &["--membership"] } else { &[] };
    let mut first_args = vec!["--bind", "127.0.0.1:0", "--key-file", key, "--id", "1"];
    first_args.extend_from_slice(flags);
    let mut first = NodeProcess::start(&first_args);
    let seed = first.addr.clone();
    let start_second = |more: &[&str]| {
        let mut args = vec![
            "--bind",
            "127.0.0.1:0",
            "--key-file",
            key,
            "--state-file",
            state,
        ];
        args.extend_from_slice(flags);
        args.extend_from_slice(more);
        NodeProcess::start(&args)
    };
    let mut second = start_second(&["--seed-peer", &seed]);
    assert!(second.ask("set kept before").starts_with("OK "));
    assert_eq!(first.ask("wait kept before"), "OK");
    // The second node knows where the first is reached before it quits: an address entry, or
    // with membership the member table's address.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let known = if membership {
            let members: Value = serde_json::from_str(&second.ask("members")).expect("JSON");
            (members["members"].as_array().into_iter().flatten())
                .any(|m| m["id"] == 1 && m["addr"] == seed.as_str())
        } else {
            let dump: Value = serde_json::from_str(&second.ask("dump")).expect("JSON");
            dump["1"].get("\u{0}hearsay/addr").is_some()
        };
        if known {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first node's address"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dump: Value = serde_json::from_str(&first.ask("dump")).expect("JSON");
    let id = dump
        .as_object()
        .expect("origins")
        .iter()
        .find(|(_, entries)| entries.get("kept").is_some())
        .map(|(id, _)| id.clone())
        .expect("the second node's origin");
    assert_eq!(second.ask("quit"), "OK bye");
    second.wait_exit(Duration::from_secs(20));
    // No seed, no `--id`.
    let mut second = start_second(&[]);
    assert_eq!(second.ask("get kept"), "before");
    assert!(second.ask("set after restart").starts_with("OK "));
    assert_eq!(first.ask("wait after restart"), "OK");
    let dump: Value = serde_json::from_str(&first.ask("dump")).expect("JSON");
    assert_eq!(dump[&id]["after"], "restart", "{dump}");
    assert_eq!(dump[&id]["kept"], "before", "{dump}");
}
