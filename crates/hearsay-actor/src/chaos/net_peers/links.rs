//! `hearsay-net`'s TCP mesh as the fault search emulates it ([`super::Scenario::stream`];
//! `hearsay-net/src/mesh.rs`): the links each node dials, which come up when the network passes
//! both ways and the peer's process runs, and fail when either stops.
//!
//! - A full mesh (no partial views) dials its seeds, each node that dialed it, each address its
//!   store's reserved entries give and, with SWIM, each member its table holds (membership
//!   carries the address a message to it is dialed at); a learnt address is dialed only every
//!   [`PARKED_CHECKS`]-th check after [`MAX_FAILURES`] failed dials in a row, and forgotten when
//!   its member leaves or is removed (a seed never is).
//! - With partial views the links are on demand: each seed until the node's process joined
//!   through it (again once it saw the seed leave or removed), and the members of its active
//!   view (what it sends to); a link no longer wanted closes quietly, and a dial to an active
//!   member that cannot connect reports the member failed.
//! - A link that comes up adds the peer to the node's gossip peers and teaches both ends the
//!   other's address; with views the node's process joins the overlay through each seed that
//!   links (`Join`). A link that fails removes the peer, and with views reports it
//!   failed. A paused process's links are closed by their peers (idle timeout): it sees each
//!   fail once it runs again.
//!
//! The model acts at the search's checks (every 5 s) and when a process starts; the network
//! still delivers by address, as datagrams (its loss and duplication stand for what a link
//! that breaks loses, and more).

use super::{Change, NetPeers, Seen, learn};
use hearsay_proto::{Generation, MemberStatus, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// Failed dials in a row after which a learnt address is dialed less often
/// (`hearsay_net::mesh::MAX_LEARNED_FAILURES`).
pub(super) const MAX_FAILURES: u32 = 8;

/// Checks between two dials of a learnt address past [`MAX_FAILURES`]: `hearsay-net`'s
/// `unreachable_redial` (60 s) over the search's 5 s checks.
pub(super) const PARKED_CHECKS: u32 = 12;

/// A link a node dialed that is up: the process and generation its peer's hello announced.
#[derive(Clone, Copy, Debug)]
struct Up {
    process: u64,
    generation: Generation,
}

/// Every node's links.
pub(super) struct Links {
    /// Full mesh: each node's dial targets, with their failed dials in a row.
    targets: Vec<BTreeMap<usize, u32>>,
    /// (node, peer): the links up, by the node that dialed them.
    up: BTreeMap<(usize, usize), Up>,
    /// With views: (node, seed), the node's process joined the overlay through the seed.
    joined: BTreeSet<(usize, usize)>,
    /// Nodes seen not running with links up: their peers closed those links meanwhile.
    stale: BTreeSet<usize>,
}

impl Links {
    /// Each node dials its seeds.
    pub(super) fn new(seeds: &[Vec<usize>]) -> Links {
        Links {
            targets: seeds.iter().map(|seeds| targets(seeds)).collect(),
            up: BTreeMap::new(),
            joined: BTreeSet::new(),
            stale: BTreeSet::new(),
        }
    }

    /// Node `node`'s process starts afresh (or stopped): it holds no link, has not joined, and
    /// dials its seeds.
    pub(super) fn restarted(&mut self, node: usize, seeds: &[usize]) {
        if self.targets.len() <= node {
            self.targets.resize(node + 1, BTreeMap::new());
        }
        self.targets[node] = targets(seeds);
        self.up.retain(|&(from, _), _| from != node);
        self.joined.retain(|&(from, _)| from != node);
        self.stale.remove(&node);
    }

    /// `node`'s store gave `peer`'s address: a full mesh dials it.
    pub(super) fn target(&mut self, node: usize, peer: usize, views: bool) {
        if !views {
            self.targets[node].entry(peer).or_insert(0);
        }
    }

    /// `peer` left or was removed at `generation`: no longer dialed unless a seed, and a link to
    /// it at that generation or an older one closes. Answers whether one did.
    pub(super) fn forget(
        &mut self,
        node: usize,
        peer: usize,
        generation: Generation,
        seed: bool,
    ) -> bool {
        if seed {
            // Joined through again once it links.
            self.joined.remove(&(node, peer));
        } else {
            self.targets[node].remove(&peer);
        }
        let key = (node, peer);
        let linked = (self.up.get(&key)).is_some_and(|up| up.generation <= generation);
        if linked {
            self.up.remove(&key);
        }
        linked
    }
}

fn targets(seeds: &[usize]) -> BTreeMap<usize, u32> {
    seeds.iter().map(|&seed| (seed, 0)).collect()
}

impl NetPeers {
    /// The TCP mesh at these snapshots: each running node's links fail or come up ([`Links`]).
    pub(super) fn link(
        &mut self,
        nodes: &[Seen],
        passes: &impl Fn(usize, usize) -> bool,
        changes: &mut Vec<Change>,
    ) {
        let Some(mut links) = self.links.take() else {
            return;
        };
        let gone = |status| matches!(status, MemberStatus::Left | MemberStatus::Removed);
        for (index, node) in nodes.iter().enumerate() {
            let mine = (index, 0)..(index + 1, 0);
            if !node.runs {
                if links.up.range(mine.clone()).next().is_some() {
                    links.stale.insert(index);
                }
                continue;
            }
            if self.swim && !self.views {
                for &(member, _, status) in &node.members {
                    let member = member.0 as usize;
                    if !gone(status) && member != index {
                        links.targets[index].entry(member).or_insert(0);
                    }
                }
            }
            let stale = links.stale.remove(&index);
            let wanted: BTreeSet<usize> = if self.views {
                let joined = &links.joined;
                (self.seeds[index].iter().copied())
                    .filter(|&seed| !joined.contains(&(index, seed)))
                    .chain(node.active_view.iter().map(|m| m.0 as usize))
                    .filter(|&peer| peer != index)
                    .collect()
            } else {
                links.targets[index].keys().copied().collect()
            };
            let mut peers = wanted.clone();
            peers.extend(links.up.range(mine).map(|(&(_, peer), _)| peer));
            for peer in peers {
                let reached = (nodes.get(peer))
                    .filter(|p| p.runs && passes(index, peer) && passes(peer, index));
                if let Some(up) = links.up.get(&(index, peer)).copied() {
                    let holds = !stale && reached.is_some_and(|p| p.process == up.process);
                    if holds && wanted.contains(&peer) {
                        continue;
                    }
                    links.up.remove(&(index, peer));
                    changes.push(Change::Unlinked { node: index, peer });
                    if self.views {
                        // Unused links close quietly; a failed one is reported, and the view
                        // decides whether to send to the peer again.
                        if !holds {
                            changes.push(Change::Failed { node: index, peer });
                        }
                        continue;
                    }
                    // A full mesh redials at once (below).
                }
                if !wanted.contains(&peer) {
                    continue;
                }
                // A learnt address past its tries is dialed every PARKED_CHECKS-th check.
                if let Some(failures) = links.targets[index].get_mut(&peer) {
                    let parked = *failures >= MAX_FAILURES
                        && !(*failures - MAX_FAILURES).is_multiple_of(PARKED_CHECKS)
                        && !self.seeds[index].contains(&peer);
                    if parked && !self.views {
                        *failures += 1;
                        continue;
                    }
                }
                let Some(answering) = reached else {
                    if self.views {
                        // A message waits for the dial, which fails.
                        if node.active_view.contains(&NodeId(peer as u64)) {
                            changes.push(Change::Failed { node: index, peer });
                        }
                    } else if let Some(failures) = links.targets[index].get_mut(&peer) {
                        *failures = failures.saturating_add(1);
                    }
                    continue;
                };
                let up = Up {
                    process: answering.process,
                    generation: answering.generation,
                };
                links.up.insert((index, peer), up);
                // The hellos teach each end the other's address; a full mesh dials back.
                if learn(&mut self.books[index], peer, answering.generation) {
                    changes.push(Change::Learnt { node: index, peer });
                }
                if learn(&mut self.books[peer], index, node.generation) {
                    changes.push(Change::Learnt {
                        node: peer,
                        peer: index,
                    });
                }
                if let Some(failures) = links.targets[index].get_mut(&peer) {
                    *failures = 0;
                }
                if !self.views {
                    links.targets[peer].entry(index).or_insert(0);
                }
                changes.push(Change::Added { node: index, peer });
                if self.views
                    && self.seeds[index].contains(&peer)
                    && links.joined.insert((index, peer))
                {
                    changes.push(Change::Joined {
                        node: index,
                        seed: peer,
                    });
                }
            }
        }
        self.links = Some(links);
    }
}

#[cfg(test)]
mod tests {
    use super::super::Change::{Added, Failed, Joined, Learnt, Unlinked};
    use super::*;

    fn mesh(seeds: Vec<Vec<usize>>, views: bool) -> NetPeers {
        NetPeers::for_tests(seeds, views, true)
    }

    fn running(count: usize) -> Vec<Seen> {
        (0..count)
            .map(|_| Seen {
                generation: Generation(1),
                process: 0,
                runs: true,
                members: Vec::new(),
                addresses: Vec::new(),
                active_view: Vec::new(),
            })
            .collect()
    }

    fn everywhere(_: usize, _: usize) -> bool {
        true
    }

    /// A full mesh links each node to its seeds and the seeds back; a link cut by the network
    /// removes its peer and comes back with it; a peer's restart breaks its links, which are
    /// dialed again at once.
    #[test]
    fn a_full_mesh_links_both_ways_and_relinks_after_a_cut_or_a_restart() {
        let mut net = mesh(vec![vec![1], vec![], vec![1]], false);
        let mut nodes = running(3);
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Learnt { node: 0, peer: 1 },
                Learnt { node: 1, peer: 0 },
                Added { node: 0, peer: 1 },
                Added { node: 1, peer: 0 },
                Learnt { node: 2, peer: 1 },
                Learnt { node: 1, peer: 2 },
                Added { node: 2, peer: 1 },
            ],
            "each dials its seed, the seed dials back (2's dial-back waits for the next check)"
        );
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Added { node: 1, peer: 2 }]
        );
        assert_eq!(net.changes(&nodes, everywhere), [], "links hold");
        let cut = |from, to| (from, to) != (1, 0);
        assert_eq!(
            net.changes(&nodes, cut),
            [Unlinked { node: 0, peer: 1 }, Unlinked { node: 1, peer: 0 }],
            "one direction cut fails both ends' links, no failure reported without views"
        );
        assert_eq!(net.changes(&nodes, cut), []);
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Added { node: 0, peer: 1 }, Added { node: 1, peer: 0 }]
        );
        nodes[1].process = 1;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Unlinked { node: 0, peer: 1 },
                Added { node: 0, peer: 1 },
                Unlinked { node: 2, peer: 1 },
                Added { node: 2, peer: 1 },
            ],
            "a restarted peer's links fail and come up again"
        );
    }

    /// A learnt address that fails `MAX_FAILURES` dials in a row is dialed only every
    /// `PARKED_CHECKS`-th check from then on, and links again at such a check; a seed is dialed
    /// at every check.
    #[test]
    fn a_learnt_address_past_its_tries_is_dialed_less_often_a_seed_always() {
        let mut net = mesh(vec![vec![1], vec![], vec![]], false);
        let mut nodes = running(3);
        nodes[0].addresses = vec![(NodeId(2), Generation(1), hearsay_proto::Version(1))];
        nodes[1].runs = false;
        nodes[2].runs = false;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 0, peer: 2 }]
        );
        for _ in 1..MAX_FAILURES {
            net.changes(&nodes, everywhere);
        }
        let targets = |net: &NetPeers| net.links.as_ref().map(|l| l.targets[0].clone());
        assert_eq!(
            targets(&net),
            Some(BTreeMap::from([(1, MAX_FAILURES), (2, MAX_FAILURES)]))
        );
        // One more failed try (the first past the limit), then both run again: the seed links
        // at the next check, the learnt address only PARKED_CHECKS checks after its last try.
        net.changes(&nodes, everywhere);
        nodes[1].runs = true;
        nodes[2].runs = true;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Learnt { node: 0, peer: 1 },
                Learnt { node: 1, peer: 0 },
                Added { node: 0, peer: 1 },
                Added { node: 1, peer: 0 },
            ],
            "the seed comes back at once"
        );
        for _ in 2..PARKED_CHECKS {
            let changes = net.changes(&nodes, everywhere);
            assert!(
                !changes.contains(&Added { node: 0, peer: 2 }),
                "dialed before its time: {changes:?}"
            );
        }
        assert!(
            net.changes(&nodes, everywhere)
                .contains(&Added { node: 0, peer: 2 }),
            "the learnt address is dialed again"
        );
    }

    /// With views a node links to each seed until it joined through it, then to its active
    /// view; a link no longer wanted closes quietly, an active member that cannot be reached is
    /// reported failed; a process started afresh joins again, as does a node through a seed it
    /// saw removed.
    #[test]
    fn with_views_a_process_joins_through_each_seed_and_failed_links_are_reported() {
        let mut net = mesh(vec![vec![1, 2], vec![], vec![]], true);
        let mut nodes = running(3);
        let to_1 = |_, to| to != 1;
        assert_eq!(
            net.changes(&nodes, to_1),
            [
                Learnt { node: 0, peer: 2 },
                Learnt { node: 2, peer: 0 },
                Added { node: 0, peer: 2 },
                Joined { node: 0, seed: 2 },
            ],
            "joined through the seed it linked to"
        );
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Learnt { node: 0, peer: 1 },
                Learnt { node: 1, peer: 0 },
                Added { node: 0, peer: 1 },
                Joined { node: 0, seed: 1 },
                Unlinked { node: 0, peer: 2 },
            ],
            "and through the other once it links; the used link closes"
        );
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Unlinked { node: 0, peer: 1 }],
            "joined through both: no seed is dialed"
        );
        nodes[0].active_view = vec![NodeId(1), NodeId(2)];
        assert_eq!(
            net.changes(&nodes, to_1),
            [Failed { node: 0, peer: 1 }, Added { node: 0, peer: 2 }],
            "a message to 1 waits for a dial that fails"
        );
        nodes[2].runs = false;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Added { node: 0, peer: 1 },
                Unlinked { node: 0, peer: 2 },
                Failed { node: 0, peer: 2 },
            ]
        );
        nodes[0].active_view.clear();
        nodes[0].members = vec![(NodeId(1), Generation(1), MemberStatus::Removed)];
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Unlinked { node: 0, peer: 1 },
                Learnt { node: 0, peer: 1 },
                Added { node: 0, peer: 1 },
                Joined { node: 0, seed: 1 },
            ],
            "a seed seen removed is joined through again"
        );
        net.restarted(0);
        nodes[0].members.clear();
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Learnt { node: 0, peer: 1 },
                Added { node: 0, peer: 1 },
                Joined { node: 0, seed: 1 },
            ],
            "a new process joins again (2 does not run)"
        );
    }

    /// A node paused with links up finds each failed when it runs again, and links again.
    #[test]
    fn a_paused_process_finds_its_links_failed() {
        let mut net = mesh(vec![vec![1], vec![0]], false);
        let mut nodes = running(2);
        assert_eq!(net.changes(&nodes, everywhere).len(), 4);
        nodes[0].runs = false;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Unlinked { node: 1, peer: 0 }]
        );
        nodes[0].runs = true;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Unlinked { node: 0, peer: 1 },
                Added { node: 0, peer: 1 },
                Added { node: 1, peer: 0 },
            ]
        );
    }
}
