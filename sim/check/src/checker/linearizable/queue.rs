//! The FIFO queue model: a key holds a queue of values, empty at first.
//! Enqueue v (RPUSH) appends v at the tail and returns the new length;
//! dequeue (LPOP) removes the head and returns it, or nothing when the queue
//! is empty.
//!
//! No call is a read, and the queue can return to an earlier state, so no
//! pruning rule applies: the search is plain WGL with Lowe's cache. Queue
//! linearizability is NP-complete in general (Gibbons & Korach); keep a
//! queue key's history to a few hundred operations or the search may end
//! [`Inconclusive`](super::LinearizabilityError::Inconclusive).

use std::collections::VecDeque;

use super::model::Model;
use crate::history::{Call, Ret};

/// The FIFO queue model (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct QueueModel;

/// The values queued, head first.
pub type QueueState = VecDeque<u64>;

impl Model for QueueModel {
    type State = QueueState;

    fn name(&self) -> &'static str {
        "FIFO queue"
    }

    fn owns(&self, call: &Call) -> bool {
        matches!(call, Call::Enqueue { .. } | Call::Dequeue { .. })
    }

    fn init(&self) -> QueueState {
        QueueState::new()
    }

    fn step(&self, state: &QueueState, call: &Call) -> Option<(QueueState, Ret)> {
        match call {
            Call::Enqueue { value, .. } => {
                let mut state_after = state.clone();
                state_after.push_back(*value);
                let length = i64::try_from(state_after.len()).ok()?;
                Some((state_after, Ret::Length(length)))
            }
            Call::Dequeue { .. } => {
                let mut state_after = state.clone();
                let head = state_after.pop_front();
                Some((state_after, Ret::Dequeued(head)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::linearizable::tests::{
        agrees_with_reference_under, generate_with, op, unknown, Rng,
    };
    use crate::checker::linearizable::{check_key_with, LinearizabilityError};
    use crate::history::{Operation, Outcome};

    const KEY: &str = "q";

    fn enqueue(id: u64, value: u64, window_ns: (u64, u64), length: i64) -> Operation {
        let call = Call::Enqueue {
            key: KEY.to_string(),
            value,
        };
        op(id, call, window_ns, Outcome::Ok(Ret::Length(length)))
    }

    fn dequeue(id: u64, head: Option<u64>, window_ns: (u64, u64)) -> Operation {
        let call = Call::Dequeue {
            key: KEY.to_string(),
        };
        op(id, call, window_ns, Outcome::Ok(Ret::Dequeued(head)))
    }

    fn check_ops(ops: &[Operation]) -> Result<(), LinearizabilityError> {
        let refs: Vec<&Operation> = ops.iter().collect();
        check_key_with(&QueueModel, &refs)
    }

    fn stuck_at(result: Result<(), LinearizabilityError>) -> Vec<u64> {
        match result {
            Err(LinearizabilityError::NotLinearizable { stuck_at, .. }) => stuck_at,
            other => panic!("expected NotLinearizable, got {other:?}"),
        }
    }

    #[test]
    fn sequential_fifo_history_passes() {
        // Goal: values leave in the order they came, then the queue reads as empty.
        let ops = [
            dequeue(0, None, (0, 5)),
            enqueue(1, 1, (10, 20), 1),
            enqueue(2, 2, (30, 40), 2),
            dequeue(3, Some(1), (50, 60)),
            enqueue(4, 3, (70, 80), 2),
            dequeue(5, Some(2), (90, 100)),
            dequeue(6, Some(3), (110, 120)),
            dequeue(7, None, (130, 140)),
        ];
        assert_eq!(check_ops(&ops), Ok(()));
    }

    #[test]
    fn concurrent_enqueues_leave_in_the_order_their_lengths_tell() {
        // Goal: overlapping enqueues may land in either order, but the dequeues must follow the one they took.
        let enqueues = [enqueue(0, 1, (0, 10), 2), enqueue(1, 2, (0, 10), 1)];
        let mut in_order = enqueues.to_vec();
        in_order.extend([dequeue(2, Some(2), (20, 30)), dequeue(3, Some(1), (40, 50))]);
        assert_eq!(check_ops(&in_order), Ok(()));
        let mut reversed = enqueues.to_vec();
        reversed.extend([dequeue(2, Some(1), (20, 30)), dequeue(3, Some(2), (40, 50))]);
        assert!(check_ops(&reversed).is_err());
    }

    #[test]
    fn a_dequeue_out_of_fifo_order_fails() {
        // Goal: after enqueue 1 completed before enqueue 2 began, 2 cannot leave first.
        let ops = [
            enqueue(0, 1, (0, 10), 1),
            enqueue(1, 2, (20, 30), 2),
            dequeue(2, Some(2), (40, 50)),
        ];
        assert_eq!(stuck_at(check_ops(&ops)), vec![2]);
    }

    #[test]
    fn a_value_dequeued_twice_or_never_enqueued_fails() {
        // Goal: each enqueued value leaves at most once, and nothing else leaves.
        let twice = [
            enqueue(0, 1, (0, 10), 1),
            dequeue(1, Some(1), (20, 30)),
            dequeue(2, Some(1), (20, 30)),
        ];
        assert!(check_ops(&twice).is_err());
        let phantom = [enqueue(0, 1, (0, 10), 1), dequeue(1, Some(5), (5, 15))];
        assert_eq!(stuck_at(check_ops(&phantom)), vec![1]);
    }

    #[test]
    fn an_empty_dequeue_after_an_acknowledged_enqueue_fails() {
        // Goal: a dequeue that began after an enqueue completed cannot find the queue empty.
        let lost = [enqueue(0, 1, (0, 10), 1), dequeue(1, None, (20, 30))];
        assert_eq!(stuck_at(check_ops(&lost)), vec![1]);
        let concurrent = [enqueue(0, 1, (0, 10), 1), dequeue(1, None, (5, 30))];
        assert_eq!(check_ops(&concurrent), Ok(()));
    }

    #[test]
    fn an_unknown_enqueue_may_be_dequeued_but_not_before_it_began() {
        // Goal: an Unknown enqueue may have taken effect, late, but not before its invocation.
        let late = [
            unknown(enqueue(0, 4, (0, 10), 1)),
            dequeue(1, Some(4), (100, 110)),
        ];
        assert_eq!(check_ops(&late), Ok(()));
        let early = [
            dequeue(0, Some(4), (0, 10)),
            unknown(enqueue(1, 4, (20, 30), 1)),
        ];
        assert!(check_ops(&early).is_err());
    }

    #[test]
    fn the_failure_names_the_queue_model() {
        // Goal: the message says which model no order satisfies.
        let ops = [enqueue(0, 1, (0, 10), 1), dequeue(1, None, (20, 30))];
        let message = check_ops(&ops).expect_err("lost enqueue").to_string();
        assert!(message.contains("the FIFO queue model"), "{message}");
    }

    #[test]
    fn agrees_with_reference_on_tiny_queue_histories() {
        // Goal: on tiny arbitrary queue histories the verdict equals the plain reference search's.
        let mut rng = Rng::new(13);
        let mut verdicts = [0; 2];
        for case in 0..3_000 {
            let ops = generate_with(&QueueModel, &mut rng, 7, |rng| {
                let key = KEY.to_string();
                if rng.percent(55) {
                    let value = 1 + rng.below(4);
                    Call::Enqueue { key, value }
                } else {
                    Call::Dequeue { key }
                }
            });
            let expected = agrees_with_reference_under(&QueueModel, &ops, &format!("case {case}"));
            verdicts[usize::from(expected)] += 1;
        }
        assert!(
            verdicts[0] > 300 && verdicts[1] > 300,
            "verdicts {verdicts:?}"
        );
    }

    /// `rounds` rounds of `clients` concurrent ops (all windows in a round
    /// overlap, rounds follow one another), produced by a correct queue
    /// that applies each round's ops in a random order. Values are unique.
    fn rounds_history(rng: &mut Rng, rounds: u64, clients: u64) -> Vec<Operation> {
        let mut ops = Vec::new();
        let mut queue = QueueState::new();
        for round in 0..rounds {
            let start = ops.len();
            for client in 0..clients {
                let id = ops.len() as u64;
                let call = if rng.percent(55) {
                    Call::Enqueue {
                        key: KEY.to_string(),
                        value: id + 1,
                    }
                } else {
                    Call::Dequeue {
                        key: KEY.to_string(),
                    }
                };
                let window_ns = (round * 100 + client, round * 100 + 50 + client);
                ops.push(op(id, call, window_ns, Outcome::Ok(Ret::Done)));
            }
            let mut order: Vec<usize> = (start..ops.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for i in order {
                let (after, ret) = QueueModel.step(&queue, &ops[i].call).expect("a queue call");
                queue = after;
                ops[i].outcome = Outcome::Ok(ret);
            }
        }
        ops
    }

    #[test]
    fn a_long_correct_history_passes_and_a_swapped_pair_fails() {
        // Goal: 300 ops from 6 clients check within the budget; swapping two dequeued values across rounds is caught.
        let mut rng = Rng::new(5);
        let mut ops = rounds_history(&mut rng, 50, 6);
        assert_eq!(check_ops(&ops), Ok(()));
        let dequeued: Vec<usize> = (0..ops.len())
            .filter(|&i| matches!(ops[i].outcome, Outcome::Ok(Ret::Dequeued(Some(_)))))
            .collect();
        let (first, last) = (dequeued[0], dequeued[dequeued.len() - 1]);
        assert!(ops[first].completed_at_ns < Some(ops[last].invoked_at_ns));
        let first_outcome = ops[first].outcome.clone();
        ops[first].outcome = ops[last].outcome.clone();
        ops[last].outcome = first_outcome;
        assert!(matches!(
            check_ops(&ops),
            Err(LinearizabilityError::NotLinearizable { .. })
        ));
    }
}
