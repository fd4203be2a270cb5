//! Readiness, as `/health` and the `hearsay_ready` gauge report it to an orchestrator: a node is
//! ready once it has joined its cluster, and stops being ready when it starts to leave — not
//! when its peers are suspected or down: a partition or a blip would otherwise take every node
//! of the cluster out of service at once, and a node cut off still serves what it holds. A node
//! told that another process runs its id at a newer generation is out of service while the
//! notices come ([`SUPERSEDED_FOR`]): its writes reach no one.

use super::reading::Reading;
use hearsay_proto::MemberStatus;
use serde::Serialize;
use std::time::Duration;

/// How long a superseded notice keeps a node out of service: notices come every 10 s per peer
/// while the other process runs (`hearsay-net`'s `udp.rs`), so three missed in a row mean it is
/// gone.
pub const SUPERSEDED_FOR: Duration = Duration::from_secs(30);

/// Where a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Joined: it was given no seed (it is the first node of its cluster), or it has heard from
    /// another node at some point since it started — with membership, another member was Up in
    /// its table; without, it held another node's state.
    Ready,
    /// Given seeds, it has not heard from any other node yet.
    Joining,
    /// It is stopping (SIGTERM, SIGINT, `quit`): leaving the cluster, flushing its links.
    Leaving,
    /// A peer said, within [`SUPERSEDED_FOR`], that another process runs this node's id at a
    /// newer generation: the cluster sends the id's traffic there, and this process's writes
    /// reach no one.
    Superseded,
}

impl Readiness {
    /// Whether the node of `reading` hears from another node now: it has received a message
    /// since it started (a node restored from its state file holds members and entries it has
    /// not heard from yet) and, with membership, another member is Up in its table; without,
    /// it holds another node's state.
    pub fn heard_from_another(reading: &Reading) -> bool {
        let me = reading.node.metrics.id;
        let received = (reading.node.metrics.stats.received.iter()).any(|t| t.messages > 0);
        if !received {
            return false;
        }
        if reading.node.members.is_empty() {
            reading
                .node
                .origins
                .iter()
                .any(|origin| origin.origin != me)
        } else {
            reading
                .node
                .members
                .iter()
                .any(|member| member.id != me && member.status == MemberStatus::Up)
        }
    }

    /// The rule itself: leaving once stopping; else superseded while told so; else ready once
    /// it has joined (heard from another node at some reading), or at once when it was given no
    /// seed.
    pub fn decide(
        joined: bool,
        expects_peers: bool,
        stopping: bool,
        superseded: bool,
    ) -> Readiness {
        if stopping {
            Readiness::Leaving
        } else if superseded {
            Readiness::Superseded
        } else if joined || !expects_peers {
            Readiness::Ready
        } else {
            Readiness::Joining
        }
    }

    /// Whether an orchestrator should send it work.
    pub fn is_ready(self) -> bool {
        self == Readiness::Ready
    }

    /// Why, in a few words.
    pub fn reason(self) -> &'static str {
        match self {
            Readiness::Ready => "joined the cluster",
            Readiness::Joining => "given seeds, it has heard from no other node yet",
            Readiness::Leaving => "stopping: leaving the cluster",
            Readiness::Superseded => {
                "another process runs this node's id at a newer generation: its writes reach no one"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn ready_once_joined_and_not_while_leaving() {
        // (heard from another, given seeds, stopping, superseded)
        for (heard, seeds, stopping, superseded, expected) in [
            (false, true, false, false, Readiness::Joining),
            (true, true, false, false, Readiness::Ready),
            (false, false, false, false, Readiness::Ready),
            (true, false, false, false, Readiness::Ready),
            (true, true, true, false, Readiness::Leaving),
            (false, false, true, false, Readiness::Leaving),
            (true, true, false, true, Readiness::Superseded),
            (true, true, true, true, Readiness::Leaving),
        ] {
            let readiness = Readiness::decide(heard, seeds, stopping, superseded);
            assert_eq!(readiness, expected, "{heard} {seeds} {stopping}");
            assert_eq!(readiness.is_ready(), expected == Readiness::Ready);
        }
    }
}
