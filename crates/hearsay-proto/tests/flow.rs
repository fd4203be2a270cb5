//! Flow control: writes spend tokens refilled at an adaptive rate that falls when gossip is
//! congested and climbs when it is not.

use hearsay_proto::{Config, FlowControl, Generation, Lockstep, Mode, Node, NodeId, Value};
use std::time::Instant;

fn controlled() -> Config {
    Config {
        flow_control: Some(FlowControl::default()),
        mode: Mode::AntiEntropy,
        ..Config::default()
    }
}

#[test]
fn writes_beyond_the_rate_are_refused_until_tokens_refill() {
    let now = Instant::now();
    let mut node = Node::new(NodeId(1), Generation(1), controlled(), 1).expect("valid");
    assert!(
        node.try_set(now, "a", Value::from("1"))
            .expect("fits")
            .is_some()
    );
    assert!(
        node.try_set(now, "b", Value::from("2"))
            .expect("fits")
            .is_none()
    );
    assert_eq!(node.stats().throttled, 1);
    assert_eq!(node.get("b"), None, "a refused write must not be applied");
    node.handle_timeout(now);
    let rate = node.allowed_rate().expect("flow control on");
    assert!(
        rate > 1.0,
        "no congestion: the rate grows additively ({rate})"
    );
    assert!(
        node.try_set(now, "b", Value::from("2"))
            .expect("fits")
            .is_some()
    );
    // Without flow control every write goes through.
    let mut free = Node::new(NodeId(2), Generation(1), Config::default(), 1).expect("valid");
    for i in 0..10 {
        assert!(
            free.try_set(now, &format!("k{i}"), Value::from("v"))
                .expect("fits")
                .is_some()
        );
    }
    assert_eq!(free.allowed_rate(), None);
}

#[test]
fn congested_gossip_lowers_the_rate_and_calm_gossip_restores_it() {
    let now = Instant::now();
    let config = Config {
        max_deltas: Some(2),
        ..controlled()
    };
    let mut cluster = Lockstep::new(4, config, 3, Instant::now()).expect("valid");
    // Far more news than two deltas per message carry: every answer is cut.
    for i in 0..200 {
        cluster
            .node_mut(0)
            .expect("node")
            .set(now, &format!("k{i}"), Value::from("v"))
            .expect("fits");
    }
    for _ in 0..6 {
        cluster.round();
    }
    let congested = cluster.nodes()[0].allowed_rate().expect("on");
    assert!(congested < 0.2, "rate {congested} after cut answers");
    assert!(cluster.nodes()[0].stats().congested_rounds >= 4);
    // Once everything is delivered, the rate climbs back.
    assert!(cluster.run_until(400, |c| c.converged()).is_some());
    for _ in 0..20 {
        cluster.round();
    }
    let calm = cluster.nodes()[0].allowed_rate().expect("on");
    assert!(calm > congested + 0.5, "rate {calm} after calm rounds");
}

#[test]
fn nodes_learn_each_others_rates_through_gossip() {
    let config = Config {
        mode: Mode::AntiEntropy,
        ..controlled()
    };
    let mut cluster = Lockstep::new(20, config, 5, Instant::now()).expect("valid");
    for _ in 0..15 {
        cluster.round();
    }
    for node in cluster.nodes() {
        for peer in cluster.nodes() {
            let advertised = peer.allowed_rate().expect("on");
            let heard = node
                .store()
                .origin(peer.id())
                .map(|o| f64::from(o.rate()) / 1000.0)
                .expect("every origin is known");
            // What a node knows of a peer's rate is at most a few rounds old: within the
            // additive increase of those rounds.
            assert!(
                heard > 0.0 && (advertised - heard).abs() <= 0.05 * 10.0 + 1e-9,
                "{} hears {heard} from {}, which allows {advertised}",
                node.id(),
                peer.id()
            );
        }
    }
}
