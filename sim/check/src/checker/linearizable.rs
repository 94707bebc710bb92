//! Linearizability: every operation appears to take effect atomically at one
//! instant between its invocation and its completion, and the order of those
//! instants is a legal sequential execution of the key (Herlihy & Wing,
//! "Linearizability: A Correctness Condition for Concurrent Objects", ACM
//! TOPLAS 12(3), 1990). Linearizability is local, so a history is
//! linearizable iff each key's sub-history is (Herlihy & Wing's locality;
//! Horn & Kroening call it P-compositionality, FORTE 2015): each key is
//! checked alone, in sorted key order.
//!
//! The search is Wing & Gong's ("Testing and Verifying Concurrent Objects",
//! JPDC 17, 1993) with Lowe's memoization ("Testing for Linearizability",
//! CCPE 29(4), 2017), the "WGL" algorithm of Knossos and porcupine: call and
//! return entries sorted by time in a linked list; the candidates to
//! linearize next are the calls before the first return entry; a depth-first
//! search linearizes a candidate whose model step matches its return, lifts
//! its entries out of the list, and backtracks through an undo stack when no
//! candidate works; a cache of (linearized set, model state) configurations
//! already explored keeps any configuration from being searched twice.
//!
//! Model: a key is both a register and a counter; its state is its value,
//! absent at first. SET v makes it v and returns OK; GET returns it; INCR
//! adds one (absent counts as 0) and returns the new value.
//!
//! Outcomes: a Fail operation did not happen and is dropped. An Unknown one
//! may take effect at any instant after its invocation, or never: it has no
//! return entry (it returns at +infinity), any return value is accepted, and
//! the search succeeds once every acknowledged operation is linearized.
//! Times are simulated nanoseconds; an operation that completed strictly
//! before another was invoked precedes it, and equal times are concurrent.
//!
//! Beyond WGL, each rule argued where it is coded, none changing a verdict
//! (tests compare verdicts with a plain exhaustive search):
//! - forced moves: a GET of the current value, or on a counter the INCR that
//!   returns the next value, is taken without trying alternatives;
//! - Unknown ops: identical calls are linearized in invocation order, and on
//!   a register an Unknown SET only while a GET of its value is a candidate;
//! - dead ends (register): a configuration is abandoned as soon as a pending
//!   GET's value can no longer be produced;
//! - stale and future reads (register) are found before any search;
//! - choices are tried earliest deadline first.
//!
//! Invariants: a pass is returned only with a witness linearization, which is
//! replayed against the model and real-time order before it is believed. The
//! search is bounded by [`SEARCH_STEPS_MAX`]; running out is
//! [`LinearizabilityError::Inconclusive`], never a pass.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use crate::history::{Call, History, Operation, Outcome, Ret};

/// Search steps (configurations reached plus choices tried) allowed per key.
/// A valid key of 500 operations from 10 clients takes about a thousand, a
/// violation tens of thousands; histories that exhaust this budget are
/// reported as [`LinearizabilityError::Inconclusive`].
pub const SEARCH_STEPS_MAX: u64 = 5_000_000;

/// Why a key's operations are not known to be linearizable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinearizabilityError {
    /// No linearization exists.
    NotLinearizable {
        key: String,
        /// Op ids of the longest linearization the search found, in order.
        longest_prefix: Vec<u64>,
        /// Acknowledged ops that block that prefix: each returns a value the
        /// model contradicts there (when real time allows it next) or one no
        /// remaining write produces; failing those, the ops real time allows
        /// next, each of which leads to a dead end.
        stuck_at: Vec<u64>,
    },
    /// The search ran out of steps before deciding. Not a pass: investigate.
    Inconclusive { key: String, search_steps: u64 },
    /// The ops cannot be checked as given.
    InvalidHistory {
        key: String,
        op_id: u64,
        reason: &'static str,
    },
}

impl fmt::Display for LinearizabilityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinearizabilityError::NotLinearizable {
                key,
                longest_prefix,
                stuck_at,
            } => {
                writeln!(
                    f,
                    "key {key:?} is not linearizable: no order of its operations respects both \
                     real time and the register/counter model."
                )?;
                writeln!(
                    f,
                    "The longest linearization found orders {} operations (ids, in order): {}.",
                    longest_prefix.len(),
                    format_ids(longest_prefix, FORMAT_IDS_MAX)
                )?;
                write!(
                    f,
                    "It cannot be extended past the acknowledged operations {}: each returns a \
                     value the model contradicts there or no remaining write produces (or, when \
                     none does, each leads to a dead end).",
                    format_ids(stuck_at, FORMAT_IDS_MAX)
                )
            }
            LinearizabilityError::Inconclusive { key, search_steps } => write!(
                f,
                "key {key:?}: linearizability undecided after {search_steps} search steps \
                 (SEARCH_STEPS_MAX); this is not a pass: shrink the history and investigate."
            ),
            LinearizabilityError::InvalidHistory { key, op_id, reason } => {
                write!(
                    f,
                    "key {key:?}: operation {op_id} cannot be checked: {reason}."
                )
            }
        }
    }
}

impl std::error::Error for LinearizabilityError {}

/// Ids shown per list in a message; longer lists keep their tail, where the
/// search got stuck.
const FORMAT_IDS_MAX: usize = 20;

fn format_ids(ids: &[u64], ids_max: usize) -> String {
    let shown = &ids[ids.len().saturating_sub(ids_max)..];
    let list: Vec<String> = shown.iter().map(u64::to_string).collect();
    if shown.len() < ids.len() {
        format!("[..., {}]", list.join(", "))
    } else {
        format!("[{}]", list.join(", "))
    }
}

/// Checks every key of `history`, in sorted key order, and returns the first
/// key's error.
pub fn check(history: &History) -> Result<(), LinearizabilityError> {
    for key in history.keys() {
        let ops: Vec<&Operation> = history.for_key(&key).collect();
        if ops.iter().any(|op| op.call.is_set() || op.call.is_list()) {
            continue; // the set and list checkers' (checker/set.rs, list.rs)
        }
        check_key(&ops)?;
    }
    Ok(())
}

/// Decides whether `ops`, all on one key, are linearizable.
pub fn check_key(ops: &[&Operation]) -> Result<(), LinearizabilityError> {
    check_key_within(ops, SEARCH_STEPS_MAX)
}

fn check_key_within(ops: &[&Operation], search_steps_max: u64) -> Result<(), LinearizabilityError> {
    let Some(first) = ops.first() else {
        return Ok(());
    };
    let key = first.call.key();
    let prepared = prepare(key, ops)?;
    let impossible = impossible_reads(&prepared.ops);
    let mut search = Search::new(prepared);
    // With impossible reads the verdict is known; the search only finds a
    // prefix to report, so it gets a small budget.
    let budget = if impossible.is_empty() {
        search_steps_max
    } else {
        search_steps_max.min(DIAGNOSIS_STEPS_MAX)
    };
    let verdict = search.run(budget);
    let not_linearizable = |stuck_at: Vec<u64>| LinearizabilityError::NotLinearizable {
        key: key.to_string(),
        longest_prefix: search
            .longest
            .iter()
            .map(|&i| search.ops[i].op.id)
            .collect(),
        stuck_at,
    };
    match verdict {
        Verdict::Linearizable => {
            assert!(
                impossible.is_empty(),
                "a linearization satisfies an impossible read"
            );
            Ok(())
        }
        _ if !impossible.is_empty() => Err(not_linearizable(impossible)),
        Verdict::BudgetExhausted => Err(LinearizabilityError::Inconclusive {
            key: key.to_string(),
            search_steps: search.steps,
        }),
        Verdict::Stuck => {
            let stuck_at = stuck_ops(&search.ops, &search.longest);
            assert!(
                !stuck_at.is_empty(),
                "a failed search leaves an acknowledged op"
            );
            Err(not_linearizable(stuck_at))
        }
    }
}

/// Search steps spent looking for a prefix to report once the verdict is
/// already known.
const DIAGNOSIS_STEPS_MAX: u64 = 100_000;

/// Acknowledged GETs on a register key that no linearization satisfies,
/// found without search (Jepsen's stale and future reads): every SET of the
/// value returned was invoked after the GET completed, or was overwritten by
/// an acknowledged SET of another value that was invoked after it completed
/// and completed before the GET was invoked; for absence, some acknowledged
/// SET completed before the GET was invoked. Unknown SETs may take effect
/// late, so only their invocation counts.
fn impossible_reads(ops: &[SearchOp<'_>]) -> Vec<u64> {
    // (invoked, completed, value) of each acknowledged SET.
    let acked_sets: Vec<(u64, u64, u64)> = ops
        .iter()
        .filter_map(|op| match (&op.op.call, op.ret, op.completed_at_ns) {
            (Call::Set { value, .. }, Some(_), Some(completed)) => {
                Some((op.op.invoked_at_ns, completed, *value))
            }
            _ => None,
        })
        .collect();
    let mut ids = Vec::new();
    for reader in ops.iter().filter(|op| op.reads_class.is_some()) {
        let (Some(Ret::Value(value)), Some(read_completed)) = (reader.ret, reader.completed_at_ns)
        else {
            continue;
        };
        // Whether a value written by the end of `written_ns` (`None`: from
        // the start) is overwritten before the GET begins.
        let overwritten = |written_ns: Option<u64>| {
            acked_sets.iter().any(|&(invoked, completed, other)| {
                Some(other) != *value
                    && written_ns.is_none_or(|written| written < invoked)
                    && completed < reader.op.invoked_at_ns
            })
        };
        let possible = match value {
            None => !overwritten(None),
            Some(value) => ops.iter().any(|writer| {
                matches!(writer.op.call, Call::Set { value: written, .. } if written == *value)
                    && writer.op.invoked_at_ns <= read_completed
                    && writer
                        .completed_at_ns
                        .is_none_or(|completed| !overwritten(Some(completed)))
            }),
        };
        if !possible {
            ids.push(reader.op.id);
        }
    }
    ids.sort_unstable();
    ids
}

/// The key's value. Nothing decrements and SET takes a `u64`, so a value is
/// never negative and `u64` holds every state losslessly.
type State = Option<u64>;

/// One step of the sequential model: the state after `call` and its return,
/// or `None` when `call` cannot succeed (INCR past `i64::MAX` errors).
fn step(state: State, call: &Call) -> Option<(State, Ret)> {
    match call {
        Call::Set { value, .. } => Some((Some(*value), Ret::Done)),
        Call::Get { .. } => Some((state, Ret::Value(state))),
        Call::Incr { .. } => {
            let value = state.unwrap_or(0).checked_add(1)?;
            let counter = i64::try_from(value).ok()?;
            Some((Some(value), Ret::Counter(counter)))
        }
        // Set and list keys never reach this model (`check` leaves them to
        // set.rs and list.rs).
        Call::SAdd { .. } | Call::SMembers { .. } | Call::Append { .. } | Call::ReadList { .. } => {
            None
        }
    }
}

/// The state after `op`, if the model allows `op` to return what it did.
fn apply(state: State, op: &SearchOp<'_>) -> Option<State> {
    let (state_after, ret) = step(state, &op.op.call)?;
    match op.ret {
        Some(expected) if *expected != ret => None,
        _ => Some(state_after),
    }
}

/// An operation as the search sees it. Indices are into the invocation-sorted
/// `Vec<SearchOp>`.
struct SearchOp<'a> {
    op: &'a Operation,
    /// The return the model must reproduce; `None` for an Unknown outcome.
    ret: Option<&'a Ret>,
    /// `None` for an Unknown outcome: it never returned, so nothing has to
    /// follow it.
    completed_at_ns: Option<u64>,
    /// The order in which choices are tried (earliest first): the op's own
    /// completion or that of an acknowledged GET of the value it writes,
    /// whichever is earlier. A heuristic only; it never changes a verdict.
    deadline_ns: u64,
    /// For an Unknown op: the previous Unknown op with the identical call,
    /// which must be linearized first (see `is_eligible`).
    twin_before: Option<usize>,
    /// On a register key, the class of the value an acknowledged GET
    /// returned (see `Prepared::class_by_value`).
    reads_class: Option<usize>,
    /// On a register key, the class of the value a SET writes, if some
    /// acknowledged GET returned that value.
    writes_class: Option<usize>,
}

struct Prepared<'a> {
    ops: Vec<SearchOp<'a>>,
    /// On a register key, one class per value (or absence) that an
    /// acknowledged GET returned; empty on a key with INCRs.
    class_by_value: BTreeMap<Option<u64>, usize>,
}

fn prepare<'a>(key: &str, ops: &[&'a Operation]) -> Result<Prepared<'a>, LinearizabilityError> {
    for op in ops {
        validate(key, op)?;
    }
    let (kept, register_only) = relevant_ops(ops);
    // The earliest completion of an acknowledged GET of each value.
    let mut read_by_ns: BTreeMap<Option<u64>, u64> = BTreeMap::new();
    for op in &kept {
        if let (Outcome::Ok(Ret::Value(value)), Some(completed)) = (&op.outcome, op.completed_at_ns)
        {
            let read_ns = read_by_ns.entry(*value).or_insert(completed);
            *read_ns = (*read_ns).min(completed);
        }
    }
    let class_by_value: BTreeMap<Option<u64>, usize> = if register_only {
        read_by_ns
            .keys()
            .enumerate()
            .map(|(class, &value)| (value, class))
            .collect()
    } else {
        BTreeMap::new()
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
        let written = match op.call {
            Call::Set { value, .. } => Some(Some(value)),
            Call::Get { .. }
            | Call::Incr { .. }
            | Call::SAdd { .. }
            | Call::SMembers { .. }
            | Call::Append { .. }
            | Call::ReadList { .. } => None,
        };
        let read_ns = written.and_then(|value| read_by_ns.get(&value).copied());
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
            reads_class: match ret {
                Some(Ret::Value(value)) => class_by_value.get(value).copied(),
                _ => None,
            },
            writes_class: written.and_then(|value| class_by_value.get(&value).copied()),
        });
    }
    Ok(Prepared {
        ops: search_ops,
        class_by_value,
    })
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
/// whether the key is a pure register (no INCR may have happened).
///
/// Dropped: Fail ops (they did not happen); Unknown GETs (no effect and no
/// return to match); and, on a register key, Unknown SETs whose value no
/// acknowledged GET returned: such a SET, wherever it is linearized, is
/// followed by GETs that do not read its value before the next SET, so
/// there are none, and removing it from any linearization leaves a valid one.
fn relevant_ops<'a>(ops: &[&'a Operation]) -> (Vec<&'a Operation>, bool) {
    let mut kept: Vec<&'a Operation> = ops
        .iter()
        .copied()
        .filter(|op| match op.outcome {
            Outcome::Fail => false,
            Outcome::Unknown => !matches!(op.call, Call::Get { .. }),
            Outcome::Ok(_) => true,
        })
        .collect();
    let register_only = !kept.iter().any(|op| matches!(op.call, Call::Incr { .. }));
    if register_only {
        let values_read: BTreeSet<u64> = kept
            .iter()
            .filter_map(|op| match op.outcome {
                Outcome::Ok(Ret::Value(Some(value))) => Some(value),
                _ => None,
            })
            .collect();
        kept.retain(|op| match op.call {
            Call::Set { value, .. } => {
                op.outcome != Outcome::Unknown || values_read.contains(&value)
            }
            _ => true,
        });
    }
    kept.sort_by_key(|op| (op.invoked_at_ns, op.id));
    (kept, register_only)
}

/// Call and return entries in a doubly linked list over arrays (Knuth's
/// dancing links): a removed node keeps its own links, so nodes restored in
/// the reverse order of their removal land exactly where they were.
struct EntryList {
    /// Node 0 is the head sentinel; node `n > 0` is entry `n - 1`.
    next: Vec<usize>,
    prev: Vec<usize>,
    /// The op of each node; `None` for the head.
    node_op: Vec<Option<usize>>,
    node_is_call: Vec<bool>,
    call_node: Vec<usize>,
    return_node: Vec<Option<usize>>,
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

impl EntryList {
    fn new(ops: &[SearchOp<'_>]) -> EntryList {
        // (time, is_return, op): at equal times calls sort before returns,
        // so operations that merely touch are concurrent.
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(ops.len() * 2);
        for (index, op) in ops.iter().enumerate() {
            events.push((op.op.invoked_at_ns, false, index));
            if let Some(completed) = op.completed_at_ns {
                events.push((completed, true, index));
            }
        }
        events.sort_unstable();
        let nodes_count = events.len() + 1;
        let mut list = EntryList {
            next: (1..=nodes_count)
                .map(|n| if n == nodes_count { NIL } else { n })
                .collect(),
            prev: (0..nodes_count).map(|n| n.wrapping_sub(1)).collect(),
            node_op: vec![None; nodes_count],
            node_is_call: vec![false; nodes_count],
            call_node: vec![NIL; ops.len()],
            return_node: vec![None; ops.len()],
        };
        for (position, &(_, is_return, op)) in events.iter().enumerate() {
            let node = position + 1;
            list.node_op[node] = Some(op);
            list.node_is_call[node] = !is_return;
            if is_return {
                list.return_node[op] = Some(node);
            } else {
                list.call_node[op] = node;
            }
        }
        assert!(list.call_node.iter().all(|&node| node != NIL));
        list
    }

    /// The candidates: the ops whose calls come before the first return
    /// entry, in list order.
    fn candidates(&self) -> impl Iterator<Item = usize> + '_ {
        let mut node = self.next[HEAD];
        std::iter::from_fn(move || {
            let op = self.node_op.get(node).copied().flatten()?;
            if !self.node_is_call[node] {
                return None;
            }
            node = self.next[node];
            Some(op)
        })
    }

    fn lift(&mut self, op: usize) {
        self.remove(self.call_node[op]);
        if let Some(node) = self.return_node[op] {
            self.remove(node);
        }
    }

    fn unlift(&mut self, op: usize) {
        if let Some(node) = self.return_node[op] {
            self.restore(node);
        }
        self.restore(self.call_node[op]);
    }

    fn remove(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        assert_eq!(self.next[prev], node, "removing a node that is not linked");
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn restore(&mut self, node: usize) {
        let (prev, next) = (self.prev[node], self.next[node]);
        assert_eq!(self.next[prev], next, "restoring out of order");
        self.next[prev] = node;
        if next != NIL {
            self.prev[next] = node;
        }
    }
}

enum Verdict {
    Linearizable,
    Stuck,
    BudgetExhausted,
}

struct Frame {
    op: usize,
    state_before: State,
    /// Taken as a forced move: if it fails, the configuration before it fails.
    forced: bool,
}

/// The candidates of a configuration where the search had to choose, in the
/// order they are tried, and how many have been tried.
struct ChoicePoint {
    candidates: Vec<usize>,
    tried: usize,
}

struct Search<'a> {
    ops: Vec<SearchOp<'a>>,
    list: EntryList,
    linearized: Vec<bool>,
    acked_total: usize,
    acked_linearized: usize,
    /// No SET may have happened: the value only grows.
    counter_only: bool,
    state: State,
    /// Value classes, and per class its acknowledged GETs and its SETs not
    /// yet linearized (see `is_dead`).
    class_by_value: BTreeMap<Option<u64>, usize>,
    readers_pending: Vec<u32>,
    writers_pending: Vec<u32>,
    /// The classes with readers pending and no writer pending.
    stranded: usize,
    /// Zobrist hash of the linearized set: the XOR of `zobrist` over it.
    linearized_hash: u128,
    zobrist: Vec<u128>,
    /// Lowe's cache. Configurations are keyed by a 128-bit hash of the set
    /// rather than the set itself, to keep an entry at 32 bytes. A collision
    /// (odds about 2^-80 within the step budget) could only prune a branch,
    /// turning a pass into a reported failure, never a failure into a pass:
    /// a pass needs a witness, and the witness is replayed.
    explored: HashSet<(u128, State)>,
    undo: Vec<Frame>,
    /// One per frame of `undo` that was a choice, plus one for the current
    /// configuration once its candidates are listed.
    choices: Vec<ChoicePoint>,
    /// The frames of `undo` that were choices.
    choice_frames: usize,
    /// The deepest undo stack seen, as op indices.
    longest: Vec<usize>,
    steps: u64,
}

impl<'a> Search<'a> {
    fn new(prepared: Prepared<'a>) -> Search<'a> {
        let ops = prepared.ops;
        let acked_total = ops.iter().filter(|op| op.ret.is_some()).count();
        let counter_only = !ops.iter().any(|op| matches!(op.op.call, Call::Set { .. }));
        let classes_count = prepared.class_by_value.len();
        let mut readers_pending = vec![0; classes_count];
        let mut writers_pending = vec![0; classes_count];
        for op in &ops {
            if let Some(class) = op.reads_class {
                readers_pending[class] += 1;
            }
            if let Some(class) = op.writes_class {
                writers_pending[class] += 1;
            }
        }
        let stranded = (0..classes_count)
            .filter(|&class| readers_pending[class] > 0 && writers_pending[class] == 0)
            .count();
        Search {
            list: EntryList::new(&ops),
            linearized: vec![false; ops.len()],
            acked_total,
            acked_linearized: 0,
            counter_only,
            state: None,
            class_by_value: prepared.class_by_value,
            readers_pending,
            writers_pending,
            stranded,
            linearized_hash: 0,
            zobrist: (0..ops.len() as u64).map(zobrist_key).collect(),
            explored: HashSet::new(),
            undo: Vec::with_capacity(ops.len()),
            choices: Vec::with_capacity(ops.len()),
            choice_frames: 0,
            longest: Vec::new(),
            steps: 0,
            ops,
        }
    }

    fn run(&mut self, search_steps_max: u64) -> Verdict {
        // Whether the current configuration was just reached, so has neither
        // taken its forced move nor listed its candidates.
        let mut fresh = true;
        while self.acked_linearized < self.acked_total {
            self.steps += 1;
            if self.steps > search_steps_max {
                return Verdict::BudgetExhausted;
            }
            let advanced = if fresh {
                match self.forced_move() {
                    // Not taken only if explored before, and failed: then
                    // this configuration fails too.
                    Some(op) => self.try_linearize(op, true),
                    None => {
                        let candidates = self.ordered_candidates();
                        self.choices.push(ChoicePoint {
                            candidates,
                            tried: 0,
                        });
                        fresh = false;
                        continue;
                    }
                }
            } else {
                let point = self
                    .choices
                    .last_mut()
                    .expect("the current configuration's choices");
                match point.candidates.get(point.tried).copied() {
                    Some(op) => {
                        point.tried += 1;
                        if !self.try_linearize(op, false) {
                            continue;
                        }
                        true
                    }
                    None => {
                        self.choices.pop();
                        false
                    }
                }
            };
            if advanced {
                fresh = true;
            } else if self.backtrack() {
                fresh = false;
            } else {
                return Verdict::Stuck;
            }
        }
        let witness: Vec<usize> = self.undo.iter().map(|frame| frame.op).collect();
        assert!(
            witness_is_valid(&self.ops, &witness),
            "the witness must replay"
        );
        Verdict::Linearizable
    }

    /// A candidate that some linearization from here (if any exists) puts
    /// next, so the search takes it without trying the alternatives.
    ///
    /// A GET returning the current value: in any linearization from here,
    /// moving it to the front keeps it valid (a GET changes nothing, and
    /// being a candidate it waits for no one).
    ///
    /// On a key without SETs, when no such GET exists, an INCR returning the
    /// current value plus one: the value only grows, so every op a
    /// linearization places before that INCR must be a GET returning the
    /// current value, and the first of them would be a candidate.
    fn forced_move(&self) -> Option<usize> {
        let mut incr = None;
        for op in self.list.candidates() {
            let search_op = &self.ops[op];
            match (&search_op.op.call, search_op.ret) {
                (Call::Get { .. }, Some(Ret::Value(value))) if *value == self.state => {
                    return Some(op);
                }
                (Call::Incr { .. }, Some(_)) if self.counter_only && incr.is_none() => {
                    incr = apply(self.state, search_op).map(|_| op);
                }
                _ => {}
            }
        }
        incr
    }

    /// The eligible candidates whose model step matches, earliest deadline
    /// first: an op whose return, or whose value's first reader, completes
    /// soonest is most likely next in real time.
    fn ordered_candidates(&self) -> Vec<usize> {
        let mut candidates: Vec<usize> = self
            .list
            .candidates()
            .filter(|&op| self.is_eligible(op) && apply(self.state, &self.ops[op]).is_some())
            .collect();
        candidates.sort_by_key(|&op| (self.ops[op].deadline_ns, op));
        candidates
    }

    /// Linearizes `op` next unless the configuration it leads to was explored
    /// before or is dead. `op` must be a candidate the model accepts.
    fn try_linearize(&mut self, op: usize, forced: bool) -> bool {
        let state_after = apply(self.state, &self.ops[op]).expect("the model accepts a candidate");
        let hash_after = self.linearized_hash ^ self.zobrist[op];
        if !self.explored.insert((hash_after, state_after)) {
            return false;
        }
        self.push(op, state_after, forced);
        // A dead configuration still extends a valid prefix, so it counts
        // towards the longest one reported.
        if self.undo.len() > self.longest.len() {
            self.longest = self.undo.iter().map(|frame| frame.op).collect();
        }
        if self.is_dead() {
            self.pop();
            return false;
        }
        true
    }

    /// Undoes linearized ops up to and including the last one that was a
    /// choice, returning to the configuration where it was chosen; false when
    /// no choice is left.
    fn backtrack(&mut self) -> bool {
        while let Some(frame) = self.pop() {
            if !frame.forced {
                assert_eq!(self.choices.len(), self.choice_frames + 1);
                return true;
            }
        }
        assert!(self.choices.is_empty(), "every choice point was popped");
        false
    }

    fn push(&mut self, op: usize, state_after: State, forced: bool) {
        self.undo.push(Frame {
            op,
            state_before: self.state,
            forced,
        });
        self.choice_frames += usize::from(!forced);
        assert_eq!(self.choices.len(), self.choice_frames);
        self.state = state_after;
        self.linearized_hash ^= self.zobrist[op];
        self.mark(op, true);
        self.list.lift(op);
    }

    fn pop(&mut self) -> Option<Frame> {
        let frame = self.undo.pop()?;
        self.list.unlift(frame.op);
        self.mark(frame.op, false);
        self.linearized_hash ^= self.zobrist[frame.op];
        self.state = frame.state_before;
        self.choice_frames -= usize::from(!frame.forced);
        Some(frame)
    }

    fn mark(&mut self, op: usize, linearized: bool) {
        assert_ne!(self.linearized[op], linearized);
        self.linearized[op] = linearized;
        let search_op = &self.ops[op];
        let (acked, reads_class, writes_class) = (
            search_op.ret.is_some(),
            search_op.reads_class,
            search_op.writes_class,
        );
        if acked {
            self.acked_linearized = if linearized {
                self.acked_linearized + 1
            } else {
                self.acked_linearized - 1
            };
        }
        if let Some(class) = reads_class {
            self.count_pending(class, linearized, |search| &mut search.readers_pending);
        }
        if let Some(class) = writes_class {
            self.count_pending(class, linearized, |search| &mut search.writers_pending);
        }
        assert!(self.acked_linearized <= self.acked_total);
    }

    /// Counts one op of `class` out (`linearized`) or back in, keeping
    /// `stranded` in step.
    fn count_pending(
        &mut self,
        class: usize,
        linearized: bool,
        counts: fn(&mut Self) -> &mut Vec<u32>,
    ) {
        let stranded_before = self.is_stranded(class);
        let pending = &mut counts(self)[class];
        *pending = if linearized {
            *pending - 1
        } else {
            *pending + 1
        };
        let stranded_after = self.is_stranded(class);
        self.stranded = self.stranded + usize::from(stranded_after) - usize::from(stranded_before);
    }

    fn is_stranded(&self, class: usize) -> bool {
        self.readers_pending[class] > 0 && self.writers_pending[class] == 0
    }

    /// Dead: on a register key, an acknowledged GET still to be linearized
    /// returned a value that is not the current one and that no SET still to
    /// be linearized writes. Only SETs change a register, and none can bring
    /// that value (or absence) back, so no linearization extends this one.
    /// Checking this at every step, rather than when that GET becomes a
    /// candidate, cuts a wrong choice off before the search wanders under it.
    fn is_dead(&self) -> bool {
        let current_stranded = self
            .class_by_value
            .get(&self.state)
            .is_some_and(|&class| self.is_stranded(class));
        self.stranded > usize::from(current_stranded)
    }

    /// Two rules keep Unknown ops from multiplying the configurations; both
    /// depend only on the linearized set, so they agree with the cache.
    ///
    /// Twins: Unknown ops with identical calls (all the INCRs of a counter)
    /// are interchangeable except for invocation time, and an earlier
    /// invocation only loosens real-time constraints. So in any linearization
    /// the earliest-invoked twins can take the places of the ones used: twins
    /// are linearized in invocation order.
    ///
    /// Wanted SETs: on a register key, take a linearization from here that
    /// uses the Unknown SET U. The ops after U up to the next SET are GETs of
    /// U's value; if there are none, removing U leaves a valid linearization.
    /// Otherwise the first of them directly follows U, and since U has no
    /// return entry, lifting it changes no candidate: that GET is a candidate
    /// already. So U is tried only while a GET of its value is a candidate.
    fn is_eligible(&self, op: usize) -> bool {
        let search_op = &self.ops[op];
        let twin_ready = search_op
            .twin_before
            .is_none_or(|twin| self.linearized[twin]);
        let wanted = search_op.ret.is_some()
            || search_op.writes_class.is_none_or(|class| {
                self.list
                    .candidates()
                    .any(|reader| self.ops[reader].reads_class == Some(class))
            });
        twin_ready && wanted
    }
}

/// A fixed pseudo-random 128-bit key per op index (SplitMix64), so runs hash
/// identically.
fn zobrist_key(index: u64) -> u128 {
    fn splitmix64(seed: u64) -> u64 {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    let high = splitmix64(index.wrapping_mul(2));
    let low = splitmix64(index.wrapping_mul(2).wrapping_add(1));
    (u128::from(high) << 64) | u128::from(low)
}

/// Replays `witness` from scratch: each op at most once, every acknowledged
/// op present, returns as the model says, and no op placed before one that
/// completed before it was invoked.
fn witness_is_valid(ops: &[SearchOp<'_>], witness: &[usize]) -> bool {
    let mut seen = vec![false; ops.len()];
    let mut state = None;
    for &op in witness {
        if std::mem::replace(&mut seen[op], true) {
            return false;
        }
        match apply(state, &ops[op]) {
            Some(state_after) => state = state_after,
            None => return false,
        }
    }
    let mut completed_min_after = u64::MAX;
    for &op in witness.iter().rev() {
        if completed_min_after < ops[op].op.invoked_at_ns {
            return false;
        }
        if let Some(completed) = ops[op].completed_at_ns {
            completed_min_after = completed_min_after.min(completed);
        }
    }
    ops.iter()
        .zip(&seen)
        .all(|(op, &seen)| seen || op.ret.is_none())
}

/// What blocks the linearization `prefix`: the acknowledged ops outside it
/// that real time allows next but the model rejects there, and the GETs
/// (register keys) whose value no SET outside it writes, the current value
/// aside. When there are none, every acknowledged op real time allows next:
/// each leads to a dead end.
fn stuck_ops(ops: &[SearchOp<'_>], prefix: &[usize]) -> Vec<u64> {
    let mut in_prefix = vec![false; ops.len()];
    let mut state = None;
    for &op in prefix {
        in_prefix[op] = true;
        state = apply(state, &ops[op]).expect("the prefix is a linearization");
    }
    let outside: Vec<&SearchOp<'_>> = ops
        .iter()
        .zip(&in_prefix)
        .filter(|(_, &inside)| !inside)
        .map(|(op, _)| op)
        .collect();
    let completed_min = outside.iter().filter_map(|op| op.completed_at_ns).min();
    let allowed_next: Vec<&SearchOp<'_>> = outside
        .iter()
        .copied()
        .filter(|op| op.ret.is_some())
        .filter(|op| completed_min.is_none_or(|completed| op.op.invoked_at_ns <= completed))
        .collect();
    let written: BTreeSet<usize> = outside.iter().filter_map(|op| op.writes_class).collect();
    let stranded = outside.iter().filter(|op| match (op.ret, op.reads_class) {
        (Some(Ret::Value(value)), Some(class)) => *value != state && !written.contains(&class),
        _ => false,
    });
    let mut ids: Vec<u64> = allowed_next
        .iter()
        .filter(|op| apply(state, op).is_none())
        .chain(stranded)
        .map(|op| op.op.id)
        .collect();
    if ids.is_empty() {
        ids = allowed_next.iter().map(|op| op.op.id).collect();
    }
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "k";

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

    fn unknown(mut op: Operation) -> Operation {
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
            check_key_within(&refs, 1),
            Err(LinearizabilityError::Inconclusive {
                key: KEY.to_string(),
                search_steps: 2,
            })
        );
    }

    /// Xorshift64*: deterministic, good enough to shape test histories.
    struct Rng(u64);

    impl Rng {
        fn new(seed: u64) -> Rng {
            Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }

        fn percent(&mut self, percent: u64) -> bool {
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
            let (state_after, ret) = step(state, &ops[i].call).expect("small values");
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
    fn reference(ops: &[Operation]) -> bool {
        fn extend(
            live: &[&Operation],
            used: u64,
            state: State,
            failed: &mut HashSet<(u64, State)>,
        ) -> bool {
            let pending_acked =
                |j: usize| used & (1 << j) == 0 && matches!(live[j].outcome, Outcome::Ok(_));
            if !(0..live.len()).any(pending_acked) {
                return true;
            }
            if failed.contains(&(used, state)) {
                return false;
            }
            for i in (0..live.len()).filter(|&i| used & (1 << i) == 0) {
                let invoked_ns = live[i].invoked_at_ns;
                if (0..live.len())
                    .any(|j| pending_acked(j) && live[j].completed_at_ns < Some(invoked_ns))
                {
                    continue;
                }
                let Some((state_after, ret)) = step(state, &live[i].call) else {
                    continue;
                };
                if matches!(&live[i].outcome, Outcome::Ok(expected) if *expected != ret) {
                    continue;
                }
                if extend(live, used | (1 << i), state_after, failed) {
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
        extend(&live, 0, None, &mut HashSet::new())
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
            let (state_after, mut ret) = step(state, &ops[i].call).expect("small values");
            state = state_after;
            if rng.percent(15) {
                ret = match ret {
                    Ret::Done => Ret::Done,
                    Ret::Value(_) => Ret::Value(Some(rng.below(5)).filter(|&v| v > 0)),
                    Ret::Counter(_) => Ret::Counter(rng.below(5) as i64),
                    other @ (Ret::Added(_) | Ret::Members(_) | Ret::Length(_) | Ret::Items(_)) => {
                        other
                    }
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
        let expected = reference(ops);
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
}
