//! Lists: the list workload's history (RPUSH of unique values, LRANGE 0 -1
//! reads) is consistent with a linearizable append-only list.
//!
//! After Jepsen's list-append workload (Elle's checks for a single key,
//! without transactions): since the list only grows at its tail, every read
//! is a prefix of the one true order of appends. Checked, per list key,
//! over operations that completed `Ok`:
//! 1. a read holds no value twice, and only values of appends invoked
//!    before the read completed and not known to have failed;
//! 2. any two reads are prefixes of one another (the list never forks or
//!    loses its head), and a read that completed before another began is
//!    the shorter;
//! 3. every append acknowledged before a read began is in that read;
//! 4. if an append was acknowledged before another was invoked, the first
//!    comes first in every read that holds the second.

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Call, History, Operation, Outcome, Ret};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListError {
    #[error("key {key}: read #{read} holds {value} twice")]
    Duplicate { key: String, read: u64, value: u64 },
    #[error("key {key}: read #{read} holds {value}, which no append invoked before the read completed (and not failed) added")]
    Phantom { key: String, read: u64, value: u64 },
    #[error("key {key}: reads #{a} and #{b} are not prefixes of one another (the list forked)")]
    Forked { key: String, a: u64, b: u64 },
    #[error("key {key}: read #{earlier} completed before read #{later} began, yet holds more")]
    Shrank {
        key: String,
        earlier: u64,
        later: u64,
    },
    #[error("key {key}: the append of {value} was acknowledged before read #{read} began, but the read lacks it")]
    LostAppend { key: String, read: u64, value: u64 },
    #[error("key {key}: read #{read} holds {later} before {earlier}, though {earlier} was acknowledged before {later} was appended")]
    Reordered {
        key: String,
        read: u64,
        earlier: u64,
        later: u64,
    },
}

pub fn check(history: &History) -> Result<(), ListError> {
    let mut by_key: BTreeMap<&str, Vec<&Operation>> = BTreeMap::new();
    for op in history.operations.iter().filter(|op| op.call.is_list()) {
        by_key.entry(op.call.key()).or_default().push(op);
    }
    for (key, ops) in by_key {
        check_key(key, &ops)?;
    }
    Ok(())
}

/// Every append of one value (a failed append is retried with the same
/// value).
#[derive(Default)]
struct Appends {
    /// Earliest invocation of an attempt not known to have failed.
    invoked_ns: Option<u64>,
    /// Earliest acknowledgement.
    acked_ns: Option<u64>,
}

struct Read<'a> {
    op: &'a Operation,
    completed_ns: u64,
    items: &'a [u64],
}

fn check_key(key: &str, ops: &[&Operation]) -> Result<(), ListError> {
    let mut appends: BTreeMap<u64, Appends> = BTreeMap::new();
    let mut reads = Vec::new();
    for op in ops {
        match (&op.call, &op.outcome) {
            (Call::Append { value, .. }, outcome) => {
                let entry = appends.entry(*value).or_default();
                if *outcome != Outcome::Fail {
                    entry.invoked_ns = Some(
                        entry
                            .invoked_ns
                            .map_or(op.invoked_at_ns, |t| t.min(op.invoked_at_ns)),
                    );
                }
                if let (Outcome::Ok(_), Some(done)) = (outcome, op.completed_at_ns) {
                    entry.acked_ns = Some(entry.acked_ns.map_or(done, |t| t.min(done)));
                }
            }
            (Call::ReadList { .. }, Outcome::Ok(Ret::Items(items))) => {
                if let Some(completed_ns) = op.completed_at_ns {
                    reads.push(Read {
                        op,
                        completed_ns,
                        items,
                    });
                }
            }
            _ => {}
        }
    }
    let err_key = || key.to_string();
    for read in &reads {
        let mut seen = BTreeSet::new();
        for &value in read.items {
            if !seen.insert(value) {
                return Err(ListError::Duplicate {
                    key: err_key(),
                    read: read.op.id,
                    value,
                });
            }
            let added = appends
                .get(&value)
                .and_then(|a| a.invoked_ns)
                .is_some_and(|invoked| invoked < read.completed_ns);
            if !added {
                return Err(ListError::Phantom {
                    key: err_key(),
                    read: read.op.id,
                    value,
                });
            }
        }
        for (&value, append) in &appends {
            if append
                .acked_ns
                .is_some_and(|acked| acked < read.op.invoked_at_ns)
                && !seen.contains(&value)
            {
                return Err(ListError::LostAppend {
                    key: err_key(),
                    read: read.op.id,
                    value,
                });
            }
        }
        // Rule 4, within this read: an append acknowledged before another
        // was invoked sits before it. With the acknowledged appends sorted
        // by acknowledgement, the ones acknowledged before `later` began are
        // a prefix of that order; their furthest position must be before
        // `later`'s (missing counts as furthest).
        let position: BTreeMap<u64, usize> = read
            .items
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, i))
            .collect();
        let mut acked: Vec<(u64, u64)> = appends
            .iter()
            .filter_map(|(value, a)| a.acked_ns.map(|t| (t, *value)))
            .collect();
        acked.sort_unstable();
        let mut furthest = Vec::with_capacity(acked.len());
        let mut so_far: Option<(usize, u64)> = None;
        for (_, value) in &acked {
            let at = position.get(value).copied().unwrap_or(usize::MAX);
            if so_far.is_none_or(|(max, _)| at > max) {
                so_far = Some((at, *value));
            }
            furthest.push(so_far.expect("set above"));
        }
        for (later_at, later) in read.items.iter().enumerate() {
            let Some(later_invoked) = appends.get(later).and_then(|a| a.invoked_ns) else {
                continue;
            };
            let before = acked.partition_point(|(t, _)| *t < later_invoked);
            if before == 0 {
                continue;
            }
            let (at, earlier) = furthest[before - 1];
            if at > later_at {
                return Err(ListError::Reordered {
                    key: err_key(),
                    read: read.op.id,
                    earlier,
                    later: *later,
                });
            }
        }
    }
    for (i, a) in reads.iter().enumerate() {
        for b in &reads[i + 1..] {
            let (short, long) = if a.items.len() <= b.items.len() {
                (a, b)
            } else {
                (b, a)
            };
            if long.items[..short.items.len()] != *short.items {
                return Err(ListError::Forked {
                    key: err_key(),
                    a: a.op.id,
                    b: b.op.id,
                });
            }
            for (earlier, later) in [(a, b), (b, a)] {
                if earlier.completed_ns < later.op.invoked_at_ns
                    && earlier.items.len() > later.items.len()
                {
                    return Err(ListError::Shrank {
                        key: err_key(),
                        earlier: earlier.op.id,
                        later: later.op.id,
                    });
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(id: u64, value: u64, window_ns: (u64, u64), outcome: Outcome) -> Operation {
        Operation {
            id,
            client: id,
            call: Call::Append {
                key: "l".into(),
                value,
            },
            invoked_at_ns: window_ns.0,
            completed_at_ns: Some(window_ns.1),
            outcome,
        }
    }

    fn read(id: u64, items: &[u64], window_ns: (u64, u64)) -> Operation {
        Operation {
            id,
            client: id,
            call: Call::ReadList { key: "l".into() },
            invoked_at_ns: window_ns.0,
            completed_at_ns: Some(window_ns.1),
            outcome: Outcome::Ok(Ret::Items(items.to_vec())),
        }
    }

    fn ok() -> Outcome {
        Outcome::Ok(Ret::Length(1))
    }

    fn run(ops: Vec<Operation>) -> Result<(), ListError> {
        check(&History { operations: ops })
    }

    #[test]
    fn a_consistent_history_passes() {
        // Goal: concurrent appends in either order, unknown appends seen or
        // not, growing reads.
        assert_eq!(
            run(vec![
                append(1, 1, (0, 10), ok()),
                append(2, 2, (5, 30), ok()),
                append(3, 3, (6, 31), ok()),
                read(4, &[1], (11, 12)),
                read(5, &[1, 3, 2], (40, 50)),
                append(6, 4, (51, 52), Outcome::Unknown),
                read(7, &[1, 3, 2, 4], (60, 70)),
            ]),
            Ok(())
        );
    }

    #[test]
    fn each_violation_is_caught() {
        // Goal: every rule fails on a history that breaks it.
        let dup = run(vec![append(1, 1, (0, 1), ok()), read(2, &[1, 1], (2, 3))]);
        assert!(matches!(dup, Err(ListError::Duplicate { .. })));
        let phantom = run(vec![read(1, &[9], (0, 1))]);
        assert!(matches!(phantom, Err(ListError::Phantom { .. })));
        let failed = run(vec![
            append(1, 9, (0, 1), Outcome::Fail),
            read(2, &[9], (2, 3)),
        ]);
        assert!(matches!(failed, Err(ListError::Phantom { .. })));
        let lost = run(vec![append(1, 1, (0, 1), ok()), read(2, &[], (2, 3))]);
        assert!(matches!(lost, Err(ListError::LostAppend { .. })));
        let forked = run(vec![
            append(1, 1, (0, 10), ok()),
            append(2, 2, (0, 10), ok()),
            read(3, &[1, 2], (11, 12)),
            read(4, &[2, 1], (11, 12)),
        ]);
        assert!(matches!(forked, Err(ListError::Forked { .. })));
        let shrank = run(vec![
            append(1, 1, (0, 100), Outcome::Unknown),
            read(2, &[1], (10, 20)),
            read(3, &[], (30, 40)),
        ]);
        assert!(matches!(shrank, Err(ListError::Shrank { .. })));
        let reordered = run(vec![
            append(1, 1, (0, 10), ok()),
            append(2, 2, (11, 20), ok()),
            read(3, &[2, 1], (21, 30)),
        ]);
        assert!(matches!(reordered, Err(ListError::Reordered { .. })));
    }
}
