//! A member's status as one node sees it: the vocabulary shared by the member table
//! ([`crate::membership`]) and the events that report its changes ([`crate::Event::Member`]).

use serde::{Deserialize, Serialize};

/// What a node thinks of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum MemberStatus {
    /// Known, not yet heard from in this generation: no heartbeat progress seen (heartbeat
    /// detector), or no word of it alive yet (SWIM).
    Joining,
    /// Alive: its heartbeats progress (heartbeat detector), or it answers probes or was last
    /// reported alive (SWIM).
    Up,
    /// In doubt: phi reached the suspect level (heartbeat detector), or a probe failed and the
    /// suspicion is gossiped (SWIM). The member refutes it by being heard again — heartbeat
    /// progress, or a higher incarnation it gossips itself.
    Suspect,
    /// Deemed dead: phi reached the threshold (heartbeat detector), or the suspicion timed out
    /// with enough witnesses (SWIM). Recoverable the same ways as a suspicion; until then it
    /// is no gossip target.
    Down,
    /// Left gracefully.
    Left,
    /// Down or Left long enough: its state was dropped and its generation is refused.
    Removed,
}

impl MemberStatus {
    /// Whether the member is picked as a gossip target (Joining, Up, Suspect).
    pub fn is_reachable(self) -> bool {
        matches!(
            self,
            MemberStatus::Joining | MemberStatus::Up | MemberStatus::Suspect
        )
    }

    /// A short lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            MemberStatus::Joining => "joining",
            MemberStatus::Up => "up",
            MemberStatus::Suspect => "suspect",
            MemberStatus::Down => "down",
            MemberStatus::Left => "left",
            MemberStatus::Removed => "removed",
        }
    }
}
