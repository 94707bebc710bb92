//! The checkers. Each reads what a run recorded (by the simulator, or by
//! the Jepsen harness on real processes) and decides one property; each
//! lives in its own file, which cites where its property comes from.
//!
//! | Checker | Property |
//! |---|---|
//! | [`linearizable`] | Every key's operations are linearizable (Herlihy & Wing), checked by WGL search against a sequential [`linearizable::Model`]: register/counter (the simulator's), set, FIFO queue. |
//! | [`durability`] | No acknowledged write is lost: final reads after healing (Jepsen's counter and lost-write checks). |
//! | [`replicas`] | Replicas hold identical state at equal applied index (Raft State Machine Safety). |
//! | [`leaders`] | At most one leader per term (Election Safety) and Log Matching. |
//! | [`list`] | The list workload is a linearizable append-only list: reads are prefixes of one order, hold no phantom or duplicate, lose no acknowledged append, keep real-time order (Jepsen's list-append, single key). |
//! | [`set`] | The set workload is a linearizable grow-only set: no acknowledged add lost, no phantom member, reads never shrink (Jepsen's set / set-full). |
//! | [`liveness`] | After faults heal, a write commits and the replicas converge within a bound (Raft §5.6). |
//!
//! Nothing here checks multi-key transactions yet; `sim/check/README.md`
//! says where an Elle-style checker would go.
//!
//! "No panic" is checked by the simulator's runner itself
//! (`sim/src/runner.rs` in `orbit-sim`): it runs the simulation under
//! `catch_unwind` and reports any panic as a failure.

pub mod durability;
pub mod leaders;
pub mod linearizable;
pub mod list;
pub mod liveness;
pub mod replicas;
pub mod set;
