//! Sets: the set workload's history (SADD of unique members, SMEMBERS reads)
//! is consistent with a linearizable grow-only set.
//!
//! After Jepsen's `set` workload (jepsen.checker/set and set-full): no
//! acknowledged add is lost, nothing appears that was never added, and, as
//! set-full adds, a read sees every add acknowledged before the read began
//! and never loses what an earlier read saw. For a grow-only set under
//! linearizability these are exactly the real-time constraints; a read
//! that sees an add still in flight (or one whose outcome is unknown) is
//! allowed, as that add may take effect first.
//!
//! Checks, per set key, over operations that completed `Ok`:
//! 1. every member a read returns was added by an SADD invoked before the
//!    read completed;
//! 2. every SADD acknowledged before a read was invoked is in that read;
//! 3. if read A completed before read B was invoked, A's members are a
//!    subset of B's.
//!
//! The final read after healing is an ordinary read invoked after every
//! acknowledged add, so rule 2 makes it the "no acknowledged add lost"
//! check.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Call, History, Operation, Outcome, Ret};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SetError {
    #[error("key {key}: read #{read} returned member {member}, which no SADD invoked before the read completed (and not failed) added")]
    Phantom { key: String, read: u64, member: u64 },
    #[error("key {key}: SADD #{add} of {member} was acknowledged before read #{read} began, but the read lacks it")]
    LostAdd {
        key: String,
        add: u64,
        read: u64,
        member: u64,
    },
    #[error("key {key}: read #{earlier} saw {member}, but the later read #{later} does not")]
    Shrank {
        key: String,
        earlier: u64,
        later: u64,
        member: u64,
    },
}

pub fn check(history: &History) -> Result<(), SetError> {
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in history.operations.iter().filter(|op| op.call.is_set()) {
        by_key.entry(op.call.key()).or_default().push(op);
    }
    for (key, ops) in by_key {
        check_key(key, &ops)?;
    }
    Ok(())
}

/// One SADD of a member.
struct Attempt {
    id: u64,
    invoked_ns: u64,
    /// When it was acknowledged, if it was.
    acked_ns: Option<u64>,
    /// It certainly did not take effect.
    failed: bool,
}

struct Read<'a> {
    op: &'a Operation,
    completed_ns: u64,
    members: BTreeSet<u64>,
}

fn check_key(key: &str, ops: &[&Operation]) -> Result<(), SetError> {
    // member -> every SADD of it (a client retries a failed add with the
    // same member).
    let mut adds: BTreeMap<u64, Vec<Attempt>> = BTreeMap::new();
    let mut reads = Vec::new();
    for op in ops {
        match (&op.call, &op.outcome) {
            (Call::SAdd { member, .. }, outcome) => {
                let acked = match outcome {
                    Outcome::Ok(_) => op.completed_at_ns,
                    Outcome::Fail | Outcome::Unknown => None,
                };
                let failed = *outcome == Outcome::Fail;
                adds.entry(*member).or_default().push(Attempt {
                    id: op.id,
                    invoked_ns: op.invoked_at_ns,
                    acked_ns: acked,
                    failed,
                });
            }
            (Call::SMembers { .. }, Outcome::Ok(Ret::Members(members))) => {
                if let Some(completed_ns) = op.completed_at_ns {
                    reads.push(Read {
                        op,
                        completed_ns,
                        members: members.iter().copied().collect(),
                    });
                }
            }
            _ => {}
        }
    }
    for read in &reads {
        for &member in &read.members {
            let added_in_time = adds.get(&member).is_some_and(|attempts| {
                attempts
                    .iter()
                    .any(|a| !a.failed && a.invoked_ns < read.completed_ns)
            });
            if !added_in_time {
                return Err(SetError::Phantom {
                    key: key.to_string(),
                    read: read.op.id,
                    member,
                });
            }
        }
        for (&member, attempts) in &adds {
            for attempt in attempts {
                if attempt
                    .acked_ns
                    .is_some_and(|acked_ns| acked_ns < read.op.invoked_at_ns)
                    && !read.members.contains(&member)
                {
                    return Err(SetError::LostAdd {
                        key: key.to_string(),
                        add: attempt.id,
                        read: read.op.id,
                        member,
                    });
                }
            }
        }
    }
    for earlier in &reads {
        for later in reads
            .iter()
            .filter(|later| earlier.completed_ns < later.op.invoked_at_ns)
        {
            if let Some(&member) = earlier.members.difference(&later.members).next() {
                return Err(SetError::Shrank {
                    key: key.to_string(),
                    earlier: earlier.op.id,
                    later: later.op.id,
                    member,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(id: u64, member: u64, window_ns: (u64, u64), outcome: Outcome) -> Operation {
        Operation {
            id,
            client: id,
            call: Call::SAdd {
                key: "s".into(),
                member,
            },
            invoked_at_ns: window_ns.0,
            completed_at_ns: Some(window_ns.1),
            outcome,
        }
    }

    fn read(id: u64, members: &[u64], window_ns: (u64, u64)) -> Operation {
        Operation {
            id,
            client: id,
            call: Call::SMembers { key: "s".into() },
            invoked_at_ns: window_ns.0,
            completed_at_ns: Some(window_ns.1),
            outcome: Outcome::Ok(Ret::Members(members.to_vec())),
        }
    }

    fn ok() -> Outcome {
        Outcome::Ok(Ret::Added(1))
    }

    fn run(ops: Vec<Operation>) -> Result<(), SetError> {
        check(&History { operations: ops })
    }

    #[test]
    fn a_consistent_history_passes() {
        // Goal: concurrent adds may or may not be seen; unknown adds may
        // appear; reads grow.
        assert_eq!(
            run(vec![
                add(1, 10, (0, 10), ok()),
                add(2, 20, (5, 30), ok()),
                read(3, &[10], (12, 15)),
                add(4, 30, (16, 17), Outcome::Unknown),
                read(5, &[10, 20, 30], (40, 50)),
            ]),
            Ok(())
        );
    }

    #[test]
    fn a_lost_acknowledged_add_fails() {
        // Goal: an add acknowledged before a read began must be in it.
        assert!(matches!(
            run(vec![add(1, 10, (0, 10), ok()), read(2, &[], (11, 12))]),
            Err(SetError::LostAdd { member: 10, .. })
        ));
    }

    #[test]
    fn a_member_from_nowhere_fails() {
        // Goal: a read cannot return a member never added, or added only
        // after the read completed, or whose add failed... (a failed add may
        // not appear: it certainly did not take effect).
        assert!(matches!(
            run(vec![read(1, &[99], (0, 5))]),
            Err(SetError::Phantom { member: 99, .. })
        ));
        assert!(matches!(
            run(vec![read(1, &[7], (0, 5)), add(2, 7, (6, 8), ok())]),
            Err(SetError::Phantom { member: 7, .. })
        ));
        assert!(matches!(
            run(vec![
                add(1, 8, (0, 5), Outcome::Fail),
                read(2, &[8], (6, 9))
            ]),
            Err(SetError::Phantom { member: 8, .. })
        ));
        // A failed add retried with the same member may appear.
        assert_eq!(
            run(vec![
                add(1, 8, (0, 5), Outcome::Fail),
                add(2, 8, (6, 20), Outcome::Unknown),
                read(3, &[8], (7, 9)),
            ]),
            Ok(())
        );
    }

    #[test]
    fn a_shrinking_set_fails() {
        // Goal: what one read saw, a later read must see too.
        assert!(matches!(
            run(vec![
                add(1, 10, (0, 100), Outcome::Unknown),
                read(2, &[10], (10, 20)),
                read(3, &[], (30, 40)),
            ]),
            Err(SetError::Shrank { member: 10, .. })
        ));
    }
}
