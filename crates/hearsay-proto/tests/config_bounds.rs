//! Settings at the edges of their types: values a user may write for "never" or "all"
//! (`Duration::MAX`, `usize::MAX`, `u32::MAX`) are either refused by `Config::validate` with the
//! field at fault, or mean what they say — never a panic or an overflow later, at the first
//! round, leave or suspicion (session 27's review of the typed configuration).

use hearsay_proto::{
    Config, Detector, FlowControl, MembershipConfig, Node, NodeId, Peers, SwimConfig, ViewConfig,
};
use hearsay_proto::{Generation, Lockstep, MAX_MESSAGE, MemberStatus};
use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

fn with_membership(change: impl FnOnce(&mut MembershipConfig)) -> Config {
    let mut membership = MembershipConfig::lan();
    change(&mut membership);
    Config {
        membership: Some(membership),
        ..Config::lan()
    }
}

fn with_swim(change: impl FnOnce(&mut SwimConfig)) -> Config {
    with_membership(|membership| {
        let mut swim = SwimConfig::lan();
        change(&mut swim);
        membership.detector = Detector::Swim(swim);
    })
}

#[test]
fn settings_past_their_bounds_are_refused_with_the_field_at_fault() {
    let never = Duration::MAX;
    let cases: Vec<(Config, &str)> = vec![
        (
            with_membership(|m| m.removal_after = never),
            "membership.removal_after",
        ),
        (
            with_membership(|m| m.removal_after = Duration::ZERO),
            "membership.removal_after",
        ),
        (
            with_membership(|m| m.removed_ttl = never),
            "membership.removed_ttl",
        ),
        (
            with_membership(|m| m.removed_ttl = Duration::from_secs(60)),
            "membership.removed_ttl",
        ),
        (
            with_membership(|m| m.reconnect_interval = never),
            "membership.reconnect_interval",
        ),
        (
            with_swim(|s| s.suspicion_mult = NonZeroU32::MAX),
            "membership.detector.suspicion_mult",
        ),
        (
            with_swim(|s| s.suspicion_max_mult = NonZeroU32::MAX),
            "membership.detector.suspicion_max_mult",
        ),
        (
            Config {
                flow_control: Some(FlowControl {
                    min_rate: 2.0,
                    ..FlowControl::default()
                }),
                ..Config::default()
            },
            "flow_control.min_rate",
        ),
        (
            Config {
                max_incoming: usize::MAX,
                ..Config::default()
            },
            "max_incoming",
        ),
        (
            Config {
                view: Some(ViewConfig {
                    shuffle_active: usize::MAX,
                    shuffle_passive: 1,
                    ..ViewConfig::default()
                }),
                ..Config::default()
            },
            "view.shuffle_active",
        ),
    ];
    for (config, field) in cases {
        let error = config.validate().expect_err(field);
        assert!(error.to_string().contains(field), "{field}: {error}");
    }
    // The bounds themselves are accepted.
    let edge = Config {
        max_incoming: MAX_MESSAGE,
        ..with_swim(|s| {
            s.suspicion_mult = NonZeroU32::new(1_000).expect("non-zero");
            s.suspicion_max_mult = NonZeroU32::new(1_000).expect("non-zero");
        })
    };
    edge.validate().expect("the largest values accepted");
}

/// The largest suspicion multipliers run: among 12 members (the product overflowed a
/// `Duration` from 11 on), a crashed member is suspected by everyone and, its longest suspicion
/// being days long, Down nowhere.
#[test]
fn the_largest_suspicion_multipliers_run() {
    let config = with_swim(|s| {
        s.suspicion_mult = NonZeroU32::new(1_000).expect("non-zero");
        s.suspicion_max_mult = NonZeroU32::new(1_000).expect("non-zero");
    });
    let mut cluster = Lockstep::new(12, config, 5, Instant::now())
        .expect("valid config")
        .with_step(Duration::from_millis(100));
    let status = |c: &Lockstep, observer: usize| c.nodes()[observer].member_status(NodeId(3));
    let known = cluster.run_until(1_200, |c| (0..12).all(|o| status(c, o).is_some()));
    assert!(known.is_some(), "members unknown after 120 s");
    cluster.crash(3);
    let suspected = cluster.run_until(1_200, |c| {
        (0..12)
            .filter(|&o| o != 3)
            .all(|o| status(c, o) == Some(MemberStatus::Suspect))
    });
    assert!(suspected.is_some(), "not suspected everywhere within 120 s");
}

/// A fanout beyond the peers a node knows reaches every peer, once: `usize::MAX` reads "all".
#[test]
fn a_fanout_of_usize_max_reaches_every_peer() {
    for membership in [None, Some(MembershipConfig::lan())] {
        let config = Config {
            fanout: usize::MAX,
            membership,
            ..Config::default()
        };
        let mut node = Node::new(NodeId(0), Generation(1), config, 7).expect("valid");
        node.set_peers(Peers::Own((1..=5).map(NodeId).collect()));
        let now = Instant::now();
        node.set(now, "k", "v").expect("written");
        node.handle_timeout(now + Duration::from_secs(2));
        let targets: BTreeSet<u64> = std::iter::from_fn(|| node.poll_transmit())
            .map(|transmit| transmit.to.0)
            .collect();
        assert_eq!(targets, (1..=5).collect(), "every peer, no other");
    }
    // A graceful leave pushed to `usize::MAX` peers goes to every member.
    let config = Config {
        membership: Some(MembershipConfig {
            leave_fanout: usize::MAX,
            ..MembershipConfig::lan()
        }),
        ..Config::lan()
    };
    let mut node = Node::new(NodeId(0), Generation(1), config, 7).expect("valid");
    node.set_peers(Peers::Own((1..=5).map(NodeId).collect()));
    let now = Instant::now();
    node.handle_timeout(now);
    while node.poll_transmit().is_some() {}
    node.leave(now).expect("left");
    let targets: BTreeSet<u64> = std::iter::from_fn(|| node.poll_transmit())
        .map(|transmit| transmit.to.0)
        .collect();
    assert_eq!(targets, (1..=5).collect());
}
