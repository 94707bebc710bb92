//! The register/counter model's tests, and the plain exhaustive search
//! ([`reference`]) that every model's tests compare verdicts with.

use std::collections::HashSet;

use super::*;
use crate::history::{Call, Outcome, Ret};

const KEY: &str = "k";

pub(super) fn op(id: u64, call: Call, window_ns: (u64, u64), outcome: Outcome) -> Operation {
    Operation {
        id,
        client: id,
        call,
        invoked_at_ns: window_ns.0,
        completed_at_ns: Some(window_ns.1),
        outcome,
    }
}

fn set(id: u64, value: u64, window_ns: (u64, u64)) -> Operation {
    let call = Call::Set {
        key: KEY.to_string(),
        value,
    };
    op(id, call, window_ns, Outcome::Ok(Ret::Done))
}

fn get(id: u64, value: Option<u64>, window_ns: (u64, u64)) -> Operation {
    let call = Call::Get {
        key: KEY.to_string(),
    };
    op(id, call, window_ns, Outcome::Ok(Ret::Value(value)))
}

fn incr(id: u64, counter: i64, window_ns: (u64, u64)) -> Operation {
    let call = Call::Incr {
        key: KEY.to_string(),
    };
    op(id, call, window_ns, Outcome::Ok(Ret::Counter(counter)))
}

pub(super) fn unknown(mut op: Operation) -> Operation {
    op.outcome = Outcome::Unknown;
    op.completed_at_ns = None;
    op
}

fn failed(mut op: Operation) -> Operation {
    op.outcome = Outcome::Fail;
    op
}

fn check_ops(ops: &[Operation]) -> Result<(), LinearizabilityError> {
    let refs: Vec<&Operation> = ops.iter().collect();
    check_key(&refs)
}

fn stuck_at(result: Result<(), LinearizabilityError>) -> Vec<u64> {
    match result {
        Err(LinearizabilityError::NotLinearizable { stuck_at, .. }) => stuck_at,
        other => panic!("expected NotLinearizable, got {other:?}"),
    }
}

#[test]
fn empty_and_sequential_histories_are_linearizable() {
    // Goal: the trivial cases pass.
    assert_eq!(check_ops(&[]), Ok(()));
    let ops = [
        get(0, None, (0, 5)),
        set(1, 1, (10, 20)),
        get(2, Some(1), (30, 40)),
    ];
    assert_eq!(check_ops(&ops), Ok(()));
}

#[test]
fn stale_read_after_completed_write_is_rejected() {
    // Goal: once SET 2 completed, a later GET cannot return the older 1.
    let ops = [
        set(0, 1, (0, 10)),
        set(1, 2, (20, 30)),
        get(2, Some(1), (40, 50)),
    ];
    assert_eq!(stuck_at(check_ops(&ops)), vec![2]);
}

#[test]
fn concurrent_read_may_return_old_or_new_value() {
    // Goal: a GET overlapping SET 2 may see either side of it.
    for seen in [1, 2] {
        let ops = [
            set(0, 1, (0, 10)),
            set(1, 2, (20, 40)),
            get(2, Some(seen), (25, 30)),
        ];
        assert_eq!(check_ops(&ops), Ok(()), "reading {seen}");
    }
}

#[test]
fn read_of_value_never_written_is_rejected() {
    // Goal: a GET cannot invent a value.
    let ops = [set(0, 1, (0, 10)), get(1, Some(7), (5, 15))];
    assert_eq!(stuck_at(check_ops(&ops)), vec![1]);
}

#[test]
fn read_before_write_was_invoked_is_rejected() {
    // Goal: real time: a GET that completed before SET was invoked cannot see it.
    let ops = [get(0, Some(1), (0, 5)), set(1, 1, (10, 20))];
    assert!(check_ops(&ops).is_err());
}

#[test]
fn absent_read_after_completed_write_is_rejected() {
    // Goal: real time: a GET invoked after SET completed must see it.
    let ops = [set(0, 1, (0, 10)), get(1, None, (11, 20))];
    assert_eq!(stuck_at(check_ops(&ops)), vec![1]);
}

#[test]
fn equal_times_are_concurrent() {
    // Goal: an op invoked at the instant another completes may precede it.
    let ops = [set(0, 1, (0, 10)), get(1, None, (10, 20))];
    assert_eq!(check_ops(&ops), Ok(()));
}

#[test]
fn lost_increment_is_rejected() {
    // Goal: two INCRs that both return 1 lost one increment, concurrent or not.
    let sequential = [incr(0, 1, (0, 10)), incr(1, 1, (20, 30))];
    assert!(check_ops(&sequential).is_err());
    let concurrent = [incr(0, 1, (0, 10)), incr(1, 1, (5, 15))];
    assert!(check_ops(&concurrent).is_err());
    let fine = [
        incr(0, 2, (0, 10)),
        incr(1, 1, (5, 15)),
        get(2, Some(2), (20, 30)),
    ];
    assert_eq!(check_ops(&fine), Ok(()));
}

#[test]
fn counter_values_out_of_real_time_order_are_rejected() {
    // Goal: an INCR that completed first cannot return the larger value.
    let ops = [incr(0, 2, (0, 10)), incr(1, 1, (20, 30))];
    assert!(check_ops(&ops).is_err());
    let ops = [incr(0, 1, (0, 10)), get(1, Some(0), (20, 30))];
    assert!(check_ops(&ops).is_err());
}

#[test]
fn read_observing_unknown_write_is_linearizable() {
    // Goal: an Unknown SET may have taken effect, even long after its client gave up.
    let ops = [
        set(0, 1, (0, 10)),
        unknown(set(1, 2, (20, 30))),
        get(2, Some(1), (100, 110)),
        get(3, Some(2), (200, 210)),
    ];
    assert_eq!(check_ops(&ops), Ok(()));
}

#[test]
fn unknown_write_seen_by_a_read_must_have_happened() {
    // Goal: once a read saw the Unknown SET 2, a later read cannot go back to 1.
    let ops = [
        set(0, 1, (0, 10)),
        unknown(set(1, 2, (20, 30))),
        get(2, Some(2), (40, 50)),
        get(3, Some(1), (60, 70)),
    ];
    assert_eq!(stuck_at(check_ops(&ops)), vec![3]);
}

#[test]
fn unknown_write_cannot_take_effect_before_its_invocation() {
    // Goal: an Unknown op's window still opens at its invocation.
    let ops = [get(0, Some(2), (0, 10)), unknown(set(1, 2, (20, 30)))];
    assert!(check_ops(&ops).is_err());
}

#[test]
fn unknown_increments_may_or_may_not_have_applied() {
    // Goal: each Unknown INCR counts 0 or 1 times, never more.
    let unknowns = || (0..3).map(|id| unknown(incr(id, 0, (0, 1))));
    for (counter, linearizable) in [(1, true), (2, true), (4, true), (5, false)] {
        let mut ops: Vec<Operation> = unknowns().collect();
        ops.push(incr(3, counter, (10, 20)));
        assert_eq!(check_ops(&ops).is_ok(), linearizable, "counter {counter}");
    }
}

#[test]
fn failed_operations_did_not_happen() {
    // Goal: a Fail SET or INCR is invisible, whatever it returned.
    let ops = [failed(set(0, 1, (0, 10))), get(1, None, (20, 30))];
    assert_eq!(check_ops(&ops), Ok(()));
    let ops = [failed(set(0, 1, (0, 10))), get(1, Some(1), (20, 30))];
    assert!(check_ops(&ops).is_err());
    let ops = [failed(incr(0, 1, (0, 10))), incr(1, 1, (20, 30))];
    assert_eq!(check_ops(&ops), Ok(()));
}

#[test]
fn key_is_both_register_and_counter() {
    // Goal: INCR continues from a SET value; GET reads a counter.
    let ops = [
        set(0, 5, (0, 10)),
        incr(1, 6, (20, 30)),
        get(2, Some(6), (40, 50)),
    ];
    assert_eq!(check_ops(&ops), Ok(()));
}

#[test]
fn malformed_operations_are_reported() {
    // Goal: an acknowledged op needs a completion time at or after its invocation, on the key.
    let mut no_completion = set(0, 1, (0, 10));
    no_completion.completed_at_ns = None;
    let backwards = set(0, 1, (10, 5));
    let mut other_key = get(1, None, (0, 5));
    other_key.call = Call::Get {
        key: "other".to_string(),
    };
    for ops in [
        vec![no_completion],
        vec![backwards],
        vec![set(0, 1, (0, 1)), other_key],
    ] {
        assert!(matches!(
            check_ops(&ops),
            Err(LinearizabilityError::InvalidHistory { .. })
        ));
    }
}

#[test]
fn failure_names_prefix_and_stuck_ops() {
    // Goal: the error carries the longest prefix and explains itself in a few lines.
    let ops = [
        set(0, 1, (0, 10)),
        set(1, 2, (20, 30)),
        get(2, Some(1), (40, 50)),
    ];
    let error = check_ops(&ops).expect_err("stale read");
    assert_eq!(
        error,
        LinearizabilityError::NotLinearizable {
            key: KEY.to_string(),
            model: "register/counter",
            longest_prefix: vec![0, 1],
            stuck_at: vec![2],
        }
    );
    let message = error.to_string();
    assert!(message.contains("\"k\"") && message.contains("[0, 1]") && message.contains("[2]"));
    assert_eq!(message.lines().count(), 3);
    assert_eq!(
        format_ids(&(0..30).collect::<Vec<u64>>(), 3),
        "[..., 27, 28, 29]"
    );
}

#[test]
fn check_covers_every_key() {
    // Goal: `check` finds a violation on any key, and passes when all keys pass.
    let mut other = get(9, Some(3), (0, 5));
    other.call = Call::Get {
        key: "a".to_string(),
    };
    let good = History {
        operations: vec![set(0, 1, (0, 10)), get(1, Some(1), (20, 30))],
    };
    assert_eq!(check(&good), Ok(()));
    let mut bad = good.clone();
    bad.operations.push(other);
    match check(&bad) {
        Err(LinearizabilityError::NotLinearizable { key, .. }) => assert_eq!(key, "a"),
        other => panic!("expected key a to fail, got {other:?}"),
    }
}

#[test]
fn exhausted_budget_is_inconclusive() {
    // Goal: running out of steps is reported as Inconclusive, not as a verdict.
    let ops = [set(0, 1, (0, 10)), get(1, Some(1), (20, 30))];
    let refs: Vec<&Operation> = ops.iter().collect();
    assert_eq!(
        check_key_within(&RegisterModel, &refs, 1),
        Err(LinearizabilityError::Inconclusive {
            key: KEY.to_string(),
            search_steps: 2,
        })
    );
}

/// Xorshift64*: deterministic, good enough to shape test histories.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    pub(super) fn percent(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Register,
    Counter,
}

struct Shape {
    clients: u64,
    ops_count: u64,
    latency_ns_max: u64,
    unknown_applied_percent: u64,
    unknown_lost_percent: u64,
    fail_percent: u64,
}

/// A history of `shape.ops_count` ops on one key, produced by a correct
/// sequential object: each op takes effect at a random instant inside its
/// window, and returns are computed in the order of those instants. Unknown
/// ops either take effect (possibly long after their client gave up) or
/// never; Fail ops never do.
fn generate(seed: u64, workload: Workload, shape: &Shape) -> Vec<Operation> {
    let mut rng = Rng::new(seed);
    let mut client_free_at_ns = vec![0; shape.clients as usize];
    let mut invoked_last_ns = 0;
    let mut ops = Vec::new();
    let mut effect_at_ns: Vec<Option<u64>> = Vec::new();
    for id in 0..shape.ops_count {
        let (client, free_at_ns) = client_free_at_ns
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(client, free_at_ns)| (free_at_ns, client))
            .expect("at least one client");
        let invoked_at_ns = (free_at_ns + rng.below(3)).max(invoked_last_ns);
        invoked_last_ns = invoked_at_ns;
        let effect_ns = invoked_at_ns + rng.below(shape.latency_ns_max + 1);
        let completed_ns = effect_ns + rng.below(shape.latency_ns_max + 1);
        let call = match (workload, rng.percent(50)) {
            (Workload::Register, true) => Call::Set {
                key: KEY.to_string(),
                value: id + 1,
            },
            (Workload::Counter, true) => Call::Incr {
                key: KEY.to_string(),
            },
            (_, false) => Call::Get {
                key: KEY.to_string(),
            },
        };
        let roll = rng.below(100);
        let (outcome, effect, completed_at_ns) = if roll < shape.fail_percent {
            (Outcome::Fail, None, Some(completed_ns))
        } else if roll < shape.fail_percent + shape.unknown_lost_percent {
            (Outcome::Unknown, None, None)
        } else if roll
            < shape.fail_percent + shape.unknown_lost_percent + shape.unknown_applied_percent
        {
            let late_ns = rng.below(shape.latency_ns_max * 20 + 1);
            (Outcome::Unknown, Some(invoked_at_ns + late_ns), None)
        } else {
            (Outcome::Ok(Ret::Done), Some(effect_ns), Some(completed_ns))
        };
        client_free_at_ns[client] =
            completed_at_ns.unwrap_or(invoked_at_ns + 3 * shape.latency_ns_max);
        ops.push(Operation {
            id,
            client: client as u64,
            call,
            invoked_at_ns,
            completed_at_ns,
            outcome,
        });
        effect_at_ns.push(effect);
    }
    let mut order: Vec<usize> = (0..ops.len())
        .filter(|&i| effect_at_ns[i].is_some())
        .collect();
    order.sort_by_key(|&i| (effect_at_ns[i], i));
    let mut state = None;
    for i in order {
        let (state_after, ret) = RegisterModel
            .step(&state, &ops[i].call)
            .expect("small values");
        state = state_after;
        if let Outcome::Ok(_) = ops[i].outcome {
            ops[i].outcome = Outcome::Ok(ret);
        }
    }
    ops
}

/// Replaces one acknowledged return with a value that counting or real
/// time rules out, however the ops interleave: for the counter, one past
/// the bounds [INCRs that completed before the op began, INCRs that began
/// before it completed]; for the register, a value overwritten before the
/// GET began, or written only after it completed, or never written.
fn mutate(ops: &mut [Operation], rng: &mut Rng) -> bool {
    let candidates: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i].outcome, Outcome::Ok(Ret::Value(_) | Ret::Counter(_))))
        .collect();
    if candidates.is_empty() {
        return false;
    }
    let target = candidates[rng.below(candidates.len() as u64) as usize];
    let wrong = if ops.iter().any(|op| matches!(op.call, Call::Incr { .. })) {
        impossible_counter(ops, target, rng)
    } else {
        impossible_register(ops, target, rng)
    };
    ops[target].outcome = Outcome::Ok(wrong);
    true
}

fn impossible_counter(ops: &[Operation], target: usize, rng: &mut Rng) -> Ret {
    let (invoked_ns, completed_ns) = (ops[target].invoked_at_ns, ops[target].completed_at_ns);
    let incrs = || ops.iter().filter(|op| matches!(op.call, Call::Incr { .. }));
    let before = incrs()
        .filter(|op| matches!(op.outcome, Outcome::Ok(_)))
        .filter(|op| op.completed_at_ns < Some(invoked_ns))
        .count() as i64;
    let began = incrs()
        .filter(|op| op.outcome != Outcome::Fail && Some(op.invoked_at_ns) <= completed_ns)
        .count() as i64;
    let is_incr = matches!(ops[target].call, Call::Incr { .. });
    // An INCR counts itself: it returns at least one more than `before`.
    let low = before + i64::from(is_incr);
    let wrong = if low > 0 && rng.percent(50) {
        low - 1
    } else {
        began + 1
    };
    if is_incr {
        Ret::Counter(wrong)
    } else {
        Ret::Value(u64::try_from(wrong).ok().filter(|&n| n > 0))
    }
}

fn impossible_register(ops: &[Operation], target: usize, rng: &mut Rng) -> Ret {
    let get = &ops[target];
    let acked_set = |op: &&Operation| {
        matches!(op.call, Call::Set { .. }) && matches!(op.outcome, Outcome::Ok(_))
    };
    let overwritten = ops.iter().filter(acked_set).filter(|earlier| {
        ops.iter().filter(acked_set).any(|later| {
            earlier.completed_at_ns < Some(later.invoked_at_ns)
                && later.completed_at_ns < Some(get.invoked_at_ns)
        })
    });
    let future = ops
        .iter()
        .filter(|op| matches!(op.call, Call::Set { .. }))
        .filter(|op| get.completed_at_ns < Some(op.invoked_at_ns));
    let mut choices: Vec<Option<u64>> = overwritten
        .chain(future)
        .filter_map(|op| match op.call {
            Call::Set { value, .. } => Some(Some(value)),
            _ => None,
        })
        .collect();
    if ops
        .iter()
        .filter(acked_set)
        .any(|op| op.completed_at_ns < Some(get.invoked_at_ns))
    {
        choices.push(None);
    }
    if choices.is_empty() {
        choices.push(Some(u64::MAX / 2));
    }
    Ret::Value(choices[rng.below(choices.len() as u64) as usize])
}

const SHAPE_SMALL: Shape = Shape {
    clients: 5,
    ops_count: 100,
    latency_ns_max: 12,
    unknown_applied_percent: 5,
    unknown_lost_percent: 5,
    fail_percent: 5,
};

#[test]
fn histories_of_a_correct_object_pass_and_mutations_fail() {
    // Goal: every history a correct object produces passes, and an impossible return is caught.
    let (mut mutated, mut rejected) = (0, 0);
    for seed in 0..200 {
        let workload = if seed % 2 == 0 {
            Workload::Register
        } else {
            Workload::Counter
        };
        let shape = Shape {
            clients: 2 + seed % 8,
            ..SHAPE_SMALL
        };
        let mut ops = generate(seed, workload, &shape);
        assert_eq!(check_ops(&ops), Ok(()), "seed {seed}");
        let mut rng = Rng::new(seed + 1_000);
        if mutate(&mut ops, &mut rng) {
            mutated += 1;
            match check_ops(&ops) {
                Ok(()) => {}
                Err(LinearizabilityError::NotLinearizable { .. }) => rejected += 1,
                Err(error) => panic!("seed {seed}: {error}"),
            }
        }
    }
    assert!(mutated >= 190, "only {mutated} histories mutated");
    assert_eq!(
        rejected, mutated,
        "every impossible return must be rejected"
    );
}

/// The reference: a depth-first search over every order real time
/// allows, memoized on (set used, state) and nothing else: none of the
/// checker's rules (forced moves, twins, wanted SETs, dead ends, stale
/// reads), and Unknown GETs kept. For up to 64 ops.
pub(super) fn reference<M: Model>(model: &M, ops: &[Operation]) -> bool {
    fn extend<M: Model>(
        model: &M,
        live: &[&Operation],
        used: u64,
        state: M::State,
        failed: &mut HashSet<(u64, M::State)>,
    ) -> bool {
        let pending_acked =
            |j: usize| used & (1 << j) == 0 && matches!(live[j].outcome, Outcome::Ok(_));
        if !(0..live.len()).any(pending_acked) {
            return true;
        }
        if failed.contains(&(used, state.clone())) {
            return false;
        }
        for i in (0..live.len()).filter(|&i| used & (1 << i) == 0) {
            let invoked_ns = live[i].invoked_at_ns;
            if (0..live.len())
                .any(|j| pending_acked(j) && live[j].completed_at_ns < Some(invoked_ns))
            {
                continue;
            }
            let Some((state_after, ret)) = model.step(&state, &live[i].call) else {
                continue;
            };
            if matches!(&live[i].outcome, Outcome::Ok(expected) if *expected != ret) {
                continue;
            }
            if extend(model, live, used | (1 << i), state_after, failed) {
                return true;
            }
        }
        failed.insert((used, state));
        false
    }
    let live: Vec<&Operation> = ops
        .iter()
        .filter(|op| op.outcome != Outcome::Fail)
        .collect();
    assert!(live.len() <= 64);
    extend(model, &live, 0, model.init(), &mut HashSet::new())
}

/// Up to 7 ops with overlapping windows, duplicate SET values and mixed
/// calls; returns come from a correct execution, then some are changed.
fn generate_tiny(rng: &mut Rng) -> Vec<Operation> {
    let ops_count = 1 + rng.below(7);
    let calls_mode = rng.below(3);
    let mut ops = Vec::new();
    let mut effect_at_ns = Vec::new();
    for id in 0..ops_count {
        let key = KEY.to_string();
        let call = match (calls_mode, rng.below(3)) {
            (0, 0) | (2, 0) => Call::Set {
                key,
                value: 1 + rng.below(3),
            },
            (1, 0) | (2, 1) => Call::Incr { key },
            _ => Call::Get { key },
        };
        let invoked_at_ns = rng.below(12);
        let effect_ns = invoked_at_ns + rng.below(5);
        let completed_ns = effect_ns + rng.below(5);
        let (outcome, effect, completed_at_ns) = match rng.below(20) {
            0..=2 => (Outcome::Fail, None, Some(completed_ns)),
            3..=5 => (Outcome::Unknown, None, None),
            6..=8 => (Outcome::Unknown, Some(invoked_at_ns + rng.below(20)), None),
            _ => (Outcome::Ok(Ret::Done), Some(effect_ns), Some(completed_ns)),
        };
        ops.push(Operation {
            id,
            client: id,
            call,
            invoked_at_ns,
            completed_at_ns,
            outcome,
        });
        effect_at_ns.push(effect);
    }
    let mut order: Vec<usize> = (0..ops.len())
        .filter(|&i| effect_at_ns[i].is_some())
        .collect();
    order.sort_by_key(|&i| (effect_at_ns[i], i));
    let mut state = None;
    for i in order {
        let (state_after, mut ret) = RegisterModel
            .step(&state, &ops[i].call)
            .expect("small values");
        state = state_after;
        if rng.percent(15) {
            ret = match ret {
                Ret::Done => Ret::Done,
                Ret::Value(_) => Ret::Value(Some(rng.below(5)).filter(|&v| v > 0)),
                Ret::Counter(_) => Ret::Counter(rng.below(5) as i64),
                other @ (Ret::Added(_)
                | Ret::Members(_)
                | Ret::Length(_)
                | Ret::Items(_)
                | Ret::Removed(_)
                | Ret::IsMember(_)
                | Ret::Dequeued(_)) => other,
            };
        }
        if let Outcome::Ok(_) = ops[i].outcome {
            ops[i].outcome = Outcome::Ok(ret);
        }
    }
    ops
}

/// Checks `ops` and asserts the verdict is a plain one that equals the
/// reference search's; returns whether they are linearizable.
fn agrees_with_reference(ops: &[Operation], what: &str) -> bool {
    let expected = reference(&RegisterModel, ops);
    let result = check_ops(ops);
    assert!(
        matches!(
            result,
            Ok(()) | Err(LinearizabilityError::NotLinearizable { .. })
        ),
        "{what}: {result:?}"
    );
    assert_eq!(result.is_ok(), expected, "{what}: {ops:#?}");
    expected
}

#[test]
fn agrees_with_reference_on_tiny_histories() {
    // Goal: on tiny arbitrary histories the verdict equals the plain reference search's.
    let mut rng = Rng::new(7);
    let mut verdicts = [0; 2];
    for case in 0..4_000 {
        let ops = generate_tiny(&mut rng);
        let expected = agrees_with_reference(&ops, &format!("case {case}"));
        verdicts[usize::from(expected)] += 1;
    }
    assert!(
        verdicts[0] > 400 && verdicts[1] > 400,
        "verdicts {verdicts:?}"
    );
}

/// Replaces one acknowledged return with a plausible one: another value
/// some SET wrote (or absence), or a counter off by one or two. Many such
/// changes remain linearizable under concurrency.
fn mutate_plausibly(ops: &mut [Operation], rng: &mut Rng) {
    let candidates: Vec<usize> = (0..ops.len())
        .filter(|&i| matches!(ops[i].outcome, Outcome::Ok(Ret::Value(_) | Ret::Counter(_))))
        .collect();
    if candidates.is_empty() {
        return;
    }
    let target = candidates[rng.below(candidates.len() as u64) as usize];
    let mut values: Vec<Option<u64>> = vec![None];
    values.extend(ops.iter().filter_map(|op| match op.call {
        Call::Set { value, .. } => Some(Some(value)),
        _ => None,
    }));
    let delta = 1 + rng.below(2);
    let wrong = match &ops[target].outcome {
        Outcome::Ok(Ret::Counter(n)) => {
            Ret::Counter(n + delta as i64 * if rng.percent(50) { 1 } else { -1 })
        }
        Outcome::Ok(Ret::Value(value)) if values.len() == 1 => {
            let n = value.unwrap_or(0);
            let wrong = if rng.percent(50) {
                n + delta
            } else {
                n.saturating_sub(delta)
            };
            Ret::Value(Some(wrong).filter(|&n| n > 0))
        }
        _ => Ret::Value(values[rng.below(values.len() as u64) as usize]),
    };
    ops[target].outcome = Outcome::Ok(wrong);
}

#[test]
fn agrees_with_reference_on_generated_histories() {
    // Goal: on generated histories, some made wrong, the verdict equals the reference's.
    let mut verdicts = [0; 2];
    for seed in 0..400 {
        let workload = if seed % 2 == 0 {
            Workload::Register
        } else {
            Workload::Counter
        };
        let shape = Shape {
            clients: 4,
            ops_count: 18,
            latency_ns_max: 8,
            unknown_applied_percent: 10,
            unknown_lost_percent: 10,
            fail_percent: 5,
        };
        let mut ops = generate(seed, workload, &shape);
        let mut rng = Rng::new(seed + 7_000);
        if rng.percent(70) {
            mutate_plausibly(&mut ops, &mut rng);
        }
        let expected = agrees_with_reference(&ops, &format!("seed {seed}"));
        verdicts[usize::from(expected)] += 1;
    }
    assert!(
        verdicts[0] > 80 && verdicts[1] > 80,
        "verdicts {verdicts:?}"
    );
}

#[test]
fn large_history_checks_quickly() {
    // Goal: 500 ops, 10 clients, 30+ Unknown writes: each variant checks fast in debug builds.
    let shape = Shape {
        clients: 10,
        ops_count: 500,
        latency_ns_max: 20,
        unknown_applied_percent: 7,
        unknown_lost_percent: 7,
        fail_percent: 2,
    };
    for seed in 1..=8 {
        let workload = if seed % 2 == 0 {
            Workload::Register
        } else {
            Workload::Counter
        };
        let valid = generate(seed, workload, &shape);
        let unknown_writes = valid
            .iter()
            .filter(|op| op.outcome == Outcome::Unknown && !matches!(op.call, Call::Get { .. }))
            .count();
        assert!(unknown_writes >= 30, "only {unknown_writes} Unknown writes");
        let mut rng = Rng::new(seed);
        let mut impossible = valid.clone();
        assert!(mutate(&mut impossible, &mut rng));
        let mut plausible = valid.clone();
        mutate_plausibly(&mut plausible, &mut rng);
        for (variant, ops) in [
            ("valid", &valid),
            ("impossible", &impossible),
            ("plausible", &plausible),
        ] {
            let started = std::time::Instant::now();
            let result = check_ops(ops);
            let elapsed = started.elapsed();
            match variant {
                "valid" => assert_eq!(result, Ok(())),
                "impossible" => assert!(matches!(
                    result,
                    Err(LinearizabilityError::NotLinearizable { .. })
                )),
                _ => assert!(!matches!(
                    result,
                    Err(LinearizabilityError::Inconclusive { .. })
                )),
            }
            assert!(
                elapsed.as_millis() < 300,
                "{variant} seed {seed}: {elapsed:?}"
            );
        }
    }
}

/// Up to `ops_count_max` ops on one key, with overlapping windows and calls
/// drawn by `draw_call`: each op that takes effect does so at a random
/// instant (an Unknown one possibly long after its client gave up, or
/// never), and returns what `model` says in the order of those instants,
/// except that two acknowledged returns in five are computed from another
/// state the run went through, earlier or later (a stale or future
/// answer: under concurrency sometimes still linearizable, often not).
pub(super) fn generate_with<M: Model>(
    model: &M,
    rng: &mut Rng,
    ops_count_max: u64,
    mut draw_call: impl FnMut(&mut Rng) -> Call,
) -> Vec<Operation> {
    let ops_count = 1 + rng.below(ops_count_max);
    let mut ops = Vec::new();
    let mut effect_at_ns = Vec::new();
    for id in 0..ops_count {
        let call = draw_call(rng);
        let invoked_at_ns = rng.below(12);
        let effect_ns = invoked_at_ns + rng.below(5);
        let completed_ns = effect_ns + rng.below(5);
        let (outcome, effect, completed_at_ns) = match rng.below(20) {
            0..=2 => (Outcome::Fail, None, Some(completed_ns)),
            3..=5 => (Outcome::Unknown, None, None),
            6..=8 => (Outcome::Unknown, Some(invoked_at_ns + rng.below(20)), None),
            _ => (Outcome::Ok(Ret::Done), Some(effect_ns), Some(completed_ns)),
        };
        ops.push(Operation {
            id,
            client: id,
            call,
            invoked_at_ns,
            completed_at_ns,
            outcome,
        });
        effect_at_ns.push(effect);
    }
    let mut order: Vec<usize> = (0..ops.len())
        .filter(|&i| effect_at_ns[i].is_some())
        .collect();
    order.sort_by_key(|&i| (effect_at_ns[i], i));
    let mut states = vec![model.init()];
    for i in order {
        let state = states.last().expect("the initial state");
        let (state_after, ret) = model.step(state, &ops[i].call).expect("a generated call");
        states.push(state_after);
        if let Outcome::Ok(_) = ops[i].outcome {
            ops[i].outcome = Outcome::Ok(ret);
        }
    }
    for op in &mut ops {
        if matches!(op.outcome, Outcome::Ok(_)) && rng.percent(40) {
            let other = &states[rng.below(states.len() as u64) as usize];
            let (_, ret) = model.step(other, &op.call).expect("a generated call");
            op.outcome = Outcome::Ok(ret);
        }
    }
    ops
}

/// Checks `ops` under `model` and asserts the verdict is a plain one that
/// equals the reference search's; returns whether they are linearizable.
pub(super) fn agrees_with_reference_under<M: Model>(
    model: &M,
    ops: &[Operation],
    what: &str,
) -> bool {
    let expected = reference(model, ops);
    let refs: Vec<&Operation> = ops.iter().collect();
    let result = check_key_with(model, &refs);
    assert!(
        matches!(
            result,
            Ok(()) | Err(LinearizabilityError::NotLinearizable { .. })
        ),
        "{what}: {result:?}"
    );
    assert_eq!(result.is_ok(), expected, "{what}: {ops:#?}");
    expected
}
