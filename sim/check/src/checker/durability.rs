//! Durability: no acknowledged write is lost. After every fault has healed
//! and the cluster is quiescent, the workload reads each key once more; those
//! final reads must account for every acknowledged write. This is Jepsen's
//! final-read pattern: its set checker reports acknowledged elements missing
//! from the final read as lost, and its counter checker requires a read to lie
//! between the sum of acknowledged increments and the sum of all attempted
//! ones (`jepsen.checker/set`, `jepsen.checker/counter`).
//!
//! Register keys (SET/GET): the final value was written by a SET that was
//! acknowledged or Unknown (never by a Fail one, never out of thin air); it is
//! absent only if no SET was acknowledged; and if it was written only by
//! acknowledged SETs, one of them must not be superseded: a SET is superseded
//! by an acknowledged SET of another value invoked after it completed, which
//! therefore took effect after it.
//!
//! Counter keys (INCR/GET): with `acked` acknowledged and `unknown` Unknown
//! INCRs (Fail ones did not happen), the final value lies in
//! `[acked, acked + unknown]`, absent counting as 0; it is also at least the
//! largest value an acknowledged INCR returned, since that INCR's write
//! brought the counter there.
//!
//! Linearizability is checked separately ([`super::linearizable`]); this
//! checker asks only whether the end state kept what was promised.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::history::{Call, History, Operation, Outcome, Ret};

/// Why the final reads break durability, for the first key (in sorted order)
/// that does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DurabilityError {
    /// A key that writes may have reached has no final read.
    MissingFinalRead { key: String },
    /// The final reads disagree about one key.
    ConflictingFinalReads {
        key: String,
        first: Option<u64>,
        second: Option<u64>,
    },
    /// Both SETs and INCRs may have applied to the key, so neither rule fits.
    MixedWorkload { key: String },
    /// The register ends absent although a SET was acknowledged.
    AcknowledgedSetLost {
        key: String,
        set_id: u64,
        value: u64,
    },
    /// The register ends with a value no SET that may have applied wrote.
    ValueNeverWritten { key: String, value: u64 },
    /// The register ends with the value of a SET that failed, so never applied.
    FailedWriteApplied {
        key: String,
        set_id: u64,
        value: u64,
    },
    /// The register ends with a value that an acknowledged SET superseded:
    /// that later SET is lost.
    StaleFinalValue {
        key: String,
        value: u64,
        written_by: u64,
        superseded_by: u64,
        superseding_value: u64,
    },
    /// The counter ends outside the range the INCRs allow.
    CounterOutOfRange {
        key: String,
        final_value: Option<u64>,
        acked_incrs: u64,
        unknown_incrs: u64,
        /// The largest value an acknowledged INCR returned (0 if none).
        acked_counter_max: u64,
    },
}

impl fmt::Display for DurabilityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DurabilityError::MissingFinalRead { key } => write!(
                f,
                "key {key:?} has writes that may have applied but no final read, so its \
                 durability is unchecked."
            ),
            DurabilityError::ConflictingFinalReads { key, first, second } => write!(
                f,
                "key {key:?} has conflicting final reads {first:?} and {second:?} on a quiescent \
                 cluster."
            ),
            DurabilityError::MixedWorkload { key } => write!(
                f,
                "key {key:?} has both SETs and INCRs that may have applied; durability is defined \
                 for a register or a counter, not both."
            ),
            DurabilityError::AcknowledgedSetLost { key, set_id, value } => write!(
                f,
                "key {key:?} ends absent, but SET {value} (op {set_id}) was acknowledged: an \
                 acknowledged write was lost."
            ),
            DurabilityError::ValueNeverWritten { key, value } => write!(
                f,
                "key {key:?} ends with {value}, which no SET that may have applied wrote."
            ),
            DurabilityError::FailedWriteApplied { key, set_id, value } => write!(
                f,
                "key {key:?} ends with {value}, written only by op {set_id}, a SET that failed \
                 and so must not have applied."
            ),
            DurabilityError::StaleFinalValue {
                key,
                value,
                written_by,
                superseded_by,
                superseding_value,
            } => write!(
                f,
                "key {key:?} ends with {value} from op {written_by}, but SET {superseding_value} \
                 (op {superseded_by}) was acknowledged after op {written_by} completed: that \
                 acknowledged write was lost."
            ),
            DurabilityError::CounterOutOfRange {
                key,
                final_value,
                acked_incrs,
                unknown_incrs,
                acked_counter_max,
            } => {
                let floor = (*acked_incrs).max(*acked_counter_max);
                let ceiling = acked_incrs + unknown_incrs;
                let shown = final_value.map_or("absent (0)".to_string(), |v| v.to_string());
                write!(
                    f,
                    "counter {key:?} ends at {shown}, outside [{floor}, {ceiling}]: \
                     {acked_incrs} INCRs were acknowledged (the largest returned \
                     {acked_counter_max}) and {unknown_incrs} more may have applied; "
                )?;
                if final_value.unwrap_or(0) < floor {
                    write!(f, "acknowledged increments were lost.")
                } else {
                    write!(f, "an increment applied twice, or a failed one applied.")
                }
            }
        }
    }
}

impl std::error::Error for DurabilityError {}

/// Checks `final_reads` (each key's value read after all faults healed)
/// against the writes in `history`, key by key in sorted order.
pub fn check(
    history: &History,
    final_reads: &[(String, Option<u64>)],
) -> Result<(), DurabilityError> {
    let finals = final_values(final_reads)?;
    let mut keys: BTreeSet<&str> = history.operations.iter().map(|op| op.call.key()).collect();
    keys.extend(finals.keys().copied());
    for key in keys {
        let ops: Vec<&Operation> = history.for_key(key).collect();
        if ops.iter().any(|op| op.call.is_set() || op.call.is_list()) {
            continue; // the set and list checkers' (checker/set.rs, list.rs)
        }
        check_key(key, &ops, finals.get(key).copied())?;
    }
    Ok(())
}

fn final_values(
    final_reads: &[(String, Option<u64>)],
) -> Result<BTreeMap<&str, Option<u64>>, DurabilityError> {
    let mut finals: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    for (key, value) in final_reads {
        match finals.insert(key, *value) {
            Some(first) if first != *value => {
                return Err(DurabilityError::ConflictingFinalReads {
                    key: key.clone(),
                    first,
                    second: *value,
                });
            }
            _ => {}
        }
    }
    Ok(finals)
}

/// `final_read` is `None` when the key was not read at the end.
fn check_key(
    key: &str,
    ops: &[&Operation],
    final_read: Option<Option<u64>>,
) -> Result<(), DurabilityError> {
    let may_apply = |op: &&&Operation| op.outcome != Outcome::Fail;
    let sets_may_apply = ops.iter().filter(may_apply).any(|op| is_set(op));
    let incrs_may_apply = ops.iter().filter(may_apply).any(|op| is_incr(op));
    if sets_may_apply && incrs_may_apply {
        return Err(DurabilityError::MixedWorkload {
            key: key.to_string(),
        });
    }
    let Some(final_value) = final_read else {
        return if sets_may_apply || incrs_may_apply {
            Err(DurabilityError::MissingFinalRead {
                key: key.to_string(),
            })
        } else {
            Ok(())
        };
    };
    if incrs_may_apply {
        check_counter(key, ops, final_value)
    } else {
        check_register(key, ops, final_value)
    }
}

fn is_set(op: &Operation) -> bool {
    matches!(op.call, Call::Set { .. })
}

fn is_incr(op: &Operation) -> bool {
    matches!(op.call, Call::Incr { .. })
}

fn is_acked(op: &Operation) -> bool {
    matches!(op.outcome, Outcome::Ok(_))
}

/// The register rules; `ops` may hold Fail SETs and no INCR that may apply.
fn check_register(
    key: &str,
    ops: &[&Operation],
    final_value: Option<u64>,
) -> Result<(), DurabilityError> {
    let sets: Vec<(&Operation, u64)> = ops
        .iter()
        .filter_map(|op| match op.call {
            Call::Set { value, .. } => Some((*op, value)),
            _ => None,
        })
        .collect();
    let acked_sets = || sets.iter().copied().filter(|(op, _)| is_acked(op));
    let Some(value) = final_value else {
        // Absent is fine only if no SET was acknowledged; name the one
        // invoked last as lost.
        return match acked_sets().max_by_key(|(op, _)| (op.invoked_at_ns, op.id)) {
            Some((op, value)) => Err(DurabilityError::AcknowledgedSetLost {
                key: key.to_string(),
                set_id: op.id,
                value,
            }),
            None => Ok(()),
        };
    };
    let writers: Vec<&Operation> = sets
        .iter()
        .filter(|(op, written)| *written == value && op.outcome != Outcome::Fail)
        .map(|(op, _)| *op)
        .collect();
    if writers.is_empty() {
        let failed = sets.iter().find(|(_, written)| *written == value);
        return Err(match failed {
            Some((op, _)) => DurabilityError::FailedWriteApplied {
                key: key.to_string(),
                set_id: op.id,
                value,
            },
            None => DurabilityError::ValueNeverWritten {
                key: key.to_string(),
                value,
            },
        });
    }
    // An Unknown writer may have taken effect last of all; an acknowledged
    // one only if no acknowledged SET of another value had to follow it.
    let mut stale = None;
    for writer in writers {
        if writer.outcome == Outcome::Unknown {
            return Ok(());
        }
        let superseding = acked_sets()
            .filter(|(later, written)| {
                let completed_before = writer
                    .completed_at_ns
                    .is_some_and(|completed| completed < later.invoked_at_ns);
                *written != value && completed_before
            })
            .max_by_key(|(later, _)| (later.invoked_at_ns, later.id));
        match superseding {
            None => return Ok(()),
            Some(superseding) => stale = Some((writer, superseding)),
        }
    }
    let (writer, (later, later_value)) = stale.expect("writers is not empty");
    Err(DurabilityError::StaleFinalValue {
        key: key.to_string(),
        value,
        written_by: writer.id,
        superseded_by: later.id,
        superseding_value: later_value,
    })
}

/// The counter rules; `ops` holds no SET that may apply.
fn check_counter(
    key: &str,
    ops: &[&Operation],
    final_value: Option<u64>,
) -> Result<(), DurabilityError> {
    let incrs = || ops.iter().filter(|op| is_incr(op));
    let acked_incrs = incrs().filter(|op| is_acked(op)).count() as u64;
    let unknown_incrs = incrs().filter(|op| op.outcome == Outcome::Unknown).count() as u64;
    let acked_counter_max = incrs()
        .filter_map(|op| match op.outcome {
            Outcome::Ok(Ret::Counter(counter)) => u64::try_from(counter).ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let floor = acked_incrs.max(acked_counter_max);
    let ceiling = acked_incrs + unknown_incrs;
    let value = final_value.unwrap_or(0);
    if floor <= value && value <= ceiling {
        Ok(())
    } else {
        Err(DurabilityError::CounterOutOfRange {
            key: key.to_string(),
            final_value,
            acked_incrs,
            unknown_incrs,
            acked_counter_max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, call: Call, window_ns: (u64, u64), outcome: Outcome) -> Operation {
        Operation {
            id,
            client: id,
            call,
            invoked_at_ns: window_ns.0,
            completed_at_ns: Some(window_ns.1),
            outcome,
        }
    }

    fn set(id: u64, key: &str, value: u64, window_ns: (u64, u64), outcome: Outcome) -> Operation {
        let call = Call::Set {
            key: key.to_string(),
            value,
        };
        op(id, call, window_ns, outcome)
    }

    fn incr(id: u64, key: &str, window_ns: (u64, u64), outcome: Outcome) -> Operation {
        let call = Call::Incr {
            key: key.to_string(),
        };
        op(id, call, window_ns, outcome)
    }

    fn get(id: u64, key: &str, value: Option<u64>, window_ns: (u64, u64)) -> Operation {
        let call = Call::Get {
            key: key.to_string(),
        };
        op(id, call, window_ns, Outcome::Ok(Ret::Value(value)))
    }

    fn ok() -> Outcome {
        Outcome::Ok(Ret::Done)
    }

    fn counted(counter: i64) -> Outcome {
        Outcome::Ok(Ret::Counter(counter))
    }

    fn check_one(ops: Vec<Operation>, final_value: Option<u64>) -> Result<(), DurabilityError> {
        let history = History { operations: ops };
        check(&history, &[("k".to_string(), final_value)])
    }

    #[test]
    fn register_ending_with_last_acknowledged_set_passes() {
        // Goal: the plain case: the last acknowledged SET survives.
        let ops = vec![
            set(0, "k", 1, (0, 10), ok()),
            set(1, "k", 2, (20, 30), ok()),
        ];
        assert_eq!(check_one(ops, Some(2)), Ok(()));
    }

    #[test]
    fn register_may_end_with_either_of_concurrent_sets() {
        // Goal: concurrent acknowledged SETs may take effect in either order.
        for last in [1, 2] {
            let ops = vec![
                set(0, "k", 1, (0, 20), ok()),
                set(1, "k", 2, (10, 30), ok()),
            ];
            assert_eq!(check_one(ops, Some(last)), Ok(()), "ending with {last}");
        }
    }

    #[test]
    fn superseded_acknowledged_value_means_a_lost_write() {
        // Goal: ending with 1 after SET 2 was acknowledged strictly later loses SET 2.
        let ops = vec![
            set(0, "k", 1, (0, 10), ok()),
            set(1, "k", 2, (20, 30), ok()),
        ];
        assert_eq!(
            check_one(ops, Some(1)),
            Err(DurabilityError::StaleFinalValue {
                key: "k".to_string(),
                value: 1,
                written_by: 0,
                superseded_by: 1,
                superseding_value: 2,
            })
        );
    }

    #[test]
    fn touching_windows_are_concurrent() {
        // Goal: a SET invoked at the instant another completed does not supersede it.
        let ops = vec![
            set(0, "k", 1, (0, 10), ok()),
            set(1, "k", 2, (10, 30), ok()),
        ];
        assert_eq!(check_one(ops, Some(1)), Ok(()));
    }

    #[test]
    fn unknown_set_may_be_the_final_value() {
        // Goal: an Unknown SET may take effect after every acknowledged one, or never.
        let mut unknown = set(0, "k", 1, (0, 10), Outcome::Unknown);
        unknown.completed_at_ns = None;
        let ops = vec![unknown, set(1, "k", 2, (20, 30), ok())];
        assert_eq!(check_one(ops.clone(), Some(1)), Ok(()));
        assert_eq!(check_one(ops, Some(2)), Ok(()));
        let mut only_unknown = set(0, "k", 1, (0, 10), Outcome::Unknown);
        only_unknown.completed_at_ns = None;
        assert_eq!(check_one(vec![only_unknown], None), Ok(()));
    }

    #[test]
    fn absent_register_after_acknowledged_set_is_lost() {
        // Goal: ending absent loses every acknowledged SET; the last one is named.
        let ops = vec![
            set(0, "k", 1, (0, 10), ok()),
            set(1, "k", 2, (20, 30), ok()),
        ];
        assert_eq!(
            check_one(ops, None),
            Err(DurabilityError::AcknowledgedSetLost {
                key: "k".to_string(),
                set_id: 1,
                value: 2,
            })
        );
    }

    #[test]
    fn values_from_nowhere_or_from_failed_sets_are_rejected() {
        // Goal: the final value must come from a SET that may have applied.
        let ops = vec![
            set(0, "k", 1, (0, 10), ok()),
            set(1, "k", 2, (20, 30), Outcome::Fail),
        ];
        assert_eq!(
            check_one(ops.clone(), Some(2)),
            Err(DurabilityError::FailedWriteApplied {
                key: "k".to_string(),
                set_id: 1,
                value: 2,
            })
        );
        assert_eq!(
            check_one(ops, Some(9)),
            Err(DurabilityError::ValueNeverWritten {
                key: "k".to_string(),
                value: 9,
            })
        );
        let untouched = History::default();
        assert_eq!(
            check(&untouched, &[("fresh".to_string(), Some(3))]),
            Err(DurabilityError::ValueNeverWritten {
                key: "fresh".to_string(),
                value: 3,
            })
        );
        assert_eq!(check(&untouched, &[("fresh".to_string(), None)]), Ok(()));
    }

    #[test]
    fn counter_within_acknowledged_and_attempted_passes() {
        // Goal: acked <= final <= acked + unknown, Fail INCRs excluded, absent as 0.
        let mut ops = vec![
            incr(0, "k", (0, 10), counted(1)),
            incr(1, "k", (20, 30), counted(2)),
            incr(2, "k", (40, 50), Outcome::Fail),
        ];
        for id in 3..5 {
            let mut unknown = incr(id, "k", (60, 70), Outcome::Unknown);
            unknown.completed_at_ns = None;
            ops.push(unknown);
        }
        for final_value in 2..=4 {
            assert_eq!(
                check_one(ops.clone(), Some(final_value)),
                Ok(()),
                "{final_value}"
            );
        }
        for final_value in [None, Some(1), Some(5)] {
            assert!(
                matches!(
                    check_one(ops.clone(), final_value),
                    Err(DurabilityError::CounterOutOfRange { .. })
                ),
                "{final_value:?}"
            );
        }
        let unknown_only = vec![incr(0, "k", (0, 10), Outcome::Unknown)];
        assert_eq!(check_one(unknown_only, None), Ok(()));
    }

    #[test]
    fn counter_cannot_end_below_an_acknowledged_result() {
        // Goal: an acknowledged INCR that returned 3 raised the counter to at least 3.
        let mut ops: Vec<Operation> = (0..2)
            .map(|id| incr(id, "k", (0, 10), Outcome::Unknown))
            .collect();
        ops.push(incr(2, "k", (20, 30), counted(3)));
        assert_eq!(check_one(ops.clone(), Some(3)), Ok(()));
        let error = check_one(ops, Some(1)).expect_err("below the acknowledged result");
        assert_eq!(
            error,
            DurabilityError::CounterOutOfRange {
                key: "k".to_string(),
                final_value: Some(1),
                acked_incrs: 1,
                unknown_incrs: 2,
                acked_counter_max: 3,
            }
        );
        assert!(error.to_string().contains("lost"), "{error}");
    }

    #[test]
    fn malformed_inputs_are_reported() {
        // Goal: missing or conflicting final reads and mixed keys are errors, not passes.
        let ops = vec![set(0, "k", 1, (0, 10), ok())];
        let history = History { operations: ops };
        assert_eq!(
            check(&history, &[]),
            Err(DurabilityError::MissingFinalRead {
                key: "k".to_string()
            })
        );
        let conflicting = [("k".to_string(), Some(1)), ("k".to_string(), None)];
        assert!(matches!(
            check(&history, &conflicting),
            Err(DurabilityError::ConflictingFinalReads { .. })
        ));
        let mixed = vec![
            set(0, "k", 1, (0, 10), ok()),
            incr(1, "k", (20, 30), counted(2)),
        ];
        assert_eq!(
            check_one(mixed, Some(2)),
            Err(DurabilityError::MixedWorkload {
                key: "k".to_string()
            })
        );
        let reads_only = History {
            operations: vec![get(0, "r", None, (0, 10))],
        };
        assert_eq!(check(&reads_only, &[]), Ok(()));
    }

    #[test]
    fn keys_are_checked_in_sorted_order() {
        // Goal: the first failing key in sorted order is reported, and passing keys do not mask it.
        let ops = vec![
            set(0, "b", 1, (0, 10), ok()),
            set(1, "a", 1, (0, 10), ok()),
            incr(2, "c", (0, 10), counted(1)),
        ];
        let history = History { operations: ops };
        let finals = [
            ("c".to_string(), Some(0)),
            ("b".to_string(), None),
            ("a".to_string(), Some(1)),
        ];
        match check(&history, &finals) {
            Err(DurabilityError::AcknowledgedSetLost { key, .. }) => assert_eq!(key, "b"),
            other => panic!("expected key b to fail first, got {other:?}"),
        }
    }

    /// Xorshift64*: deterministic, good enough to shape test histories.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % bound
        }
    }

    /// Writes to one register key ("r") and one counter key ("c") by a
    /// correct store: each takes effect at an instant in its window (Unknown
    /// ones possibly much later, or never; Fail ones never). Returns the
    /// history and the indices of the ops that took effect, in effect order.
    fn generate(seed: u64) -> (History, Vec<usize>) {
        let mut rng = Rng::new(seed);
        let mut operations = Vec::new();
        let mut effects: Vec<(u64, usize)> = Vec::new();
        for id in 0..60 {
            let invoked_at_ns = id * 3 + rng.below(3);
            let effect_ns = invoked_at_ns + rng.below(20);
            let completed_ns = effect_ns + rng.below(20);
            let call = if rng.below(2) == 0 {
                Call::Set {
                    key: "r".to_string(),
                    value: id + 1,
                }
            } else {
                Call::Incr {
                    key: "c".to_string(),
                }
            };
            let (outcome, completed_at_ns, effect) = match rng.below(10) {
                0 => (Outcome::Fail, Some(completed_ns), None),
                1 => (Outcome::Unknown, None, None),
                2 => (Outcome::Unknown, None, Some(effect_ns + rng.below(60))),
                _ => (Outcome::Ok(Ret::Done), Some(completed_ns), Some(effect_ns)),
            };
            if let Some(effect_ns) = effect {
                effects.push((effect_ns, operations.len()));
            }
            operations.push(Operation {
                id,
                client: id % 5,
                call,
                invoked_at_ns,
                completed_at_ns,
                outcome,
            });
        }
        effects.sort_unstable();
        let effect_order: Vec<usize> = effects.into_iter().map(|(_, index)| index).collect();
        let mut counter = 0;
        for &index in &effect_order {
            let op = &mut operations[index];
            if let (Call::Incr { .. }, Outcome::Ok(_)) = (&op.call, &op.outcome) {
                counter += 1;
                op.outcome = Outcome::Ok(Ret::Counter(counter));
            } else if let Call::Incr { .. } = op.call {
                counter += 1;
            }
        }
        (History { operations }, effect_order)
    }

    /// The final reads after applying the writes at `applied`, in order.
    fn final_reads(history: &History, applied: &[usize]) -> Vec<(String, Option<u64>)> {
        let (mut register, mut counter) = (None, 0);
        for &index in applied {
            match history.operations[index].call {
                Call::Set { value, .. } => register = Some(value),
                Call::Incr { .. } => counter += 1,
                Call::Get { .. }
                | Call::SAdd { .. }
                | Call::SMembers { .. }
                | Call::Append { .. }
                | Call::ReadList { .. }
                | Call::SRem { .. }
                | Call::SIsMember { .. }
                | Call::Enqueue { .. }
                | Call::Dequeue { .. } => {}
            }
        }
        let counter = Some(counter).filter(|&n| n > 0);
        vec![("r".to_string(), register), ("c".to_string(), counter)]
    }

    #[test]
    fn correct_stores_pass_and_lost_last_writes_fail() {
        // Goal: a correct store passes; losing its last acknowledged write is caught when certain.
        let (mut certain, mut caught) = (0, 0);
        for seed in 0..400 {
            let (history, applied) = generate(seed);
            let finals = final_reads(&history, &applied);
            assert_eq!(check(&history, &finals), Ok(()), "seed {seed}");
            for key in ["r", "c"] {
                let on_key = |index: &&usize| history.operations[**index].call.key() == key;
                let Some(&last) = applied.iter().rev().find(on_key) else {
                    continue;
                };
                let lost = &history.operations[last];
                if !is_acked(lost) {
                    continue;
                }
                let previous = applied
                    .iter()
                    .rev()
                    .filter(on_key)
                    .nth(1)
                    .map(|&index| &history.operations[index]);
                // Certain: the lost INCR returned the final count; the lost SET
                // followed the previous writer in real time, or nothing preceded it.
                let is_certain = is_incr(lost)
                    || previous.is_none_or(|previous| {
                        is_acked(previous) && previous.completed_at_ns < Some(lost.invoked_at_ns)
                    });
                let remaining: Vec<usize> =
                    applied.iter().copied().filter(|&i| i != last).collect();
                let rejected = check(&history, &final_reads(&history, &remaining)).is_err();
                if is_certain {
                    certain += 1;
                    caught += usize::from(rejected);
                }
            }
        }
        assert!(certain > 100, "only {certain} certain losses");
        assert_eq!(caught, certain, "every certain loss must be caught");
    }
}
