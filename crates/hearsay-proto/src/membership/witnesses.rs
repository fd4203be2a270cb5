//! Who found a suspected member silent, kept small in the member table: most members have no
//! witnesses, and a table of 10,000 members on each of 10,000 simulated nodes holds 10⁸ entries,
//! so an entry holds a thin pointer (8 bytes) where an empty `Vec` would take 24.

use crate::NodeId;

/// Distinct witnesses, at most a cap, in the order they were first heard of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
// The box around the `Vec` is the point: a thin 8-byte pointer in every entry, the second
// allocation only for the few members under suspicion.
#[allow(clippy::box_collection)]
pub(crate) struct Witnesses(Option<Box<Vec<NodeId>>>);

impl Witnesses {
    /// The first `cap` distinct witnesses of `witnesses`.
    pub(crate) fn capped(witnesses: &[NodeId], cap: usize) -> Witnesses {
        let mut out = Witnesses::default();
        out.merge(witnesses, cap);
        out
    }

    /// Adds `more` up to `cap` distinct witnesses; whether any was added.
    pub(crate) fn merge(&mut self, more: &[NodeId], cap: usize) -> bool {
        let held = self.0.get_or_insert_with(Box::default);
        let mut added = false;
        for &id in more {
            if held.len() >= cap {
                break;
            }
            if !held.contains(&id) {
                held.push(id);
                added = true;
            }
        }
        if held.is_empty() {
            self.0 = None;
        }
        added
    }

    /// Forgets them all (and frees their room).
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// The witnesses.
    pub(crate) fn as_slice(&self) -> &[NodeId] {
        self.0.as_deref().map_or(&[], Vec::as_slice)
    }

    /// The witnesses, as an update carries them.
    pub(crate) fn to_vec(&self) -> Vec<NodeId> {
        self.as_slice().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(ids: &[u64]) -> Vec<NodeId> {
        ids.iter().map(|&i| NodeId(i)).collect()
    }

    #[test]
    fn merging_keeps_distinct_witnesses_up_to_the_cap() {
        let mut w = Witnesses::capped(&ids(&[3, 3, 1]), 3);
        assert_eq!(w.as_slice(), ids(&[3, 1]).as_slice());
        assert!(!w.merge(&ids(&[1, 3]), 3), "nothing new");
        assert!(w.merge(&ids(&[7, 8]), 3));
        assert_eq!(w.to_vec(), ids(&[3, 1, 7]));
        w.clear();
        assert_eq!(w.len(), 0);
        assert_eq!(w, Witnesses::default());
    }

    #[test]
    fn an_empty_merge_holds_nothing() {
        let mut w = Witnesses::default();
        assert!(!w.merge(&[], 4));
        assert_eq!(w, Witnesses::default(), "no empty Vec allocated and kept");
        assert!(!w.merge(&ids(&[1]), 0), "a cap of 0 takes none");
        assert_eq!(w, Witnesses::default());
    }

    #[test]
    fn a_table_entry_stays_small() {
        assert_eq!(std::mem::size_of::<Witnesses>(), 8);
    }
}
