//! Flow control: the allowed write rate, its token bucket, and the congestion signals that
//! adapt it once per round (AIMD).

use super::Node;

/// Flow control's state: the allowed write rate, its token bucket, and this round's congestion.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct FlowState {
    rate: f64,
    tokens: f64,
    congested: bool,
}

impl FlowState {
    /// The state at start: the configured initial rate, one token, no congestion.
    pub(super) fn new(initial_rate: f64) -> FlowState {
        FlowState {
            rate: initial_rate,
            tokens: 1.0,
            congested: false,
        }
    }
}

impl Node {
    /// The write rate flow control allows now (writes per second), if flow control is on.
    pub fn allowed_rate(&self) -> Option<f64> {
        self.flow.as_ref().map(|flow| flow.rate)
    }

    /// Spends one write token; without flow control every write gets one. A refusal is counted
    /// in [`crate::Stats::throttled`].
    pub(super) fn spend_token(&mut self) -> bool {
        if let Some(flow) = &mut self.flow {
            if flow.tokens < 1.0 {
                self.stats.throttled += 1;
                return false;
            }
            flow.tokens -= 1.0;
        }
        true
    }

    /// Flow control, once per round: multiplicative decrease after congestion, additive increase
    /// otherwise, and the token bucket refilled at the new rate (holding at most two rounds' worth).
    pub(super) fn adapt_rate(&mut self) {
        let (Some(flow), Some(params)) = (&mut self.flow, self.config.flow_control) else {
            return;
        };
        if flow.congested {
            // Writers above the cluster's mean rate (as gossiped) come down to it first, so that
            // the shrinking capacity is shared fairly.
            let (sum, count) = self
                .store
                .origins()
                .map(|(_, o)| o.rate())
                .filter(|r| *r > 0)
                .fold((0u64, 0u64), |(s, c), r| (s + u64::from(r), c + 1));
            let mean = if count > 0 {
                sum as f64 / count as f64 / 1000.0
            } else {
                flow.rate
            };
            flow.rate = (flow.rate.min(mean) * params.decrease).max(params.min_rate);
            self.stats.congested_rounds += 1;
        } else {
            flow.rate += params.increase;
        }
        let published = (flow.rate * 1000.0).round().clamp(1.0, f64::from(u32::MAX)) as u32;
        self.store.set_rate(self.id, self.generation, published);
        flow.congested = false;
        let per_round = flow.rate * self.config.gossip_interval.as_secs_f64();
        flow.tokens = (flow.tokens + per_round).min((2.0 * per_round).max(1.0));
    }

    /// Notes congestion for flow control: an answer cut by the limit, or a full one received.
    pub(super) fn congestion(&mut self, congested: bool) {
        if let Some(flow) = &mut self.flow {
            flow.congested |= congested;
        }
    }

    /// Whether a received answer filled its message (a peer's sign of congestion).
    pub(super) fn full(&self, bytes: usize, deltas: usize) -> bool {
        self.config.max_deltas.is_some_and(|max| deltas >= max) || self.full_of_bytes(bytes)
    }

    /// Whether a received message of `bytes` filled (nine tenths of) the MTU.
    pub(super) fn full_of_bytes(&self, bytes: usize) -> bool {
        bytes.saturating_mul(10) >= self.config.mtu.saturating_mul(9)
    }
}
