//! From a key's operations to what the search works on: malformed ops are
//! refused, ops that cannot constrain a linearization are dropped, the rest
//! are sorted by invocation and annotated (deadlines, Unknown twins, and on
//! last-writer-wins keys the state classes of reads and writes). Also the
//! reads that no linearization satisfies, found before any search.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::model::Model;
use super::LinearizabilityError;
use crate::history::{Call, Operation, Outcome, Ret};

/// An operation as the search sees it. Indices are into the invocation-sorted
/// `Vec<SearchOp>`.
pub(super) struct SearchOp<'a> {
    pub(super) op: &'a Operation,
    /// The return the model must reproduce; `None` for an Unknown outcome.
    pub(super) ret: Option<&'a Ret>,
    /// `None` for an Unknown outcome: it never returned, so nothing has to
    /// follow it.
    pub(super) completed_at_ns: Option<u64>,
    /// The order in which choices are tried (earliest first): the op's own
    /// completion or that of an acknowledged read of the state it writes,
    /// whichever is earlier. A heuristic only; it never changes a verdict.
    pub(super) deadline_ns: u64,
    /// For an Unknown op: the previous Unknown op with the identical call,
    /// which must be linearized first (see `is_eligible`).
    pub(super) twin_before: Option<usize>,
    /// On a last-writer-wins key, the class of the state an acknowledged
    /// read saw (see [`Classes`]).
    pub(super) reads_class: Option<usize>,
    /// On a last-writer-wins key, the class of the state a blind write
    /// leaves, if some acknowledged read saw that state.
    pub(super) writes_class: Option<usize>,
    /// [`Model::is_read_only`] of the call.
    pub(super) read_only: bool,
    /// [`Model::is_advancing`] of the call.
    pub(super) advancing: bool,
    /// The call is a [`Model::blind_write`].
    pub(super) blind_write: bool,
}

/// On a last-writer-wins key (every op a blind write or a read that names
/// the state; see [`Model::blind_write`]), one class per state that an
/// acknowledged read saw; empty on any other key. Classes are numbered in
/// the order their first reader was invoked; only their identity matters.
pub(super) struct Classes<S> {
    pub(super) states: Vec<S>,
    /// Looked up, never iterated, so its order cannot reach a verdict.
    pub(super) by_state: HashMap<S, usize>,
}

impl<S: Clone + Eq + std::hash::Hash> Classes<S> {
    fn empty() -> Classes<S> {
        Classes {
            states: Vec::new(),
            by_state: HashMap::new(),
        }
    }

    fn class_of(&mut self, state: &S) -> usize {
        if let Some(&class) = self.by_state.get(state) {
            return class;
        }
        self.states.push(state.clone());
        self.by_state.insert(state.clone(), self.states.len() - 1);
        self.states.len() - 1
    }
}

pub(super) struct Prepared<'a, S> {
    pub(super) ops: Vec<SearchOp<'a>>,
    pub(super) classes: Classes<S>,
}

pub(super) fn prepare<'a, M: Model>(
    model: &M,
    key: &str,
    ops: &[&'a Operation],
) -> Result<Prepared<'a, M::State>, LinearizabilityError> {
    for op in ops {
        validate(key, op)?;
    }
    let (kept, last_writer_wins) = relevant_ops(model, ops);
    let (seen, read_by_ns) = states_read(model, &kept);
    // Classes only mean something on a last-writer-wins key.
    let class_of = |state: &M::State| {
        if last_writer_wins {
            seen.by_state.get(state).copied()
        } else {
            None
        }
    };
    let mut twin_last: BTreeMap<&Call, usize> = BTreeMap::new();
    let mut search_ops = Vec::with_capacity(kept.len());
    for (index, &op) in kept.iter().enumerate() {
        let unknown = op.outcome == Outcome::Unknown;
        let completed_at_ns = if unknown { None } else { op.completed_at_ns };
        let ret = match &op.outcome {
            Outcome::Ok(ret) => Some(ret),
            Outcome::Fail | Outcome::Unknown => None,
        };
        let written = model.blind_write(&op.call);
        let read_ns = written
            .as_ref()
            .and_then(|state| seen.by_state.get(state))
            .map(|&seen_class| read_by_ns[seen_class]);
        search_ops.push(SearchOp {
            op,
            ret,
            completed_at_ns,
            deadline_ns: completed_at_ns
                .unwrap_or(u64::MAX)
                .min(read_ns.unwrap_or(u64::MAX)),
            twin_before: if unknown {
                twin_last.insert(&op.call, index)
            } else {
                None
            },
            reads_class: observed(model, op).and_then(|state| class_of(&state)),
            writes_class: written.as_ref().and_then(class_of),
            read_only: model.is_read_only(&op.call),
            advancing: model.is_advancing(&op.call),
            blind_write: written.is_some(),
        });
    }
    Ok(Prepared {
        ops: search_ops,
        classes: if last_writer_wins {
            seen
        } else {
            Classes::empty()
        },
    })
}

/// The state an acknowledged `op` saw, if it is a read whose return names
/// the state.
fn observed<M: Model>(model: &M, op: &Operation) -> Option<M::State> {
    match &op.outcome {
        Outcome::Ok(ret) => model.observed_state(&op.call, ret),
        Outcome::Fail | Outcome::Unknown => None,
    }
}

/// Each state an acknowledged read among `kept` saw (numbered as
/// [`Classes`]), and per state the earliest completion of such a read.
fn states_read<M: Model>(model: &M, kept: &[&Operation]) -> (Classes<M::State>, Vec<u64>) {
    let mut seen = Classes::empty();
    let mut read_by_ns: Vec<u64> = Vec::new();
    for op in kept {
        if let (Some(state), Some(completed)) = (observed(model, op), op.completed_at_ns) {
            let class = seen.class_of(&state);
            if class == read_by_ns.len() {
                read_by_ns.push(completed);
            }
            read_by_ns[class] = read_by_ns[class].min(completed);
        }
    }
    (seen, read_by_ns)
}

fn validate(key: &str, op: &Operation) -> Result<(), LinearizabilityError> {
    let reason = if op.call.key() != key {
        Some("it is on another key")
    } else if !matches!(op.outcome, Outcome::Ok(_)) {
        None
    } else {
        match op.completed_at_ns {
            None => Some("it was acknowledged but has no completion time"),
            Some(completed) if completed < op.invoked_at_ns => {
                Some("it completed before it was invoked")
            }
            Some(_) => None,
        }
    };
    match reason {
        Some(reason) => Err(LinearizabilityError::InvalidHistory {
            key: key.to_string(),
            op_id: op.id,
            reason,
        }),
        None => Ok(()),
    }
}

/// The ops that can constrain a linearization, sorted by invocation, and
/// whether the key is last-writer-wins: every op left is a blind write or
/// an acknowledged read that names the state it saw (a register key: no
/// INCR may have happened).
///
/// Dropped: Fail ops (they did not happen); Unknown reads (no effect and no
/// return to match); and, on a last-writer-wins key, Unknown blind writes
/// of a state no acknowledged read saw: such a write, wherever it is
/// linearized, is followed by reads that do not see its state before the
/// next write, so there are none, and removing it from any linearization
/// leaves a valid one.
fn relevant_ops<'a, M: Model>(model: &M, ops: &[&'a Operation]) -> (Vec<&'a Operation>, bool) {
    let mut kept: Vec<&'a Operation> = ops
        .iter()
        .copied()
        .filter(|op| match op.outcome {
            Outcome::Fail => false,
            Outcome::Unknown => !model.is_read_only(&op.call),
            Outcome::Ok(_) => true,
        })
        .collect();
    let last_writer_wins = kept.iter().all(|op| {
        model.blind_write(&op.call).is_some()
            || (model.is_read_only(&op.call) && observed(model, op).is_some())
    });
    if last_writer_wins {
        let states_read: HashSet<M::State> =
            kept.iter().filter_map(|op| observed(model, op)).collect();
        kept.retain(|op| {
            op.outcome != Outcome::Unknown
                || model
                    .blind_write(&op.call)
                    .is_none_or(|state| states_read.contains(&state))
        });
    }
    kept.sort_by_key(|op| (op.invoked_at_ns, op.id));
    (kept, last_writer_wins)
}

/// Acknowledged reads on a last-writer-wins key that no linearization
/// satisfies, found without search (Jepsen's stale and future reads):
/// every blind write of the state read was invoked after the read
/// completed, or was overwritten by an acknowledged blind write of another
/// state that was invoked after it completed and completed before the read
/// was invoked; for the initial state, some acknowledged blind write of
/// another state completed before the read was invoked. Unknown writes may
/// take effect late, so only their invocation counts.
pub(super) fn impossible_reads<S: Eq + std::hash::Hash>(
    prepared: &Prepared<'_, S>,
    init: &S,
) -> Vec<u64> {
    let ops = &prepared.ops;
    let init_class = prepared.classes.by_state.get(init).copied();
    // (invoked, completed, class written) of each acknowledged blind write.
    let acked_writes: Vec<(u64, u64, Option<usize>)> = ops
        .iter()
        .filter(|op| op.blind_write && op.ret.is_some())
        .filter_map(|op| Some((op.op.invoked_at_ns, op.completed_at_ns?, op.writes_class)))
        .collect();
    let mut ids = Vec::new();
    for reader in ops {
        let (Some(class), Some(read_completed)) = (reader.reads_class, reader.completed_at_ns)
        else {
            continue;
        };
        // Whether a state written by the end of `written_ns` (`None`: from
        // the start) is overwritten before the read begins.
        let overwritten = |written_ns: Option<u64>| {
            acked_writes.iter().any(|&(invoked, completed, other)| {
                other != Some(class)
                    && written_ns.is_none_or(|written| written < invoked)
                    && completed < reader.op.invoked_at_ns
            })
        };
        let possible = (init_class == Some(class) && !overwritten(None))
            || ops.iter().any(|writer| {
                writer.writes_class == Some(class)
                    && writer.op.invoked_at_ns <= read_completed
                    && writer
                        .completed_at_ns
                        .is_none_or(|completed| !overwritten(Some(completed)))
            });
        if !possible {
            ids.push(reader.op.id);
        }
    }
    ids.sort_unstable();
    ids
}
