//! `hearsay-net`'s datagram transport as the fault search emulates it ([`Scenario::net_peers`]):
//! each node's address book, filled by hellos between a node and its seeds and by the reserved
//! address entries its store takes in, emptied of the members that left or were removed, and
//! the peer changes the transport makes with it (`hearsay-net/src/udp.rs`: a peer new to the
//! book is added, a forgotten one removed).

use super::scenario::{Fault, Scenario};
use hearsay_proto::{Generation, MemberStatus, NodeId, Version};
use std::collections::{BTreeMap, BTreeSet};

/// The transports of a run's nodes.
pub(super) struct NetPeers {
    /// Each node's seeds, by index: its seed peers, the seeds it joined through, or every node.
    seeds: Vec<Vec<usize>>,
    /// Each node's address book: the peers its runtime knows where to reach, with the generation
    /// that said so. Empty when its process starts.
    books: Vec<BTreeMap<NodeId, Generation>>,
    /// (node, member, generation) changes to Left or Removed already seen: the runtime hears of
    /// each once.
    seen_gone: BTreeSet<(NodeId, NodeId, Generation)>,
    /// (node, origin, generation, version) of the reserved address entries already seen: the
    /// runtime hears of each change once.
    seen_addresses: BTreeSet<(NodeId, NodeId, Generation, Version)>,
}

/// A node as its transport sees it.
pub(super) struct Seen {
    /// Its generation (what its hellos announce).
    pub generation: Generation,
    /// Whether its process runs (not crashed, not paused).
    pub runs: bool,
    /// Its member table: (member, generation, status).
    pub members: Vec<(NodeId, Generation, MemberStatus)>,
    /// The reserved address entries ([`hearsay_proto::membership::ADDR_KEY`]) its store holds:
    /// (origin, generation, version). Without SWIM, where nodes announce their address.
    pub addresses: Vec<(NodeId, Generation, Version)>,
}

/// A change a node's transport makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// `node` learnt where `peer` is reached, new to its book: the peer is added.
    Learnt { node: usize, peer: usize },
    /// `node` forgot `peer`, which left or was removed: the peer is removed.
    Forgot { node: usize, peer: usize },
}

impl NetPeers {
    /// With membership and without partial views only (the views pick the peers otherwise).
    pub(super) fn of(scenario: &Scenario) -> Option<NetPeers> {
        let applies = scenario.net_peers
            && scenario.protocol.membership.is_some()
            && scenario.protocol.view.is_none();
        let seeds = (0..scenario.nodes)
            .map(|i| match &scenario.seed_peers {
                Some(seeds) => seeds.iter().copied().filter(|&s| s != i).collect(),
                None => (0..scenario.nodes).filter(|&s| s != i).collect(),
            })
            .collect();
        applies.then(|| NetPeers {
            seeds,
            books: vec![BTreeMap::new(); scenario.nodes],
            seen_gone: BTreeSet::new(),
            seen_addresses: BTreeSet::new(),
        })
    }

    /// Node `index` joined through `seeds`.
    pub(super) fn joined(&mut self, index: usize, seeds: &[usize]) {
        if self.seeds.len() <= index {
            self.seeds.resize(index + 1, Vec::new());
            self.books.resize(index + 1, BTreeMap::new());
        }
        self.seeds[index] = seeds.iter().copied().filter(|&s| s != index).collect();
    }

    /// Node `index`'s process stopped or started afresh: its book is empty.
    pub(super) fn restarted(&mut self, index: usize) {
        if let Some(book) = self.books.get_mut(index) {
            book.clear();
        }
    }

    /// What the transports do now, given each node (by index) and whether a datagram from one
    /// node reaches another: every running node forgets the members it sees Left or Removed at
    /// the generation its book holds or a newer one (once per change) and learns the addresses
    /// of the reserved entries new in its store, then says hello to every running seed its book
    /// lacks, and if the seed answers (the network passes both ways) each learns the other's
    /// address at its generation.
    pub(super) fn changes(
        &mut self,
        nodes: &[Seen],
        passes: impl Fn(usize, usize) -> bool,
    ) -> Vec<Change> {
        let gone = |status| matches!(status, MemberStatus::Left | MemberStatus::Removed);
        let mut changes = Vec::new();
        for (index, node) in nodes.iter().enumerate().filter(|(_, n)| n.runs) {
            let me = NodeId(index as u64);
            for &(member, generation, status) in &node.members {
                if !gone(status) || !self.seen_gone.insert((me, member, generation)) {
                    continue;
                }
                let book = &mut self.books[index];
                if book.get(&member).is_some_and(|&held| held <= generation) {
                    book.remove(&member);
                    let peer = member.0 as usize;
                    changes.push(Change::Forgot { node: index, peer });
                }
            }
            for &(origin, generation, version) in &node.addresses {
                let new = self
                    .seen_addresses
                    .insert((me, origin, generation, version));
                let peer = origin.0 as usize;
                if new && origin != me && learn(&mut self.books[index], peer, generation) {
                    changes.push(Change::Learnt { node: index, peer });
                }
            }
        }
        for (index, node) in nodes.iter().enumerate().filter(|(_, n)| n.runs) {
            for &seed in self.seeds.get(index).into_iter().flatten() {
                let Some(answering) = nodes.get(seed).filter(|s| s.runs) else {
                    continue;
                };
                let known = self.books[index].contains_key(&NodeId(seed as u64));
                if known || !passes(index, seed) || !passes(seed, index) {
                    continue;
                }
                // The hello teaches the seed, the answer the node.
                if learn(&mut self.books[seed], index, node.generation) {
                    changes.push(Change::Learnt {
                        node: seed,
                        peer: index,
                    });
                }
                if learn(&mut self.books[index], seed, answering.generation) {
                    changes.push(Change::Learnt {
                        node: index,
                        peer: seed,
                    });
                }
            }
        }
        changes
    }
}

/// `AddressBook::learn`: a newer generation's address replaces an older one's; answers whether
/// `peer` is new to `book`.
fn learn(book: &mut BTreeMap<NodeId, Generation>, peer: usize, generation: Generation) -> bool {
    match book.get_mut(&NodeId(peer as u64)) {
        Some(held) => {
            *held = (*held).max(generation);
            false
        }
        None => {
            book.insert(NodeId(peer as u64), generation);
            true
        }
    }
}

/// Which nodes the network lets a datagram pass between, as the scenario's partitions and
/// one-way cuts leave it (the same rule as [`crate::Network`]'s).
#[derive(Default)]
pub(super) struct Reach {
    /// Node to group; nodes in no group form one more.
    groups: BTreeMap<usize, usize>,
    /// One-way cuts: (senders, receivers).
    cuts: Vec<(BTreeSet<usize>, BTreeSet<usize>)>,
}

impl Reach {
    /// Follows the faults that change the network's reach.
    pub(super) fn apply(&mut self, fault: &Fault) {
        match fault {
            Fault::Partition(groups) => {
                self.groups.clear();
                for (i, group) in groups.iter().enumerate() {
                    self.groups.extend(group.iter().map(|&node| (node, i + 1)));
                }
            }
            Fault::OneWay { from, to } => {
                (self.cuts).push((from.iter().copied().collect(), to.iter().copied().collect()))
            }
            Fault::Heal => self.heal(),
            _ => {}
        }
    }

    /// No partition, no cut.
    pub(super) fn heal(&mut self) {
        self.groups.clear();
        self.cuts.clear();
    }

    /// Whether a datagram from `from` reaches `to`.
    pub(super) fn passes(&self, from: usize, to: usize) -> bool {
        let group = |node| self.groups.get(&node).copied().unwrap_or(0);
        group(from) == group(to)
            && !(self.cuts.iter())
                .any(|(senders, receivers)| senders.contains(&from) && receivers.contains(&to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MemberStatus::{Left, Removed, Up};

    fn seen(runs: bool, members: &[(u64, MemberStatus)]) -> Seen {
        let members = (members.iter())
            .map(|&(m, status)| (NodeId(m), Generation(1), status))
            .collect();
        Seen {
            generation: Generation(1),
            runs,
            members,
            addresses: Vec::new(),
        }
    }

    fn net(seeds: Vec<Vec<usize>>) -> NetPeers {
        NetPeers {
            books: vec![BTreeMap::new(); seeds.len()],
            seeds,
            seen_gone: BTreeSet::new(),
            seen_addresses: BTreeSet::new(),
        }
    }

    use Change::{Forgot, Learnt};

    /// Hellos fill both books once; a member seen Removed is forgotten once, and its hello is
    /// answered again; nothing reaches or comes from a node that does not run, or across a cut.
    #[test]
    fn hellos_fill_the_books_and_the_gone_are_forgotten_once() {
        let mut net = net(vec![vec![1, 2, 3], vec![0], vec![0], vec![0]]);
        let mut nodes = vec![
            seen(true, &[]),
            seen(true, &[]),
            seen(true, &[]),
            seen(false, &[]),
        ];
        let everywhere = |_, _| true;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Learnt { node: 1, peer: 0 },
                Learnt { node: 0, peer: 1 },
                Learnt { node: 2, peer: 0 },
                Learnt { node: 0, peer: 2 },
            ]
        );
        assert_eq!(net.changes(&nodes, everywhere), [], "a book is filled once");
        nodes[0] = seen(true, &[(1, Removed), (2, Up), (3, Removed), (4, Left)]);
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Forgot { node: 0, peer: 1 }, Learnt { node: 0, peer: 1 }],
            "forgotten (3 and 4 never were in the book), then its hello answered again"
        );
        assert_eq!(net.changes(&nodes, everywhere), [], "once per change");
        net.restarted(2);
        let cut = |from, to| (from, to) != (0, 2);
        assert_eq!(net.changes(&nodes, cut), [], "the answer does not pass");
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 2, peer: 0 }]
        );
    }

    /// Partitions and one-way cuts, as the network applies them.
    #[test]
    fn reach_follows_partitions_and_cuts() {
        let mut reach = Reach::default();
        reach.apply(&Fault::Partition(vec![vec![0, 1]]));
        assert!(reach.passes(0, 1) && reach.passes(2, 3));
        assert!(!reach.passes(0, 2) && !reach.passes(3, 1));
        reach.apply(&Fault::Heal);
        reach.apply(&Fault::OneWay {
            from: vec![0],
            to: vec![1],
        });
        assert!(!reach.passes(0, 1) && reach.passes(1, 0));
        reach.heal();
        assert!(reach.passes(0, 1));
    }

    /// A reserved address entry teaches the node that holds it, once per change: a member
    /// forgotten since is not learnt again from the same entry, but is from a newer one.
    #[test]
    fn address_entries_are_learnt_once_per_change() {
        let mut net = net(vec![vec![], vec![], vec![]]);
        let mut nodes = vec![seen(true, &[]), seen(true, &[]), seen(true, &[])];
        let entry = |origin, version| (NodeId(origin), Generation(1), Version(version));
        nodes[0].addresses = vec![entry(0, 1), entry(2, 1)];
        let everywhere = |_, _| true;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 0, peer: 2 }],
            "its own entry teaches nothing"
        );
        nodes[0].members = vec![(NodeId(2), Generation(1), Removed)];
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Forgot { node: 0, peer: 2 }]
        );
        assert_eq!(net.changes(&nodes, everywhere), []);
        nodes[0].addresses = vec![(NodeId(2), Generation(2), Version(1))];
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 0, peer: 2 }]
        );
    }
}
