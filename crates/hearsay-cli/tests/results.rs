//! The docs against the code: the check rows of `docs/figures/results.md` (written by
//! `hearsay sim all`) are recomputed with `hearsay sim rumor` and must agree, so that a change
//! which moves the experiments fails here until the figures (and docs/experiments.md, which
//! quotes them) are regenerated.

use serde_json::Value;
use std::process::Command;

/// One check row: the arguments, then residue, traffic, t_ave and t_last as committed.
struct Row {
    arguments: Vec<String>,
    committed: [f64; 4],
}

/// The seed and the rows of the "Check rows" section.
fn check_rows(results: &str) -> (String, Vec<Row>) {
    let section = results
        .split("\n## ")
        .find(|section| section.starts_with("Check rows"))
        .expect("results.md has a Check rows section");
    let seed = section
        .split("--seed ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect("the section names its seed")
        .to_owned();
    let rows = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let arguments = cells[1]
                .trim_matches('`')
                .split_whitespace()
                .map(String::from);
            let number = |cell: &str| cell.parse::<f64>().expect("a number");
            Row {
                arguments: arguments.collect(),
                committed: [
                    number(cells[2]),
                    number(cells[3]),
                    number(cells[4]),
                    number(cells[5]),
                ],
            }
        })
        .collect();
    (seed, rows)
}

#[test]
fn the_committed_check_rows_are_what_the_code_computes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/figures/results.md");
    let results = std::fs::read_to_string(path).expect("docs/figures/results.md");
    let (seed, rows) = check_rows(&results);
    assert!(rows.len() >= 4, "too few check rows: {}", rows.len());
    for row in rows {
        let output = Command::new(env!("CARGO_BIN_EXE_hearsay"))
            .args([
                "sim", "rumor", "--nodes", "200", "--runs", "20", "--seed", &seed, "--json",
            ])
            .args(&row.arguments)
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{:?} failed", row.arguments);
        let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
        // Printed with 5 decimals (residue) and 4 (the rest): equal up to the rounding.
        for (at, (key, tolerance)) in [
            ("residue", 0.6e-5),
            ("traffic", 0.6e-4),
            ("t_ave", 0.6e-4),
            ("t_last", 0.6e-4),
        ]
        .into_iter()
        .enumerate()
        {
            let computed = report[key].as_f64().expect("numeric");
            assert!(
                (computed - row.committed[at]).abs() <= tolerance,
                "{:?}: {key} is {computed}, results.md says {} (run `hearsay sim all`)",
                row.arguments,
                row.committed[at]
            );
        }
    }
}
