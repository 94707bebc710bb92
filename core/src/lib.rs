//! orbit-core: the protocol-neutral heart of Orbit.
//!
//! A small kernel and the command families on it:
//! - [`entry`]: the log entry payload, `Entry{version, ts_ms, ops}`, each op
//!   from one family;
//! - [`family`]: the one trait a family implements (keys, read-only-ness,
//!   seeds, apply, read);
//! - [`machine`]: the deterministic state machine's kernel, which applies
//!   an entry's ops in order through their families and returns what the
//!   entry did ([`machine::Applied`]);
//! - [`store`]: the ordered key-value interface apply writes through;
//!   [`clock`]: the shard clock and applied index kept in it;
//! - [`redis`]: the Redis family (commands, outputs, keyspace layout).
//!
//! It performs no I/O: no sockets, files, clocks, threads or random
//! numbers. Everything that is not deterministic (the time of a write, the
//! log position) enters as data, so the same log applied on any replica
//! yields the same bytes.

pub mod clock;
pub mod entry;
pub mod family;
pub mod fault;
pub mod ids;
pub mod machine;
pub mod redis;
pub mod store;

pub use entry::{Entry, Op};
pub use ids::{NodeId, ShardId};
pub use machine::{Applied, ApplyCtx, Reply};
pub use store::{MemStore, Store, StoreError};
