//! Partial views (HyParView) driving the gossip: 10,000 nodes with active views of 5 converge at
//! a 1,400-byte MTU with bounded per-node state, and dissemination survives crashes.

use hearsay_proto::{Config, Lockstep, Value, ViewConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

fn config() -> Config {
    Config {
        view: Some(ViewConfig::default()),
        // Per-node state stays bounded only if nodes do not all become origins: failure
        // detection is the view's own (active links), not cluster-wide heartbeats.
        heartbeats: false,
        ..Config::default()
    }
}

#[test]
fn ten_thousand_nodes_converge_with_bounded_views() {
    let now = Instant::now();
    let n = 10_000;
    let mut cluster = Lockstep::with_views(n, config(), 7, Instant::now()).expect("cluster");
    // All 10,000 joined at one instant: the join's random drops leave a few small groups apart,
    // which rotation links back within about 30 rounds.
    for _ in 0..30 {
        cluster.round();
    }
    let view_config = ViewConfig::default();
    let mut alone = 0;
    for node in cluster.nodes() {
        let view = node.view().expect("views on");
        // Between a disconnect and the next round's repair a view may be empty for a moment.
        alone += usize::from(view.active().is_empty());
        assert!(view.active().len() <= view_config.active);
        assert!(view.passive().len() <= view_config.passive);
        // Nothing else grows with the cluster: no peer list, no per-member state.
        assert!(node.peers().is_empty());
        assert!(node.store().len() <= 1);
    }
    assert!(alone < n / 200, "{alone} nodes without an active peer");
    for writer in [0, 4_321, 9_999] {
        cluster
            .node_mut(writer)
            .map(|node| node.set(now, "k", Value::from(format!("from {writer}"))))
            .transpose()
            .expect("write");
    }
    let rounds = cluster.run_until(60, |c| c.converged());
    assert!(rounds.is_some(), "not converged in 60 rounds");
    assert!(cluster.total().largest <= 1_400);
    for node in cluster.nodes() {
        assert_eq!(node.store().origins().count(), 3);
    }
}

#[test]
fn dissemination_survives_a_fifth_of_the_nodes_crashing() {
    let now = Instant::now();
    let n = 2_000;
    let mut cluster = Lockstep::with_views(n, config(), 11, Instant::now()).expect("cluster");
    for _ in 0..10 {
        cluster.round();
    }
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut crashed = 0;
    while crashed < n / 5 {
        let victim = rng.random_range(1..n);
        if cluster.is_live(victim) {
            cluster.crash(victim);
            crashed += 1;
        }
    }
    // Views notice the silent peers (suspect_after rounds) and repair from the passive views.
    let repair = ViewConfig::default().suspect_after as usize + 20;
    for _ in 0..repair {
        cluster.round();
    }
    for (id, node) in cluster.nodes().iter().enumerate() {
        if !cluster.is_live(id) {
            continue;
        }
        let view = node.view().expect("views on");
        assert!(
            !view.active().is_empty(),
            "node {id} lost every active peer"
        );
        assert!(
            view.active()
                .iter()
                .all(|peer| cluster.is_live(peer.0 as usize)),
            "node {id} still gossips with a crashed peer"
        );
    }
    cluster
        .node_mut(0)
        .map(|node| node.set(now, "after", Value::from("the crash")))
        .transpose()
        .expect("write");
    assert!(cluster.run_until(80, |c| c.converged()).is_some());
}
