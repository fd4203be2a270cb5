//! Readiness, as `/health` and the `hearsay_ready` gauge report it to an orchestrator: a node is
//! ready once it has joined its cluster, and stops being ready when it starts to leave — not
//! when its peers are suspected or down: a partition or a blip would otherwise take every node
//! of the cluster out of service at once, and a node cut off still serves what it holds.

use super::reading::Reading;
use hearsay_proto::MemberStatus;
use serde::Serialize;

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

    /// The rule itself: leaving once stopping; else ready once it has joined (heard from another
    /// node at some reading), or at once when it was given no seed.
    pub fn decide(joined: bool, expects_peers: bool, stopping: bool) -> Readiness {
        if stopping {
            Readiness::Leaving
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Readiness;

    #[test]
    fn ready_once_joined_and_not_while_leaving() {
        // (heard from another, given seeds, stopping)
        for (heard, seeds, stopping, expected) in [
            (false, true, false, Readiness::Joining),
            (true, true, false, Readiness::Ready),
            (false, false, false, Readiness::Ready),
            (true, false, false, Readiness::Ready),
            (true, true, true, Readiness::Leaving),
            (false, false, true, Readiness::Leaving),
        ] {
            let readiness = Readiness::decide(heard, seeds, stopping);
            assert_eq!(readiness, expected, "{heard} {seeds} {stopping}");
            assert_eq!(readiness.is_ready(), expected == Readiness::Ready);
        }
    }
}
