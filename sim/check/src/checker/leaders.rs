//! At most one leader per term, and the Log Matching property.
//!
//! Election Safety (Raft §5.2): at most one leader can be elected in a given
//! term. Log Matching (Raft §5.3): if two logs contain an entry with the same
//! index and term, the logs are identical in all entries up through that
//! index. Raft metrics are sampled on every node during the run; the logs are
//! compared entry by entry (index, term, checksum of the record) at the end.

use std::collections::{BTreeMap, BTreeSet};

/// A node observed claiming leadership of `term`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct LeaderSample {
    pub at_ns: u64,
    pub node: u64,
    pub term: u64,
}

pub fn check_one_leader_per_term(samples: &[LeaderSample]) -> Result<(), String> {
    let mut leaders: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
    for sample in samples {
        let nodes = leaders.entry(sample.term).or_default();
        nodes.insert(sample.node);
        if nodes.len() > 1 {
            return Err(format!(
                "term {} had leaders {:?} (seen at {}ms)",
                sample.term,
                nodes,
                sample.at_ns / 1_000_000
            ));
        }
    }
    Ok(())
}

/// A node's log: (index, term, checksum of the entry) in index order.
pub type LogDigest = Vec<(u64, u64, u32)>;

/// A node's log as index -> (term, checksum).
type LogByIndex = BTreeMap<u64, (u64, u32)>;

pub fn check_log_matching(logs: &[(u64, LogDigest)]) -> Result<(), String> {
    let maps: Vec<(u64, LogByIndex)> = logs
        .iter()
        .map(|(node, digest)| {
            (
                *node,
                digest.iter().map(|(i, t, c)| (*i, (*t, *c))).collect(),
            )
        })
        .collect();
    for (a_index, (a_node, a)) in maps.iter().enumerate() {
        for (b_node, b) in &maps[a_index + 1..] {
            for (index, (term, sum)) in a {
                if let Some((other_term, other_sum)) = b.get(index) {
                    if term == other_term && sum != other_sum {
                        return Err(format!(
                            "log matching violated: nodes {a_node} and {b_node} hold different entries at index {index} of term {term}"
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_leaders_in_one_term_are_caught() {
        // Goal: one leader per term passes, two fail.
        let one = [
            LeaderSample {
                at_ns: 0,
                node: 1,
                term: 3,
            },
            LeaderSample {
                at_ns: 5,
                node: 1,
                term: 3,
            },
        ];
        assert!(check_one_leader_per_term(&one).is_ok());
        let two = [
            LeaderSample {
                at_ns: 0,
                node: 1,
                term: 3,
            },
            LeaderSample {
                at_ns: 5,
                node: 2,
                term: 3,
            },
        ];
        assert!(check_one_leader_per_term(&two).is_err());
    }

    #[test]
    fn differing_entries_of_one_term_are_caught() {
        // Goal: same index and term with different content fails; different terms pass.
        let a = (1, vec![(1, 1, 10), (2, 1, 20)]);
        let b = (2, vec![(1, 1, 10), (2, 2, 99)]);
        assert!(check_log_matching(&[a.clone(), b]).is_ok());
        let c = (3, vec![(1, 1, 10), (2, 1, 21)]);
        assert!(check_log_matching(&[a, c]).is_err());
    }
}
