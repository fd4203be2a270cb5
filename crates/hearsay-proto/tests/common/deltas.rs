//! Hand-made deltas and groups of origin 0, and delivery of one message body as a datagram.

use hearsay_proto::membership::GC_KEY;
use hearsay_proto::{
    Body, Delta, Generation, Message, Node, NodeId, OriginDelta, PROTOCOL_VERSION, Value, Version,
};
use std::time::Instant;

pub fn delta(key: &str, version: u64, value: Option<&str>) -> Delta {
    Delta {
        key: key.to_owned(),
        version: Version(version),
        value: value.map(Value::from),
    }
}

pub fn gc(version: u64, horizon: u64) -> Delta {
    Delta {
        key: GC_KEY.to_owned(),
        version: Version(version),
        value: Some(Value::new(horizon.to_be_bytes().to_vec())),
    }
}

pub fn group(from: u64, to: u64, deltas: Vec<Delta>) -> OriginDelta {
    OriginDelta {
        origin: NodeId(0),
        generation: Generation(1),
        heartbeat: 1,
        from: Version(from),
        to: Version(to),
        deltas,
    }
}

/// Sends `body` from `from` to `to` as one datagram.
pub fn deliver(to: &mut Node, from: u64, body: Body, now: Instant) {
    let message = Message {
        version: PROTOCOL_VERSION,
        cluster: to.config().cluster,
        from: NodeId(from),
        body,
    };
    let bytes = message.encode().expect("encodes");
    to.handle_datagram(now, &bytes).expect("accepted");
}
