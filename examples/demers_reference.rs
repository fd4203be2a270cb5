//! An independent reference for Demers et al.'s rumor tables (1987): the paper's model in a
//! hundred lines, sharing no code with hearsay, to check `hearsay sim rumor` against.
//!
//! ```text
//! cargo run --release --example demers_reference -- [RUNS]
//! ```
//!
//! n = 1,000 sites, one site infected before cycle 1. In each cycle every infective site pushes
//! to one uniformly random other site (push), or every site pulls from one (pull), and an
//! infective site answers with the update. Feedback: the contacted site says whether the update
//! was new to it. Two counters, each over `k`:
//!
//! - `cycle` (Demers): judged once per cycle against the state at the start of the cycle (two
//!   pushes reaching one susceptible site in a cycle are both useful); a cycle with a useful
//!   contact resets the counter, a cycle whose contacts were all useless adds one, a cycle
//!   without contacts changes nothing; interest is lost after `k` useless cycles in a row;
//! - `contact` (hearsay's `Contacts(k)`): each contact judged as it happens, interest lost after
//!   `k` useless contacts in all.
//!
//! Prints residue, traffic (updates sent per site), t_ave (mean cycle at which informed sites
//! got it) and t_last, as means ± standard errors over the runs.

use rand::{Rng, RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const N: usize = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum Site {
    Susceptible,
    Infective,
    Removed,
}

#[derive(Clone, Copy, PartialEq)]
enum Rule {
    Cycle,
    Contact,
}

/// One epidemic: (residue, traffic, t_ave, t_last).
fn epidemic(pull: bool, rule: Rule, k: u32, rng: &mut impl Rng) -> [f64; 4] {
    let mut site = vec![Site::Susceptible; N];
    let mut count = vec![0u32; N];
    let mut infected_at = vec![None; N];
    let first = rng.random_range(0..N);
    (site[first], infected_at[first]) = (Site::Infective, Some(0u32));
    let (mut sent, mut cycle) = (0u64, 0u32);
    while site.contains(&Site::Infective) {
        cycle += 1;
        let start = site.clone();
        let (mut useful, mut useless) = (vec![0u32; N], vec![0u32; N]);
        // Who contacts whom: the spreader and the contacted site.
        for caller in 0..N {
            let other = (caller + 1 + rng.random_range(0..N - 1)) % N;
            let (spreader, receiver) = if pull {
                (other, caller)
            } else {
                (caller, other)
            };
            if start[spreader] != Site::Infective {
                continue;
            }
            sent += 1;
            let was_new = match rule {
                Rule::Cycle => start[receiver] == Site::Susceptible,
                Rule::Contact => site[receiver] == Site::Susceptible,
            };
            if site[receiver] == Site::Susceptible {
                site[receiver] = Site::Removed; // informed; infective from the next cycle
                infected_at[receiver] = Some(cycle);
            }
            match (rule, was_new) {
                (Rule::Cycle, true) => useful[spreader] += 1,
                (Rule::Cycle, false) => useless[spreader] += 1,
                (Rule::Contact, true) => {}
                (Rule::Contact, false) => count[spreader] += 1,
            }
        }
        for s in 0..N {
            if start[s] == Site::Infective && rule == Rule::Cycle {
                if useful[s] > 0 {
                    count[s] = 0;
                } else if useless[s] > 0 {
                    count[s] += 1;
                }
            }
            if start[s] == Site::Infective && count[s] >= k {
                site[s] = Site::Removed;
            } else if start[s] == Site::Susceptible && infected_at[s].is_some() {
                site[s] = Site::Infective;
            }
        }
    }
    let times: Vec<f64> = infected_at
        .iter()
        .flatten()
        .filter(|&&t| t > 0)
        .map(|&t| t as f64)
        .collect();
    let residue = infected_at.iter().filter(|t| t.is_none()).count() as f64 / N as f64;
    let t_ave = times.iter().sum::<f64>() / times.len().max(1) as f64;
    let t_last = times.iter().copied().fold(0.0, f64::max);
    [residue, sent as f64 / N as f64, t_ave, t_last]
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    println!("{runs} runs each, n = {N}: mean ± standard error");
    println!("direction rule    k  residue              traffic          t_ave          t_last");
    for (pull, ks) in [(false, 1..=5), (true, 1..=3)] {
        for rule in [Rule::Cycle, Rule::Contact] {
            for k in ks.clone() {
                let mut rng = ChaCha8Rng::seed_from_u64(u64::from(k));
                let samples: Vec<[f64; 4]> = (0..runs)
                    .map(|_| epidemic(pull, rule, k, &mut rng))
                    .collect();
                let stat = |i: usize| {
                    let mean = samples.iter().map(|s| s[i]).sum::<f64>() / runs as f64;
                    let var = samples.iter().map(|s| (s[i] - mean).powi(2)).sum::<f64>()
                        / (runs - 1).max(1) as f64;
                    format!("{mean:.5} ± {:.5}", (var / runs as f64).sqrt())
                };
                let (direction, name) = (
                    if pull { "pull" } else { "push" },
                    if rule == Rule::Cycle {
                        "cycle  "
                    } else {
                        "contact"
                    },
                );
                println!(
                    "{direction:9} {name} {k}  {}  {}  {}  {}",
                    stat(0),
                    stat(1),
                    stat(2),
                    stat(3)
                );
            }
        }
    }
}
