//! Fault-injection hooks for the simulator: `buggify!()` points and planted
//! bugs.
//!
//! Outside the simulator (no `--cfg madsim`) both are constant `false` and
//! every planted-bug branch is compiled out, so production code cannot take
//! them. In the simulator, one registry per run decides, with madsim's seeded
//! rng, which buggify sites are switched on (a quarter of them, at their first
//! visit) and then fires an active site a quarter of the times it is reached,
//! FoundationDB style. Planted bugs are switched on by name (`orbit-sim --bug`)
//! so the checkers can be shown to catch them.

/// Every planted bug, by name. Each breaks one guarantee on purpose.
pub const PLANTED_BUGS: &[(&str, &str)] = &[
    (
        "ack-before-commit",
        "SET replies OK before its entry commits",
    ),
    (
        "stale-read",
        "reads are served locally without a ReadIndex check",
    ),
    (
        "skip-fsync",
        "the log flusher reports entries durable without syncing",
    ),
    (
        "skip-recovery-sync",
        "log recovery trusts what it read without syncing it",
    ),
    (
        "apply-twice-after-restart",
        "a restarted node re-applies entries it had applied",
    ),
    (
        "drop-applied-index",
        "apply does not record the applied log id",
    ),
    (
        "expiry-by-apply-clock",
        "expiry is judged by the replica's clock at apply time",
    ),
    (
        "skip-entry-size-check",
        "a write over entry-size-max is proposed instead of refused",
    ),
];

#[cfg(madsim)]
mod imp {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    use madsim::rand::Rng;

    struct Registry {
        buggify: bool,
        sites: BTreeMap<&'static str, bool>,
        bugs: BTreeSet<String>,
    }

    // One registry per thread: a madsim runtime runs on the thread that
    // calls `block_on`, and a test harness runs several runtimes at once.
    thread_local! {
        static REGISTRY: RefCell<Registry> = const {
            RefCell::new(Registry { buggify: false, sites: BTreeMap::new(), bugs: BTreeSet::new() })
        };
    }

    fn with_registry<T>(f: impl FnOnce(&mut Registry) -> T) -> T {
        REGISTRY.with(|registry| f(&mut registry.borrow_mut()))
    }

    /// Starts a run: forgets which sites were active and sets the bugs.
    pub fn reset(buggify: bool, bugs: &[String]) {
        with_registry(|registry| {
            registry.buggify = buggify;
            registry.sites.clear();
            registry.bugs = bugs.iter().cloned().collect();
        });
    }

    pub fn buggify(site: &'static str) -> bool {
        let active = with_registry(|registry| {
            registry.buggify
                && *registry
                    .sites
                    .entry(site)
                    .or_insert_with(|| madsim::rand::thread_rng().gen_bool(0.25))
        });
        active && madsim::rand::thread_rng().gen_bool(0.25)
    }

    pub fn bug(name: &str) -> bool {
        with_registry(|registry| registry.bugs.contains(name))
    }

    /// A seeded random number below `bound` (at least 1).
    pub fn random_below(bound: u64) -> u64 {
        madsim::rand::thread_rng().gen_range(0..bound.max(1))
    }

    /// Sites reached and switched on so far in this run, for the report.
    pub fn active_sites() -> Vec<&'static str> {
        with_registry(|registry| {
            registry
                .sites
                .iter()
                .filter(|(_, on)| **on)
                .map(|(site, _)| *site)
                .collect()
        })
    }
}

#[cfg(madsim)]
pub use imp::{active_sites, bug, buggify, random_below, reset};

/// Outside the simulator no site ever fires.
#[cfg(not(madsim))]
#[inline(always)]
pub fn buggify(_site: &'static str) -> bool {
    false
}

/// Outside the simulator fault decisions never need randomness.
#[cfg(not(madsim))]
#[inline(always)]
pub fn random_below(_bound: u64) -> u64 {
    0
}

/// `true` at a buggify point when the simulator chose to fire it.
#[macro_export]
macro_rules! buggify {
    () => {
        $crate::fault::buggify(concat!(file!(), ":", line!()))
    };
}
