//! Counters of what a node sent and received.

use crate::MessageKind;

/// Messages and encoded bytes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Messages.
    pub messages: u64,
    /// Encoded bytes.
    pub bytes: u64,
}

impl Traffic {
    fn add(&mut self, bytes: usize) {
        self.messages += 1;
        self.bytes += bytes as u64;
    }
}

/// What a node has done since it started.
///
/// The counters every round and message bumps come first (`repr(C)` keeps this order): they
/// share the node's hot cache lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[repr(C)]
#[non_exhaustive]
pub struct Stats {
    /// Rounds run.
    pub rounds: u64,
    /// Deltas sent.
    pub deltas_sent: u64,
    /// Messages carrying at least one delta (the "traffic" of Demers et al.).
    pub messages_with_deltas: u64,
    /// Deltas received that changed the state.
    pub deltas_applied: u64,
    /// Deltas received that brought nothing new.
    pub deltas_redundant: u64,
    /// Sent, by kind ([`MessageKind`] order).
    pub sent: [Traffic; MessageKind::COUNT],
    /// Received and accepted, by kind.
    pub received: [Traffic; MessageKind::COUNT],
    /// Messages rejected (malformed, another cluster or version, too large).
    pub rejected: u64,
    /// Deltas received and dropped because their key is longer than this node accepts.
    pub deltas_refused: u64,
    /// Writes refused by flow control ([`crate::Node::try_set`]).
    pub throttled: u64,
    /// Rounds in which flow control saw congestion.
    pub congested_rounds: u64,
    /// Exchanges opened to continue a catch-up ([`crate::Config::catch_up`]): after a full
    /// answer, or resumed at a round after the budget cut a chain.
    pub catch_up_exchanges: u64,
    /// SWIM probe cycles this node concluded more than a probe interval late (it was starved):
    /// voided, no suspicion raised, its local health score raised instead.
    pub late_probe_cycles: u64,
    /// Times the node moved to a higher generation because a peer spoke of its id at a newer
    /// (or the same, but further advanced) generation: another incarnation used it — or a
    /// peer had removed it ([`Stats::removed_restarts`], counted here too).
    pub refutations: u64,
    /// Times this node raised its incarnation to refute a suspicion or a Down about itself
    /// (SWIM).
    pub refutations_fd: u64,
    /// Messages dropped because they came out over the MTU (a budgeting bug; never expected).
    pub over_mtu: u64,
    /// Rumor messages sent to relay fresh rumors at once ([`crate::Config::relay`]).
    pub relayed: u64,
    /// Partial views' messages received by a node that runs none ([`crate::Config::view`]
    /// off): a peer runs them — a cluster configured two ways, which converges but keeps the
    /// other nodes in its views for nothing. Ignored; counted so that a runtime can say so.
    pub ignored_view_messages: u64,
    /// Of [`Stats::refutations`], those because a peer told this node that it had removed it
    /// (a partition or a pause that outlasted `removal_after`): the node came back as a new
    /// generation, as the protocol expects — not another process with its id.
    pub removed_restarts: u64,
}

impl Stats {
    pub(crate) fn record_sent(&mut self, kind: MessageKind, bytes: usize, deltas: usize) {
        self.sent[kind as usize].add(bytes);
        self.deltas_sent += deltas as u64;
        self.messages_with_deltas += u64::from(deltas > 0);
    }

    pub(crate) fn record_received(&mut self, kind: MessageKind, bytes: usize) {
        self.received[kind as usize].add(bytes);
    }

    /// Everything sent.
    pub fn sent_total(&self) -> Traffic {
        self.sent.iter().fold(Traffic::default(), |acc, t| Traffic {
            messages: acc.messages + t.messages,
            bytes: acc.bytes + t.bytes,
        })
    }
}
