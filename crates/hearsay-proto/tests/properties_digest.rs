//! Property tests of digests: every digest is a faithful summary of the store it describes.

#[allow(dead_code)]
mod common;

use common::*;

use hearsay_proto::reconcile::{self, DigestCursor};
use hearsay_proto::{
    Budget, Digest, Generation, ItemId, NodeId, OriginDelta, Store, Strategy as Reconciliation,
    Value, Version,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::collections::BTreeMap;

// --- digests -------------------------------------------------------------------------------

/// A store with up to a few dozen origins (small and large ids, some without entries) and short
/// keys, built from local writes of each origin and empty groups.
fn digest_store() -> BoxedStrategy<Store> {
    let write = (
        prop_oneof![3 => 0u64..40, 1 => any::<u64>()],
        "[a-e]{0,6}",
        prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..8)),
    );
    (
        prop::collection::vec(write, 0..60),
        prop::collection::btree_set(0u64..16, 0..4),
    )
        .prop_map(|(writes, empty)| {
            let mut store = Store::default();
            for origin in empty {
                store.merge(&OriginDelta {
                    origin: NodeId(origin),
                    generation: Generation(1),
                    heartbeat: 1,
                    from: Version::ZERO,
                    to: Version::ZERO,
                    deltas: Vec::new(),
                });
            }
            for (origin, key, value) in writes {
                store
                    .write(NodeId(origin), Generation(1), &key, value.map(Value::from))
                    .expect("versions left");
            }
            store
        })
        .boxed()
}

/// Checks that a digest is a faithful summary of `store`: everything it names is held as named,
/// and (for a range digest) everything held in its range is named.
fn check_digest(store: &Store, digest: &Digest) -> Result<(), TestCaseError> {
    match digest {
        Digest::Scuttlebutt { range, origins } => {
            for summary in origins {
                let held = store.origin(summary.origin);
                prop_assert!(
                    held.is_some_and(|o| o.generation() == summary.generation
                        && o.watermark() == summary.watermark
                        && o.heartbeat() == summary.heartbeat),
                    "digest misreports {:?}",
                    summary
                );
                if let Some(range) = range {
                    prop_assert!(
                        range.contains(&summary.origin),
                        "{:?} outside the range",
                        summary
                    );
                }
            }
            if let Some(range) = range {
                for (origin, _) in store.origins().filter(|(o, _)| range.contains(o)) {
                    prop_assert!(
                        origins.iter().any(|s| s.origin == origin),
                        "range {:?} covers {} but the digest does not name it",
                        range,
                        origin
                    );
                }
            }
        }
        Digest::Precise { range, origins } => {
            let mut named = BTreeMap::new();
            for group in origins {
                let held = store.origin(group.origin);
                prop_assert!(held.is_some_and(|o| o.generation() == group.generation));
                for (key, version) in &group.items {
                    let entry = store.get(group.origin, key);
                    prop_assert_eq!(entry.map(|e| e.version), Some(*version));
                    named.insert(
                        ItemId {
                            origin: group.origin,
                            key: key.clone(),
                        },
                        *version,
                    );
                }
            }
            if let Some(range) = range {
                for item in named.keys() {
                    prop_assert!(range.contains(item), "{:?} outside the range", item);
                }
                for (origin, state) in store.origins() {
                    for (key, _) in state.entries() {
                        let item = ItemId {
                            origin,
                            key: key.to_owned(),
                        };
                        prop_assert!(
                            !range.contains(&item) || named.contains_key(&item),
                            "range {:?} covers {:?} but the digest does not name it",
                            range,
                            item
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases(4096, 1024, 0x6469_6765_7374))]

    /// Digests are faithful and make progress: with any byte budget from what one message has
    /// left at the smallest MTU upwards, each digest a node builds names exactly what it holds in
    /// the range it claims to cover, and successive digests from the cursor name every origin
    /// (Scuttlebutt) or every item (precise) of the store within one pass, after which the cursor
    /// starts over.
    #[test]
    fn digests_are_faithful_and_cover_the_store(
        store in digest_store(),
        precise in any::<bool>(),
        bytes in 90usize..400,
    ) {
        let strategy = if precise {
            Reconciliation::PreciseRandom
        } else {
            Reconciliation::ScuttleDepth
        };
        let mut cursor = DigestCursor::default();
        let mut origins = std::collections::BTreeSet::new();
        let mut items = std::collections::BTreeSet::new();
        let bound = store.len() + store.origins().count() + 2;
        let mut passes = None;
        for digest_no in 1..=bound {
            let mut budget = Budget::new(bytes, usize::MAX);
            let digest = reconcile::digest(&store, strategy, &mut cursor, &mut budget);
            check_digest(&store, &digest)?;
            match &digest {
                Digest::Scuttlebutt { origins: named, .. } => {
                    origins.extend(named.iter().map(|s| s.origin));
                }
                Digest::Precise { origins: named, .. } => {
                    for group in named {
                        origins.insert(group.origin);
                        items.extend(group.items.iter().map(|(k, _)| (group.origin, k.clone())));
                    }
                }
            }
            if cursor == DigestCursor::default() {
                passes = Some(digest_no);
                break;
            }
        }
        prop_assert!(passes.is_some(), "no full pass within {} digests", bound);
        if precise {
            let held: std::collections::BTreeSet<(NodeId, String)> = store
                .origins()
                .flat_map(|(o, s)| s.entries().map(move |(k, _)| (o, k.to_owned())))
                .collect();
            prop_assert_eq!(items, held);
        } else {
            let held: std::collections::BTreeSet<NodeId> = store.origins().map(|(o, _)| o).collect();
            prop_assert_eq!(origins, held);
        }
    }
}
