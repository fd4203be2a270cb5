//! Typed configuration of a node, with documented defaults and validation.

use crate::{ClusterId, Error, MembershipConfig, Strategy};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Which way data flows in an exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The initiator sends what the peer lacks.
    Push,
    /// The initiator receives what it lacks.
    Pull,
    /// Both: digest, then digest + deltas, then deltas (Cassandra's three-step exchange).
    #[default]
    PushPull,
}

impl Direction {
    /// All three.
    pub const ALL: [Direction; 3] = [Direction::Push, Direction::Pull, Direction::PushPull];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Push => "push",
            Direction::Pull => "pull",
            Direction::PushPull => "push-pull",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = Error;

    fn from_str(name: &str) -> Result<Direction, Error> {
        Direction::ALL
            .into_iter()
            .find(|d| d.name() == name)
            .ok_or_else(|| {
                Error::config(
                    "direction",
                    format!("unknown direction {name:?} (expected push, pull or push-pull)"),
                )
            })
    }
}

/// How a rumor's spreader loses interest (Demers et al. 1987).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Termination {
    /// Feedback: only contacts whose peer already knew the rumor count. Blind: every contact does.
    pub feedback: bool,
    /// Counter (after `k` counted contacts) or coin (with probability `1/k` at each).
    pub rule: LossOfInterest,
}

/// Counter or coin, each with its `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LossOfInterest {
    /// Demers et al.'s counter: lose interest after `k` rounds in a row in which every contact
    /// counted. Judged once per round, at the start of the next: with feedback, a round in
    /// which some peer did not know the rumor starts the count again; a peer judges "knew"
    /// against what it held when its own round began, so two spreaders reaching it in one round
    /// are both useful. A round without contacts leaves the count as it is.
    Counter(u32),
    /// Lose interest after `k` counted contacts in all, each judged as it happens (a peer that
    /// learnt the rumor a moment before from another spreader already knew it). Spreads less than
    /// [`LossOfInterest::Counter`] for the same `k` (residue ≈ e^(−traffic) either way).
    Contacts(u32),
    /// Lose interest with probability `1/k` after each counted contact.
    Coin(u32),
}

impl Default for Termination {
    /// Feedback, counter, `k = 3`: Demers et al. measure a residue of 1.1 % for push at this
    /// setting; the anti-entropy of the combined mode collects the rest.
    fn default() -> Termination {
        Termination {
            feedback: true,
            rule: LossOfInterest::Counter(3),
        }
    }
}

impl Termination {
    /// Parses `feedback-counter`, `feedback-contacts`, `feedback-coin`, `blind-counter`,
    /// `blind-contacts` or `blind-coin` with its `k`.
    pub fn parse(name: &str, k: u32) -> Result<Termination, Error> {
        let (feedback, rule) = match name {
            "feedback-counter" => (true, LossOfInterest::Counter(k)),
            "feedback-contacts" => (true, LossOfInterest::Contacts(k)),
            "feedback-coin" => (true, LossOfInterest::Coin(k)),
            "blind-counter" => (false, LossOfInterest::Counter(k)),
            "blind-contacts" => (false, LossOfInterest::Contacts(k)),
            "blind-coin" => (false, LossOfInterest::Coin(k)),
            _ => {
                return Err(Error::config(
                    "termination",
                    format!(
                        "unknown termination {name:?} (expected feedback-counter, \
                         feedback-contacts, feedback-coin, blind-counter, blind-contacts or \
                         blind-coin)"
                    ),
                ));
            }
        };
        let termination = Termination { feedback, rule };
        termination.validate()?;
        Ok(termination)
    }

    /// The `k` of the rule.
    pub fn k(&self) -> u32 {
        match self.rule {
            LossOfInterest::Counter(k) | LossOfInterest::Contacts(k) | LossOfInterest::Coin(k) => k,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if self.k() == 0 {
            return Err(Error::config("termination", "k must be at least 1"));
        }
        Ok(())
    }

    /// The name [`Termination::parse`] reads.
    pub fn name(&self) -> &'static str {
        match (self.feedback, self.rule) {
            (true, LossOfInterest::Counter(_)) => "feedback-counter",
            (true, LossOfInterest::Contacts(_)) => "feedback-contacts",
            (true, LossOfInterest::Coin(_)) => "feedback-coin",
            (false, LossOfInterest::Counter(_)) => "blind-counter",
            (false, LossOfInterest::Contacts(_)) => "blind-contacts",
            (false, LossOfInterest::Coin(_)) => "blind-coin",
        }
    }

    /// Whether contacts are judged once per round (the counter), not one by one.
    pub(crate) fn per_round(&self) -> bool {
        matches!(self.rule, LossOfInterest::Counter(_))
    }
}

/// The way a node works.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Mode {
    /// Reconcile with random peers every round: reliable, every round costs digests.
    AntiEntropy,
    /// Spread only hot rumors until interest is lost: cheap, may leave a residue.
    Rumor,
    /// Rumors every round, and anti-entropy every `anti_entropy_every` rounds to collect the
    /// residue: the combination the seed article recommends. A node also runs anti-entropy in
    /// any round whose rumor messages could not hold all its hot rumors (a bulk load:
    /// `docs/protocol.md` §9.9).
    Combined {
        /// Rounds between anti-entropy exchanges (at least 1).
        anti_entropy_every: u32,
    },
}

impl Default for Mode {
    /// Combined, anti-entropy every 10 rounds.
    fn default() -> Mode {
        Mode::Combined {
            anti_entropy_every: 10,
        }
    }
}

impl Mode {
    /// Whether rounds run rumor mongering.
    pub fn rumors(self) -> bool {
        !matches!(self, Mode::AntiEntropy)
    }

    /// Whether this round number (from 1) runs anti-entropy.
    pub fn anti_entropy_in(self, round: u64) -> bool {
        match self {
            Mode::AntiEntropy => true,
            Mode::Rumor => false,
            Mode::Combined { anti_entropy_every } => {
                round.is_multiple_of(u64::from(anti_entropy_every.max(1)))
            }
        }
    }
}

/// Flow control after van Renesse et al. (2008): each node's local write rate adapts to what the
/// gossip can carry, by additive increase and multiplicative decrease.
///
/// A node is *congested* in a round when an anti-entropy answer it built was cut by the message
/// limit (deltas left out) or one it received was full; the congestion signal thus travels with
/// the gossip itself. At each round a congested node multiplies its rate by `decrease`, any other
/// node adds `increase`. Writes through [`crate::Node::try_set`] spend one token of a bucket
/// refilled at that rate; when it is empty they are refused (the application retries later).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlowControl {
    /// Writes per second a node starts with. Default: 1.
    pub initial_rate: f64,
    /// The rate never falls below this. Default: 0.01 writes per second.
    pub min_rate: f64,
    /// Added to the rate after a round without congestion, in writes per second. Default: 0.05.
    pub increase: f64,
    /// Multiplies the rate after a congested round, in (0, 1). Default: 0.5.
    pub decrease: f64,
}

impl Default for FlowControl {
    fn default() -> FlowControl {
        FlowControl {
            initial_rate: 1.0,
            min_rate: 0.01,
            increase: 0.05,
            decrease: 0.5,
        }
    }
}

impl FlowControl {
    fn validate(&self) -> Result<(), Error> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !(positive(self.initial_rate) && positive(self.min_rate) && positive(self.increase)) {
            return Err(Error::config(
                "flow_control",
                "rates and increase must be positive",
            ));
        }
        if !(self.decrease > 0.0 && self.decrease < 1.0) {
            return Err(Error::config("flow_control.decrease", "must lie in (0, 1)"));
        }
        if self.min_rate > self.initial_rate {
            return Err(Error::config(
                "flow_control.min_rate",
                "must be at most initial_rate (the rate never falls below it)",
            ));
        }
        Ok(())
    }
}

/// The smallest MTU accepted: room for the headers and keys of up to 32 bytes.
pub const MIN_MTU: usize = 256;

/// The largest [`Config::max_incoming`] (and so [`Config::mtu`]) accepted: 1 GiB, far beyond
/// any transport's frame, so that the sizes built on it cannot overflow.
pub const MAX_MESSAGE: usize = 1 << 30;

/// Bytes of a message that are not the keys of a precise digest, at most: see
/// [`Config::max_key_len`].
const KEY_OVERHEAD: usize = 160;

/// A node's configuration. Every field has a documented default ([`Config::default`]).
///
/// ```
/// use hearsay_proto::{Config, Direction, Mode, Strategy};
/// let config = Config {
///     strategy: Strategy::ScuttleBreadth,
///     direction: Direction::Pull,
///     mode: Mode::AntiEntropy,
///     ..Config::default()
/// };
/// config.validate()?;
/// # Ok::<(), hearsay_proto::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// The cluster this node belongs to. Default: `ClusterId::from_name("hearsay")`.
    pub cluster: ClusterId,
    /// Time between two gossip rounds. Default: 1 s.
    pub gossip_interval: Duration,
    /// Peers contacted per round. Default: 1 (the setting of the classical analyses). More than
    /// a node knows means every peer it knows (`usize::MAX` included).
    pub fanout: usize,
    /// Largest encoded message sent, in bytes. Default: 1,400 (fits an Ethernet UDP datagram).
    pub mtu: usize,
    /// Largest number of deltas per message (for experiments). Default: no limit.
    pub max_deltas: Option<usize>,
    /// Largest message accepted from a peer, in bytes. Default: 65,507 (the largest UDP payload);
    /// at most [`MAX_MESSAGE`].
    pub max_incoming: usize,
    /// Which deltas fill a message first. Default: Scuttlebutt depth-first.
    pub strategy: Strategy,
    /// Which way exchanges move data. Default: push-pull.
    pub direction: Direction,
    /// Anti-entropy, rumor mongering, or both. Default: combined, anti-entropy every 10 rounds.
    pub mode: Mode,
    /// When a rumor's spreader loses interest. Default: feedback, counter, k = 3.
    pub termination: Termination,
    /// How many times a node sends a hot rumor with its value before it only offers it by id
    /// (lazy push: the peer asks for the value if it lacks it). Early sends are mostly news and
    /// later ones mostly redundant, so this saves the bytes of redundant values. `u32::MAX` makes
    /// every send eager, as in Demers et al. Default: 1.
    pub eager_rumor_sends: u32,
    /// Flow control of local writes ([`FlowControl`]); `None` leaves writes unthrottled.
    /// Default: `None`.
    pub flow_control: Option<FlowControl>,
    /// Whether the node's heartbeat is bumped every round and gossiped (needed by failure
    /// detection; off for pure data-dissemination experiments). Default: on.
    pub heartbeats: bool,
    /// Membership and failure detection ([`MembershipConfig`]): member statuses from SWIM
    /// probing (the default detector) or gossiped heartbeats, graceful leaves, removal of dead
    /// members, and [`crate::Event::Member`] events. `None` leaves the node exactly as without
    /// membership: no statuses, no events, every listed peer is picked. The heartbeat detector
    /// needs `heartbeats`. Default: `None`; [`Config::lan`] (membership's defaults),
    /// [`Config::wan`] and [`Config::local`] turn it on with SWIM.
    pub membership: Option<MembershipConfig>,
    /// Partial views (HyParView): the node gossips only with a small active view maintained by
    /// the view protocol, instead of every peer it is told of, so that per-node state stays
    /// bounded in very large clusters. Join with [`crate::Node::join`]. Default: `None` (the
    /// peer list given by the runtime).
    pub view: Option<crate::ViewConfig>,
    /// How long a node keeps its own tombstones (deleted keys) before it garbage-collects them
    /// and publishes the new GC horizon to its peers (see `docs/protocol.md`, tombstone GC).
    /// Measured with the `now` of its rounds. `None` keeps tombstones for the whole generation.
    /// Default: 24 h.
    pub tombstone_grace: Option<Duration>,
    /// With a Scuttlebutt strategy, every `n`-th digest this node sends (opening an exchange, or
    /// answering a push) is a **repair** digest: a precise one, naming every item's version
    /// (continuing through the state over successive repairs), answered item by item. Scuttlebutt
    /// compares watermarks only, and a watermark can cover a write whose newer version its node
    /// never received when every holder of that version is gone (a crashed origin, an answer cut
    /// short after the newer version); live nodes then keep different older versions for good.
    /// The repair finds and settles them. `None` turns it off (precise strategies compare items
    /// always and ignore it). Default: every 10th digest.
    #[serde(default = "default_repair_every")]
    pub repair_every: Option<u32>,
    /// The catch-up budget: bytes of full anti-entropy answers one link may carry per round.
    /// An answer holds one MTU of deltas; when a full one arrives, its receiver opens another
    /// exchange with the same peer at once, while the full answers exchanged on that link this
    /// round stay within the budget, and resumes at the next round when they do not. A chained
    /// exchange pulls (its digest asks for no digest back): the node behind pulls what it lacks,
    /// and its peer, if behind too, pulls through its own exchanges. A peer far
    /// behind thus receives up to this many bytes per link per round (`docs/protocol.md`,
    /// catch-up), and flow control sees congestion only when a link's budget is spent. At least
    /// the MTU; `None`: one answer per exchange (as in van Renesse et al.'s model). Default:
    /// 1 MiB (a 20 MB backlog crosses one link in 20 rounds).
    #[serde(default = "default_catch_up")]
    pub catch_up: Option<usize>,
    /// Relay of fresh rumors, as bimodal multicast and Plumtree's eager push do: a node that
    /// writes, or receives rumors that are news to it, sends them on at once to this many peers
    /// (not the sender), in one message each, each rumor once (writes made between two polls of
    /// [`crate::Node::poll_transmit`] go together); rounds of rumor mongering and anti-entropy
    /// then reach the few nodes the relays missed. A write reaches most of the cluster in hops ×
    /// latency instead of rounds × interval: with 3 relays about 94 % of the nodes hear it from
    /// relays (the fraction `π` solving `π = 1 − e^(−3π)`), for about 3 extra messages per node
    /// per write. Only rumor messages are relayed (anti-entropy and catch-up are not), only with
    /// rumors on ([`Mode::rumors`]), and only by a node holding at most 16 hot rumors: in a burst
    /// of writes the rounds carry full messages already (`docs/protocol.md` §9.8). 0 turns it
    /// off: Demers et al.'s model, which `hearsay sim rumor` runs. At most [`MAX_RELAY`].
    /// Default: 3.
    #[serde(default = "default_relay")]
    pub relay: u32,
}

fn default_relay() -> u32 {
    3
}

/// The most peers [`Config::relay`] may name: relays multiply, and more than this floods.
pub const MAX_RELAY: u32 = 16;

fn default_repair_every() -> Option<u32> {
    Some(10)
}

fn default_catch_up() -> Option<usize> {
    Some(DEFAULT_CATCH_UP)
}

/// The default catch-up budget ([`Config::catch_up`]): 1 MiB per link per round.
pub const DEFAULT_CATCH_UP: usize = 1 << 20;

impl Default for Config {
    fn default() -> Config {
        Config {
            cluster: ClusterId::from_name("hearsay"),
            gossip_interval: Duration::from_secs(1),
            fanout: 1,
            mtu: 1400,
            max_deltas: None,
            max_incoming: 65_507,
            strategy: Strategy::default(),
            direction: Direction::default(),
            mode: Mode::default(),
            termination: Termination::default(),
            eager_rumor_sends: 1,
            flow_control: None,
            heartbeats: true,
            membership: None,
            view: None,
            tombstone_grace: Some(Duration::from_secs(86_400)),
            repair_every: default_repair_every(),
            catch_up: default_catch_up(),
            relay: default_relay(),
        }
    }
}

impl Config {
    /// The default configuration with membership on with its defaults: SWIM's data-centre
    /// preset ([`crate::SwimConfig::lan`]). Crashes are Down in 13 s (median) to 17 s (p99) at
    /// 200 nodes under 10 % loss and 1 %/s churn, for about 130 B/s of probe traffic per node
    /// whatever the cluster's size (the table of [`crate::SwimConfig`]; `docs/membership.md`).
    ///
    /// ```
    /// use hearsay_proto::{Config, MembershipConfig};
    /// assert_eq!(Config::lan().membership, Some(MembershipConfig::default()));
    /// ```
    pub fn lan() -> Config {
        Config {
            membership: Some(MembershipConfig::lan()),
            ..Config::default()
        }
    }

    /// Membership on with SWIM's preset across regions ([`crate::SwimConfig::wan`]): 5 s probes,
    /// Down in about 2 minutes (derived, `docs/design/failure-detection.md` §5), a fifth of the
    /// LAN probe traffic.
    pub fn wan() -> Config {
        Config {
            membership: Some(MembershipConfig::wan()),
            ..Config::default()
        }
    }

    /// Membership on with SWIM's in-process preset ([`crate::SwimConfig::local`]): 200 ms probe
    /// timeouts, one relay, fewer retransmissions: for nodes in one process or on loopback.
    pub fn local() -> Config {
        Config {
            membership: Some(MembershipConfig::local()),
            ..Config::default()
        }
    }

    /// The longest key this node accepts: a precise digest names a key as an item and bounds its
    /// range with up to two more, so every key must fit three times in one message. Local writes
    /// of longer keys fail with [`Error::EntryTooLarge`]; deltas of longer keys from peers (with
    /// a larger MTU) are dropped and counted in [`crate::Stats::deltas_refused`]. At the default
    /// MTU of 1,400 bytes: 413 bytes.
    pub fn max_key_len(&self) -> usize {
        self.mtu.saturating_sub(KEY_OVERHEAD) / 3
    }

    /// Checks that the settings make sense together.
    pub fn validate(&self) -> Result<(), Error> {
        if self.gossip_interval.is_zero() || self.gossip_interval > Duration::from_secs(86_400) {
            return Err(Error::config(
                "gossip_interval",
                "must be positive and at most a day",
            ));
        }
        if self.fanout == 0 {
            return Err(Error::config("fanout", "must be at least 1"));
        }
        if self.relay > MAX_RELAY {
            return Err(Error::config("relay", "must be at most 16"));
        }
        if self.mtu < MIN_MTU {
            return Err(Error::config(
                "mtu",
                format!("must be at least {MIN_MTU} bytes"),
            ));
        }
        if self.max_incoming < self.mtu {
            return Err(Error::config("max_incoming", "must be at least mtu"));
        }
        if self.max_incoming > MAX_MESSAGE {
            return Err(Error::config(
                "max_incoming",
                format!("must be at most {MAX_MESSAGE} bytes"),
            ));
        }
        if self.max_deltas == Some(0) {
            return Err(Error::config("max_deltas", "must be at least 1"));
        }
        if let Mode::Combined {
            anti_entropy_every: 0,
        } = self.mode
        {
            return Err(Error::config(
                "mode.anti_entropy_every",
                "must be at least 1",
            ));
        }
        if let Some(flow) = &self.flow_control {
            flow.validate()?;
        }
        if let Some(view) = &self.view {
            view.validate()?;
            // A shuffle (ids of up to 9 bytes each) must fit one message.
            let shuffle = (view.shuffle_active + view.shuffle_passive + 1) * 9 + 64;
            if shuffle > self.mtu {
                return Err(Error::config(
                    "view",
                    format!(
                        "a shuffle of {} peers needs {shuffle} bytes, more than the MTU",
                        view.shuffle_active + view.shuffle_passive + 1
                    ),
                ));
            }
        }
        if let Some(membership) = &self.membership {
            if !self.heartbeats && membership.swim().is_none() {
                return Err(Error::config(
                    "membership",
                    "needs heartbeats (failure detection feeds on them)",
                ));
            }
            membership.validate()?;
        }
        if self.catch_up.is_some_and(|budget| budget < self.mtu) {
            return Err(Error::config(
                "catch_up",
                "the catch-up budget must hold at least one message (the MTU)",
            ));
        }
        if self.repair_every == Some(0) {
            return Err(Error::config("repair_every", "must be at least 1"));
        }
        if self.tombstone_grace.is_some_and(|grace| grace.is_zero()) {
            return Err(Error::config("tombstone_grace", "must be positive"));
        }
        self.termination.validate()
    }
}
