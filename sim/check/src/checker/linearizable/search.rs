//! The WGL search over one key's prepared operations, generic over the
//! [`Model`]: a depth-first search over the candidates of each
//! configuration, with Lowe's cache of explored configurations, forced
//! moves, an undo stack, and the model-declared pruning (see
//! [`Model::blind_write`] and [`Model::is_advancing`]). Also the replay of a
//! witness and the diagnosis of a failed search.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::entry_list::EntryList;
use super::model::{apply, Model};
use super::prepare::{Prepared, SearchOp};

pub(super) enum Verdict {
    Linearizable,
    Stuck,
    BudgetExhausted,
}

struct Frame<S> {
    op: usize,
    state_before: S,
    /// Taken as a forced move: if it fails, the configuration before it fails.
    forced: bool,
}

/// The candidates of a configuration where the search had to choose, in the
/// order they are tried, and how many have been tried.
struct ChoicePoint {
    candidates: Vec<usize>,
    tried: usize,
}

pub(super) struct Search<'a, M: Model> {
    model: &'a M,
    pub(super) ops: Vec<SearchOp<'a>>,
    list: EntryList,
    linearized: Vec<bool>,
    acked_total: usize,
    acked_linearized: usize,
    /// Every op is a read or advancing (a counter key: no SET may have
    /// happened, so the value only grows).
    advancing_only: bool,
    state: M::State,
    /// State classes (on a last-writer-wins key), and per class its
    /// acknowledged reads and its blind writes not yet linearized (see
    /// `is_dead`).
    class_states: Vec<M::State>,
    class_by_state: HashMap<M::State, usize>,
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
    explored: HashSet<(u128, M::State)>,
    undo: Vec<Frame<M::State>>,
    /// One per frame of `undo` that was a choice, plus one for the current
    /// configuration once its candidates are listed.
    choices: Vec<ChoicePoint>,
    /// The frames of `undo` that were choices.
    choice_frames: usize,
    /// The deepest undo stack seen, as op indices.
    pub(super) longest: Vec<usize>,
    pub(super) steps: u64,
}

impl<'a, M: Model> Search<'a, M> {
    pub(super) fn new(model: &'a M, prepared: Prepared<'a, M::State>) -> Search<'a, M> {
        let ops = prepared.ops;
        let acked_total = ops.iter().filter(|op| op.ret.is_some()).count();
        let advancing_only = ops.iter().all(|op| op.read_only || op.advancing);
        let classes_count = prepared.classes.states.len();
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
            model,
            list: EntryList::new(&ops),
            linearized: vec![false; ops.len()],
            acked_total,
            acked_linearized: 0,
            advancing_only,
            state: model.init(),
            class_states: prepared.classes.states,
            class_by_state: prepared.classes.by_state,
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

    pub(super) fn run(&mut self, search_steps_max: u64) -> Verdict {
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
            witness_is_valid(self.model, &self.ops, &witness),
            "the witness must replay"
        );
        Verdict::Linearizable
    }

    /// A candidate that some linearization from here (if any exists) puts
    /// next, so the search takes it without trying the alternatives.
    ///
    /// An acknowledged read (a GET) whose return matches the current state:
    /// in any linearization from here, moving it to the front keeps it
    /// valid (a read changes nothing, and being a candidate it waits for no
    /// one).
    ///
    /// On a key of reads and advancing ops only (a counter key), when no
    /// such read exists, the first acknowledged advancing op whose return
    /// matches (an INCR returning the current value plus one): the state
    /// is never held again once left, and that op succeeds from this state
    /// alone, so every op a linearization places before it must be a read
    /// of the current state, and the first of them would be a candidate.
    fn forced_move(&self) -> Option<usize> {
        let mut advance = None;
        for op in self.list.candidates() {
            let search_op = &self.ops[op];
            if search_op.ret.is_none() {
                continue;
            }
            if search_op.read_only {
                if let Some(state_after) = apply_op(self.model, &self.state, search_op) {
                    debug_assert!(state_after == self.state, "a read changed the state");
                    return Some(op);
                }
            } else if search_op.advancing && self.advancing_only && advance.is_none() {
                advance = apply_op(self.model, &self.state, search_op).map(|_| op);
            }
        }
        advance
    }

    /// The eligible candidates whose model step matches, earliest deadline
    /// first: an op whose return, or whose value's first reader, completes
    /// soonest is most likely next in real time.
    fn ordered_candidates(&self) -> Vec<usize> {
        let mut candidates: Vec<usize> = self
            .list
            .candidates()
            .filter(|&op| {
                self.is_eligible(op) && apply_op(self.model, &self.state, &self.ops[op]).is_some()
            })
            .collect();
        candidates.sort_by_key(|&op| (self.ops[op].deadline_ns, op));
        candidates
    }

    /// Linearizes `op` next unless the configuration it leads to was explored
    /// before or is dead. `op` must be a candidate the model accepts.
    fn try_linearize(&mut self, op: usize, forced: bool) -> bool {
        let state_after = apply_op(self.model, &self.state, &self.ops[op])
            .expect("the model accepts a candidate");
        let hash_after = self.linearized_hash ^ self.zobrist[op];
        if !self.explored.insert((hash_after, state_after.clone())) {
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
        while let Some(forced) = self.pop() {
            if !forced {
                assert_eq!(self.choices.len(), self.choice_frames + 1);
                return true;
            }
        }
        assert!(self.choices.is_empty(), "every choice point was popped");
        false
    }

    fn push(&mut self, op: usize, state_after: M::State, forced: bool) {
        self.undo.push(Frame {
            op,
            state_before: std::mem::replace(&mut self.state, state_after),
            forced,
        });
        self.choice_frames += usize::from(!forced);
        assert_eq!(self.choices.len(), self.choice_frames);
        self.linearized_hash ^= self.zobrist[op];
        self.mark(op, true);
        self.list.lift(op);
    }

    /// Undoes the last linearized op; returns whether it was a forced move.
    fn pop(&mut self) -> Option<bool> {
        let frame = self.undo.pop()?;
        self.list.unlift(frame.op);
        self.mark(frame.op, false);
        self.linearized_hash ^= self.zobrist[frame.op];
        self.state = frame.state_before;
        self.choice_frames -= usize::from(!frame.forced);
        Some(frame.forced)
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

    /// Dead: on a last-writer-wins key (a register key), an acknowledged
    /// read still to be linearized saw a state that is not the current one
    /// and that no blind write still to be linearized leaves (a GET of a
    /// value no pending SET writes). Only blind writes change the state, and
    /// none can bring that state back, so no linearization extends this one.
    /// Checking this at every step, rather than when that read becomes a
    /// candidate, cuts a wrong choice off before the search wanders under it.
    fn is_dead(&self) -> bool {
        let current_stranded = self
            .class_by_state
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
    /// Wanted writes: on a last-writer-wins key (a register key), take a
    /// linearization from here that uses the Unknown blind write U (a SET).
    /// The ops after U up to the next write are reads of U's state (GETs of
    /// its value); if there are none, removing U leaves a valid
    /// linearization. Otherwise the first of them directly follows U, and
    /// since U has no return entry, lifting it changes no candidate: that
    /// read is a candidate already. So U is tried only while a read of its
    /// state is a candidate.
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

/// The state after `op`, if the model allows `op` to return what it did.
fn apply_op<M: Model>(model: &M, state: &M::State, op: &SearchOp<'_>) -> Option<M::State> {
    apply(model, state, &op.op.call, op.ret)
}

/// Replays `witness` from scratch: each op at most once, every acknowledged
/// op present, returns as the model says, and no op placed before one that
/// completed before it was invoked.
fn witness_is_valid<M: Model>(model: &M, ops: &[SearchOp<'_>], witness: &[usize]) -> bool {
    let mut seen = vec![false; ops.len()];
    let mut state = model.init();
    for &op in witness {
        if std::mem::replace(&mut seen[op], true) {
            return false;
        }
        match apply_op(model, &state, &ops[op]) {
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

impl<M: Model> Search<'_, M> {
    /// What blocks the longest linearization found: the acknowledged ops
    /// outside it that real time allows next but the model rejects there,
    /// and the reads (last-writer-wins keys) whose state no blind write
    /// outside it leaves, the current state aside. When there are none,
    /// every acknowledged op real time allows next: each leads to a dead end.
    pub(super) fn stuck_at(&self) -> Vec<u64> {
        let (model, ops) = (self.model, &self.ops);
        let mut in_prefix = vec![false; ops.len()];
        let mut state = model.init();
        for &op in &self.longest {
            in_prefix[op] = true;
            state = apply_op(model, &state, &ops[op]).expect("the prefix is a linearization");
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
            (Some(_), Some(class)) => {
                self.class_states[class] != state && !written.contains(&class)
            }
            _ => false,
        });
        let mut ids: Vec<u64> = allowed_next
            .iter()
            .filter(|op| apply_op(model, &state, op).is_none())
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
}
