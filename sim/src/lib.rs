//! orbit-sim: the whole cluster in one seed.
//!
//! Built with `RUSTFLAGS="--cfg madsim"` (into its own target directory), the
//! `orbit-sim` binary runs real `orbit-net` nodes on madsim's simulated
//! runtime, network and clock, over simulated disks, drives workloads through
//! the same router API the protocol servers use, injects faults chosen by the
//! seed, and checks the history and the replicas. In a normal build this
//! crate holds the turmoil tests of the production stack. The history types
//! and the checkers are the `orbit-check` crate (`sim/check/`), shared with
//! the Jepsen harness; they are re-exported here as [`history`] and
//! [`checker`], so `crate::checker::...` paths read as before. See
//! `docs/SIMULATION.md`.

pub use orbit_check::{checker, history};
pub mod disk;
#[cfg(madsim)]
mod nemesis;
pub mod params;
#[cfg(madsim)]
pub mod runner;
pub mod scenario;
#[cfg(madsim)]
pub mod sim_env;
pub mod sim_storage;
#[cfg(not(madsim))]
pub mod turmoil_net;
#[cfg(madsim)]
mod workload;
