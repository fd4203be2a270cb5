//! Which nodes a datagram can pass between: the partitions and one-way cuts in force. The
//! simulated [`super::Network`] asks it of every datagram; the fault search's emulated transport
//! asks it of every hello.

use hearsay_proto::NodeId;
use std::collections::{BTreeMap, BTreeSet};

/// The partitions and one-way cuts in force. Default: none (every datagram passes).
#[derive(Clone, Debug, Default)]
pub(crate) struct Reach {
    /// Node to group; nodes in no group form one more (group 0).
    groups: BTreeMap<NodeId, usize>,
    /// One-way cuts: (senders, receivers).
    cuts: Vec<(BTreeSet<NodeId>, BTreeSet<NodeId>)>,
}

impl Reach {
    /// Splits the nodes into `groups` that cannot reach each other (replacing any partition);
    /// nodes in no group form one more.
    pub(crate) fn partition<'a>(&mut self, groups: impl IntoIterator<Item = &'a [NodeId]>) {
        self.groups.clear();
        for (i, group) in groups.into_iter().enumerate() {
            self.groups.extend(group.iter().map(|&node| (node, i + 1)));
        }
    }

    /// Loses every datagram from `from` to `to` (cuts add up until [`Reach::heal`]).
    pub(crate) fn cut(&mut self, from: &[NodeId], to: &[NodeId]) {
        let set = |nodes: &[NodeId]| nodes.iter().copied().collect();
        self.cuts.push((set(from), set(to)));
    }

    /// No partition, no cut.
    pub(crate) fn heal(&mut self) {
        self.groups.clear();
        self.cuts.clear();
    }

    /// Whether a datagram from `from` reaches `to`.
    pub(crate) fn passes(&self, from: NodeId, to: NodeId) -> bool {
        let group = |node| self.groups.get(&node).copied().unwrap_or(0);
        group(from) == group(to)
            && !(self.cuts.iter())
                .any(|(senders, receivers)| senders.contains(&from) && receivers.contains(&to))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Partitions replace each other, cuts add up and pass the other way, a heal ends both.
    #[test]
    fn partitions_and_cuts() {
        let n = |i| NodeId(i);
        let mut reach = Reach::default();
        reach.partition([&[n(0), n(1)][..]]);
        assert!(reach.passes(n(0), n(1)) && reach.passes(n(2), n(3)));
        assert!(!reach.passes(n(0), n(2)) && !reach.passes(n(3), n(1)));
        reach.partition([&[n(0), n(2)][..]]);
        assert!(reach.passes(n(0), n(2)) && !reach.passes(n(0), n(1)));
        reach.heal();
        reach.cut(&[n(0)], &[n(1)]);
        reach.cut(&[n(2)], &[n(1)]);
        assert!(!reach.passes(n(0), n(1)) && !reach.passes(n(2), n(1)));
        assert!(reach.passes(n(1), n(0)) && reach.passes(n(0), n(2)));
        reach.heal();
        assert!(reach.passes(n(0), n(1)));
    }
}
