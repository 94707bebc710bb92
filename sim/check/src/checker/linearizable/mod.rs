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
//! Model: the search is generic over a [`Model`], an object's sequential
//! specification (`model.rs`). The simulator checks its register and counter
//! keys against [`RegisterModel`] (`register.rs`): a key is both a register
//! and a counter; its state is its value, absent at first. SET v makes it v
//! and returns OK; GET returns it; INCR adds one (absent counts as 0) and
//! returns the new value. [`SetModel`] (`set.rs`: add, remove, contains,
//! read all) and [`QueueModel`] (`queue.rs`: a FIFO queue) are there for
//! harnesses that issue those calls.
//!
//! Outcomes: a Fail operation did not happen and is dropped. An Unknown one
//! may take effect at any instant after its invocation, or never: it has no
//! return entry (it returns at +infinity), any return value is accepted, and
//! the search succeeds once every acknowledged operation is linearized.
//! Times are simulated nanoseconds; an operation that completed strictly
//! before another was invoked precedes it, and equal times are concurrent.
//!
//! Beyond WGL, each rule argued where it is coded, none changing a verdict
//! (tests compare verdicts with a plain exhaustive search). Rules marked
//! with a model property apply only where the model declares it (see
//! `model.rs`; the register/counter model declares all of them):
//! - forced moves: a read of the current state (a GET of the current
//!   value), or, on a key of reads and advancing ops (a counter), the
//!   advancing op whose return matches (the INCR that returns the next
//!   value), is taken without trying alternatives;
//! - Unknown ops: identical calls are linearized in invocation order, and on
//!   a last-writer-wins key (a register) an Unknown blind write (SET) only
//!   while a read of its state is a candidate;
//! - dead ends (last-writer-wins): a configuration is abandoned as soon as a
//!   pending read's state can no longer be produced;
//! - stale and future reads (last-writer-wins) are found before any search;
//! - choices are tried earliest deadline first.
//!
//! Files: `mod.rs` (entry points, errors), `model.rs` (the [`Model`]
//! trait), `prepare.rs` (from operations to search input), `entry_list.rs`
//! and `search.rs` (the search), `register.rs`, `set.rs`, `queue.rs` (the
//! models), `tests.rs` (the register/counter model's tests, against a plain
//! exhaustive search).
//!
//! Invariants: a pass is returned only with a witness linearization, which is
//! replayed against the model and real-time order before it is believed. The
//! search is bounded by [`SEARCH_STEPS_MAX`]; running out is
//! [`LinearizabilityError::Inconclusive`], never a pass.

use std::fmt;

use crate::history::{History, Operation};

mod entry_list;
mod model;
mod prepare;
mod queue;
mod register;
mod search;
mod set;
#[cfg(test)]
mod tests;

pub use model::Model;
pub use queue::{QueueModel, QueueState};
pub use register::{RegisterModel, RegisterState};
pub use set::{SetModel, SetState};

use prepare::{impossible_reads, prepare};
use search::{Search, Verdict};

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
        /// The model's name ([`Model::name`]).
        model: &'static str,
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
                model,
                longest_prefix,
                stuck_at,
            } => {
                writeln!(
                    f,
                    "key {key:?} is not linearizable: no order of its operations respects both \
                     real time and the {model} model."
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

/// Checks every register and counter key of `history` against
/// [`RegisterModel`], in sorted key order, and returns the first key's
/// error. Keys with other calls (sets, lists, queues) are left to their
/// checkers (`checker/set.rs`, `list.rs`) or models.
pub fn check(history: &History) -> Result<(), LinearizabilityError> {
    check_with(&RegisterModel, history)
}

/// Checks every key of `history` whose calls `model` all owns
/// ([`Model::owns`]), in sorted key order, and returns the first key's
/// error. Other keys are skipped.
pub fn check_with<M: Model>(model: &M, history: &History) -> Result<(), LinearizabilityError> {
    for key in history.keys() {
        let ops: Vec<&Operation> = history.for_key(&key).collect();
        if !ops.iter().all(|op| model.owns(&op.call)) {
            continue;
        }
        check_key_with(model, &ops)?;
    }
    Ok(())
}

/// Decides whether `ops`, all on one key, are linearizable under
/// [`RegisterModel`].
pub fn check_key(ops: &[&Operation]) -> Result<(), LinearizabilityError> {
    check_key_with(&RegisterModel, ops)
}

/// Decides whether `ops`, all on one key, are linearizable under `model`.
pub fn check_key_with<M: Model>(model: &M, ops: &[&Operation]) -> Result<(), LinearizabilityError> {
    check_key_within(model, ops, SEARCH_STEPS_MAX)
}

fn check_key_within<M: Model>(
    model: &M,
    ops: &[&Operation],
    search_steps_max: u64,
) -> Result<(), LinearizabilityError> {
    let Some(first) = ops.first() else {
        return Ok(());
    };
    let key = first.call.key();
    let prepared = prepare(model, key, ops)?;
    let impossible = impossible_reads(&prepared, &model.init());
    let mut search = Search::new(model, prepared);
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
        model: model.name(),
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
            let stuck_at = search.stuck_at();
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
