//! The register/counter model, the one the simulator checks its register
//! and counter keys against: a key is both a register and a counter; its
//! state is its value, absent at first. SET v makes it v and returns OK; GET
//! returns it; INCR adds one (absent counts as 0) and returns the new value.
//!
//! It declares everything the search can prune with: GET is a read that
//! names the whole state, SET is a blind write, INCR is advancing (on a key
//! without SETs the value only grows, and INCR's return names the value it
//! started from).

use super::model::Model;
use crate::history::{Call, Ret};

/// The register/counter model (see the module documentation).
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel;

/// The key's value. Nothing decrements and SET takes a `u64`, so a value is
/// never negative and `u64` holds every state losslessly.
pub type RegisterState = Option<u64>;

impl Model for RegisterModel {
    type State = RegisterState;

    fn name(&self) -> &'static str {
        "register/counter"
    }

    fn owns(&self, call: &Call) -> bool {
        matches!(
            call,
            Call::Set { .. } | Call::Get { .. } | Call::Incr { .. }
        )
    }

    fn init(&self) -> RegisterState {
        None
    }

    /// INCR past `i64::MAX` errors, so it has no step there.
    fn step(&self, state: &RegisterState, call: &Call) -> Option<(RegisterState, Ret)> {
        let state = *state;
        match call {
            Call::Set { value, .. } => Some((Some(*value), Ret::Done)),
            Call::Get { .. } => Some((state, Ret::Value(state))),
            Call::Incr { .. } => {
                let value = state.unwrap_or(0).checked_add(1)?;
                let counter = i64::try_from(value).ok()?;
                Some((Some(value), Ret::Counter(counter)))
            }
            // Set, list and queue keys never reach this model (`check`
            // leaves keys with calls it does not own to other checkers).
            Call::SAdd { .. }
            | Call::SMembers { .. }
            | Call::Append { .. }
            | Call::ReadList { .. }
            | Call::SRem { .. }
            | Call::SIsMember { .. }
            | Call::Enqueue { .. }
            | Call::Dequeue { .. } => None,
        }
    }

    fn is_read_only(&self, call: &Call) -> bool {
        matches!(call, Call::Get { .. })
    }

    fn blind_write(&self, call: &Call) -> Option<RegisterState> {
        match call {
            Call::Set { value, .. } => Some(Some(*value)),
            _ => None,
        }
    }

    fn observed_state(&self, call: &Call, ret: &Ret) -> Option<RegisterState> {
        match (call, ret) {
            (Call::Get { .. }, Ret::Value(value)) => Some(*value),
            _ => None,
        }
    }

    fn is_advancing(&self, call: &Call) -> bool {
        matches!(call, Call::Incr { .. })
    }
}
