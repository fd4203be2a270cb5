//! Readiness, as `/health` and the `hearsay_ready` gauge report it to an orchestrator: a node is
//! ready once it has joined its cluster, and stops being ready when it starts to leave.

use super::reading::Reading;
use hearsay_proto::MemberStatus;
use serde::Serialize;

/// Where a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Readiness {
    /// Joined: it was given no seed (it is the first node of its cluster), or it has heard from
    /// another node — with membership, another member is Up in its table; without, it holds
    /// another node's state.
    Ready,
    /// Given seeds, it has not heard from any other node yet.
    Joining,
    /// It is stopping (SIGTERM, SIGINT, `quit`): leaving the cluster, flushing its links.
    Leaving,
}

impl Readiness {
    /// Where the node of `reading` stands; `expects_peers`: it was given seeds; `stopping`: it
    /// has begun to stop.
    pub fn of(reading: &Reading, expects_peers: bool, stopping: bool) -> Readiness {
        if stopping {
            return Readiness::Leaving;
        }
        let me = reading.node.metrics.id;
        let heard_from_another = if reading.node.members.is_empty() {
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
        };
        if heard_from_another || !expects_peers {
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
