//! The simulator's checkers. Each reads what a run recorded and decides one
//! property; each lives in its own file, which cites where its property
//! comes from.
//!
//! | Checker | Property |
//! |---|---|
//! | [`linearizable`] | Every key's operations are linearizable (Herlihy & Wing), checked by WGL search. |
//! | [`durability`] | No acknowledged write is lost: final reads after healing (Jepsen's counter and lost-write checks). |
//! | [`replicas`] | Replicas hold identical state at equal applied index (Raft State Machine Safety). |
//! | [`leaders`] | At most one leader per term (Election Safety) and Log Matching. |
//!
//! Liveness (progress within a bound after faults heal) and "no panic" are
//! checked by the runner itself (`runner.rs`), which owns the clock and the
//! panic hook.

pub mod durability;
pub mod leaders;
pub mod linearizable;
pub mod replicas;
