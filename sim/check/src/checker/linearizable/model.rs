//! The sequential specification the linearizability search checks against.
//!
//! A [`Model`] is an object's sequential behaviour: a state, where it starts,
//! and what each call does to it and returns. That is all the search needs
//! to be correct. The remaining methods are optional knowledge about the
//! model that lets the search prune; each has a contract, and each default
//! claims nothing, which is always sound. A model that states a property
//! that does not hold can make the search miss linearizations (report a
//! violation that is not one) or skip branches; it can never make a
//! violation pass, because a pass needs a witness order and the witness is
//! replayed against [`Model::step`] and real time before it is believed.

use std::hash::Hash;

use crate::history::{Call, Ret};

/// An object's sequential specification, for one key.
pub trait Model {
    /// The object's state. The search keeps a cache of the configurations
    /// it explored, each a set of linearized operations and a state, hence
    /// `Hash + Eq`; it stores the state before every step, hence `Clone`.
    type State: Clone + Eq + Hash;

    /// What the model is called in messages ("register/counter").
    fn name(&self) -> &'static str;

    /// True for the calls this model specifies. `check_with` checks a key
    /// only when every call on it is one of these, and leaves other keys to
    /// other models or checkers.
    fn owns(&self, call: &Call) -> bool;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// One step: the state after `call` from `state`, and what `call`
    /// returns there; `None` when `call` cannot succeed from `state` (or is
    /// not one of this model's calls).
    fn step(&self, state: &Self::State, call: &Call) -> Option<(Self::State, Ret)>;

    /// True when `call` leaves every state unchanged (a read). The search
    /// then drops Unknown ops of `call` (no effect, no return to match) and
    /// takes an acknowledged one whose return matches the current state at
    /// once, without trying alternatives.
    fn is_read_only(&self, _call: &Call) -> bool {
        false
    }

    /// For a blind write (a register's SET): the state `call` leaves, when
    /// `call` leaves that state and returns the same, whatever the state
    /// before. `None` for every other call.
    ///
    /// On a key where every op is a blind write or a read whose return
    /// names the whole state ([`Model::observed_state`]), the state is the
    /// last blind write's, and the search uses it: Unknown writes of a
    /// state no read saw are dropped; an Unknown write is tried only while
    /// a read of its state could go next; a configuration is abandoned
    /// once a pending read's state can no longer be produced; reads that no
    /// order satisfies (stale and future reads) are found before searching.
    fn blind_write(&self, _call: &Call) -> Option<Self::State> {
        None
    }

    /// For a read-only `call` that returned `ret`, the whole state it saw,
    /// when `ret` names it (a register's GET). `None` otherwise.
    fn observed_state(&self, _call: &Call, _ret: &Ret) -> Option<Self::State> {
        None
    }

    /// True for an advancing call (a counter's INCR): on a key where every
    /// op is a read or an advancing call, a state once left is never held
    /// again, and an op of `call` with a given return succeeds from at most
    /// one state reachable there. The search then takes such an op, once
    /// its return matches the current state and no read of that state could
    /// go first, without trying alternatives: any order that put another
    /// op first would have left the one state it can follow.
    fn is_advancing(&self, _call: &Call) -> bool {
        false
    }
}

/// The state after `call` returned `ret` (`None`: an Unknown outcome,
/// anything goes) from `state`, if the model allows it.
pub(super) fn apply<M: Model>(
    model: &M,
    state: &M::State,
    call: &Call,
    ret: Option<&Ret>,
) -> Option<M::State> {
    let (state_after, returned) = model.step(state, call)?;
    match ret {
        Some(expected) if *expected != returned => None,
        _ => Some(state_after),
    }
}
