//! The set model: a key holds a set of members, empty at first. SADD m adds
//! m and returns 1 if it was new, else 0; SREM m removes m and returns 1 if
//! it was there, else 0; SISMEMBER m returns whether m is there; SMEMBERS
//! returns every member, sorted. Unlike the simulator's grow-only set
//! checker (`checker/set.rs`), it allows removes, and it holds every
//! reply, not only reads, to the sequential specification.
//!
//! SISMEMBER and SMEMBERS are reads. Nothing else is declared: SADD and
//! SREM depend on the state before them, and the set can return to an
//! earlier state, so no other pruning rule applies.

use std::collections::BTreeSet;

use super::model::Model;
use crate::history::{Call, Ret};

/// The set model (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct SetModel;

/// The members.
pub type SetState = BTreeSet<u64>;

impl Model for SetModel {
    type State = SetState;

    fn name(&self) -> &'static str {
        "set"
    }

    fn owns(&self, call: &Call) -> bool {
        matches!(
            call,
            Call::SAdd { .. } | Call::SRem { .. } | Call::SIsMember { .. } | Call::SMembers { .. }
        )
    }

    fn init(&self) -> SetState {
        SetState::new()
    }

    fn step(&self, state: &SetState, call: &Call) -> Option<(SetState, Ret)> {
        match call {
            Call::SAdd { member, .. } => {
                let mut state_after = state.clone();
                let added = state_after.insert(*member);
                Some((state_after, Ret::Added(i64::from(added))))
            }
            Call::SRem { member, .. } => {
                let mut state_after = state.clone();
                let removed = state_after.remove(member);
                Some((state_after, Ret::Removed(i64::from(removed))))
            }
            Call::SIsMember { member, .. } => {
                Some((state.clone(), Ret::IsMember(state.contains(member))))
            }
            Call::SMembers { .. } => {
                Some((state.clone(), Ret::Members(state.iter().copied().collect())))
            }
            _ => None,
        }
    }

    fn is_read_only(&self, call: &Call) -> bool {
        matches!(call, Call::SIsMember { .. } | Call::SMembers { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::linearizable::tests::{
        agrees_with_reference_under, generate_with, op, unknown, Rng,
    };
    use crate::checker::linearizable::{check, check_key_with, check_with, LinearizabilityError};
    use crate::history::{History, Operation, Outcome};

    const KEY: &str = "s";

    fn sadd(id: u64, member: u64, window_ns: (u64, u64), added: i64) -> Operation {
        let call = Call::SAdd {
            key: KEY.to_string(),
            member,
        };
        op(id, call, window_ns, Outcome::Ok(Ret::Added(added)))
    }

    fn srem(id: u64, member: u64, window_ns: (u64, u64), removed: i64) -> Operation {
        let call = Call::SRem {
            key: KEY.to_string(),
            member,
        };
        op(id, call, window_ns, Outcome::Ok(Ret::Removed(removed)))
    }

    fn contains(id: u64, member: u64, window_ns: (u64, u64), is_member: bool) -> Operation {
        let call = Call::SIsMember {
            key: KEY.to_string(),
            member,
        };
        op(id, call, window_ns, Outcome::Ok(Ret::IsMember(is_member)))
    }

    fn members(id: u64, members: &[u64], window_ns: (u64, u64)) -> Operation {
        let call = Call::SMembers {
            key: KEY.to_string(),
        };
        op(
            id,
            call,
            window_ns,
            Outcome::Ok(Ret::Members(members.to_vec())),
        )
    }

    fn check_ops(ops: &[Operation]) -> Result<(), LinearizabilityError> {
        let refs: Vec<&Operation> = ops.iter().collect();
        check_key_with(&SetModel, &refs)
    }

    fn stuck_at(result: Result<(), LinearizabilityError>) -> Vec<u64> {
        match result {
            Err(LinearizabilityError::NotLinearizable { stuck_at, .. }) => stuck_at,
            other => panic!("expected NotLinearizable, got {other:?}"),
        }
    }

    #[test]
    fn sequential_adds_removes_and_reads_pass() {
        // Goal: a history that follows the specification one op at a time passes.
        let ops = [
            members(0, &[], (0, 5)),
            sadd(1, 1, (10, 20), 1),
            sadd(2, 2, (30, 40), 1),
            sadd(3, 1, (50, 60), 0),
            contains(4, 1, (70, 80), true),
            srem(5, 1, (90, 100), 1),
            srem(6, 1, (110, 120), 0),
            contains(7, 1, (130, 140), false),
            members(8, &[2], (150, 160)),
        ];
        assert_eq!(check_ops(&ops), Ok(()));
    }

    #[test]
    fn a_read_concurrent_with_an_add_or_remove_may_see_either_side() {
        // Goal: overlapping ops may take effect in either order.
        for seen in [false, true] {
            let ops = [
                sadd(0, 1, (0, 10), 1),
                srem(1, 1, (20, 40), 1),
                contains(2, 1, (25, 30), seen),
            ];
            assert_eq!(check_ops(&ops), Ok(()), "contains {seen}");
        }
        let ops = [sadd(0, 7, (0, 10), 1), members(1, &[], (5, 15))];
        assert_eq!(check_ops(&ops), Ok(()));
    }

    #[test]
    fn an_unknown_remove_may_explain_a_missing_member() {
        // Goal: an Unknown SREM may have taken effect; without it the read is stale.
        let ops = [
            sadd(0, 1, (0, 10), 1),
            unknown(srem(1, 1, (20, 30), 1)),
            members(2, &[], (100, 110)),
        ];
        assert_eq!(check_ops(&ops), Ok(()));
        let without = [sadd(0, 1, (0, 10), 1), members(2, &[], (100, 110))];
        assert_eq!(stuck_at(check_ops(&without)), vec![2]);
    }

    #[test]
    fn a_member_read_after_its_remove_completed_fails() {
        // Goal: a stale read: the remove completed before the read began.
        let ops = [
            sadd(0, 1, (0, 10), 1),
            srem(1, 1, (20, 30), 1),
            contains(2, 1, (40, 50), true),
        ];
        assert_eq!(stuck_at(check_ops(&ops)), vec![2]);
    }

    #[test]
    fn an_add_that_lost_a_concurrent_add_fails() {
        // Goal: two adds of one member cannot both report it new, concurrent or not.
        let sequential = [sadd(0, 1, (0, 10), 1), sadd(1, 1, (20, 30), 1)];
        assert!(check_ops(&sequential).is_err());
        let concurrent = [sadd(0, 1, (0, 10), 1), sadd(1, 1, (5, 15), 1)];
        assert!(check_ops(&concurrent).is_err());
        let fine = [sadd(0, 1, (0, 10), 1), sadd(1, 1, (5, 15), 0)];
        assert_eq!(check_ops(&fine), Ok(()));
    }

    #[test]
    fn a_member_never_added_or_an_acknowledged_add_missing_fails() {
        // Goal: reads can neither invent a member nor lose an acknowledged add.
        let phantom = [sadd(0, 1, (0, 10), 1), members(1, &[1, 9], (20, 30))];
        assert_eq!(stuck_at(check_ops(&phantom)), vec![1]);
        let lost = [
            sadd(0, 1, (0, 10), 1),
            sadd(1, 2, (0, 10), 1),
            members(2, &[2], (20, 30)),
        ];
        assert_eq!(stuck_at(check_ops(&lost)), vec![2]);
        let removed_from_nothing = [srem(0, 4, (0, 10), 1)];
        assert_eq!(stuck_at(check_ops(&removed_from_nothing)), vec![0]);
    }

    #[test]
    fn the_failure_names_the_set_model() {
        // Goal: the message says which model no order satisfies.
        let ops = [sadd(0, 1, (0, 10), 1), contains(1, 1, (20, 30), false)];
        let message = check_ops(&ops).expect_err("lost add").to_string();
        assert!(message.contains("the set model"), "{message}");
    }

    #[test]
    fn check_with_takes_only_the_keys_the_model_owns() {
        // Goal: the set model checks set keys and skips register keys, and the register check skips set keys.
        let mut register_read = op(
            9,
            Call::Get {
                key: "r".to_string(),
            },
            (0, 5),
            Outcome::Ok(Ret::Value(Some(3))),
        );
        let set_ok = History {
            operations: vec![sadd(0, 1, (0, 10), 1), register_read.clone()],
        };
        assert_eq!(check_with(&SetModel, &set_ok), Ok(()));
        assert!(
            check(&set_ok).is_err(),
            "the register key reads a value never written"
        );
        register_read.outcome = Outcome::Ok(Ret::Value(None));
        let set_bad = History {
            operations: vec![srem(0, 1, (0, 10), 1), register_read],
        };
        assert_eq!(check(&set_bad), Ok(()));
        match check_with(&SetModel, &set_bad) {
            Err(LinearizabilityError::NotLinearizable { key, model, .. }) => {
                assert_eq!((key.as_str(), model), (KEY, "set"));
            }
            other => panic!("expected the set key to fail, got {other:?}"),
        }
    }

    #[test]
    fn agrees_with_reference_on_tiny_set_histories() {
        // Goal: on tiny arbitrary set histories the verdict equals the plain reference search's.
        let mut rng = Rng::new(11);
        let mut verdicts = [0; 2];
        for case in 0..3_000 {
            let ops = generate_with(&SetModel, &mut rng, 7, |rng| {
                let key = KEY.to_string();
                let member = 1 + rng.below(3);
                match rng.below(20) {
                    0..=6 => Call::SAdd { key, member },
                    7..=10 => Call::SRem { key, member },
                    11..=15 => Call::SIsMember { key, member },
                    _ => Call::SMembers { key },
                }
            });
            let expected = agrees_with_reference_under(&SetModel, &ops, &format!("case {case}"));
            verdicts[usize::from(expected)] += 1;
        }
        assert!(
            verdicts[0] > 300 && verdicts[1] > 300,
            "verdicts {verdicts:?}"
        );
    }
}
