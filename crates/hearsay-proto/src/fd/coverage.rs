//! Which part of a peer's member table has arrived: the id ranges its `Table` pages vouched
//! for. A page covers every member of its sender with an id in its range, so ranges (unlike
//! page numbers) stay meaningful when the sender's table changes between two requests.

use crate::NodeId;

/// Disjoint, sorted, inclusive id ranges received so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Coverage {
    ranges: Vec<(u64, u64)>,
}

impl Coverage {
    /// Adds `[lo, hi]` (ignored if `lo > hi`), merging it with the ranges it touches.
    pub(crate) fn add(&mut self, lo: NodeId, hi: NodeId) {
        let (mut lo, mut hi) = (lo.0, hi.0);
        if lo > hi {
            return;
        }
        let mut kept = Vec::with_capacity(self.ranges.len() + 1);
        for &(a, b) in &self.ranges {
            // Disjoint and not adjacent: kept as it is.
            if b.saturating_add(1) < lo || hi.saturating_add(1) < a {
                kept.push((a, b));
            } else {
                lo = lo.min(a);
                hi = hi.max(b);
            }
        }
        kept.push((lo, hi));
        kept.sort_unstable();
        self.ranges = kept;
    }

    /// Whether every id is covered.
    pub(crate) fn is_complete(&self) -> bool {
        self.ranges == [(0, u64::MAX)]
    }

    /// The ranges not covered yet, at most `max` of them (the lowest first).
    pub(crate) fn missing(&self, max: usize) -> Vec<(NodeId, NodeId)> {
        let mut out = Vec::new();
        let mut next = Some(0u64);
        for &(a, b) in &self.ranges {
            if let Some(from) = next.filter(|&from| from < a) {
                out.push((NodeId(from), NodeId(a - 1)));
            }
            next = b.checked_add(1);
        }
        if let Some(from) = next {
            out.push((NodeId(from), NodeId(u64::MAX)));
        }
        out.truncate(max);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_the_gaps_are_what_is_missing() {
        let mut c = Coverage::default();
        assert_eq!(c.missing(8), vec![(NodeId(0), NodeId(u64::MAX))]);
        c.add(NodeId(10), NodeId(20));
        c.add(NodeId(30), NodeId(40));
        assert_eq!(
            c.missing(8),
            vec![
                (NodeId(0), NodeId(9)),
                (NodeId(21), NodeId(29)),
                (NodeId(41), NodeId(u64::MAX))
            ]
        );
        assert_eq!(c.missing(1), vec![(NodeId(0), NodeId(9))]);
        c.add(NodeId(21), NodeId(29));
        c.add(NodeId(5), NodeId(4));
        assert_eq!(c.ranges, vec![(10, 40)]);
        c.add(NodeId(0), NodeId(9));
        c.add(NodeId(41), NodeId(u64::MAX));
        assert!(c.is_complete());
        assert!(c.missing(8).is_empty());
    }
}
