//! Membership rules: pure checks the node applies before it changes who
//! votes.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a membership change (join, add, remove, election) did not happen.
/// Sent between nodes (a forwarded join or removal answers with it).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum MembershipError {
    #[error("no leader is known yet; try again")]
    NoLeader,
    #[error("leadership is moving; retry")]
    LeadershipMoving,
    #[error("node {node} is not the leader of {shard}; ask the leader ({leader:?})")]
    NotLeader {
        node: u64,
        shard: String,
        leader: Option<u64>,
    },
    #[error("the leader's address is not known; try again")]
    LeaderAddressUnknown,
    #[error("{0} is not hosted here")]
    NotHosted(String),
    #[error("refused: it would remove the last voter")]
    LastVoter,
    #[error(
        "refused: of the {remaining} voters that would remain, {live} answer the leader, fewer than the {majority} needed to commit; bring the others back first"
    )]
    NoQuorum {
        remaining: usize,
        live: usize,
        majority: usize,
    },
    /// openraft refused or failed the change.
    #[error("{0}")]
    Raft(String),
    /// The node asked did not answer, or answered something else.
    #[error("{0}")]
    Peer(String),
}

/// Whether the voters `remaining` after a removal can still commit: they
/// must not be empty, and a majority of them must be live: the leader
/// (`leader`, if it remains) and the voters it heard from (`heard`: time
/// since each one's last answer) within `live_within`. Removing a live
/// voter while another is down would otherwise leave a cluster that can
/// never commit again, the removal included.
pub fn removal_leaves_quorum(
    leader: u64,
    remaining: &BTreeSet<u64>,
    heard: &BTreeMap<u64, Duration>,
    live_within: Duration,
) -> Result<(), MembershipError> {
    if remaining.is_empty() {
        return Err(MembershipError::LastVoter);
    }
    let live = remaining
        .iter()
        .filter(|id| **id == leader || heard.get(id).is_some_and(|ago| *ago <= live_within))
        .count();
    let majority = remaining.len() / 2 + 1;
    if live < majority {
        return Err(MembershipError::NoQuorum {
            remaining: remaining.len(),
            live,
            majority,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_removal_must_leave_a_live_majority() {
        // Goal: removing a dead voter from three is allowed; removing a
        // live one while another is dead is refused; the last voter is
        // never removed; an answer older than the window is not live.
        let window = Duration::from_secs(1);
        let fresh = Duration::from_millis(10);
        let heard = BTreeMap::from([(2, fresh)]);
        // 3 was down; 1 (leader) and 2 remain.
        assert!(removal_leaves_quorum(1, &set(&[1, 2]), &heard, window).is_ok());
        // 2 is removed while 3 is down: 1 and 3 remain, only 1 is live.
        let refused = removal_leaves_quorum(1, &set(&[1, 3]), &heard, window).unwrap_err();
        assert_eq!(
            refused,
            MembershipError::NoQuorum {
                remaining: 2,
                live: 1,
                majority: 2
            }
        );
        assert!(
            refused.to_string().contains("fewer than the 2 needed"),
            "{refused}"
        );
        assert_eq!(
            removal_leaves_quorum(1, &set(&[]), &heard, window),
            Err(MembershipError::LastVoter)
        );
        let stale = BTreeMap::from([(2, Duration::from_secs(5)), (3, fresh)]);
        assert!(removal_leaves_quorum(1, &set(&[1, 2, 3, 4]), &stale, window).is_err());
        let all = BTreeMap::from([(2, fresh), (3, fresh), (4, fresh)]);
        assert!(removal_leaves_quorum(1, &set(&[1, 2, 3, 4]), &all, window).is_ok());
        // The leader removing itself: the rest must carry the majority.
        assert!(removal_leaves_quorum(1, &set(&[2, 3]), &all, window).is_ok());
        assert!(removal_leaves_quorum(1, &set(&[2, 5]), &all, window).is_err());
    }
}
