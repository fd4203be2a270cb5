//! Catch-up: a peer far behind is brought up to date at the speed of a byte budget per link and
//! round ([`Config::catch_up`]), not one message per exchange.
//!
//! An anti-entropy answer holds at most one MTU of deltas. When an answer arrives **full** (it
//! was cut: the sender had more) and brought news, the receiver opens another exchange with the
//! same peer at once, and so on while the full answers exchanged with that peer this round stay
//! within the budget: a chain of exchanges, each clocked by the previous answer (one message in
//! flight per link, so a burst never overruns a socket buffer). A chain that ends on the budget,
//! or whose exchange got no answer (a lost datagram), resumes at the next round. Both ends count
//! the full answers they send and receive on the link; only a link whose budget is spent signals
//! congestion to flow control, so writers slow down when the backlog outgrows what the links
//! carry, not whenever one message is full.
//!
//! [`Config::catch_up`]: crate::Config::catch_up

use super::Node;
use crate::size::encoded_len;
use crate::{Budget, Generation, NodeId, OriginDelta, Version};

/// Most links whose catch-up is tracked in one round (further full answers signal congestion
/// and chain no exchange).
pub(super) const MAX_CATCH_UP_LINKS: usize = 1024;

impl Node {
    /// What this node holds of the origins of `groups`, to tell afterwards whether merging them
    /// brought news ([`Progress::made`]); `None` with catch-up off (nothing to judge).
    pub(super) fn progress_marks(&self, groups: &[OriginDelta]) -> Option<Progress> {
        self.config.catch_up?;
        Some(Progress {
            applied: self.stats.deltas_applied,
            watermarks: groups
                .iter()
                .map(|g| {
                    self.store
                        .origin(g.origin)
                        .map(|o| (o.generation(), o.watermark()))
                })
                .collect(),
        })
    }

    /// Counts a full answer of `bytes` sent to or received from `peer` against the link's budget
    /// for this round; whether the budget still holds another message after it.
    pub(super) fn spend_catch_up(&mut self, peer: NodeId, bytes: usize) -> bool {
        if self.config.catch_up.is_none() {
            return false;
        }
        if !self.catch_up.contains_key(&peer) && self.catch_up.len() >= MAX_CATCH_UP_LINKS {
            return false;
        }
        let spent = self.catch_up.entry(peer).or_default();
        *spent = spent.saturating_add(bytes);
        self.catch_up_holds(peer)
    }

    /// Whether the link to `peer` may carry another full answer this round (its catch-up budget
    /// holds one more MTU).
    pub(super) fn catch_up_holds(&self, peer: NodeId) -> bool {
        self.config.catch_up.is_some_and(|budget| {
            let spent = self.catch_up.get(&peer).copied().unwrap_or(0);
            spent.saturating_add(self.config.mtu) <= budget
        })
    }

    /// An answer of `bytes` carrying `groups` came from `peer`; `before` is what this node held
    /// before it merged them (the answer brought news if a delta changed the state or a
    /// watermark rose: values received earlier by rumor still advance the watermark). An answer
    /// that had no room for another delta as large as its largest (it was cut, as far as the
    /// receiver can tell) and brought news continues the catch-up with another exchange while
    /// the link's budget allows; otherwise the peer is resumed next round, and the spent budget
    /// is congestion. An answer that chains nothing is congestion when full, as without
    /// catch-up.
    ///
    /// Only the MTU chains: an answer cut by [`crate::Config::max_deltas`] (the experiments'
    /// per-message limit, van Renesse et al.'s model) chains nothing. Nor does an answer that
    /// brought nothing new (entries above a stuck watermark, resent every time): a chain must
    /// make progress.
    ///
    /// An answer to a chain's pull may come in parts ([`super::anti_entropy::CHAIN_ANSWER_PARTS`]
    /// `SynAck`s without a digest, `part`): a full part before the last one expected only
    /// counts down; the next exchange waits for the last part, or for one that is not full (the
    /// peer had no more).
    pub(super) fn follow_up(
        &mut self,
        peer: NodeId,
        bytes: usize,
        groups: &[OriginDelta],
        before: Option<Progress>,
        part: bool,
    ) {
        let count = groups.iter().map(|g| g.deltas.len()).sum();
        // Whether the answer had room for another delta as large as its largest (measured only
        // for an answer that brought news and did not fill the MTU already).
        let cut = || {
            let largest = groups
                .iter()
                .flat_map(|g| &g.deltas)
                .map(encoded_len)
                .max()
                .unwrap_or(0);
            bytes.saturating_add(largest) > self.config.mtu
        };
        let waits = part
            && before.is_some()
            && self
                .chains
                .get(&peer)
                .is_some_and(|chain| chain.in_flight && chain.parts_left > 1);
        if waits && (self.full_of_bytes(bytes) || cut()) {
            if let Some(chain) = self.chains.get_mut(&peer) {
                chain.parts_left -= 1;
                chain.silent_rounds = 0;
            }
            // Counted against the link's budget like any full answer; the last part decides.
            self.spend_catch_up(peer, bytes);
            return;
        }
        let chains = before.is_some_and(|before| {
            before.made(self, groups) && (self.full_of_bytes(bytes) || cut())
        });
        if let Some(chain) = self.chains.get_mut(&peer) {
            chain.in_flight = false;
            chain.silent_rounds = 0;
        }
        if !chains {
            self.chains.remove(&peer);
            self.congestion(self.full(bytes, count));
            return;
        }
        if self.spend_catch_up(peer, bytes) {
            self.chain_exchange(peer);
            return;
        }
        // The budget is spent: the chain resumes next round.
        if !self.chains.contains_key(&peer) && self.chains.len() < MAX_CATCH_UP_LINKS {
            self.chains.insert(peer, Chain::default());
        }
        self.congestion(true);
    }

    /// Opens a chained exchange with `peer` (its answer continues the chain).
    fn chain_exchange(&mut self, peer: NodeId) {
        if !self.chains.contains_key(&peer) && self.chains.len() >= MAX_CATCH_UP_LINKS {
            return;
        }
        self.stats.catch_up_exchanges += 1;
        let more = self.open_exchange(peer, false);
        let chain = self.chains.entry(peer).or_default();
        chain.in_flight = true;
        chain.parts_left = more.saturating_add(1);
    }

    /// An answer to `peer` carrying deltas (`carries`) left `budget` unused: when the budget is
    /// exhausted the answer was cut, a sign of congestion unless the MTU cut it and the link's
    /// catch-up budget carries the rest in further exchanges (a cut by
    /// [`crate::Config::max_deltas`] chains nothing, see [`Node::follow_up`]).
    pub(super) fn answer_cut(&mut self, peer: NodeId, carries: bool, budget: &Budget) {
        if !carries || !budget.exhausted() {
            return;
        }
        if budget.deltas == 0 || !self.spend_catch_up(peer, self.config.mtu) {
            self.congestion(true);
        }
    }

    /// At the start of a round: budgets renew, and chains go on. A chain the last round's budget
    /// ended resumes with one exchange (its answers chain the rest); so does one whose last
    /// exchange got no answer (a datagram lost), for at most [`MAX_SILENT_ROUNDS`] rounds in a
    /// row, after which the peer is given up (it may be gone).
    pub(super) fn resume_catch_up(&mut self) {
        self.catch_up.clear();
        let mut resumed = Vec::new();
        self.chains.retain(|&peer, chain| {
            if chain.in_flight {
                chain.silent_rounds += 1;
                if chain.silent_rounds > MAX_SILENT_ROUNDS {
                    return false;
                }
            }
            resumed.push(peer);
            true
        });
        for peer in resumed {
            self.chain_exchange(peer);
        }
    }
}

/// A catch-up chain with one peer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Chain {
    /// A chained exchange is open and its answer has not arrived.
    in_flight: bool,
    /// Rounds in a row that began with the chain's exchange unanswered.
    silent_rounds: u8,
    /// Parts of the open exchange's answer still to come, the one that arrives included.
    parts_left: u8,
}

/// Rounds in a row a chain whose exchanges go unanswered is resumed before it is given up.
pub(super) const MAX_SILENT_ROUNDS: u8 = 3;

/// What a node held before it merged an answer: its count of applied deltas and, per group, the
/// origin's generation and watermark.
#[derive(Debug)]
pub(super) struct Progress {
    applied: u64,
    watermarks: Vec<Option<(Generation, Version)>>,
}

impl Progress {
    /// Whether merging `groups` brought news to `node`: a delta applied, or a watermark risen.
    fn made(&self, node: &Node, groups: &[OriginDelta]) -> bool {
        node.stats.deltas_applied > self.applied
            || groups.iter().zip(&self.watermarks).any(|(g, before)| {
                let now = node
                    .store
                    .origin(g.origin)
                    .map(|o| (o.generation(), o.watermark()));
                now > *before
            })
    }
}
