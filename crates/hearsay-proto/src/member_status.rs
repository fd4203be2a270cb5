//! A member's status as one node sees it: the vocabulary shared by the member table
//! ([`crate::membership`]) and the events that report its changes ([`crate::Event::Member`]).

use serde::{Deserialize, Serialize};

/// What a node thinks of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MemberStatus {
    /// Known, no heartbeat progress seen yet for this generation.
    Joining,
    /// Heartbeats progress.
    Up,
    /// phi reached the suspect level: heartbeats are late.
    Suspect,
    /// phi reached the threshold: deemed dead (recoverable by heartbeat progress).
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
