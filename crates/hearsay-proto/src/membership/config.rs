//! Membership settings: what removes dead members, and which failure detector runs — SWIM
//! probing (the default, [`SwimConfig`]) or phi accrual over gossiped heartbeats
//! ([`HeartbeatConfig`]) — with the LAN, WAN and in-process presets.

use crate::{Error, PhiConfig, PhiModel};
use serde::{Deserialize, Serialize};
use std::num::{NonZeroU8, NonZeroU32};
use std::time::Duration;

/// Membership and failure-detection settings ([`crate::Config::membership`]).
///
/// The default is [`MembershipConfig::lan`]: SWIM probing with Lifeguard's extensions, sized
/// for a data centre. [`crate::Config::lan`], [`crate::Config::wan`] and [`crate::Config::local`]
/// turn membership on with one of the presets.
///
/// ```
/// use hearsay_proto::{Config, MembershipConfig};
/// use std::time::Duration;
/// let config = Config {
///     membership: Some(MembershipConfig {
///         removal_after: Duration::from_secs(30),
///         ..MembershipConfig::default()
///     }),
///     ..Config::default()
/// };
/// config.validate()?;
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MembershipConfig {
    /// How members are found dead. Default: [`Detector::Swim`] with [`SwimConfig::lan`].
    pub detector: Detector,
    /// How long a member stays Down or Left before it is Removed (under SWIM, a Down confirmed
    /// by [`SwimConfig::down_quorum`] witnesses: an unconfirmed one stays). Default: 5 min;
    /// positive, at most [`MAX_MEMBERSHIP_WAIT`].
    pub removal_after: Duration,
    /// How long a Removed member's `(id, generation)` is remembered, refusing gossip about it.
    /// It should exceed the time stale state can linger in a lagging peer. Default: 24 h; at
    /// least `removal_after`, at most [`MAX_MEMBERSHIP_WAIT`].
    pub removed_ttl: Duration,
    /// How often a node may contact one member it remembers as Removed, to tell it so: after a
    /// partition that outlasted `removal_after`, each side holds the other removed, and a live
    /// removed member comes back (as a new generation) only once told. Serf's
    /// `reconnect_interval`. Members gone for good are remembered for `removed_ttl`, and this
    /// bounds what a node spends on them: one small datagram per interval. Default: 30 s.
    #[serde(default = "default_reconnect_interval")]
    pub reconnect_interval: Duration,
    /// Peers a graceful leave is pushed to at once, on top of gossip. Default: 3.
    pub leave_fanout: usize,
}

/// The failure detector of [`MembershipConfig::detector`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Detector {
    /// SWIM probing with indirect probes, suspicion confirmed by independent witnesses, and
    /// Lifeguard's local health (`docs/membership.md`): per-node cost does not grow with the
    /// cluster. The default.
    Swim(SwimConfig),
    /// Phi accrual over heartbeats gossiped in anti-entropy digests (Cassandra, chitchat):
    /// forces an anti-entropy exchange every round, and needs digests that name every member
    /// often, so its cost grows with the cluster. Kept for small clusters and comparisons.
    Heartbeat(HeartbeatConfig),
}

/// The phi-accrual detector over gossiped heartbeats ([`Detector::Heartbeat`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatConfig {
    /// The phi-accrual detector of every member. Default: Akka's threshold (8), window (1,000
    /// samples) and acceptable pause (3 s), a first heartbeat estimate of 2 s (Cassandra's
    /// initial interval, twice its 1 s gossip interval), and the exponential model
    /// ([`crate::PhiModel::Exponential`], Cassandra's and chitchat's): heartbeats seen through
    /// gossip are relayed, so their progress arrives after a random number of exchanges, with
    /// a geometric tail under which Akka's normal model declares live members Down (fault
    /// search seed 385550, `docs/membership.md`). A crash is Down about `3 s + 18.4 ×` the
    /// mean progress interval after the last heartbeat seen.
    pub phi: PhiConfig,
    /// phi from which a member is Suspect; at most `phi.threshold`. Default: 4.0 (half the
    /// default threshold: a 10⁻⁴ chance that a heartbeat this late is still normal).
    pub suspect_phi: f64,
}

impl Default for HeartbeatConfig {
    fn default() -> HeartbeatConfig {
        HeartbeatConfig {
            phi: PhiConfig {
                first_heartbeat_estimate: Duration::from_secs(2),
                model: PhiModel::Exponential,
                ..PhiConfig::default()
            },
            suspect_phi: 4.0,
        }
    }
}

/// SWIM probing with Lifeguard's extensions ([`Detector::Swim`]); see `docs/membership.md` for
/// the protocol and the bounds these settings give.
///
/// Each `probe_interval` a node pings one member (a shuffled round-robin over the members it
/// knows). Without an ack within `probe_timeout` it pings again and asks `indirect_checks`
/// other members to ping it; a relay that gets no answer either says so (a *nack*). A member
/// whose probe fails `private_failures + 1` cycles in a row becomes Suspect, gossiped with the
/// prober and the relays that nacked as *witnesses*. A suspect that hears of it refutes with a
/// higher incarnation; otherwise it is Down after a suspicion timeout that shrinks as
/// independent witnesses confirm it, and only once `down_quorum` witnesses agree — or, where
/// fewer members are left to witness (a lone survivor, a node cut off alone), once all of them
/// do: such a Down is *unconfirmed*, and removes nobody until the quorum confirms it.
///
/// | preset | probe | timeout | relays | suspicion (n = 1,000) | gossip | detection p50 / p99 | probe bytes |
/// |---|---|---|---|---|---|---|---|
/// | [`SwimConfig::lan`] (default) | 1 s | 500 ms | 3 | 12–72 s | 3 peers / 200 ms | 13 / 17 s | 126 B/s |
/// | [`SwimConfig::wan`] | 5 s | 2.5 s | 3 | 90–540 s | 4 peers / 500 ms | 96 / 166 s | 30 B/s |
/// | [`SwimConfig::local`] | 1 s | 200 ms | 1 | 9–54 s | 3 peers / 100 ms | 10 / 15 s | 72 B/s |
///
/// Detection and probe bytes per node were measured at 200 nodes under 1 %/s crashes and joins
/// (`hearsay sim membership --nodes 200 --duration 60 --preset P`; 10 % loss, `local` at 0 %:
/// with one relay it is for one process or loopback, and at 10 % loss it downed live members;
/// session 30, one run each). Membership updates add bytes in proportion to the churn
/// (`docs/membership.md`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SwimConfig {
    /// Time between two probes of one node. Positive. LAN: 1 s.
    pub probe_interval: Duration,
    /// How long the direct ping waits for its ack before the indirect probes; relays nack at
    /// 80 % of it. Positive and at most half `probe_interval`, so that the relays' nacks
    /// arrive within the period. LAN: 500 ms.
    pub probe_timeout: Duration,
    /// Relays asked to ping a member that did not answer (SWIM's k). LAN: 3.
    pub indirect_checks: u8,
    /// Failed probe cycles in a row kept private before a suspicion is gossiped (the member is
    /// probed again first). At 10 % loss one cycle fails for a live member about once in 700
    /// (direct ping, retry, three relays); two in a row about once in 500,000. LAN: 1.
    pub private_failures: u8,
    /// Suspicion timeout multiplier μ: the shortest timeout is
    /// `μ · max(1, log10 n) · probe_interval`. LAN: 4; at most [`MAX_SUSPICION_MULT`].
    pub suspicion_mult: NonZeroU32,
    /// The longest suspicion timeout, for a suspicion no one confirms, as a multiple of the
    /// shortest. LAN: 6; at most [`MAX_SUSPICION_MULT`].
    pub suspicion_max_mult: NonZeroU32,
    /// Distinct witnesses (the prober and relays whose nacks agreed, or other probers) needed
    /// before a member is declared Down; capped at `n − 1` in tiny clusters, and where fewer
    /// members are left to witness, all of them suffice — but a Down on fewer than this many
    /// witnesses is *unconfirmed*: the member stays probed, and is removed only once the
    /// witnesses make this quorum (or a peer that removed it says so). A Down received with
    /// fewer than the (capped) quorum counts as a suspicion. LAN: 2.
    pub down_quorum: NonZeroU8,
    /// Times each node sends one membership update, as a multiple of `⌈log10(n + 1)⌉`. LAN: 4.
    pub retransmit_mult: NonZeroU32,
    /// Time between two gossip messages of queued membership updates (sent only while updates
    /// are queued). Positive. LAN: 200 ms.
    pub gossip_interval: Duration,
    /// Members each gossip message goes to. LAN: 3.
    pub gossip_nodes: NonZeroU8,
    /// Time between two pulls of a random member's table (memberlist's push/pull), the
    /// anti-entropy behind the rumors: scaled with the cluster as memberlist does, by
    /// `⌈log2(n / 32)⌉ + 1` above 32 members, but at most 3 times ([`SwimConfig::push_pull`]).
    /// LAN: 30 s.
    pub push_pull_interval: Duration,
    /// Lifeguard's local health: the highest multiplier of the probe interval and timeout, and
    /// of its own suspicion timeouts, a node in trouble (missing acks and nacks, refuting)
    /// slows to. LAN: 8.
    pub awareness_max: NonZeroU8,
}

/// The most [`SwimConfig::push_pull`] scales the pull interval by.
const PUSH_PULL_SCALE_MAX: u32 = 3;

impl SwimConfig {
    /// For a data centre (memberlist's `DefaultLANConfig`): measured at 200 nodes, 10 % loss and
    /// 1 %/s churn, crashes Down in 13 s (median) to 17 s (p99), with about 130 B/s of probe
    /// traffic per node (the table of [`SwimConfig`]).
    pub fn lan() -> SwimConfig {
        SwimConfig {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            indirect_checks: 3,
            private_failures: 1,
            suspicion_mult: nonzero32(4),
            suspicion_max_mult: nonzero32(6),
            down_quorum: nonzero8(2),
            retransmit_mult: nonzero32(4),
            gossip_interval: Duration::from_millis(200),
            gossip_nodes: nonzero8(3),
            push_pull_interval: Duration::from_secs(30),
            awareness_max: nonzero8(8),
        }
    }

    /// Across regions (memberlist's `DefaultWANConfig`, with a 2.5 s probe timeout instead of
    /// 3 s so that nacks fit in the period): a fifth of the LAN probe traffic, suspicions 1.5×
    /// longer.
    pub fn wan() -> SwimConfig {
        SwimConfig {
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_millis(2500),
            suspicion_mult: nonzero32(6),
            gossip_interval: Duration::from_millis(500),
            gossip_nodes: nonzero8(4),
            push_pull_interval: Duration::from_secs(60),
            ..SwimConfig::lan()
        }
    }

    /// In one process or on loopback (memberlist's `DefaultLocalConfig`): short timeouts, one
    /// relay, fewer retransmissions.
    pub fn local() -> SwimConfig {
        SwimConfig {
            probe_timeout: Duration::from_millis(200),
            indirect_checks: 1,
            suspicion_mult: nonzero32(3),
            retransmit_mult: nonzero32(2),
            gossip_interval: Duration::from_millis(100),
            push_pull_interval: Duration::from_secs(15),
            ..SwimConfig::lan()
        }
    }

    /// Checks the timings: positive, the probe timeout at most half the interval, every
    /// duration at most a day.
    pub fn validate(&self) -> Result<(), Error> {
        let day = Duration::from_secs(86_400);
        for (field, value) in [
            ("membership.detector.probe_interval", self.probe_interval),
            ("membership.detector.probe_timeout", self.probe_timeout),
            ("membership.detector.gossip_interval", self.gossip_interval),
            (
                "membership.detector.push_pull_interval",
                self.push_pull_interval,
            ),
        ] {
            if value.is_zero() || value > day {
                return Err(Error::config(field, "must be positive and at most a day"));
            }
        }
        for (field, value) in [
            ("membership.detector.suspicion_mult", self.suspicion_mult),
            (
                "membership.detector.suspicion_max_mult",
                self.suspicion_max_mult,
            ),
        ] {
            if value.get() > MAX_SUSPICION_MULT {
                return Err(Error::config(
                    field,
                    format!("must be at most {MAX_SUSPICION_MULT}"),
                ));
            }
        }
        if self.probe_timeout * 2 > self.probe_interval {
            return Err(Error::config(
                "membership.detector.probe_timeout",
                "must be at most half the probe interval (relays nack within the period)",
            ));
        }
        Ok(())
    }

    /// The shortest suspicion timeout among `n` members: `μ · max(1, log10 n) · interval`.
    pub fn suspicion_min(&self, n: usize) -> Duration {
        let scale = (n.max(1) as f64).log10().max(1.0);
        self.probe_interval
            .mul_f64(f64::from(self.suspicion_mult.get()) * scale)
    }

    /// Confirmations (witnesses besides the first) after which a suspicion waits only
    /// [`SwimConfig::suspicion_min`]: `μ − 2` (memberlist's), at least 0.
    pub fn confirmations(&self) -> u32 {
        self.suspicion_mult.get().saturating_sub(2)
    }

    /// The table pull interval among `n` members: memberlist's `pushPullScale`
    /// (`⌈log2(n/32)⌉ + 1` times the interval above 32 members), capped at 3 times (from 65
    /// members on). memberlist scales it because its pulls carry the whole table; hearsay's
    /// carry only the ranges whose digests differ (two datagrams between nodes that agree,
    /// whatever n), and the interval bounds how long a node that missed a rumor stays wrong.
    pub fn push_pull(&self, n: usize) -> Duration {
        if n <= 32 {
            return self.push_pull_interval;
        }
        let factor = ((n as f64).log2() - 5.0).ceil() as u32 + 1;
        self.push_pull_interval * factor.min(PUSH_PULL_SCALE_MAX)
    }

    /// Times one node sends one update among `n` members: `mult · ⌈log10(n + 1)⌉`.
    pub fn retransmits(&self, n: usize) -> u32 {
        let scale = ((n as f64) + 1.0).log10().ceil().max(1.0) as u32;
        self.retransmit_mult.get().saturating_mul(scale)
    }
}

impl Default for SwimConfig {
    fn default() -> SwimConfig {
        SwimConfig::lan()
    }
}

fn nonzero32(value: u32) -> NonZeroU32 {
    NonZeroU32::new(value).unwrap_or(NonZeroU32::MIN)
}

fn nonzero8(value: u8) -> NonZeroU8 {
    NonZeroU8::new(value).unwrap_or(NonZeroU8::MIN)
}

impl MembershipConfig {
    /// SWIM with [`SwimConfig::lan`] (the default).
    pub fn lan() -> MembershipConfig {
        MembershipConfig::with_detector(Detector::Swim(SwimConfig::lan()))
    }

    /// SWIM with [`SwimConfig::wan`].
    pub fn wan() -> MembershipConfig {
        MembershipConfig::with_detector(Detector::Swim(SwimConfig::wan()))
    }

    /// SWIM with [`SwimConfig::local`].
    pub fn local() -> MembershipConfig {
        MembershipConfig::with_detector(Detector::Swim(SwimConfig::local()))
    }

    /// The default removal settings with `detector`.
    pub fn with_detector(detector: Detector) -> MembershipConfig {
        MembershipConfig {
            detector,
            removal_after: Duration::from_secs(300),
            removed_ttl: Duration::from_secs(86_400),
            reconnect_interval: default_reconnect_interval(),
            leave_fanout: 3,
        }
    }

    /// The SWIM settings, when SWIM runs.
    pub fn swim(&self) -> Option<&SwimConfig> {
        match &self.detector {
            Detector::Swim(swim) => Some(swim),
            Detector::Heartbeat(_) => None,
        }
    }

    /// Checks the settings: a valid detector (for phi, `0 < suspect_phi <= threshold`).
    pub fn validate(&self) -> Result<(), Error> {
        for (field, value) in [
            ("membership.removal_after", self.removal_after),
            ("membership.removed_ttl", self.removed_ttl),
            ("membership.reconnect_interval", self.reconnect_interval),
        ] {
            if value.is_zero() || value > MAX_MEMBERSHIP_WAIT {
                return Err(Error::config(field, "must be positive and at most a year"));
            }
        }
        if self.removed_ttl < self.removal_after {
            return Err(Error::config(
                "membership.removed_ttl",
                "must be at least removal_after (a removed member is remembered at least as long \
                 as its state could linger)",
            ));
        }
        match &self.detector {
            Detector::Swim(swim) => swim.validate(),
            Detector::Heartbeat(heartbeat) => {
                heartbeat.phi.validate()?;
                let suspect = heartbeat.suspect_phi;
                if !(suspect.is_finite() && suspect > 0.0 && suspect <= heartbeat.phi.threshold) {
                    return Err(Error::config(
                        "membership.detector.suspect_phi",
                        format!("must lie in (0, threshold], got {suspect}"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The longest of [`MembershipConfig::removal_after`], [`MembershipConfig::removed_ttl`] and
/// [`MembershipConfig::reconnect_interval`]: a year (longer is "never", which a deadline
/// cannot hold).
pub const MAX_MEMBERSHIP_WAIT: Duration = Duration::from_secs(365 * 86_400);

/// The largest [`SwimConfig::suspicion_mult`] and [`SwimConfig::suspicion_max_mult`]
/// (memberlist uses 4–6): their product scales the probe interval into the longest suspicion.
pub const MAX_SUSPICION_MULT: u32 = 1_000;

/// [`MembershipConfig::reconnect_interval`]'s default (also for settings written before it).
fn default_reconnect_interval() -> Duration {
    Duration::from_secs(30)
}

impl Default for MembershipConfig {
    /// [`MembershipConfig::lan`]: SWIM with the data-centre preset.
    fn default() -> MembershipConfig {
        MembershipConfig::lan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pull interval scales as memberlist's up to 3 times, then stays there.
    #[test]
    fn the_pull_interval_scales_up_to_three_times() {
        let lan = SwimConfig::lan();
        let secs = |n| lan.push_pull(n).as_secs();
        assert_eq!(secs(10), 30);
        assert_eq!(secs(32), 30);
        assert_eq!(secs(64), 60);
        assert_eq!(secs(65), 90);
        assert_eq!(secs(1_000), 90);
        assert_eq!(secs(10_000), 90);
    }
}
