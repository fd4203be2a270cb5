//! The fault search on the harness: a few seeds (the CI runs 200, `docs/testing.md`), their
//! determinism, and the minimal scenarios the search shrank its failures to, replayed from
//! `tests/scenarios/*.json`.

use hearsay_actor::chaos::{RunConfig, Scenario, run};

#[test]
fn a_handful_of_seeds_keep_every_invariant_and_replay_exactly() -> Result<(), hearsay_actor::Error>
{
    for seed in 1..=6 {
        let scenario = Scenario::generate(seed);
        let first = run(&scenario, &RunConfig::default())?;
        assert!(first.passed(), "seed {seed}: {:?}", first.violations);
        let again = run(&scenario, &RunConfig::default())?;
        assert_eq!(
            first.fingerprint, again.fingerprint,
            "seed {seed} is not deterministic"
        );
    }
    Ok(())
}

#[test]
fn the_shrunk_failures_stay_fixed() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut replayed = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?.collect::<Result<_, _>>()?;
    paths.sort_by_key(|e| e.path());
    for entry in paths {
        let text = std::fs::read_to_string(entry.path())?;
        let scenario: Scenario = serde_json::from_str(&text)?;
        let outcome = run(&scenario, &RunConfig::default())?;
        assert!(
            outcome.passed(),
            "{}: {:?}",
            entry.path().display(),
            outcome.violations
        );
        replayed += 1;
    }
    assert!(replayed >= 2, "no scenarios under {}", dir.display());
    Ok(())
}
