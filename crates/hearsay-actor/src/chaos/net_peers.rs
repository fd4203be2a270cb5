//! `hearsay-net`'s transports as the fault search emulates them ([`Scenario::net_peers`]): each
//! node's address book, filled by hellos between a node and its seeds (or, over the TCP mesh,
//! by the links it dials: [`links`]) and by the reserved address entries its store takes in,
//! emptied of the members that left or were removed, and what the runtime tells the node with
//! it (`hearsay-net/src/udp.rs`: without partial views a peer new to the book is added; with
//! them a seed that answers the node's hello is joined through; either way a forgotten member
//! is removed).

mod links;

use super::scenario::{Fault, Scenario};
use hearsay_proto::membership::Detector;
use hearsay_proto::{Generation, MemberStatus, NodeId, Version};
use links::Links;
use std::collections::{BTreeMap, BTreeSet};

/// The transports of a run's nodes.
pub(super) struct NetPeers {
    /// Each node's seeds, by index: its seed peers, the seeds it joined through, or (neither)
    /// every node.
    seeds: Vec<Vec<usize>>,
    /// Each node's address book: the peers its runtime knows where to reach, with the generation
    /// that said so. Empty when its process starts.
    books: Vec<BTreeMap<NodeId, Generation>>,
    /// (node, seed): the seed answered the node's hello. The node says hello again once its
    /// book no longer holds the seed (`Udp::hello`), or after its process starts afresh.
    answered: BTreeSet<(usize, usize)>,
    /// (node, member, generation) changes to Left or Removed already seen: the runtime hears of
    /// each once.
    seen_gone: BTreeSet<(NodeId, NodeId, Generation)>,
    /// (node, origin, generation, version) of the reserved address entries already seen: the
    /// runtime hears of each change once.
    seen_addresses: BTreeSet<(NodeId, NodeId, Generation, Version)>,
    /// Whether the nodes run partial views (the views pick the peers; seeds are joined through).
    views: bool,
    /// Whether the nodes run SWIM (whose updates carry each member's address).
    swim: bool,
    /// The TCP mesh's links, when the transport is the stream one ([`Scenario::stream`]).
    links: Option<Links>,
}

/// A node as its transport sees it.
pub(super) struct Seen {
    /// Its generation (what its hellos announce).
    pub generation: Generation,
    /// Which of its processes runs, counted from 0: a restart breaks its connections.
    pub process: u64,
    /// Whether its process runs (not crashed, not paused).
    pub runs: bool,
    /// Its member table: (member, generation, status).
    pub members: Vec<(NodeId, Generation, MemberStatus)>,
    /// The reserved address entries ([`hearsay_proto::membership::ADDR_KEY`]) its store holds:
    /// (origin, generation, version). Without SWIM, where nodes announce their address.
    pub addresses: Vec<(NodeId, Generation, Version)>,
    /// Its active view, with partial views: the peers it sends to.
    pub active_view: Vec<NodeId>,
}

/// What a node's runtime does, as the harness carries it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// `node`'s runtime learnt where `peer` is reached, new to its book.
    Learnt { node: usize, peer: usize },
    /// `node` gets `peer` as a gossip peer (`AddPeer`).
    Added { node: usize, peer: usize },
    /// `node` joins the overlay through `seed` (`Join`).
    Joined { node: usize, seed: usize },
    /// `node`'s link to `peer` ended, or its runtime forgot `peer` (it left or was removed: out
    /// of its book): the peer is removed (`RemovePeer`), its address kept as the runtime keeps
    /// it, a last resort for sends.
    Unlinked { node: usize, peer: usize },
    /// `node`'s runtime reports `peer` failed (`PeerFailed`).
    Failed { node: usize, peer: usize },
}

impl NetPeers {
    /// With membership or partial views (the harness needs one of them to let nodes find each
    /// other). A node's seeds are its seed peers, or without them every other node: the
    /// harness's static peer list, which a deployment gives its transport as seeds (with
    /// partial views each node then joins through every other; a node that knew them all
    /// without their addresses could not reach the ones it picks to repair its views).
    pub(super) fn of(scenario: &Scenario) -> Option<NetPeers> {
        let views = scenario.protocol.view.is_some();
        let membership = scenario.protocol.membership.as_ref();
        let applies = scenario.net_peers && (membership.is_some() || views);
        let seeds: Vec<Vec<usize>> = (0..scenario.nodes)
            .map(|i| match &scenario.seed_peers {
                Some(seeds) => seeds.iter().copied().filter(|&s| s != i).collect(),
                None => (0..scenario.nodes).filter(|&s| s != i).collect(),
            })
            .collect();
        let links = scenario.stream.then(|| Links::new(&seeds));
        applies.then(|| NetPeers {
            books: vec![BTreeMap::new(); scenario.nodes],
            seeds,
            answered: BTreeSet::new(),
            seen_gone: BTreeSet::new(),
            seen_addresses: BTreeSet::new(),
            views,
            swim: membership.is_some_and(|m| matches!(m.detector, Detector::Swim(_))),
            links,
        })
    }

    /// Node `index` joined through `seeds`.
    pub(super) fn joined(&mut self, index: usize, seeds: &[usize]) {
        if self.seeds.len() <= index {
            self.seeds.resize(index + 1, Vec::new());
            self.books.resize(index + 1, BTreeMap::new());
        }
        self.seeds[index] = seeds.iter().copied().filter(|&s| s != index).collect();
        if let Some(links) = &mut self.links {
            links.restarted(index, &self.seeds[index]);
        }
    }

    /// Node `index`'s process stopped or started afresh: its book is empty, no seed has
    /// answered it, and it holds no link. Its runtime hears the store's address entries and
    /// member statuses again (a subscription begins with what the node holds: a process that
    /// kept its state learns every address it holds at once).
    pub(super) fn restarted(&mut self, index: usize) {
        if let Some(book) = self.books.get_mut(index) {
            book.clear();
        }
        let me = NodeId(index as u64);
        self.seen_addresses.retain(|&(node, ..)| node != me);
        self.seen_gone.retain(|&(node, ..)| node != me);
        self.answered.retain(|&(node, _)| node != index);
        if let (Some(links), Some(seeds)) = (&mut self.links, self.seeds.get(index)) {
            links.restarted(index, seeds);
        }
    }

    /// What the transports do now, given each node (by index) and whether a datagram from one
    /// node reaches another: every running node forgets the members it sees Left or Removed at
    /// the generation its book holds or a newer one (once per change) and learns the addresses
    /// of the reserved entries new in its store; then, over datagrams, says hello to every
    /// running seed that has not answered it or that its book no longer holds, and if the seed
    /// answers (the network passes both ways) each learns the other's address at its
    /// generation; over the TCP mesh, its links come up and fail ([`Links`]).
    pub(super) fn changes(
        &mut self,
        nodes: &[Seen],
        passes: impl Fn(usize, usize) -> bool,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        self.forget_and_learn(nodes, &mut changes);
        if self.links.is_some() {
            self.link(nodes, &passes, &mut changes);
        } else {
            self.hello(nodes, &passes, &mut changes);
        }
        changes
    }

    /// The reserved address entries new in each store, learnt; the members seen gone, forgotten.
    fn forget_and_learn(&mut self, nodes: &[Seen], changes: &mut Vec<Change>) {
        let gone = |status| matches!(status, MemberStatus::Left | MemberStatus::Removed);
        for (index, node) in nodes.iter().enumerate().filter(|(_, n)| n.runs) {
            let me = NodeId(index as u64);
            // The runtime's subscriptions hear the addresses first, then the members.
            for &(origin, generation, version) in &node.addresses {
                let new = self
                    .seen_addresses
                    .insert((me, origin, generation, version));
                let peer = origin.0 as usize;
                if new && origin != me {
                    if let Some(links) = &mut self.links {
                        links.target(index, peer, self.views);
                    }
                    self.learnt(index, peer, generation, changes);
                }
            }
            for &(member, generation, status) in &node.members {
                if !gone(status) || !self.seen_gone.insert((me, member, generation)) {
                    continue;
                }
                let peer = member.0 as usize;
                let book = &mut self.books[index];
                let held = book.get(&member).is_some_and(|&held| held <= generation);
                if held {
                    book.remove(&member);
                }
                let seed = self.seeds[index].contains(&peer);
                let linked = (self.links.as_mut())
                    .is_some_and(|links| links.forget(index, peer, generation, seed));
                // Both runtimes keep a forgotten address as a last resort for their sends
                // (`AddressBook::last_known`; the mesh dials it when it has something to send):
                // a removed member that speaks again, or that a reconnect probes, must be
                // answered, to hear of its removal. So the network still delivers to it; it
                // leaves the peers, and the book (a seed is said hello to again).
                if held || linked {
                    changes.push(Change::Unlinked { node: index, peer });
                }
            }
        }
    }

    /// `node` learns `peer`'s address at `generation`; over datagrams without partial views, a
    /// peer new to the book is added (over the TCP mesh its link adds it).
    fn learnt(&mut self, node: usize, peer: usize, generation: Generation, out: &mut Vec<Change>) {
        if learn(&mut self.books[node], peer, generation) {
            out.push(Change::Learnt { node, peer });
            if self.links.is_none() && !self.views {
                out.push(Change::Added { node, peer });
            }
        }
    }

    /// The datagram transport's hellos (`Udp::hello`, `Welcome`).
    fn hello(
        &mut self,
        nodes: &[Seen],
        passes: &impl Fn(usize, usize) -> bool,
        changes: &mut Vec<Change>,
    ) {
        for (index, node) in nodes.iter().enumerate().filter(|(_, n)| n.runs) {
            for seed in self.seeds.get(index).cloned().unwrap_or_default() {
                let Some(answering) = nodes.get(seed).filter(|s| s.runs) else {
                    continue;
                };
                let known = self.books[index].contains_key(&NodeId(seed as u64));
                if known && self.answered.contains(&(index, seed))
                    || !passes(index, seed)
                    || !passes(seed, index)
                {
                    continue;
                }
                // The hello teaches the seed, the answer the node.
                self.learnt(seed, index, node.generation, changes);
                self.learnt(index, seed, answering.generation, changes);
                self.answered.insert((index, seed));
                if self.views {
                    changes.push(Change::Joined { node: index, seed });
                }
            }
        }
    }
}

#[cfg(test)]
impl NetPeers {
    /// The transports of nodes with these seeds, without SWIM: the TCP mesh's (`stream`) or
    /// the datagrams', with partial views or without.
    fn for_tests(seeds: Vec<Vec<usize>>, views: bool, stream: bool) -> NetPeers {
        NetPeers {
            books: vec![BTreeMap::new(); seeds.len()],
            links: stream.then(|| Links::new(&seeds)),
            seeds,
            answered: BTreeSet::new(),
            seen_gone: BTreeSet::new(),
            seen_addresses: BTreeSet::new(),
            views,
            swim: false,
        }
    }
}

/// `AddressBook::learn`: a newer generation's address replaces an older one's; answers whether
/// `peer` is new to `book`.
fn learn(book: &mut BTreeMap<NodeId, Generation>, peer: usize, generation: Generation) -> bool {
    match book.get_mut(&NodeId(peer as u64)) {
        // A newer generation is a new process (`AddressBook::learn`): a peer again, though a
        // removed one's address was kept.
        Some(held) => {
            let newer = generation > *held;
            *held = (*held).max(generation);
            newer
        }
        None => {
            book.insert(NodeId(peer as u64), generation);
            true
        }
    }
}

/// Which nodes the network lets a datagram pass between, following the scenario's partitions
/// and one-way cuts (by the network's own rule: [`crate::network::Reach`]).
#[derive(Default)]
pub(super) struct Reach(crate::network::Reach);

impl Reach {
    /// Follows the faults that change the network's reach.
    pub(super) fn apply(&mut self, fault: &Fault) {
        let ids = |nodes: &[usize]| -> Vec<NodeId> {
            nodes.iter().map(|&node| NodeId(node as u64)).collect()
        };
        match fault {
            Fault::Partition(groups) => {
                let groups: Vec<Vec<NodeId>> = groups.iter().map(|g| ids(g)).collect();
                self.0.partition(groups.iter().map(Vec::as_slice));
            }
            Fault::OneWay { from, to } => self.0.cut(&ids(from), &ids(to)),
            Fault::Heal => self.0.heal(),
            _ => {}
        }
    }

    /// No partition, no cut.
    pub(super) fn heal(&mut self) {
        self.0.heal();
    }

    /// Whether a datagram from `from` reaches `to`.
    pub(super) fn passes(&self, from: usize, to: usize) -> bool {
        self.0.passes(NodeId(from as u64), NodeId(to as u64))
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
            process: 0,
            runs,
            members,
            addresses: Vec::new(),
            active_view: Vec::new(),
        }
    }

    /// The datagram transport with partial views (`views`: hellos join) or without (they add).
    fn net(seeds: Vec<Vec<usize>>, views: bool) -> NetPeers {
        NetPeers::for_tests(seeds, views, false)
    }

    use Change::{Added, Joined, Learnt, Unlinked};

    /// Hellos fill both books once; a member seen Removed is forgotten once, and its hello is
    /// answered again; nothing reaches or comes from a node that does not run, or across a cut.
    #[test]
    fn hellos_fill_the_books_and_the_gone_are_forgotten_once() {
        let mut net = net(vec![vec![1, 2, 3], vec![0], vec![0], vec![0]], true);
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
                Joined { node: 0, seed: 1 },
                Learnt { node: 2, peer: 0 },
                Learnt { node: 0, peer: 2 },
                Joined { node: 0, seed: 2 },
                Joined { node: 1, seed: 0 },
                Joined { node: 2, seed: 0 },
            ],
            "each says hello to its seeds, whether or not a hello taught it their address, and \
             joins through each that answers"
        );
        assert_eq!(net.changes(&nodes, everywhere), [], "a book is filled once");
        nodes[0] = seen(true, &[(1, Removed), (2, Up), (3, Removed), (4, Left)]);
        // The book forgets (the seed is said hello to again); the network keeps the address,
        // the runtime's last resort for its sends (`AddressBook::last_known`).
        assert_eq!(
            net.changes(&nodes, everywhere),
            [
                Unlinked { node: 0, peer: 1 },
                Learnt { node: 0, peer: 1 },
                Joined { node: 0, seed: 1 }
            ],
            "forgotten (3 and 4 never were in the book), then its hello answered again"
        );
        assert_eq!(net.changes(&nodes, everywhere), [], "once per change");
        net.restarted(2);
        let cut = |from, to| (from, to) != (0, 2);
        assert_eq!(net.changes(&nodes, cut), [], "the answer does not pass");
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 2, peer: 0 }, Joined { node: 2, seed: 0 }],
            "a process started afresh says hello again"
        );
    }

    /// A node's seeds: its seed peers, or every other node, views or not.
    #[test]
    fn seeds_are_the_seed_peers_or_everyone() {
        let mut scenario = Scenario::generate(1);
        scenario.nodes = 8;
        scenario.net_peers = true;
        scenario.protocol.membership = Some(hearsay_proto::MembershipConfig::default());
        scenario.protocol.view = None;
        scenario.seed_peers = None;
        let seeds = |s: &Scenario| NetPeers::of(s).map(|net| net.seeds);
        let everyone = (0..8).map(|i| (0..8).filter(|&s| s != i).collect());
        assert_eq!(seeds(&scenario), Some(everyone.collect()));
        scenario.seed_peers = Some(vec![2, 5]);
        let two: Vec<Vec<usize>> = (0..8)
            .map(|i| [2, 5].into_iter().filter(|&s| s != i).collect())
            .collect();
        assert_eq!(seeds(&scenario), Some(two.clone()));
        scenario.protocol.view = Some(hearsay_proto::ViewConfig::default());
        assert_eq!(seeds(&scenario), Some(two), "seed peers, views or not");
        scenario.protocol.membership = None;
        scenario.seed_peers = None;
        let everyone = (0..8).map(|i| (0..8).filter(|&s| s != i).collect());
        assert_eq!(
            seeds(&scenario),
            Some(everyone.collect()),
            "views without membership"
        );
        scenario.protocol.view = None;
        assert!(
            seeds(&scenario).is_none(),
            "neither: nothing finds the others"
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
        let mut net = net(vec![vec![], vec![], vec![]], false);
        let mut nodes = vec![seen(true, &[]), seen(true, &[]), seen(true, &[])];
        let entry = |origin, version| (NodeId(origin), Generation(1), Version(version));
        nodes[0].addresses = vec![entry(0, 1), entry(2, 1)];
        let everywhere = |_, _| true;
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 0, peer: 2 }, Added { node: 0, peer: 2 }],
            "its own entry teaches nothing; without views a peer new to the book is added"
        );
        nodes[0].members = vec![(NodeId(2), Generation(1), Removed)];
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Unlinked { node: 0, peer: 2 }]
        );
        assert_eq!(net.changes(&nodes, everywhere), []);
        nodes[0].addresses = vec![(NodeId(2), Generation(2), Version(1))];
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 0, peer: 2 }, Added { node: 0, peer: 2 }]
        );
        // A new process that kept its state hears its store's entries again (its runtime's
        // subscription begins with them).
        net.restarted(0);
        assert_eq!(
            net.changes(&nodes, everywhere),
            [Learnt { node: 0, peer: 2 }, Added { node: 0, peer: 2 }]
        );
    }
}
