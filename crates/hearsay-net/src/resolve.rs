//! Seeds given by host name (`seed.example:7000`), resolved through the system resolver (DNS)
//! at start and again every [`NetConfig::resolve_every`], as memberlist and chitchat do: a name
//! that does not resolve yet (a container whose record is not published) is retried with
//! backoff, and every address a name resolves to becomes a seed (greeted or dialed until it
//! answers; a seed already known is not added twice).
//!
//! [`NetConfig::resolve_every`]: crate::NetConfig::resolve_every

use crate::mesh::AddSeed;
use actix::Recipient;
use hearsay_actor::throttle::Throttle;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Longest host name accepted, port included (DNS names are at most 253 bytes).
pub(crate) const MAX_SEED_NAME: usize = 260;

/// Checks that `name` has the shape `host:port` (the host is not looked up here).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("seed name {name:?}: {why}"));
    if name.is_empty() || name.len() > MAX_SEED_NAME {
        return bad("must be 1 to 260 bytes");
    }
    let Some((host, port)) = name.rsplit_once(':') else {
        return bad("expected host:port");
    };
    if host.is_empty() {
        return bad("the host is empty");
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => bad("the port must be 1 to 65535"),
        Ok(_) => Ok(()),
    }
}

/// Resolves `names` until the transport behind `seeds` stops: each success hands every address
/// to the transport and waits `every` before looking again; a failure is logged (at most once
/// per name every 10 s) and retried after a jittered exponential backoff from `initial` up to
/// `every`.
pub(crate) async fn resolve_seeds(
    names: Vec<String>,
    seeds: Recipient<AddSeed>,
    every: Duration,
    initial: Duration,
    jitter_seed: u64,
) {
    let mut rng = ChaCha8Rng::seed_from_u64(jitter_seed);
    let mut throttles: Vec<Throttle> = names.iter().map(|_| Throttle::default()).collect();
    let mut added: BTreeSet<SocketAddr> = BTreeSet::new();
    let mut failures = 0u32;
    while seeds.connected() {
        let mut failed = false;
        for (name, throttle) in names.iter().zip(&mut throttles) {
            match tokio::net::lookup_host(name.as_str()).await {
                Ok(addrs) => {
                    for addr in addrs {
                        if added.insert(addr) {
                            tracing::info!(%name, %addr, "seed resolved");
                        }
                        seeds.do_send(AddSeed(addr));
                    }
                }
                Err(error) => {
                    failed = true;
                    if let Some(held) = throttle.allow(Instant::now()) {
                        tracing::warn!(%name, %error, held_back = held, "seed name does not resolve");
                    }
                }
            }
        }
        let wait = if failed {
            failures = failures.saturating_add(1);
            crate::backoff::delay(&mut rng, failures - 1, initial, every)
        } else {
            failures = 0;
            every
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::check_name;

    #[test]
    fn names_need_a_host_and_a_port() {
        assert!(check_name("seed.example:7000").is_ok());
        assert!(check_name("[::1]:7000").is_ok());
        for bad in [
            "",
            "seed.example",
            ":7000",
            "seed:0",
            "seed:99999",
            "seed:x",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_name(&format!("{}:1", "a".repeat(300))).is_err());
    }
}
