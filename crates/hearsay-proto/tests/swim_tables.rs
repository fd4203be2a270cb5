//! SWIM's member-table pulls and status hints, message by message (`docs/protocol.md` §14.6,
//! rules 6 and 7): a `Sync` carries the requester's own Alive and may ask for some id ranges;
//! a table leaves out members heard of only through data; what a table teaches is not gossiped
//! again; no data of a Down origin goes out without its status.

use hearsay_proto::{
    Body, Config, Delta, Digest, FdMessage, Generation, Liveness, Lockstep, MemberStatus,
    MemberUpdate, MembershipConfig, Message, Node, NodeId, OriginDelta, OriginSummary,
    PROTOCOL_VERSION, Peers, Probe, SwimConfig, Value, Version, ViewConfig,
};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn node(id: u64) -> Node {
    Node::new(NodeId(id), Generation(1), Config::lan(), id).expect("valid config")
}

fn datagram(from: u64, body: Body) -> Vec<u8> {
    Message {
        version: PROTOCOL_VERSION,
        cluster: Config::lan().cluster,
        from: NodeId(from),
        body,
    }
    .encode()
    .expect("encodes")
}

fn probe(probe: Probe, updates: Vec<MemberUpdate>) -> Body {
    Body::Probe(FdMessage { probe, updates })
}

/// Node 9, started at `now` with node 1 as its only peer.
fn joiner(now: Instant) -> Node {
    let mut j = node(9);
    j.set_peers(Peers::Own(vec![NodeId(1)]));
    j.handle_timeout(now);
    j
}

/// Whether `body` is a table pull.
fn is_sync(body: &Body) -> bool {
    matches!(
        body,
        Body::Probe(FdMessage {
            probe: Probe::Sync { .. },
            ..
        })
    )
}

fn update(id: u64, status: Liveness, witnesses: &[u64]) -> MemberUpdate {
    MemberUpdate {
        id: NodeId(id),
        generation: Generation(1),
        incarnation: 0,
        status,
        witnesses: witnesses.iter().map(|&w| NodeId(w)).collect(),
        addr: None,
    }
}

/// `origin`'s data at generation 1: one write, `k = v` at version 1.
fn one_write(origin: u64) -> OriginDelta {
    OriginDelta {
        origin: NodeId(origin),
        generation: Generation(1),
        heartbeat: 1,
        from: Version::ZERO,
        to: Version(1),
        deltas: vec![Delta {
            key: "k".to_owned(),
            version: Version(1),
            value: Some(Value::from("v")),
        }],
    }
}

/// Node 0 with partial views (the defaults), started at `now`, holding 600 members Up
/// (1000–1599) that are outside its views.
fn viewer_of_600(now: Instant) -> Node {
    let config = Config {
        view: Some(ViewConfig::default()),
        ..Config::lan()
    };
    let mut x = Node::new(NodeId(0), Generation(1), config, 0).expect("valid config");
    x.handle_timeout(now);
    learn_600_members(&mut x, now);
    x
}

/// Everything `node` has to send, decoded.
fn sent(node: &mut Node) -> Vec<(NodeId, Message)> {
    std::iter::from_fn(|| node.poll_transmit())
        .map(|t| {
            let message =
                Message::decode(&t.payload, Config::lan().cluster, 65_507).expect("decodes");
            (t.to, message)
        })
        .collect()
}

/// The member-table pages of one range among `messages`: `(lo, hi, updates)`.
fn pages(messages: &[(NodeId, Message)]) -> Vec<(u64, u64, Vec<MemberUpdate>)> {
    tables(messages)
        .into_iter()
        .filter_map(|(ranges, updates)| match ranges[..] {
            [(lo, hi)] => Some((lo.0, hi.0, updates)),
            _ => None,
        })
        .collect()
}

/// `node` learns members 1,000–1,599 Up from node 1's table page (nothing is queued for gossip,
/// so what it sends later is its own).
fn learn_600_members(node: &mut Node, now: Instant) {
    let alive: Vec<MemberUpdate> = (1_000..1_600)
        .map(|id| update(id, Liveness::Alive, &[]))
        .collect();
    let page = Probe::Table {
        ranges: vec![(NodeId(0), NodeId(u64::MAX))],
    };
    node.handle_datagram(now, &datagram(1, probe(page, alive)))
        .expect("accepted");
}

/// A node holding 600 members Up (learnt from one table page) and one heard of only through a
/// digest.
fn holder(now: Instant) -> Node {
    let mut a = node(0);
    learn_600_members(&mut a, now);
    let digest = Digest::Scuttlebutt {
        range: None,
        origins: vec![OriginSummary {
            origin: NodeId(5_000),
            generation: Generation(1),
            heartbeat: 3,
            rate: 0,
            watermark: Version::ZERO,
        }],
    };
    let syn = Body::Syn {
        digest: Some(digest),
        reply_digest: false,
        more: 0,
    };
    a.handle_datagram(now, &datagram(3, syn)).expect("accepted");
    assert_eq!(a.member_status(NodeId(1_000)), Some(MemberStatus::Up));
    assert_eq!(a.member_status(NodeId(5_000)), Some(MemberStatus::Joining));
    let _ = sent(&mut a);
    a
}

/// A starting node's `Sync` asks for every page and carries its own Alive, so that the peer
/// answering learns it even if every other announcement went to seeds that are gone.
#[test]
fn a_sync_asks_for_the_whole_table_and_carries_the_requesters_alive() {
    let now = Instant::now();
    let mut j = joiner(now);
    type Sync = (NodeId, Vec<(NodeId, NodeId, u64)>, Vec<MemberUpdate>);
    let syncs: Vec<Sync> = sent(&mut j)
        .into_iter()
        .filter_map(|(to, m)| match m.body {
            Body::Probe(FdMessage {
                probe: Probe::Sync { ranges },
                updates,
            }) => Some((to, ranges, updates)),
            _ => None,
        })
        .collect();
    assert_eq!(syncs.len(), 1, "{syncs:?}");
    let (to, wanted, updates) = &syncs[0];
    assert_eq!(*to, NodeId(1));
    assert_eq!(wanted.len(), 1, "one range: {wanted:?}");
    assert_eq!(
        (wanted[0].0, wanted[0].1),
        (NodeId(0), NodeId(u64::MAX)),
        "the whole table"
    );
    assert!(
        updates
            .iter()
            .any(|u| u.id == NodeId(9) && u.status == Liveness::Alive),
        "{updates:?}"
    );
}

/// A table lists the members held Up and leaves out the one heard of only through data (its
/// data may have outlived it); its pages tile the id space, each vouching for a range; a `Sync`
/// naming a range gets that range only (an empty range is ignored).
#[test]
fn a_table_leaves_out_unconfirmed_members_and_answers_the_ranges_asked_for() {
    let now = Instant::now();
    let mut a = holder(now);
    let whole = probe(Probe::Sync { ranges: Vec::new() }, Vec::new());
    a.handle_datagram(now, &datagram(2, whole))
        .expect("accepted");
    let all = pages(&sent(&mut a));
    assert!(
        all.len() >= 3,
        "600 members take several pages: {}",
        all.len()
    );
    assert_eq!(all[0].0, 0);
    assert_eq!(all[all.len() - 1].1, u64::MAX);
    for pair in all.windows(2) {
        assert_eq!(pair[1].0, pair[0].1 + 1, "pages tile the id space");
    }
    for (lo, hi, updates) in &all {
        assert!(updates.iter().all(|u| (*lo..=*hi).contains(&u.id.0)));
    }
    let listed: BTreeSet<NodeId> = all
        .iter()
        .flat_map(|(_, _, u)| u.iter().map(|u| u.id))
        .collect();
    assert!(listed.contains(&NodeId(1_000)) && listed.contains(&NodeId(1_599)));
    assert!(listed.contains(&NodeId(0)), "the answering node itself");
    assert!(
        !listed.contains(&NodeId(5_000)),
        "a Joining member is not announced"
    );

    let (lo, hi) = (all[1].0, all[1].1);
    let some = probe(
        Probe::Sync {
            ranges: vec![(NodeId(lo), NodeId(hi), 0), (NodeId(9), NodeId(3), 0)],
        },
        Vec::new(),
    );
    a.handle_datagram(now, &datagram(2, some))
        .expect("accepted");
    let again = pages(&sent(&mut a));
    assert_eq!(again, vec![all[1].clone()]);
}

/// What a node learns from a table is applied and not queued for gossip: a joiner does not
/// retransmit the whole table (only its own Alive is queued, announced again once it holds a
/// whole table).
#[test]
fn a_table_is_not_gossiped_again() {
    let now = Instant::now();
    let mut a = holder(now);
    let mut j = node(9);
    j.set_peers(Peers::Own(vec![NodeId(0)]));
    j.handle_timeout(now);
    for (to, message) in sent(&mut j) {
        if to == NodeId(0) {
            let bytes = message.encode().expect("encodes");
            a.handle_datagram(now, &bytes).expect("accepted");
        }
    }
    assert_eq!(
        a.member_status(NodeId(9)),
        Some(MemberStatus::Up),
        "the Sync announced the joiner"
    );
    let answer = sent(&mut a);
    assert!(pages(&answer).len() >= 3);
    for (to, message) in answer {
        if to == NodeId(9) {
            let bytes = message.encode().expect("encodes");
            j.handle_datagram(now, &bytes).expect("accepted");
        }
    }
    assert_eq!(j.member_status(NodeId(1_234)), Some(MemberStatus::Up));
    assert_eq!(j.queued_updates(), Some(1), "only the joiner's own Alive");
}

/// Witnesses with long ids: a Down's status takes more room than its data.
const WITNESSES: [u64; 6] = [
    1 << 40,
    (1 << 40) + 1,
    (1 << 40) + 2,
    (1 << 40) + 3,
    (1 << 40) + 4,
    (1 << 40) + 5,
];

/// An answer carrying data of suspected or Down origins is preceded by their status, and the
/// groups of those whose status does not fit in that one message wait for a later answer: no
/// such data goes out without its status (a joiner would otherwise take it for a live member).
#[test]
fn no_data_of_a_down_origin_goes_out_without_its_status() {
    let now = Instant::now();
    let mut a = node(0);
    let origins: Vec<u64> = (100_000..100_300).collect();
    let groups: Vec<OriginDelta> = origins.iter().map(|&origin| one_write(origin)).collect();
    a.handle_datagram(now, &datagram(1, Body::Ack { deltas: groups }))
        .expect("accepted");
    let downs: Vec<MemberUpdate> = origins
        .iter()
        .map(|&id| update(id, Liveness::Down, &WITNESSES))
        .collect();
    a.handle_datagram(now, &datagram(1, probe(Probe::Gossip, downs)))
        .expect("accepted");
    assert_eq!(a.get_from(NodeId(100_000), "k"), Some(&Value::from("v")));
    // Heard of only through data, then Down: suspected here (a Down about a member without a
    // status here gives it the same time to refute as everywhere).
    assert_eq!(
        a.member_status(NodeId(100_000)),
        Some(MemberStatus::Suspect)
    );
    let _ = sent(&mut a);
    // A peer that knows the origins but none of their data.
    let syn = Body::Syn {
        digest: Some(Digest::Scuttlebutt {
            range: None,
            origins: origins
                .iter()
                .map(|&origin| OriginSummary {
                    origin: NodeId(origin),
                    generation: Generation(1),
                    heartbeat: 0,
                    rate: 0,
                    watermark: Version::ZERO,
                })
                .collect(),
        }),
        reply_digest: false,
        more: 0,
    };
    a.handle_datagram(now, &datagram(2, syn)).expect("accepted");
    let answer = sent(&mut a);
    let hinted: BTreeSet<NodeId> = answer
        .iter()
        .filter_map(|(_, m)| match &m.body {
            Body::Probe(FdMessage {
                probe: Probe::Gossip,
                updates,
            }) => Some(updates.iter().filter(|u| u.status != Liveness::Alive)),
            _ => None,
        })
        .flatten()
        .map(|u| u.id)
        .collect();
    let carried: Vec<NodeId> = answer
        .iter()
        .flat_map(|(_, m)| m.body.deltas().iter().map(|g| g.origin))
        .filter(|o| o.0 >= 100_000)
        .collect();
    eprintln!(
        "{:?}",
        answer
            .iter()
            .map(|(_, m)| (m.body.kind(), m.body.deltas().len()))
            .collect::<Vec<_>>()
    );
    assert!(!carried.is_empty(), "the answer carries data");
    for origin in &carried {
        assert!(
            hinted.contains(origin),
            "{origin:?} sent without its status"
        );
    }
}

/// A message from a member this node has never heard of (a rumor that missed it) makes it ask
/// that member for its own entry, once a probe interval; the answer makes it Up here.
#[test]
fn an_unknown_sender_is_asked_for_its_entry() {
    let now = Instant::now();
    let mut a = node(0);
    let mut m = node(77);
    let ping = probe(Probe::Ping { seq: 1 }, Vec::new());
    a.handle_datagram(now, &datagram(77, ping.clone()))
        .expect("accepted");
    a.handle_datagram(now, &datagram(77, ping))
        .expect("accepted");
    let asks: Vec<(NodeId, Message)> = sent(&mut a)
        .into_iter()
        .filter(|(_, m)| is_sync(&m.body))
        .collect();
    assert_eq!(asks.len(), 1, "asked once: {asks:?}");
    let (to, ask) = &asks[0];
    assert_eq!(*to, NodeId(77));
    let Body::Probe(FdMessage {
        probe: Probe::Sync { ranges },
        ..
    }) = &ask.body
    else {
        unreachable!("filtered");
    };
    assert_eq!(ranges, &vec![(NodeId(77), NodeId(77), 0)]);
    m.handle_datagram(now, &ask.encode().expect("encodes"))
        .expect("accepted");
    for (to, message) in sent(&mut m) {
        if to == NodeId(0) {
            a.handle_datagram(now, &message.encode().expect("encodes"))
                .expect("accepted");
        }
    }
    assert_eq!(a.member_status(NodeId(77)), Some(MemberStatus::Up));
}

/// Regression (`hearsay sim membership --nodes 1000 --loss 0.05 --partition 0.1`: 2 false
/// Downs): a joiner whose first table came from the minority side of a healed partition
/// held most members Down, counted a dozen alive, and ran a suspicion it learnt from that table
/// out in 4 s where the cluster's take 12; the member refuted 1.5 s too late. Suspicion
/// timeouts scale with the members known, Down ones included (memberlist's `estNumNodes`).
#[test]
fn a_joiners_suspicions_last_as_long_as_the_clusters() {
    let start = Instant::now();
    let mut j = joiner(start);
    let _ = sent(&mut j);
    let witnesses = [2, 3, 4];
    let mut table: Vec<MemberUpdate> = (1..=1_000)
        .filter(|&id| id != 9 && id != 500)
        .map(|id| update(id, Liveness::Down, &witnesses))
        .collect();
    table.push(update(500, Liveness::Suspect, &witnesses));
    let page = Probe::Table {
        ranges: vec![(NodeId(0), NodeId(u64::MAX))],
    };
    j.handle_datagram(start, &datagram(1, probe(page, table)))
        .expect("accepted");
    assert_eq!(j.member_status(NodeId(500)), Some(MemberStatus::Suspect));
    // (No member is Up: the joiner's probes have no relays, and its health stays at 0.)
    // The cluster's shortest suspicion at 1,000 members: 4 probe intervals × log10(1,000).
    let shortest = SwimConfig::lan().suspicion_min(1_000);
    let step = std::time::Duration::from_millis(100);
    let mut now = start;
    while now + step < start + shortest {
        now += step;
        j.handle_timeout(now);
        let _ = sent(&mut j);
        assert_eq!(
            j.member_status(NodeId(500)),
            Some(MemberStatus::Suspect),
            "Down after {:?}, shorter than the cluster's {shortest:?}",
            now - start
        );
    }
    // It still runs out: unrefuted, the suspicion ends in Down.
    while now < start + shortest * 10 && j.member_status(NodeId(500)) != Some(MemberStatus::Down) {
        now += step;
        j.handle_timeout(now);
        let _ = sent(&mut j);
    }
    assert_eq!(j.member_status(NodeId(500)), Some(MemberStatus::Down));
}

/// A node that learnt the members `ids` (Alive) from one table page, and was started with
/// `peer` as its only peer.
fn knowing(id: u64, ids: &[u64], peer: u64, now: Instant) -> Node {
    let mut n = node(id);
    let alive = ids
        .iter()
        .map(|&m| update(m, Liveness::Alive, &[]))
        .collect();
    let page = Probe::Table {
        ranges: vec![(NodeId(0), NodeId(u64::MAX))],
    };
    n.handle_datagram(now, &datagram(peer, probe(page, alive)))
        .expect("accepted");
    n.set_peers(Peers::Own(vec![NodeId(peer)]));
    n
}

/// A member-table message: the ranges it vouches for, and its entries.
type TablePage = (Vec<(NodeId, NodeId)>, Vec<MemberUpdate>);

/// The member-table messages among `messages`.
fn tables(messages: &[(NodeId, Message)]) -> Vec<TablePage> {
    messages
        .iter()
        .filter_map(|(_, m)| match &m.body {
            Body::Probe(FdMessage {
                probe: Probe::Table { ranges },
                updates,
            }) => Some((ranges.clone(), updates.clone())),
            _ => None,
        })
        .collect()
}

/// A pull names id ranges with the digests of what the puller holds: between two nodes that
/// agree the answer is one message vouching for every range, without entries (pulls cost the
/// same at any cluster size); a range where they differ comes back whole, and only that one.
#[test]
fn a_pull_between_nodes_that_agree_carries_no_entries() {
    let now = Instant::now();
    let members: Vec<u64> = (1_000..1_600).collect();
    let with = |extra: u64| -> Vec<u64> { members.iter().copied().chain([extra]).collect() };
    let mut a = knowing(0, &with(1), 1, now);
    let mut b = knowing(1, &with(0), 0, now);
    let _ = sent(&mut a);
    // (Each asked the other for its own entry on its first message: not the pull.)
    let _ = sent(&mut b);
    b.handle_timeout(now);
    let sync = sent(&mut b)
        .into_iter()
        .find(|(_, m)| is_sync(&m.body))
        .expect("b pulls from a");
    let bytes = sync.1.encode().expect("encodes");
    let Body::Probe(FdMessage {
        probe: Probe::Sync { ranges },
        ..
    }) = &sync.1.body
    else {
        unreachable!("found");
    };
    assert!(ranges.len() > 10, "{} ranges", ranges.len());

    // They agree: one message, every range vouched for, no entries.
    a.handle_datagram(now, &bytes).expect("accepted");
    let answer = sent(&mut a);
    let agreed = tables(&answer);
    assert_eq!(agreed.len(), 1, "{agreed:?}");
    assert!(agreed[0].1.is_empty());
    let size: usize = answer
        .iter()
        .map(|(_, m)| m.encode().expect("encodes").len())
        .sum();
    assert!(size < 1_000, "{size} bytes for 602 members that agree");
    for (_, message) in answer {
        b.handle_datagram(now, &message.encode().expect("encodes"))
            .expect("accepted");
    }
    // b holds a whole table: it does not ask again for what is missing (a retry, two probe
    // intervals on); what it asks then is the next pull of its start's ladder, the whole table
    // again.
    let later = now + std::time::Duration::from_secs(3);
    b.handle_timeout(later);
    for (_, message) in sent(&mut b).iter().filter(|(_, m)| is_sync(&m.body)) {
        let Body::Probe(FdMessage {
            probe: Probe::Sync { ranges: again },
            ..
        }) = &message.body
        else {
            unreachable!("a sync");
        };
        assert_eq!(again, ranges, "the agreeing answer completed the pull");
    }

    // a learns that 1,234 is suspected: that range, and only it, comes back with its entries.
    let suspicion = probe(Probe::Gossip, vec![update(1_234, Liveness::Suspect, &[7])]);
    a.handle_datagram(now, &datagram(7, suspicion))
        .expect("accepted");
    let _ = sent(&mut a);
    a.handle_datagram(now, &bytes).expect("accepted");
    let answer = tables(&sent(&mut a));
    let with_entries: Vec<_> = answer.iter().filter(|(_, u)| !u.is_empty()).collect();
    assert_eq!(with_entries.len(), 1, "{answer:?}");
    let (range, entries) = with_entries[0];
    assert_eq!(range.len(), 1);
    assert!((range[0].0.0..=range[0].1.0).contains(&1_234));
    assert!(entries.len() < 40, "{} entries", entries.len());
    assert!(
        entries
            .iter()
            .any(|u| u.id == NodeId(1_234) && u.status == Liveness::Suspect)
    );
    let vouched: usize = answer.iter().map(|(r, _)| r.len()).sum();
    assert_eq!(vouched, ranges.len(), "every range answered");
}

/// Regression (`hearsay sim chaos --seeds 300 --seed 1`, seeds 127 and 292, MTU 276): a pull
/// names as many ranges as one datagram holds, and the ranges a peer vouches for go in as many
/// messages as they need; nothing is dropped for its size.
#[test]
fn pulls_and_their_answers_fit_a_small_mtu() {
    let now = Instant::now();
    let mtu = 276;
    let small = |id: u64| {
        let config = Config {
            mtu,
            ..Config::lan()
        };
        Node::new(NodeId(id), Generation(1), config, id).expect("valid config")
    };
    let members: Vec<u64> = (1_000..1_600).chain([0, 1]).collect();
    let page = || {
        let alive = members
            .iter()
            .map(|&m| update(m, Liveness::Alive, &[]))
            .collect();
        let ranges = vec![(NodeId(0), NodeId(u64::MAX))];
        probe(Probe::Table { ranges }, alive)
    };
    // b pulls with an MTU of 276 bytes: a few ranges.
    let mut b = small(1);
    b.handle_datagram(now, &datagram(0, page()))
        .expect("accepted");
    b.set_peers(Peers::Own(vec![NodeId(0)]));
    let _ = sent(&mut b);
    b.handle_timeout(now);
    let syncs: Vec<Vec<u8>> = std::iter::from_fn(|| b.poll_transmit())
        .map(|t| t.payload)
        .filter(|p| {
            let m = Message::decode(p, Config::lan().cluster, 65_507).expect("decodes");
            is_sync(&m.body)
        })
        .collect();
    assert_eq!(syncs.len(), 1, "the pull went out");
    assert!(syncs[0].len() <= mtu, "{} bytes", syncs[0].len());
    assert_eq!(b.stats().over_mtu, 0);

    // a answers, with an MTU of 276, a pull of 32 ranges that all agree.
    let mut a = small(0);
    a.handle_datagram(now, &datagram(1, page()))
        .expect("accepted");
    let _ = sent(&mut a);
    let mut c = knowing(1, &members, 0, now);
    let _ = sent(&mut c);
    c.handle_timeout(now);
    for (to, message) in sent(&mut c) {
        if to == NodeId(0) {
            a.handle_datagram(now, &message.encode().expect("encodes"))
                .expect("accepted");
        }
    }
    let answer: Vec<Vec<u8>> = std::iter::from_fn(|| a.poll_transmit())
        .map(|t| t.payload)
        .collect();
    let decoded: Vec<(NodeId, Message)> = answer
        .iter()
        .map(|p| {
            let m = Message::decode(p, Config::lan().cluster, 65_507).expect("decodes");
            (NodeId(1), m)
        })
        .collect();
    let vouched = tables(&decoded);
    assert!(vouched.len() >= 2, "{vouched:?}");
    assert!(vouched.iter().all(|(_, u)| u.is_empty()), "they agree");
    assert_eq!(vouched.iter().map(|(r, _)| r.len()).sum::<usize>(), 32);
    assert!(answer.iter().all(|p| p.len() <= mtu));
}

/// Regression (`hearsay sim membership --nodes 1000 --loss 0.05 --partition 0.1`: tables never
/// agreed after the heal): a suspicion short of the quorum when its time runs out is probed by
/// the node itself within two probes (checks alternate with the round-robin since session 33),
/// not when the round-robin comes to it minutes later.
#[test]
fn a_suspicion_short_of_the_quorum_is_probed_when_its_time_runs_out() {
    let start = Instant::now();
    let members: Vec<u64> = (1_000..1_600).collect();
    let mut a = knowing(0, &members, 1_000, start);
    let suspicion = probe(Probe::Gossip, vec![update(1_500, Liveness::Suspect, &[7])]);
    a.handle_datagram(start, &datagram(1_001, suspicion))
        .expect("accepted");
    let _ = sent(&mut a);
    let timeout = SwimConfig::lan().suspicion_min(members.len() + 1)
        * SwimConfig::lan().suspicion_max_mult.get();
    let step = std::time::Duration::from_millis(100);
    let mut now = start;
    let mut pinged = Vec::new();
    while now < start + timeout + std::time::Duration::from_secs(3) {
        now += step;
        a.handle_timeout(now);
        for (to, message) in sent(&mut a) {
            let Body::Probe(FdMessage {
                probe: Probe::Ping { seq },
                ..
            }) = message.body
            else {
                continue;
            };
            if to == NodeId(1_500) {
                pinged.push(now - start);
                continue;
            }
            // Every other member answers: the node stays healthy.
            let ack = probe(Probe::Ack { seq }, Vec::new());
            a.handle_datagram(now, &datagram(to.0, ack))
                .expect("accepted");
        }
    }
    assert_eq!(a.member_status(NodeId(1_500)), Some(MemberStatus::Suspect));
    assert!(
        pinged
            .iter()
            .any(|&at| at >= timeout && at < timeout + std::time::Duration::from_secs(2)),
        "suspicion runs out at {timeout:?}; pinged at {pinged:?}"
    );
}

/// The Syncs among `messages`, by recipient.
fn syncs(messages: &[(NodeId, Message)]) -> Vec<NodeId> {
    messages
        .iter()
        .filter(|(_, m)| is_sync(&m.body))
        .map(|(to, _)| *to)
        .collect()
}

/// Regression (`hearsay sim membership --nodes 1000 --loss 0.05 --partition 0.1`, a false Down
/// after the heal): a member that refuted a suspicion answers a ping carrying that old
/// suspicion with its Alive, long after its refutation's retransmissions ended. The prober had
/// pulled the suspicion from a table on the minority side, missed the refutation, and its
/// acked probe did not end the suspicion.
#[test]
fn a_stale_suspicion_about_a_node_is_answered_with_its_alive() {
    let now = Instant::now();
    let mut m = node(77);
    let suspected = update(77, Liveness::Suspect, &[1, 2]);
    m.handle_datagram(
        now,
        &datagram(1, probe(Probe::Gossip, vec![suspected.clone()])),
    )
    .expect("accepted");
    // Its refutation is sent until its retransmissions run out.
    for seq in 0..20 {
        let ping = probe(Probe::Ping { seq }, Vec::new());
        m.handle_datagram(now, &datagram(2, ping))
            .expect("accepted");
    }
    let _ = sent(&mut m);
    let ping = probe(Probe::Ping { seq: 99 }, vec![suspected]);
    m.handle_datagram(now, &datagram(3, ping))
        .expect("accepted");
    let ack = sent(&mut m)
        .into_iter()
        .find_map(|(to, message)| match message.body {
            Body::Probe(FdMessage {
                probe: Probe::Ack { seq: 99 },
                updates,
            }) if to == NodeId(3) => Some(updates),
            _ => None,
        })
        .expect("acked");
    assert!(
        ack.iter()
            .any(|u| u.id == NodeId(77) && u.status == Liveness::Alive && u.incarnation == 1),
        "{ack:?}"
    );
}

/// A member held Down that refutes was most likely on the other side of a partition that just
/// healed: the node pulls the table from it next (members that joined there, its Downs and
/// refutations), not at the next periodic pull minutes later.
#[test]
fn a_member_back_from_down_is_asked_for_its_table() {
    let now = Instant::now();
    let members: Vec<u64> = (1_000..1_600).collect();
    let mut a = knowing(0, &members, 1_000, now);
    let _ = sent(&mut a);
    a.handle_timeout(now);
    let first = syncs(&sent(&mut a));
    assert_eq!(first.len(), 1, "the first pull");
    // 2,000 is suspected, and its suspicion runs out: Down.
    let suspect = update(2_000, Liveness::Suspect, &[1_001, 1_002, 1_003]);
    a.handle_datagram(now, &datagram(1_001, probe(Probe::Gossip, vec![suspect])))
        .expect("accepted");
    let mut later = now;
    while a.member_status(NodeId(2_000)) != Some(MemberStatus::Down) {
        assert!(later < now + std::time::Duration::from_secs(600));
        later += std::time::Duration::from_millis(500);
        a.handle_timeout(later);
        let _ = sent(&mut a);
    }
    let back = MemberUpdate {
        incarnation: 1,
        ..update(2_000, Liveness::Alive, &[])
    };
    a.handle_datagram(later, &datagram(1_002, probe(Probe::Gossip, vec![back])))
        .expect("accepted");
    assert_eq!(a.member_status(NodeId(2_000)), Some(MemberStatus::Up));
    a.handle_timeout(later + std::time::Duration::from_millis(100));
    assert_eq!(syncs(&sent(&mut a)), [NodeId(2_000)]);
}

/// Each pull asks another member than the last one did: a joiner's first table may come from a
/// node that knows little (the minority side of a partition that just healed held crashed
/// members Up), and asking it again teaches nothing.
#[test]
fn consecutive_pulls_ask_different_members() {
    let start = Instant::now();
    // Two members: a random pick would ask the same one twice in a row half the time.
    let members = [1_000, 1_001];
    let mut a = knowing(0, &members, 1_000, start);
    a.set_peers(Peers::Own(members.iter().map(|&m| NodeId(m)).collect()));
    let _ = sent(&mut a);
    let mut targets = Vec::new();
    let mut now = start;
    while now < start + std::time::Duration::from_secs(40) {
        a.handle_timeout(now);
        let out = sent(&mut a);
        targets.extend(syncs(&out));
        // Both members answer their pings (they stay Up); no table page comes back.
        for (to, message) in out {
            if let Body::Probe(FdMessage {
                probe: Probe::Ping { seq },
                ..
            }) = message.body
            {
                let ack = probe(Probe::Ack { seq }, Vec::new());
                a.handle_datagram(now, &datagram(to.0, ack))
                    .expect("accepted");
            }
        }
        now += std::time::Duration::from_millis(100);
    }
    assert!(targets.len() >= 5, "{targets:?}");
    for pair in targets.windows(2) {
        assert_ne!(pair[0], pair[1], "{targets:?}");
    }
}

/// Regression (`hearsay sim membership --nodes 1000 --loss 0.05 --partition 0.1`, 1 false
/// Down): a Down about a member this node does not know is a suspicion here, with the Down's
/// witnesses, probed first (the ping carries it, and a live member refutes in its ack); it is
/// not gossiped again (the cluster holds it already). Taken as it was, it downed a member that
/// had joined a second before the partition, unknown yet to part of the minority, at the heal.
#[test]
fn a_down_about_an_unknown_member_is_a_suspicion_probed_first() {
    let now = Instant::now();
    let members: Vec<u64> = (1_000..1_600).collect();
    let mut a = knowing(0, &members, 1_000, now);
    a.handle_timeout(now);
    let _ = sent(&mut a);
    let down = update(2_000, Liveness::Down, &[1_001, 1_002, 1_003]);
    a.handle_datagram(now, &datagram(1_001, probe(Probe::Gossip, vec![down])))
        .expect("accepted");
    assert_eq!(a.member_status(NodeId(2_000)), Some(MemberStatus::Suspect));
    assert_eq!(a.queued_updates(), Some(1), "only the node's own Alive");
    // The next probe goes to it, with the suspicion; its ack carries the refutation.
    let start = now;
    let mut now = now;
    let ping = loop {
        now += std::time::Duration::from_millis(100);
        a.handle_timeout(now);
        let found = sent(&mut a).into_iter().find_map(|(to, m)| match m.body {
            Body::Probe(FdMessage {
                probe: Probe::Ping { seq },
                updates,
            }) if to == NodeId(2_000) => Some((seq, updates)),
            _ => None,
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            now < start + std::time::Duration::from_secs(5),
            "probed first"
        );
    };
    assert!(
        ping.1
            .iter()
            .any(|u| u.id == NodeId(2_000) && u.status == Liveness::Suspect)
    );
    let refuted = MemberUpdate {
        incarnation: 1,
        ..update(2_000, Liveness::Alive, &[])
    };
    let ack = probe(Probe::Ack { seq: ping.0 }, vec![refuted]);
    a.handle_datagram(now, &datagram(2_000, ack))
        .expect("accepted");
    assert_eq!(a.member_status(NodeId(2_000)), Some(MemberStatus::Up));
}

/// A member's address travels with its Alive (memberlist's rule): a node that learns of a member
/// from an update, or from a table, can reach it at once (`Transmit::addr`), long before the
/// member's reserved address entry arrives through data; an oversized address is ignored.
#[test]
fn addresses_travel_with_membership() {
    let now = Instant::now();
    // The joiner announces its address: its Sync carries it in its own Alive.
    let mut j = joiner(now);
    let _ = sent(&mut j);
    j.advertise(now, "10.0.0.9:7000").expect("advertised");
    j.handle_timeout(now + std::time::Duration::from_secs(60));
    let own: Vec<MemberUpdate> = sent(&mut j)
        .into_iter()
        .filter_map(|(_, m)| match m.body {
            Body::Probe(FdMessage { updates, .. }) => Some(updates),
            _ => None,
        })
        .flatten()
        .filter(|u| u.id == NodeId(9))
        .collect();
    assert!(!own.is_empty());
    assert!(
        own.iter()
            .all(|u| u.addr.as_deref() == Some("10.0.0.9:7000")),
        "{own:?}"
    );
    // A node that hears it, in a probe's updates, sends to it with the address.
    let mut a = node(1);
    a.handle_timeout(now);
    let _ = sent(&mut a);
    let with_addr = |id: u64, addr: &str| MemberUpdate {
        addr: Some(addr.into()),
        ..update(id, Liveness::Alive, &[])
    };
    let updates = vec![with_addr(9, "10.0.0.9:7000"), with_addr(8, &"x".repeat(65))];
    a.handle_datagram(now, &datagram(9, probe(Probe::Gossip, updates)))
        .expect("accepted");
    assert_eq!(a.member_status(NodeId(8)), Some(MemberStatus::Up));
    let mut to: std::collections::BTreeMap<NodeId, Option<String>> = Default::default();
    for step in 1..=120 {
        a.handle_timeout(now + std::time::Duration::from_millis(500 * step));
        while let Some(t) = a.poll_transmit() {
            to.insert(t.to, t.addr.map(|addr| addr.to_string()));
        }
    }
    assert_eq!(
        to.get(&NodeId(9)),
        Some(&Some("10.0.0.9:7000".to_owned())),
        "{to:?}"
    );
    assert_eq!(to.get(&NodeId(8)), Some(&None), "{to:?}");
    // Its table lists the member with the address: a third node learns it from a page.
    let mut b = node(2);
    b.handle_timeout(now);
    let page = Probe::Table {
        ranges: vec![(NodeId(0), NodeId(u64::MAX))],
    };
    let listed = vec![with_addr(9, "10.0.0.9:7000")];
    b.handle_datagram(now, &datagram(1, probe(page, listed)))
        .expect("accepted");
    let mut reached = false;
    for step in 1..=120 {
        b.handle_timeout(now + std::time::Duration::from_millis(500 * step));
        while let Some(t) = b.poll_transmit() {
            if t.to == NodeId(9) {
                assert_eq!(t.addr.as_deref(), Some("10.0.0.9:7000"));
                reached = true;
            }
        }
    }
    assert!(reached, "node 2 never sent to node 9");
}

/// A transport that authenticates its peer hands it in: a message claiming another sender is
/// rejected, counted, and changes nothing.
#[test]
fn a_message_from_another_than_the_authenticated_sender_is_rejected() {
    let now = Instant::now();
    let mut a = node(1);
    a.handle_timeout(now);
    let _ = sent(&mut a);
    let news = datagram(
        2,
        probe(Probe::Gossip, vec![update(5, Liveness::Alive, &[])]),
    );
    let refused = a.handle_datagram_from(now, &news, Some(NodeId(3)));
    assert!(
        matches!(refused, Err(hearsay_proto::Error::SenderMismatch { claimed, sender })
            if claimed == NodeId(2) && sender == NodeId(3)),
        "{refused:?}"
    );
    assert_eq!(a.stats().rejected, 1);
    assert_eq!(a.member_status(NodeId(5)), None);
    a.handle_datagram_from(now, &news, Some(NodeId(2)))
        .expect("accepted");
    assert_eq!(a.member_status(NodeId(5)), Some(MemberStatus::Up));
}

/// A probe carries its sender's Alive with the address (memberlist's ping carries its source):
/// a node pinged by a member it has never heard of acks it at that address at once, where the
/// ack was dropped for want of an address before (seen over UDP: 1,475 of a 200-node mass
/// join's undeliverable messages were probes).
#[test]
fn a_ping_from_a_stranger_is_acked_at_the_address_it_carries() {
    let now = Instant::now();
    let mut a = node(1);
    a.advertise(now, "10.0.0.1:7000").expect("advertised");
    a.handle_timeout(now);
    let _ = sent(&mut a);
    // Node 1 hears of node 2 and probes it within a probe interval or two.
    a.handle_datagram(
        now,
        &datagram(
            3,
            probe(Probe::Gossip, vec![update(2, Liveness::Alive, &[])]),
        ),
    )
    .expect("accepted");
    let mut ping = None;
    for step in 1..=40 {
        a.handle_timeout(now + std::time::Duration::from_millis(100 * step));
        for (to, message) in sent(&mut a) {
            if let (
                NodeId(2),
                Body::Probe(FdMessage {
                    probe: Probe::Ping { .. },
                    ..
                }),
            ) = (to, &message.body)
            {
                ping = Some(message);
            }
        }
        if ping.is_some() {
            break;
        }
    }
    let ping = ping.expect("node 1 pinged node 2");
    let Body::Probe(FdMessage { updates, .. }) = &ping.body else {
        unreachable!("a probe");
    };
    assert!(
        updates.iter().any(|u| u.id == NodeId(1)
            && u.status == Liveness::Alive
            && u.addr.as_deref() == Some("10.0.0.1:7000")),
        "{updates:?}"
    );
    // Node 2 has never heard of node 1: its ack goes to the address the ping carried.
    let mut b = node(2);
    b.handle_timeout(now);
    let _ = sent(&mut b);
    b.handle_datagram(now, &ping.encode().expect("encodes"))
        .expect("accepted");
    let acks: Vec<_> = std::iter::from_fn(|| b.poll_transmit())
        .filter(|t| t.to == NodeId(1))
        .collect();
    assert!(!acks.is_empty());
    assert!(
        acks.iter()
            .all(|t| t.addr.as_deref() == Some("10.0.0.1:7000"))
    );
}

/// The members `node` pings from `from` for `time`, its timers driven every 100 ms (nothing
/// answers).
fn pinged(node: &mut Node, from: Instant, time: Duration) -> BTreeSet<NodeId> {
    let mut targets = BTreeSet::new();
    let mut now = from;
    while now < from + time {
        node.handle_timeout(now);
        for (to, message) in sent(node) {
            if let Body::Probe(FdMessage {
                probe: Probe::Ping { .. },
                ..
            }) = message.body
            {
                targets.insert(to);
            }
        }
        now += Duration::from_millis(100);
    }
    targets
}

/// A peer's Down of a member at an older incarnation than this node holds (a removal verdict from a node that never heard the
/// member's refutation) is stale, and ignored as news; but the member may have died since, and
/// nobody else will say so at a newer incarnation (the peer removed it and falls silent): the
/// node checks it itself, with its next probe, before the round-robin comes round to it (until
/// session 32 a node with views probed only its views' members, and without the check a node
/// that alone heard a refutation kept a dead member Up, with its data, for good).
#[test]
fn a_stale_down_of_a_member_held_alive_is_checked_at_once() {
    let start = Instant::now();
    let mut x = viewer_of_600(start);
    let refuted = MemberUpdate {
        incarnation: 1,
        ..update(1_007, Liveness::Alive, &[])
    };
    x.handle_datagram(start, &datagram(2, probe(Probe::Gossip, vec![refuted])))
        .expect("accepted");
    let _ = sent(&mut x);
    let before = pinged(&mut x, start, Duration::from_secs(10));
    assert!(
        !before.contains(&NodeId(1_007)),
        "probed without a word about it: nothing to show"
    );

    let later = start + Duration::from_secs(10);
    let verdict = update(1_007, Liveness::Down, &[]);
    x.handle_datagram(later, &datagram(3, probe(Probe::Gossip, vec![verdict])))
        .expect("accepted");
    assert_eq!(
        x.member_status(NodeId(1_007)),
        Some(MemberStatus::Up),
        "a stale Down changes nothing here"
    );
    let after = pinged(&mut x, later, Duration::from_secs(2));
    assert!(
        after.contains(&NodeId(1_007)),
        "the member was not checked: {after:?}"
    );
}

/// Runs `node`'s rounds every 100 ms after `from` up to `until`, dropping what it sends.
fn run_rounds(node: &mut Node, from: Instant, until: Instant) {
    let mut now = from;
    while now < until {
        now += Duration::from_millis(100);
        node.handle_timeout(now);
        let _ = sent(node);
    }
}

/// Node 0 with node 1 as its only configured peer, holding 600 members (1000–1599), at 1.5 s
/// after `start`: member 1007 left at `start`, and was removed 1 s later (forgotten 2 s after).
fn holding_a_removed_member(start: Instant) -> Node {
    let config = Config {
        membership: Some(MembershipConfig {
            removal_after: Duration::from_secs(1),
            removed_ttl: Duration::from_secs(2),
            ..MembershipConfig::lan()
        }),
        ..Config::lan()
    };
    let mut x = Node::new(NodeId(0), Generation(1), config, 0).expect("valid config");
    x.set_peers(Peers::Own(vec![NodeId(1)]));
    x.handle_timeout(start);
    learn_600_members(&mut x, start);
    assert!(
        x.peers().contains(NodeId(1_007)),
        "a member heard of is a peer"
    );
    let left = update(1_007, Liveness::Left, &[]);
    x.handle_datagram(start, &datagram(2, probe(Probe::Gossip, vec![left])))
        .expect("accepted");
    run_rounds(&mut x, start, start + Duration::from_millis(1_500));
    assert_eq!(x.member_status(NodeId(1_007)), Some(MemberStatus::Removed));
    x
}

/// Members gone for good (ids never seen again) are remembered as Removed for `removed_ttl`,
/// then forgotten; a forgotten id is unknown again, and unknown ids are gossip targets. The list
/// of peers a node assembled from what it heard now drops a member it forgets: before, it kept
/// every id it had ever heard of, and a day after each removal sent that id its share of every
/// round's gossip.
#[test]
fn a_forgotten_member_leaves_the_peers_the_node_assembled() {
    let start = Instant::now();
    let mut x = holding_a_removed_member(start);
    assert!(
        x.peers().contains(NodeId(1_007)),
        "a removed member stays a peer while remembered (it is told of its removal)"
    );
    let removed = start + Duration::from_millis(1_500);
    run_rounds(&mut x, removed, start + Duration::from_secs(4));
    assert_eq!(x.member_status(NodeId(1_007)), None, "not forgotten");
    assert!(
        !x.peers().contains(NodeId(1_007)),
        "a forgotten member is still a peer"
    );
    assert!(
        x.peers().contains(NodeId(1_008)),
        "a member Up left the peers"
    );
}

/// `hearsay-net` drops a removed member from the peers and forgets its address; after a
/// partition that outlasted the removal, the member's hello brings it back (`add_peer`). The
/// member is reachable then: it is told of its removal at once (and comes back as a new
/// generation), not at the next reconnect — up to `reconnect_interval` (30 s) later, since the
/// round that removes a member spends the reconnect on it while it cannot be reached.
#[test]
fn a_removed_member_added_back_as_a_peer_is_told_of_its_removal_at_once() {
    let start = Instant::now();
    let mut x = holding_a_removed_member(start);
    let now = start + Duration::from_millis(1_500);
    x.remove_peer(NodeId(1_007));
    x.add_peer(NodeId(1_007));
    let told: Vec<Message> = (sent(&mut x).into_iter())
        .filter(|(to, _)| *to == NodeId(1_007))
        .map(|(_, message)| message)
        .collect();
    assert_eq!(told.len(), 1, "the member added back was not told at once");

    // The member, still running its first generation, hears it and comes back as a new one.
    let mut member = node(1_007);
    member.handle_timeout(now);
    let notice = told[0].encode().expect("encodes");
    member.handle_datagram(now, &notice).expect("accepted");
    assert!(
        member.generation() > Generation(1),
        "the notice did not tell the member of its removal"
    );

    // Adding a peer already held says nothing again.
    x.add_peer(NodeId(1_007));
    assert!(sent(&mut x).is_empty(), "told again");
}

/// Over a transport with addresses, a member heard of only through data (a digest or a group
/// from a peer) has no address until a membership update brings one, and the node can neither
/// probe it nor gossip with it; rumors miss a node now and then, and the next table pull is a
/// push-pull interval away. The peer the data came from is asked for the member's entry at once
/// (a one-id table pull), and again a probe interval later while the address is still unknown;
/// a node without addresses (in-process) asks nothing.
#[test]
fn a_member_heard_of_only_through_data_is_asked_of_its_source_for_its_address() {
    let now = Instant::now();
    let group = one_write(1_500);
    let data = datagram(
        1,
        Body::Ack {
            deltas: vec![group.clone()],
        },
    );
    // The table pulls that ask about member 1500 (an unknown sender is asked for its own entry
    // too: node 1 here).
    type Pulls = Vec<(NodeId, Vec<(NodeId, NodeId, u64)>)>;
    let asked = |node: &mut Node| -> Pulls {
        (sent(node).into_iter())
            .filter_map(|(to, message)| match message.body {
                Body::Probe(FdMessage {
                    probe: Probe::Sync { ranges },
                    ..
                }) if ranges
                    .iter()
                    .any(|r| r.0 <= NodeId(1_500) && NodeId(1_500) <= r.1) =>
                {
                    Some((to, ranges))
                }
                _ => None,
            })
            .collect()
    };

    let mut addressed = joiner(now);
    addressed
        .advertise(now, "10.0.0.9:7946")
        .expect("advertised");
    let _ = sent(&mut addressed);
    addressed.handle_datagram(now, &data).expect("accepted");
    assert_eq!(
        addressed.member_status(NodeId(1_500)),
        Some(MemberStatus::Joining)
    );
    assert_eq!(
        asked(&mut addressed),
        vec![(NodeId(1), vec![(NodeId(1_500), NodeId(1_500), 0)])],
        "the source was not asked for the member's entry"
    );
    addressed.handle_datagram(now, &data).expect("accepted");
    assert_eq!(asked(&mut addressed), Vec::new(), "asked twice at once");
    // Still without an address a probe interval later: asked again, of whoever sent the data.
    let later = now + SwimConfig::lan().probe_interval;
    let data_from_2 = datagram(
        2,
        Body::Ack {
            deltas: vec![group.clone()],
        },
    );
    addressed
        .handle_datagram(later, &data_from_2)
        .expect("accepted");
    assert_eq!(
        asked(&mut addressed),
        vec![(NodeId(2), vec![(NodeId(1_500), NodeId(1_500), 0)])]
    );
    // Its address known (its Alive), nothing is asked any more.
    let alive = MemberUpdate {
        addr: Some("10.0.0.150:7946".into()),
        ..update(1_500, Liveness::Alive, &[])
    };
    let much_later = later + SwimConfig::lan().probe_interval;
    addressed
        .handle_datagram(much_later, &datagram(1, probe(Probe::Gossip, vec![alive])))
        .expect("accepted");
    addressed
        .handle_datagram(much_later, &data)
        .expect("accepted");
    assert_eq!(
        asked(&mut addressed),
        Vec::new(),
        "asked with the address known"
    );

    let mut in_process = joiner(now);
    let _ = sent(&mut in_process);
    in_process.handle_datagram(now, &data).expect("accepted");
    assert_eq!(
        asked(&mut in_process),
        Vec::new(),
        "asked without addresses"
    );
}

/// A peer its runtime reports failed (`peer_failed`: a closed connection) leaves the views, and
/// is checked: probed with the next cycle, before the round-robin comes round to it (session 22,
/// when a node with views probed only its views' members: one whose view members all failed
/// probed nobody and held them Up for as long as it was cut off).
#[test]
fn a_member_the_runtime_reports_failed_is_probed_whatever_the_views() {
    let start = Instant::now();
    let mut x = viewer_of_600(start);
    let _ = sent(&mut x);
    let before = pinged(&mut x, start, Duration::from_secs(10));
    assert!(
        !before.contains(&NodeId(1_007)),
        "probed without a word about it: nothing to show"
    );
    let later = start + Duration::from_secs(10);
    x.peer_failed(later, NodeId(1_007));
    let after = pinged(&mut x, later, Duration::from_secs(2));
    assert!(
        after.contains(&NodeId(1_007)),
        "the member reported failed was not checked: {after:?}"
    );
}

/// A pull teaches both sides (memberlist's push-pull): the node answering pulls back the
/// ranges where the asker holds something else, and learns what only the asker held; the
/// asker does not pull back the pull back, and a node pulls back at most once a probe
/// interval.
#[test]
fn a_pull_teaches_the_node_answering_too() {
    let now = Instant::now();
    let members: Vec<u64> = (1_000..1_600).collect();
    let with =
        |extra: &[u64]| -> Vec<u64> { members.iter().copied().chain(extra.to_vec()).collect() };
    // Only a holds 3,000.
    let mut a = knowing(0, &with(&[1, 3_000]), 1, now);
    // b has started (its own pulls go to node 7, which does not answer), and knows c (node 2).
    let mut b = knowing(1, &with(&[0, 2]), 7, now);
    b.handle_timeout(now);
    assert!(syncs(&sent(&mut b)).iter().all(|&to| to == NodeId(7)));
    let _ = sent(&mut a);
    a.handle_timeout(now);
    let pull: Vec<_> = sent(&mut a)
        .into_iter()
        .filter(|(_, m)| is_sync(&m.body))
        .collect();
    assert_eq!(pull.len(), 1, "a pulls from b");
    let pull = pull[0].1.encode().expect("encodes");
    b.handle_datagram(now, &pull).expect("accepted");
    let answer = sent(&mut b);
    assert_eq!(syncs(&answer), [NodeId(0)], "b pulls back from a");
    for (_, message) in &answer {
        a.handle_datagram(now, &message.encode().expect("encodes"))
            .expect("accepted");
    }
    let back = sent(&mut a);
    assert!(
        syncs(&back).is_empty(),
        "a does not pull back the pull back"
    );
    assert!(
        pages(&back)
            .iter()
            .any(|(_, _, u)| u.iter().any(|u| u.id == NodeId(3_000))),
        "a answers with the range holding 3,000"
    );
    for (_, message) in back {
        b.handle_datagram(now, &message.encode().expect("encodes"))
            .expect("accepted");
    }
    assert_eq!(b.member_status(NodeId(3_000)), Some(MemberStatus::Up));

    // Another node holding something else pulls within the probe interval: answered, not
    // pulled back.
    let mut c = knowing(2, &with(&[1, 4_000]), 1, now);
    let _ = sent(&mut c);
    c.handle_timeout(now);
    let pull = (sent(&mut c).into_iter())
        .find(|(_, m)| is_sync(&m.body))
        .expect("c pulls from b");
    b.handle_datagram(now, &pull.1.encode().expect("encodes"))
        .expect("accepted");
    let answer = sent(&mut b);
    assert!(!tables(&answer).is_empty(), "b answers c");
    assert!(syncs(&answer).is_empty(), "once a probe interval");
}

/// A node that starts pulls the member table 2, 4 and 8 probe intervals after each pull
/// before, whatever the pulls bring, then every push-pull interval: a mass join's first
/// tables come from nodes that know little, and news that died out short of a few nodes
/// reaches them only through a later pull.
#[test]
fn a_node_that_starts_pulls_on_a_ladder_then_every_push_pull_interval() {
    let start = Instant::now();
    let mut a = knowing(0, &[1_000], 1_000, start);
    a.set_peers(Peers::Own(vec![NodeId(1_000)]));
    let _ = sent(&mut a);
    let mut pulls = Vec::new();
    let mut now = start;
    while now < start + Duration::from_secs(200) {
        a.handle_timeout(now);
        for (to, message) in sent(&mut a) {
            let seq = match message.body {
                Body::Probe(FdMessage {
                    probe: Probe::Ping { seq },
                    ..
                }) => Some(seq),
                _ => None,
            };
            let answer = if let Some(seq) = seq {
                probe(Probe::Ack { seq }, Vec::new())
            } else if is_sync(&message.body) {
                pulls.push((now - start).as_secs());
                // The whole table agrees: nothing new.
                let page = Probe::Table {
                    ranges: vec![(NodeId(0), NodeId(u64::MAX))],
                };
                probe(page, Vec::new())
            } else {
                continue;
            };
            a.handle_datagram(now, &datagram(to.0, answer))
                .expect("accepted");
        }
        now += Duration::from_millis(100);
    }
    // LAN: a probe interval of 1 s; a push-pull interval of 30 s for so few members.
    assert_eq!(pulls, [0, 2, 6, 14, 44, 74, 104, 134, 164, 194]);
}

/// SWIM's completeness does not depend on partial views: a node with views probes its whole
/// table, not only its views' members. Until session 32 it probed only its views' members, and
/// a member that no view held anywhere (a joiner whose `Join` and first shuffles were lost) was
/// probed by nobody: once it crashed, every live node held it Up for good (fault-search seed
/// 397860, `hearsay-actor/tests/scenarios/in-no-view-397860.json`). It also replaces session
/// 24's rule for a node whose views hold nobody (every link failed), which probed its table.
#[test]
fn a_node_with_views_probes_its_whole_table() {
    let start = Instant::now();
    let mut x = viewer_of_600(start);
    x.join(start, NodeId(1_001));
    let _ = sent(&mut x);
    let view = x.view().expect("views on");
    let viewed: BTreeSet<NodeId> = view
        .active()
        .iter()
        .chain(view.passive())
        .copied()
        .collect();
    assert_eq!(viewed, BTreeSet::from([NodeId(1_001)]));
    // Every member answers: the node stays healthy and probes once a second.
    let mut probed = BTreeSet::new();
    let mut now = start;
    while now < start + Duration::from_secs(60) {
        x.handle_timeout(now);
        for (to, message) in sent(&mut x) {
            if let Body::Probe(FdMessage {
                probe: Probe::Ping { seq },
                ..
            }) = message.body
            {
                probed.insert(to);
                let ack = probe(Probe::Ack { seq }, Vec::new());
                x.handle_datagram(now, &datagram(to.0, ack))
                    .expect("accepted");
            }
        }
        now += Duration::from_millis(100);
    }
    let outside = probed.difference(&viewed).count();
    assert!(
        outside >= 50,
        "in 60 s it probed {outside} members outside its views: {probed:?}"
    );
}

/// With partial views and membership the views hold no member the table holds departed: one
/// that left and one that crashed (Down) leave every view, passive ones included, within a
/// round of the verdict. Until session 32 only a Down active peer left a view: over datagrams,
/// where no link fails, departed members stayed in passive views for good (a hostile user saw
/// every survivor keep two as backups for 390 s) and in active ones until their silence ran out.
#[test]
fn departed_members_leave_every_view() {
    let config = Config {
        view: Some(ViewConfig::default()),
        ..Config::lan()
    };
    let start = Instant::now();
    let mut cluster = Lockstep::with_views(20, config, 5, start)
        .expect("valid config")
        .with_step(Duration::from_millis(100));
    cluster.run_until(300, |_| false);
    let (left, crashed) = (NodeId(3), NodeId(7));
    let live = |id: NodeId| id != left && id != crashed;
    // In how many live nodes' views `id` is.
    let viewed = |cluster: &Lockstep, id: NodeId| {
        (cluster.nodes().iter())
            .filter(|n| live(n.id()))
            .filter_map(|n| n.view())
            .filter(|v| v.active().contains(&id) || v.passive().contains(&id))
            .count()
    };
    let held = viewed(&cluster, left) + viewed(&cluster, crashed);
    assert!(held >= 10, "in {held} views only: nothing to show");
    let now = cluster.now();
    cluster
        .node_mut(3)
        .map(|n| n.leave(now))
        .transpose()
        .expect("leaves");
    cluster.run_until(20, |_| false);
    cluster.crash(3);
    cluster.crash(7);
    let departed = cluster.run_until(600, |c| {
        (c.nodes().iter()).filter(|n| live(n.id())).all(|n| {
            matches!(
                n.member_status(left),
                Some(MemberStatus::Left | MemberStatus::Removed)
            ) && n.member_status(crashed) == Some(MemberStatus::Down)
        })
    });
    assert!(departed.is_some(), "the departures never reached everyone");
    // One more round after the last verdict: each view has dropped them.
    cluster.run_until(10, |_| false);
    assert_eq!(
        viewed(&cluster, left),
        0,
        "the node that left is still viewed"
    );
    assert_eq!(
        viewed(&cluster, crashed),
        0,
        "the crashed node is still viewed"
    );
}

/// A member's address changes only with news: a node that moves re-advertises under a higher
/// incarnation, and a late update bearing the old address (reordered, or from a peer that lies)
/// does not bring it back. Before session 26 every update of the generation set the address.
#[test]
fn an_address_changes_only_with_a_higher_incarnation() {
    let now = Instant::now();
    let mut a = node(1);
    a.advertise(now, "10.0.0.1:7000").expect("advertised");
    let first = a.members().into_iter().find(|m| m.id == NodeId(1));
    assert_eq!(first.map(|m| m.incarnation), Some(0));
    a.advertise(now, "10.0.0.1:8000").expect("advertised");
    let moved = a.members().into_iter().find(|m| m.id == NodeId(1));
    assert_eq!(moved.map(|m| m.incarnation), Some(1), "a move is news");
    let said = |incarnation, status, addr: &str| MemberUpdate {
        incarnation,
        addr: Some(addr.into()),
        ..update(1, status, &[])
    };
    let mut b = node(2);
    b.handle_timeout(now);
    let hear = |b: &mut Node, updates| {
        b.handle_datagram(now, &datagram(3, probe(Probe::Gossip, updates)))
            .expect("accepted");
    };
    hear(&mut b, vec![said(0, Liveness::Alive, "10.0.0.1:7000")]);
    hear(&mut b, vec![said(1, Liveness::Alive, "10.0.0.1:8000")]);
    hear(&mut b, vec![said(0, Liveness::Alive, "10.0.0.1:7000")]);
    hear(&mut b, vec![said(1, Liveness::Suspect, "10.0.0.66:1")]);
    assert_eq!(b.address(NodeId(1)).as_deref(), Some("10.0.0.1:8000"));
    // A member heard of without an address takes one from any update of its generation.
    hear(&mut b, vec![update(4, Liveness::Alive, &[])]);
    assert_eq!(b.address(NodeId(4)), None);
    let with_address = MemberUpdate {
        addr: Some("10.0.0.4:7000".into()),
        ..update(4, Liveness::Alive, &[])
    };
    hear(&mut b, vec![with_address]);
    assert_eq!(b.address(NodeId(4)).as_deref(), Some("10.0.0.4:7000"));
}
