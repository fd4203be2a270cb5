//! Keys written with a time to live (`Node::set_with_ttl`): the writer deletes them when their
//! time is up and every node drops them; a plain write ends the deadline; a restart keeps it; a
//! snapshot leaves the key out, so a restored process does not bring it back.

use hearsay_proto::{Config, Error, Generation, Lockstep, Node, NodeId, Snapshot, Value};
use std::time::{Duration, Instant};

const WRITER: usize = 2;
const TTL: Duration = Duration::from_secs(20);

/// 8 converged nodes, the writer holding `lease` (to expire after [`TTL`]) and `kept`.
fn cluster(config: &Config, start: Instant) -> Lockstep {
    let mut cluster = Lockstep::new(8, config.clone(), 5, start).expect("valid config");
    let writer = cluster.node_mut(WRITER).expect("node");
    writer
        .set_with_ttl(start, "lease", Value::from("held"), TTL)
        .expect("fits");
    writer
        .set(start, "kept", Value::from("for good"))
        .expect("fits");
    assert!(cluster.run_until(100, |c| c.converged()).is_some());
    cluster
}

fn holders(cluster: &Lockstep, key: &str) -> usize {
    let origin = NodeId(WRITER as u64);
    cluster
        .nodes()
        .iter()
        .filter(|node| node.get_from(origin, key).is_some())
        .count()
}

/// Every node holds the key until the writer's deadline, and none a few rounds after it; the
/// writer's other key stays.
#[test]
fn a_key_lives_until_its_deadline_and_then_goes_everywhere() {
    for config in [Config::default(), Config::lan()] {
        let start = Instant::now();
        let mut cluster = cluster(&config, start);
        assert_eq!(holders(&cluster, "lease"), 8, "everyone holds it");
        let deadline = start + TTL;
        assert_eq!(cluster.nodes()[WRITER].expires_at("lease"), Some(deadline));
        while cluster.now() < deadline {
            assert_eq!(holders(&cluster, "lease"), 8, "before the deadline");
            cluster.round();
        }
        let gone = cluster.run_until(50, |c| holders(c, "lease") == 0 && c.converged());
        assert!(gone.is_some(), "every node dropped the expired key");
        assert_eq!(holders(&cluster, "kept"), 8);
        assert_eq!(cluster.nodes()[WRITER].expires_at("lease"), None);
    }
}

/// A plain write of the key ends its deadline; `set_with_ttl` again replaces it; a delete
/// forgets it; reserved keys are refused as `set` refuses them.
#[test]
fn writes_after_the_first_decide_the_deadline() {
    let start = Instant::now();
    let mut node = Node::new(NodeId(1), Generation(1), Config::lan(), 3).expect("node");
    node.set_with_ttl(start, "a", Value::from("1"), TTL)
        .expect("fits");
    node.set(start, "a", Value::from("2")).expect("fits");
    assert_eq!(node.expires_at("a"), None);
    node.set_with_ttl(start, "b", Value::from("1"), TTL)
        .expect("fits");
    let later = start + Duration::from_secs(5);
    node.set_with_ttl(later, "b", Value::from("2"), TTL)
        .expect("fits");
    assert_eq!(node.expires_at("b"), Some(later + TTL));
    node.set_with_ttl(start, "c", Value::from("1"), TTL)
        .expect("fits");
    node.delete(start, "c").expect("fits");
    assert_eq!(node.expires_at("c"), None);
    node.handle_timeout(start + TTL);
    assert_eq!(node.get("a"), Some(&Value::from("2")), "no longer expires");
    assert_eq!(node.get("b"), Some(&Value::from("2")), "the later deadline");
    node.handle_timeout(later + TTL);
    assert_eq!(node.get("b"), None);
    let reserved = node.set_with_ttl(start, "\u{0}hearsay/status", Value::from("x"), TTL);
    assert!(
        matches!(reserved, Err(Error::ReservedKey(_))),
        "{reserved:?}"
    );
}

/// A restart that keeps the state (a refutation, a restart in place) keeps the deadline; one
/// that starts empty forgets it.
#[test]
fn a_restart_in_place_keeps_the_deadline() {
    let start = Instant::now();
    let mut node = Node::new(NodeId(1), Generation(1), Config::default(), 3).expect("node");
    node.set_with_ttl(start, "lease", Value::from("held"), TTL)
        .expect("fits");
    node.restart(start, Generation(2), true).expect("restarts");
    assert_eq!(node.expires_at("lease"), Some(start + TTL));
    node.handle_timeout(start + TTL);
    assert_eq!(node.get("lease"), None, "deleted under the new generation");
    node.set_with_ttl(start, "lease", Value::from("again"), TTL)
        .expect("fits");
    node.restart(start, Generation(3), false).expect("restarts");
    assert_eq!(node.expires_at("lease"), None);
}

/// A snapshot leaves out the keys still to expire: the restored process (a new generation)
/// does not hold the key, and the others drop it as they take the new generation — long before
/// the old deadline.
#[test]
fn a_restored_process_does_not_bring_an_expiring_key_back() {
    let config = Config::default();
    let start = Instant::now();
    let mut cluster = cluster(&config, start);
    let now = cluster.now();
    let snapshot = cluster.nodes()[WRITER].snapshot();
    let bytes = snapshot.encode().expect("encodes");
    let restored = Node::restore(
        Snapshot::decode(&bytes).expect("decodes"),
        Generation(2),
        config,
        11,
        now,
    )
    .expect("restores");
    assert_eq!(restored.get("lease"), None);
    assert_eq!(restored.get("kept"), Some(&Value::from("for good")));
    *cluster.node_mut(WRITER).expect("node") = restored;
    let settled = cluster.run_until(30, |c| holders(c, "lease") == 0 && c.converged());
    assert!(settled.is_some());
    assert!(cluster.now() < start + TTL, "before the old deadline");
    assert_eq!(holders(&cluster, "kept"), 8);
}
