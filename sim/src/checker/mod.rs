//! The simulator's checkers. Each reads what a run recorded and decides one
//! property; each lives in its own file, which cites where its property
//! comes from.
//!
//! | Checker | Property |
//! |---|---|
//! | [`linearizable`] | Every key's operations are linearizable (Herlihy & Wing), checked by WGL search. |
//! | [`durability`] | No acknowledged write is lost: final reads after healing (Jepsen's counter and lost-write checks). |

pub mod durability;
pub mod linearizable;
