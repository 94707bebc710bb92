//! orbit-storage: where a shard's bytes live.
//!
//! - [`log`]: the Raft log as segment files of framed, checksummed records,
//!   recovered after crashes; [`log_store`] puts openraft's API and group
//!   commit on top.
//! - [`state`]: the shard state machine over a [`engine::KvEngine`] (fjall in production), with the applied log id
//!   written in the same batch as the data, and snapshots.
//! - [`changes`]: the change log, what each applied entry changed and
//!   published, read by cursor; [`feed`] waits on it.
//! - [`long_keys`]: keys of any length over an engine that takes short ones.
//! - [`disk`]: the file-access seam the simulator replaces.
//! - [`raft`]: openraft's type configuration for Orbit's log, and the runtime
//!   it runs on ([`runtime`], madsim's, in the simulator).

pub mod changes;
pub mod disk;
pub mod feed;
pub mod log;
pub mod log_store;
pub mod raft;
pub mod raft_watch;
pub mod record;
#[cfg(madsim)]
pub mod runtime;
pub mod spawn;
pub mod watch;

pub use disk::{Disk, DiskFile, FsDisk};
pub use log::{LogError, SegmentLog};
pub use log_store::LogStore;
pub mod engine;
pub mod format;
pub mod long_keys;
pub mod state;
pub use state::{Published, ShardState, StateMachine};
