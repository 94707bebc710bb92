//! orbit-sim: the whole cluster in one seed.
//!
//! Built with `RUSTFLAGS="--cfg madsim"` (into its own target directory), the
//! `orbit-sim` binary runs real `orbit-net` nodes on madsim's simulated
//! runtime, network and clock, over simulated disks, drives workloads through
//! the same router API the protocol servers use, injects faults chosen by the
//! seed, and checks the history and the replicas. In a normal build this
//! crate holds the checkers (tested on hand-made histories) and the turmoil
//! tests of the production stack. See `docs/SIMULATION.md`.

pub mod checker;
pub mod disk;
pub mod history;
pub mod params;
#[cfg(madsim)]
pub mod runner;
pub mod scenario;
#[cfg(madsim)]
pub mod sim_env;
pub mod sim_storage;
#[cfg(not(madsim))]
pub mod turmoil_net;
