//! Traffic accounting and the simulated network's faults: datagrams sent by kind, lost,
//! duplicated and partitioned.

use super::Recorder;
use hearsay_proto::{MessageKind, NodeId, Traffic};
use tokio::time::Instant;

impl Recorder {
    /// A datagram left `from` for `to`, carrying `deltas` deltas.
    pub fn sent(
        &mut self,
        now: Instant,
        from: NodeId,
        to: NodeId,
        kind: MessageKind,
        bytes: usize,
        deltas: usize,
    ) {
        let traffic = &mut self.sent[kind as usize];
        traffic.messages += 1;
        traffic.bytes += bytes as u64;
        self.messages_with_deltas += u64::from(deltas > 0);
        self.line(
            now,
            format_args!("send {from} {to} {} {bytes} {deltas}", kind.name()),
        );
    }

    /// Messages that carried at least one delta (Demers et al.'s "traffic").
    pub fn messages_with_deltas(&self) -> u64 {
        self.messages_with_deltas
    }

    /// The simulated network dropped a datagram (loss, or a partition when `partitioned`).
    pub fn dropped(&mut self, now: Instant, from: NodeId, to: NodeId, partitioned: bool) {
        if partitioned {
            self.partitioned += 1;
        } else {
            self.lost += 1;
        }
        self.line(now, format_args!("drop {from} {to}"));
    }

    /// The simulated network delivered a datagram twice.
    pub fn duplicated(&mut self, now: Instant, from: NodeId, to: NodeId) {
        self.duplicated += 1;
        self.line(now, format_args!("dup {from} {to}"));
    }

    /// The network was split into `groups` (nodes in no group form one more).
    pub fn partitioned(&mut self, now: Instant, groups: &[Vec<NodeId>]) {
        let groups: Vec<String> = groups
            .iter()
            .map(|g| {
                g.iter()
                    .map(|n| n.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        self.line(now, format_args!("partition {}", groups.join(" | ")));
    }

    /// The network cut one direction: `from` can no longer reach `to`.
    pub fn cut(&mut self, now: Instant, from: &[NodeId], to: &[NodeId]) {
        let list = |nodes: &[NodeId]| {
            nodes
                .iter()
                .map(|n| n.0.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        self.line(now, format_args!("cut {} -> {}", list(from), list(to)));
    }

    /// Every partition ended.
    pub fn healed(&mut self, now: Instant) {
        self.line(now, format_args!("heal"));
    }

    /// The network's loss and duplication probabilities changed.
    pub fn faults(&mut self, now: Instant, loss: f64, duplicate: f64) {
        self.line(
            now,
            format_args!("faults loss={loss} duplicate={duplicate}"),
        );
    }

    /// Sent traffic by kind ([`MessageKind`] order).
    pub fn sent_by_kind(&self) -> &[Traffic; MessageKind::COUNT] {
        &self.sent
    }

    /// All sent traffic.
    pub fn sent_total(&self) -> Traffic {
        self.sent.iter().fold(Traffic::default(), |acc, t| Traffic {
            messages: acc.messages + t.messages,
            bytes: acc.bytes + t.bytes,
        })
    }

    /// Datagrams lost, duplicated, and dropped by partitions.
    pub fn network_faults(&self) -> (u64, u64, u64) {
        (self.lost, self.duplicated, self.partitioned)
    }
}
