//! One probe cycle as the prober sees it, and the pings a relay runs for others.

use crate::NodeId;
use std::time::Instant;

/// The probe in flight.
#[derive(Clone, Debug)]
pub(crate) struct Pending {
    /// Its sequence number.
    pub(crate) seq: u32,
    /// The member probed.
    pub(crate) target: NodeId,
    /// When the direct ping times out (then: a retry and the indirect probes).
    pub(crate) timeout_at: Instant,
    /// When the cycle ends: no ack by then is a failed cycle.
    pub(crate) end: Instant,
    /// Whether the indirect phase began.
    pub(crate) indirect: bool,
    /// Relays asked.
    pub(crate) relays: Vec<NodeId>,
    /// Relays that nacked (witnesses that the target is silent).
    pub(crate) nacks: Vec<NodeId>,
}

impl Pending {
    /// A nack from `from`: counted once, and only from a relay asked.
    pub(crate) fn nack(&mut self, from: NodeId) {
        if self.relays.contains(&from) && !self.nacks.contains(&from) {
            self.nacks.push(from);
        }
    }

    /// Whether an ack for `seq` from `from` answers this probe (from the target, or forwarded by
    /// a relay).
    pub(crate) fn acked_by(&self, seq: u32, from: NodeId) -> bool {
        seq == self.seq && (from == self.target || self.relays.contains(&from))
    }
}

/// A ping this node runs for another member's probe.
#[derive(Clone, Debug)]
pub(crate) struct Relay {
    /// Who asked.
    pub(crate) asker: NodeId,
    /// The asker's sequence number, to answer with.
    pub(crate) seq: u32,
    /// The member pinged.
    pub(crate) target: NodeId,
    /// When to nack without an ack (`None`: nacked already).
    pub(crate) nack_at: Option<Instant>,
    /// When the entry is dropped (a later ack is not forwarded).
    pub(crate) expires: Instant,
}

/// What a finished cycle says of its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It answered.
    Alive,
    /// It did not answer, but the failure is still private: probe it again first.
    Private,
    /// It did not answer, again: suspect it, with these witnesses.
    Suspect(Vec<NodeId>),
}
