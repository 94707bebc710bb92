//! orbit-check: what a test run records, and the checkers that judge it.
//!
//! The simulator (`orbit-sim`, madsim) and the Jepsen-style harness on real
//! processes (`jepsen/`) both record a [`history::History`] of client
//! operations (invocation, completion, `Ok`/`Fail`/`Unknown`) and run these
//! checkers over it. Nothing here knows how the history was produced: no
//! madsim, no tokio, no clock, no randomness; each checker is a pure
//! function over recorded data, and iterates only ordered containers where
//! order can reach its output. See `README.md` beside this crate for the
//! layout, and `docs/SIMULATION.md` for how the simulator uses it.

pub mod checker;
pub mod history;
