//! orbit-core: the protocol-neutral heart of Orbit.
//!
//! This crate owns the `Command` and `Output` types, the key and value layout,
//! and the deterministic shard state machine [`apply`]. It performs no I/O: no
//! sockets, files, clocks, threads or random numbers. Everything that is not
//! deterministic (the time of a write, the log position) enters as data in
//! [`ApplyCtx`], so the same log applied on any replica yields the same bytes.

pub mod apply;
pub mod command;
pub mod entry;
pub mod fault;
pub mod glob;
pub mod ids;
pub mod keys;
pub mod output;
pub mod store;

pub use apply::{apply, ApplyCtx};
pub use command::{Command, Expiry, SetCondition, SetExpiry};
pub use entry::{Op, Request};
pub use ids::{NodeId, ShardId};
pub use output::Output;
pub use store::{MemStore, Store, StoreError};
