//! Arbitrary well-formed messages (small alphabets, so that they hit state the receiver holds),
//! and their encoding.

use super::*;
use hearsay_proto::{
    Body, Bounds, Delta, Digest, Generation, ItemId, Message, NodeId, OriginDelta, OriginItems,
    OriginSummary, PROTOCOL_VERSION, RumorIds, RumorMessage, Version, ViewMessage,
};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::sync::Arc;

pub fn node_id() -> impl Strategy<Value = NodeId> + Clone {
    small_or_any(0..5).prop_map(NodeId)
}

pub fn version() -> impl Strategy<Value = Version> + Clone {
    small_or_any(0..12).prop_map(Version)
}

pub fn generation() -> impl Strategy<Value = Generation> + Clone {
    small_or_any(0..3).prop_map(Generation)
}

pub fn wire_key() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        6 => (0u8..4).prop_map(|k| format!("key-{k}")),
        2 => "\\PC{0,10}",
        1 => "[a-z]{200,400}",
    ]
}

pub fn wire_delta() -> BoxedStrategy<OriginDelta> {
    let delta =
        (wire_key(), version(), arbitrary_value()).prop_map(|(key, version, value)| Delta {
            key,
            version,
            value,
        });
    (
        node_id(),
        generation(),
        small_or_any(0..20),
        version(),
        version(),
        prop::collection::vec(delta, 0..4),
    )
        .prop_map(
            |(origin, generation, heartbeat, from, to, deltas)| OriginDelta {
                origin,
                generation,
                heartbeat,
                from,
                to,
                deltas,
            },
        )
        .boxed()
}

pub fn bounds<T: std::fmt::Debug + Clone>(
    end: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Bounds<T>> + Clone {
    (prop::option::of(end.clone()), prop::option::of(end))
        .prop_map(|(from, to)| Bounds { from, to })
}

pub fn digest() -> BoxedStrategy<Digest> {
    let summary = (
        node_id(),
        generation(),
        small_or_any(0..20),
        any::<u32>(),
        version(),
    )
        .prop_map(
            |(origin, generation, heartbeat, rate, watermark)| OriginSummary {
                origin,
                generation,
                heartbeat,
                rate,
                watermark,
            },
        );
    let item_id = (node_id(), wire_key()).prop_map(|(origin, key)| ItemId { origin, key });
    let items = (
        node_id(),
        generation(),
        small_or_any(0..20),
        any::<u32>(),
        prop::collection::vec((wire_key(), version()), 0..4),
    )
        .prop_map(|(origin, generation, heartbeat, rate, items)| OriginItems {
            origin,
            generation,
            heartbeat,
            rate,
            items,
        });
    prop_oneof![
        (
            prop::option::of(bounds(node_id())),
            prop::collection::vec(summary, 0..5)
        )
            .prop_map(|(range, origins)| Digest::Scuttlebutt { range, origins }),
        (
            prop::option::of(bounds(item_id)),
            prop::collection::vec(items, 0..4)
        )
            .prop_map(|(range, origins)| Digest::Precise { range, origins }),
    ]
    .boxed()
}

pub fn rumor_ids() -> BoxedStrategy<Vec<RumorIds>> {
    let ids = (
        node_id(),
        generation(),
        prop::collection::vec(version(), 0..4),
    )
        .prop_map(|(origin, generation, versions)| RumorIds {
            origin,
            generation,
            versions,
        });
    prop::collection::vec(ids, 0..3).boxed()
}

pub fn body() -> BoxedStrategy<Body> {
    prop_oneof![
        (
            prop::option::of(digest()),
            any::<bool>(),
            prop_oneof![Just(0u8), any::<u8>()]
        )
            .prop_map(|(digest, reply_digest, more)| Body::Syn {
                digest,
                reply_digest,
                more,
            }),
        (
            prop::collection::vec(wire_delta(), 0..4),
            prop::option::of(digest())
        )
            .prop_map(|(deltas, digest)| Body::SynAck { deltas, digest }),
        prop::collection::vec(wire_delta(), 0..4).prop_map(|deltas| Body::Ack { deltas }),
        (
            prop::collection::vec(wire_delta(), 0..4),
            rumor_ids(),
            rumor_ids(),
            rumor_ids(),
            any::<bool>(),
            any::<bool>(),
            rumor_ids()
        )
            .prop_map(
                |(deltas, offers, wants, known, want_rumors, want_feedback, news)| {
                    Body::Rumor(RumorMessage {
                        deltas,
                        offers,
                        wants,
                        known,
                        want_rumors,
                        want_feedback,
                        news,
                    })
                }
            ),
        view_message().prop_map(Body::View),
    ]
    .boxed()
}

pub fn view_message() -> BoxedStrategy<ViewMessage> {
    let ids = prop::collection::vec(node_id(), 0..8);
    let addr = || prop::option::of("[0-9.:]{0,21}".prop_map(|a| Arc::<str>::from(a.as_str())));
    let addrs = prop::collection::vec(
        (
            node_id(),
            "[0-9.:]{1,21}".prop_map(|a| Arc::<str>::from(a.as_str())),
        ),
        0..4,
    );
    prop_oneof![
        addr().prop_map(|addr| ViewMessage::Join { addr }),
        (node_id(), any::<u8>(), addr()).prop_map(|(joiner, ttl, addr)| ViewMessage::ForwardJoin {
            joiner,
            ttl,
            addr
        }),
        addr().prop_map(|addr| ViewMessage::Link { addr }),
        (any::<bool>(), any::<bool>(), addr())
            .prop_map(|(high, rotate, addr)| ViewMessage::Neighbor { high, rotate, addr }),
        any::<bool>().prop_map(|accepted| ViewMessage::NeighborReply { accepted }),
        Just(ViewMessage::Disconnect),
        (node_id(), any::<u8>(), ids.clone(), addrs.clone()).prop_map(
            |(origin, ttl, peers, addrs)| ViewMessage::Shuffle {
                origin,
                ttl,
                peers,
                addrs
            }
        ),
        (ids, addrs).prop_map(|(peers, addrs)| ViewMessage::ShuffleReply { peers, addrs }),
        Just(ViewMessage::Ping),
    ]
    .boxed()
}

pub fn message() -> BoxedStrategy<Message> {
    (node_id(), body())
        .prop_map(|(from, body)| Message {
            version: PROTOCOL_VERSION,
            cluster: cluster_id(),
            from,
            body,
        })
        .boxed()
}

pub fn encode(message: &Message) -> Result<Vec<u8>, TestCaseError> {
    message
        .encode()
        .map_err(|e| TestCaseError::fail(format!("encoding failed: {e}")))
}
