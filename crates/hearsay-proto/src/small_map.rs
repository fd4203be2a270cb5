//! [`SmallMap`]: an ordered map that holds a few entries in one sorted vector and moves them to a
//! B-tree when it grows.
//!
//! A `BTreeMap` allocates a whole leaf (eleven slots) for its first entry: at 100,000 simulated
//! nodes each holding one origin with one key, the store's maps took ~1.8 KB per node, most of it
//! empty slots. Most maps of a store stay small (an origin's few keys, its waiting ranges; a
//! node's origins in a cluster without membership), and a sorted vector holds those in exactly
//! their size and searches them faster; maps that grow past [`SPILL`] entries become a B-tree for
//! good, so large ones keep logarithmic inserts and removals.

use std::borrow::Borrow;
use std::collections::{BTreeMap, btree_map};
use std::fmt;
use std::ops::Bound;

/// Entries a map holds in its vector; one more moves them to a B-tree.
const SPILL: usize = 16;

/// An ordered map: a sorted vector while small, a `BTreeMap` once it held more than [`SPILL`]
/// entries. Iteration is in key order in both forms, and two maps are equal when they hold the
/// same entries, whatever their forms.
#[derive(Clone)]
pub(crate) enum SmallMap<K, V> {
    /// Sorted by key, no key twice, at most [`SPILL`] entries.
    Inline(Vec<(K, V)>),
    /// More than [`SPILL`] entries at some point.
    Tree(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap::new()
    }
}

impl<K, V> SmallMap<K, V> {
    /// An empty map (no allocation).
    pub(crate) const fn new() -> Self {
        SmallMap::Inline(Vec::new())
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        match self {
            SmallMap::Inline(entries) => entries.len(),
            SmallMap::Tree(tree) => tree.len(),
        }
    }

    /// Whether the map holds no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every entry and gives the room back.
    pub(crate) fn clear(&mut self) {
        *self = SmallMap::new();
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// Entries in key order.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        match self {
            SmallMap::Inline(entries) => Iter::Inline(entries.iter()),
            SmallMap::Tree(tree) => Iter::Tree(tree.range::<K, _>(..)),
        }
    }

    /// Values in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// The entry with the smallest key.
    pub(crate) fn first_key_value(&self) -> Option<(&K, &V)> {
        self.iter().next()
    }

    /// Where `key` is, or would be inserted, in the vector.
    fn search<Q>(entries: &[(K, V)], key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The entry for `key`.
    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            SmallMap::Inline(entries) => Self::search(entries, key)
                .ok()
                .map(|at| (&entries[at].0, &entries[at].1)),
            SmallMap::Tree(tree) => tree.get_key_value(key),
        }
    }

    /// The value for `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// Whether `key` has an entry.
    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.get_key_value(key).is_some()
    }

    /// The value for `key`, to change.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            SmallMap::Inline(entries) => match Self::search(entries, key) {
                Ok(at) => Some(&mut entries[at].1),
                Err(_) => None,
            },
            SmallMap::Tree(tree) => tree.get_mut(key),
        }
    }

    /// Spills a full vector into a tree if `key` would be one entry too many.
    fn make_room(&mut self, key: &K) {
        if let SmallMap::Inline(entries) = self
            && entries.len() >= SPILL
            && Self::search(entries, key).is_err()
        {
            self.spill();
        }
    }

    /// The value for `key`, inserted from `make` if there was none.
    pub(crate) fn get_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        self.make_room(&key);
        match self {
            SmallMap::Inline(entries) => {
                let at = match Self::search(entries, &key) {
                    Ok(at) => at,
                    Err(at) => {
                        reserve_one(entries);
                        entries.insert(at, (key, make()));
                        at
                    }
                };
                &mut entries[at].1
            }
            SmallMap::Tree(tree) => tree.entry(key).or_insert_with(make),
        }
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.make_room(&key);
        match self {
            SmallMap::Inline(entries) => match Self::search(entries, &key) {
                Ok(at) => Some(std::mem::replace(&mut entries[at].1, value)),
                Err(at) => {
                    reserve_one(entries);
                    entries.insert(at, (key, value));
                    None
                }
            },
            SmallMap::Tree(tree) => tree.insert(key, value),
        }
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            SmallMap::Inline(entries) => {
                let at = Self::search(entries, key).ok()?;
                let (_, value) = entries.remove(at);
                if entries.is_empty() {
                    *entries = Vec::new();
                }
                Some(value)
            }
            SmallMap::Tree(tree) => tree.remove(key),
        }
    }

    /// Entries with a key at or above `from`, in key order.
    pub(crate) fn range_from<Q>(&self, from: &Q) -> Iter<'_, K, V>
    where
        K: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        match self {
            SmallMap::Inline(entries) => {
                let at = entries.partition_point(|(k, _)| k.borrow() < from);
                Iter::Inline(entries[at..].iter())
            }
            SmallMap::Tree(tree) => {
                Iter::Tree(tree.range((Bound::Included(from), Bound::Unbounded)))
            }
        }
    }

    /// Moves a full vector's entries into a tree.
    fn spill(&mut self) {
        if let SmallMap::Inline(entries) = self {
            let tree = std::mem::take(entries).into_iter().collect();
            *self = SmallMap::Tree(tree);
        }
    }
}

/// Room for one more entry: the vector doubles from one slot (a `Vec` would start at four).
fn reserve_one<T>(entries: &mut Vec<T>) {
    if entries.len() == entries.capacity() {
        entries.reserve_exact(entries.len().max(1));
    }
}

/// A [`SmallMap`]'s entries, by reference, in key order.
pub(crate) enum Iter<'a, K, V> {
    Inline(std::slice::Iter<'a, (K, V)>),
    Tree(btree_map::Range<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Inline(entries) => entries.next().map(|(k, v)| (k, v)),
            Iter::Tree(range) => range.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Inline(entries) => entries.size_hint(),
            Iter::Tree(range) => range.size_hint(),
        }
    }
}

/// A [`SmallMap`]'s entries, owned, in key order.
pub(crate) enum IntoIter<K, V> {
    Inline(std::vec::IntoIter<(K, V)>),
    Tree(btree_map::IntoIter<K, V>),
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        match self {
            IntoIter::Inline(entries) => entries.next(),
            IntoIter::Tree(tree) => tree.next(),
        }
    }
}

impl<K, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(self) -> IntoIter<K, V> {
        match self {
            SmallMap::Inline(entries) => IntoIter::Inline(entries.into_iter()),
            SmallMap::Tree(tree) => IntoIter::Tree(tree.into_iter()),
        }
    }
}

impl<K: Ord, V: PartialEq> PartialEq for SmallMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord + fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// One operation of the model test.
    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u16),
        GetOrInsert(u8, u16),
        Remove(u8),
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::Insert(k % 48, v)),
            2 => (any::<u8>(), any::<u16>()).prop_map(|(k, v)| Op::GetOrInsert(k % 48, v)),
            3 => any::<u8>().prop_map(|k| Op::Remove(k % 48)),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        /// Whatever the operations, the map answers as a `BTreeMap` given the same ones does: in
        /// both forms, and across the spill (keys drawn from 48, so maps cross 16 both ways).
        #[test]
        fn behaves_as_a_btree_map(ops in proptest::collection::vec(op(), 0..200), probe in 0u8..50) {
            let mut map = SmallMap::new();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                    Op::GetOrInsert(k, v) => {
                        let got = *map.get_or_insert_with(k, || v);
                        prop_assert_eq!(got, *model.entry(k).or_insert(v));
                    }
                    Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                    Op::Clear => {
                        map.clear();
                        model.clear();
                    }
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert!(map.iter().eq(model.iter()));
            }
            prop_assert_eq!(map.get(&probe), model.get(&probe));
            prop_assert_eq!(map.contains_key(&probe), model.contains_key(&probe));
            prop_assert_eq!(map.first_key_value(), model.first_key_value());
            prop_assert!(map.range_from(&probe).eq(model.range(probe..)));
            if let Some(v) = map.get_mut(&probe) {
                *v = v.wrapping_add(1);
            }
            if let Some(v) = model.get_mut(&probe) {
                *v = v.wrapping_add(1);
            }
            prop_assert!(map.clone().into_iter().eq(model.clone().into_iter()));
        }
    }

    /// A map of one entry takes one slot; seventeen make it a tree, and equality ignores forms.
    #[test]
    fn one_entry_takes_one_slot_and_forms_compare_equal() {
        let mut map = SmallMap::new();
        map.insert("k".to_string(), 1u64);
        match &map {
            SmallMap::Inline(entries) => assert_eq!(entries.capacity(), 1),
            SmallMap::Tree(_) => panic!("one entry spilled"),
        }
        let mut big = SmallMap::new();
        for i in 0..=SPILL as u64 {
            big.insert(format!("{i:02}"), i);
        }
        assert!(matches!(big, SmallMap::Tree(_)));
        for i in 1..=SPILL as u64 {
            big.remove(&format!("{i:02}"));
        }
        let mut small = SmallMap::new();
        small.insert("00".to_string(), 0u64);
        assert!(matches!(big, SmallMap::Tree(_)));
        assert_eq!(big, small);
        assert_eq!(big.range_from("0").count(), 1);
    }
}
