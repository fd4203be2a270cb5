//! SWIM's member-table pulls and status hints, message by message (`docs/protocol.md` §14.6,
//! rules 6 and 7): a `Sync` carries the requester's own Alive and may ask for some id ranges;
//! a table leaves out members heard of only through data; what a table teaches is not gossiped
//! again; no data of a Down origin goes out without its status.

use hearsay_proto::{
    Body, Config, Delta, Digest, FdMessage, Generation, Liveness, MemberStatus, MemberUpdate,
    Message, Node, NodeId, OriginDelta, OriginSummary, PROTOCOL_VERSION, Peers, Probe, Value,
    Version,
};
use std::collections::BTreeSet;
use std::time::Instant;

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

fn update(id: u64, status: Liveness, witnesses: &[u64]) -> MemberUpdate {
    MemberUpdate {
        id: NodeId(id),
        generation: Generation(1),
        incarnation: 0,
        status,
        witnesses: witnesses.iter().map(|&w| NodeId(w)).collect(),
    }
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

/// The member-table pages among `messages`: `(lo, hi, updates)`.
fn pages(messages: &[(NodeId, Message)]) -> Vec<(u64, u64, Vec<MemberUpdate>)> {
    messages
        .iter()
        .filter_map(|(_, m)| match &m.body {
            Body::Probe(FdMessage {
                probe: Probe::Table { lo, hi },
                updates,
            }) => Some((lo.0, hi.0, updates.clone())),
            _ => None,
        })
        .collect()
}

/// A node holding 600 members Up (learnt from one table page) and one heard of only through a
/// digest.
fn holder(now: Instant) -> Node {
    let mut a = node(0);
    let alive: Vec<MemberUpdate> = (1_000..1_600)
        .map(|id| update(id, Liveness::Alive, &[]))
        .collect();
    // From a table page: nothing is queued for gossip, so what `a` sends later is its own.
    let page = Probe::Table {
        lo: NodeId(0),
        hi: NodeId(u64::MAX),
    };
    a.handle_datagram(now, &datagram(1, probe(page, alive)))
        .expect("accepted");
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
    let mut j = node(9);
    j.set_peers(Peers::Own(vec![NodeId(1)]));
    j.handle_timeout(now);
    type Sync = (NodeId, Vec<(NodeId, NodeId)>, Vec<MemberUpdate>);
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
    assert!(wanted.is_empty(), "the whole table: {wanted:?}");
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
            ranges: vec![(NodeId(lo), NodeId(hi)), (NodeId(9), NodeId(3))],
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
    let groups: Vec<OriginDelta> = origins
        .iter()
        .map(|&origin| OriginDelta {
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
        })
        .collect();
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
        .filter(|(_, m)| {
            matches!(
                &m.body,
                Body::Probe(FdMessage {
                    probe: Probe::Sync { .. },
                    ..
                })
            )
        })
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
    assert_eq!(ranges, &vec![(NodeId(77), NodeId(77))]);
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
