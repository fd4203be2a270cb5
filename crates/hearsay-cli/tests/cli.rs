//! The `hearsay sim` output contract: JSON keys, determinism per seed, plots, clear errors.

use serde_json::Value;
use std::process::{Command, Output};

fn hearsay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hearsay"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn json(args: &[&str]) -> Value {
    let output = hearsay(args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(text.trim().lines().count(), 1, "exactly one JSON object");
    serde_json::from_str(text.trim()).expect("valid JSON")
}

fn number(report: &Value, key: &str) -> f64 {
    report[key]
        .as_f64()
        .unwrap_or_else(|| panic!("missing numeric key {key} in {report}"))
}

#[test]
fn rumor_reports_demers_measures() {
    let report = json(&[
        "sim",
        "rumor",
        "--nodes",
        "200",
        "--direction",
        "push",
        "--termination",
        "feedback-counter",
        "--k",
        "2",
        "--runs",
        "3",
        "--json",
    ]);
    for key in ["residue", "traffic", "t_ave", "t_last"] {
        number(&report, key);
        number(&report, &format!("{key}_sd"));
    }
    let residue = number(&report, "residue");
    assert!((0.0..0.5).contains(&residue), "residue {residue}");
    assert!(number(&report, "traffic") >= 1.0);
    assert!(number(&report, "t_last") >= number(&report, "t_ave"));
}

#[test]
fn anti_entropy_reports_rounds_and_cost() {
    let report = json(&[
        "sim",
        "anti-entropy",
        "--nodes",
        "200",
        "--direction",
        "push-pull",
        "--json",
    ]);
    let rounds = number(&report, "rounds");
    let curve = report["uninformed_by_round"].as_array().expect("an array");
    assert_eq!(curve.len() as f64, rounds);
    assert_eq!(curve.last().and_then(Value::as_f64), Some(0.0));
    assert!(number(&report, "messages_per_node") > 0.0);
    assert!(number(&report, "bytes_per_node") > 0.0);
}

#[test]
fn initially_informed_nodes_shorten_anti_entropy() {
    let from_one = json(&[
        "sim",
        "anti-entropy",
        "--nodes",
        "300",
        "--runs",
        "3",
        "--json",
    ]);
    let from_half = json(&[
        "sim",
        "anti-entropy",
        "--nodes",
        "300",
        "--runs",
        "3",
        "--initial-informed",
        "0.5",
        "--json",
    ]);
    assert!(number(&from_half, "rounds") < number(&from_one, "rounds"));
    let first = from_half["uninformed_by_round"][0]
        .as_f64()
        .expect("a round");
    assert!(
        first < 0.5,
        "half informed before round 1, {first} uninformed after it"
    );
}

#[test]
fn everyone_informed_at_the_start_takes_no_round() {
    let report = json(&[
        "sim",
        "anti-entropy",
        "--nodes",
        "50",
        "--initial-informed",
        "1",
        "--json",
    ]);
    assert_eq!(number(&report, "rounds"), 0.0);
    assert_eq!(number(&report, "messages_per_node"), 0.0);
}

#[test]
fn reconcile_reports_stale_mappings() {
    let report = json(&[
        "sim",
        "reconcile",
        "--nodes",
        "12",
        "--keys",
        "8",
        "--mtu-deltas",
        "5",
        "--duration",
        "170",
        "--update-rate",
        "20",
        "--strategy",
        "scuttle-breadth",
        "--json",
    ]);
    for key in ["stale_mean", "stale_max", "staleness_max"] {
        number(&report, key);
    }
    let series = report["series"].as_array().expect("an array");
    assert_eq!(series.len(), 170);
    for sample in series {
        for key in ["t", "stale", "max_staleness"] {
            assert!(sample[key].is_number(), "sample {sample} lacks {key}");
        }
    }
    assert!(
        number(&report, "stale_max") > 0.0,
        "updates never left anyone stale"
    );
    // No updates after 120 s: the cluster recovers.
    assert_eq!(series.last().map(|s| s["stale"].as_f64()), Some(Some(0.0)));
}

#[test]
fn runs_are_deterministic_per_seed() {
    let args = [
        "sim",
        "rumor",
        "--nodes",
        "300",
        "--direction",
        "pull",
        "--json",
        "--seed",
    ];
    let first = hearsay(&[&args[..], &["5"]].concat());
    let again = hearsay(&[&args[..], &["5"]].concat());
    let other = hearsay(&[&args[..], &["6"]].concat());
    assert_eq!(first.stdout, again.stdout);
    assert_ne!(first.stdout, other.stdout);
}

#[test]
fn plots_are_svg_files() {
    let path = std::env::temp_dir().join(format!("hearsay-cli-plot-{}.svg", std::process::id()));
    let path_text = path.to_string_lossy().to_string();
    let output = hearsay(&[
        "sim",
        "anti-entropy",
        "--nodes",
        "100",
        "--plot",
        &path_text,
    ]);
    assert!(output.status.success());
    let svg = std::fs::read_to_string(&path).expect("plot written");
    let _ = std::fs::remove_file(&path);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("<polyline"));
}

#[test]
fn bad_arguments_fail_clearly_without_panics() {
    let dir = std::env::temp_dir().join(format!("hearsay-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Saved scenarios that name a node the scenario lacks, or ask for a billion nodes (each
    // once a panic or an allocation failure).
    let scenario = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut value = serde_json::to_value(hearsay_actor::chaos::Scenario::generate(7))
            .expect("a scenario serializes");
        change(&mut value);
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).expect("written");
        path.to_str().expect("a path").to_owned()
    };
    let crash = scenario("crash.json", &|v| {
        v["events"] = serde_json::json!([[{"secs": 1, "nanos": 0}, {"Crash": u64::MAX}]]);
    });
    let huge = scenario("huge.json", &|v| {
        v["nodes"] = serde_json::json!(1_000_000_000u64)
    });
    let no_dir = dir.join("none").join("figure.svg");
    let no_dir = no_dir.to_str().expect("a path");
    let cases: [&[&str]; 19] = [
        &["sim", "chaos", "--replay", &crash],
        &["sim", "chaos", "--replay", &huge],
        &["sim", "chaos", "--seeds", "2", "--trace", "/dev/null"],
        &["sim", "chaos", "--seeds", "2", "--minimize"],
        &["sim", "chaos", "--budget", "0"],
        &["sim", "chaos", "--settle", "18446744073709551615"],
        &[
            "sim",
            "reconcile",
            "--duration",
            "3",
            "--mtu-drop-at",
            "99",
            "--mtu-drop-to",
            "5",
        ],
        &["sim", "membership", "--loss", "1.5"],
        &["sim", "membership", "--nodes", "1"],
        &["sim", "membership", "--preset", "moon"],
        &["sim", "membership", "--partition", "0.9"],
        &["sim", "reconcile", "--strategy", "precise-best"],
        &["sim", "rumor", "--nodes", "0"],
        &["sim", "rumor", "--k", "0"],
        &["sim", "reconcile", "--update-rate", "-3"],
        &["sim", "rumor", "--termination", "feedback-sometimes"],
        &["sim", "reconcile", "--mtu-drop-at", "5"],
        &["sim", "anti-entropy", "--nodes", "20", "--plot", no_dir],
        &[
            "sim",
            "anti-entropy",
            "--nodes",
            "20",
            "--plot",
            dir.to_str().expect("a path"),
        ],
    ];
    for args in cases {
        let output = hearsay(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(stderr.len() > 10, "{args:?} gave no message");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn flow_control_keeps_stale_mappings_bounded_when_the_limit_is_cut() {
    let args = [
        "sim",
        "reconcile",
        "--nodes",
        "32",
        "--keys",
        "16",
        "--mtu-deltas",
        "20",
        "--update-rate",
        "30",
        "--duration",
        "120",
        "--mtu-drop-at",
        "60",
        "--mtu-drop-to",
        "10",
        "--json",
    ];
    let without = json(&args);
    let with = json(&[&args[..], &["--flow-control"]].concat());
    assert_eq!(number(&without, "throttled"), 0.0);
    assert!(
        number(&with, "throttled") > 0.0,
        "flow control refused no write"
    );
    let (free, controlled) = (number(&without, "stale_max"), number(&with, "stale_max"));
    assert!(
        controlled * 3.0 < free,
        "stale max {controlled} with flow control, {free} without"
    );
    // Long after the cut, the uncontrolled cluster is still far behind; the controlled one not.
    let stale_at = |report: &Value, t: usize| {
        report["series"][t - 1]["stale"]
            .as_f64()
            .unwrap_or_default()
    };
    assert!(stale_at(&with, 110) * 3.0 < stale_at(&without, 110));
}

#[test]
fn membership_reports_false_downs_detection_and_bytes() {
    let args = [
        "sim",
        "membership",
        "--nodes",
        "60",
        "--duration",
        "30",
        "--json",
    ];
    let report = json(&args);
    for key in [
        "false_downs",
        "false_suspects",
        "crashes",
        "detected",
        "detection_p50_s",
        "detection_p99_s",
        "detection_max_s",
        "fd_bytes_per_node_per_s",
        "probe_bytes_per_node_per_s",
        "dissemination_bytes_per_node_per_s",
    ] {
        number(&report, key);
    }
    assert!(report.get("converged_after_s").is_some());
    assert_eq!(number(&report, "false_downs"), 0.0);
    assert!(number(&report, "crashes") >= 15.0);
    assert_eq!(number(&report, "detected"), 1.0);
    let bytes = number(&report, "fd_bytes_per_node_per_s");
    let parts = number(&report, "probe_bytes_per_node_per_s")
        + number(&report, "dissemination_bytes_per_node_per_s");
    assert!((bytes - parts).abs() < 1e-6 * bytes.max(1.0));
    assert_eq!(
        hearsay(&args).stdout,
        hearsay(&args).stdout,
        "deterministic"
    );
}

/// `--views`: the same experiment with partial views, where a node gossips with its active view
/// and every member is still probed (each node's round-robin takes its whole table): every
/// crash is seen Down by every node, no live one is, and the tables agree in the calm. Until
/// session 32 a node with views probed only its views' members, and a crashed member in no view
/// was probed by nobody: here 1.3 % of (crash, observer) pairs were never Down, and the tables
/// never agreed.
#[test]
fn membership_with_views_detects_every_crash() {
    let args = [
        "sim",
        "membership",
        "--nodes",
        "200",
        "--churn",
        "0.05",
        "--duration",
        "30",
        "--views",
        "--json",
    ];
    let report = json(&args);
    assert_eq!(report["views"], serde_json::json!(true));
    assert!(number(&report, "crashes") >= 100.0);
    assert_eq!(number(&report, "detected"), 1.0, "{report}");
    assert_eq!(number(&report, "false_downs"), 0.0);
    assert!(report["converged_after_s"].is_number(), "{report}");
    let without: Vec<&str> = args.iter().copied().filter(|&a| a != "--views").collect();
    assert!(json(&without).get("views").is_none());
}
