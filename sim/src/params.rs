//! What one seed decides: cluster size, workload mix, timing knobs and which
//! fault classes the nemesis draws from. Chosen by a small PRNG seeded with
//! the run's seed before the simulation starts, so they can be printed first.

use std::fmt;

/// A class of fault the nemesis can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Split the nodes into two random halves.
    Partition,
    /// Cut one direction of one link.
    OneWay,
    /// Two sides that can each reach one bridge node, but not each other.
    Bridge,
    /// Isolate one node completely (a clogged node).
    Clog,
    /// Raise message latency (and so reorder across connections).
    Delay,
    /// Kill a node (power loss: unsynced writes lost, a write may tear) and restart it.
    Kill,
    /// Kill every node at once, then restart them all.
    CrashAll,
    /// Pause a node's execution, then resume it.
    Pause,
    /// Ask a follower to start an election.
    LeaderTransfer,
    /// Remove a voter and add it back.
    Membership,
    /// Disk I/O errors and read bit flips on one node for a while.
    DiskErrors,
}

impl Fault {
    pub const ALL: [Fault; 11] = [
        Fault::Partition,
        Fault::OneWay,
        Fault::Bridge,
        Fault::Clog,
        Fault::Delay,
        Fault::Kill,
        Fault::CrashAll,
        Fault::Pause,
        Fault::LeaderTransfer,
        Fault::Membership,
        Fault::DiskErrors,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::OneWay => "one-way",
            Fault::Bridge => "bridge",
            Fault::Clog => "clog",
            Fault::Delay => "delay",
            Fault::Kill => "kill",
            Fault::CrashAll => "crash-all",
            Fault::Pause => "pause",
            Fault::LeaderTransfer => "leader-transfer",
            Fault::Membership => "membership",
            Fault::DiskErrors => "disk-errors",
        }
    }

    pub fn parse(text: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == text)
    }
}

/// SplitMix64: enough to derive parameters from a seed.
#[derive(Clone, Debug)]
pub struct SeedRng(u64);

impl SeedRng {
    pub fn new(seed: u64) -> SeedRng {
        SeedRng(seed ^ 0x6a09_e667_f3bc_c908)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        assert!(low <= high);
        low + self.next_u64() % (high - low + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// Everything one run is made of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub seed: u64,
    pub nodes: u64,
    pub clients: u64,
    /// Simulated seconds of workload under faults (healing and checks follow).
    pub duration_s: u64,
    pub faults: Vec<Fault>,
    pub heartbeat_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_entries: u64,
    pub log_entries_kept: u64,
    pub latency_ms_min: u64,
    pub latency_ms_max: u64,
    pub buggify: bool,
    /// Register keys (SET/GET) and counter keys (INCR/GET).
    pub register_keys: u64,
    pub counter_keys: u64,
    /// Also run SET PX / EXPIRE traffic on other keys (checked for replica
    /// agreement, not linearizability).
    pub ttl_traffic: bool,
    pub bugs: Vec<String>,
    /// Keys longer than this are stored by indirection (see
    /// `storage/src/long_keys.rs`): small values send most keys that way.
    pub inline_key_len: usize,
}

impl Params {
    /// Derives a run from `seed`. `faults` restricts the classes (all when
    /// `None`); `bugs` plants bugs by name.
    pub fn from_seed(
        seed: u64,
        faults: Option<&[Fault]>,
        bugs: &[String],
        duration_s: u64,
    ) -> Params {
        let mut rng = SeedRng::new(seed);
        let nodes = if rng.chance(75) { 3 } else { 5 };
        let heartbeat_ms = rng.range(50, 150);
        let allowed: Vec<Fault> = faults.map_or_else(|| Fault::ALL.to_vec(), <[Fault]>::to_vec);
        // Each run draws from a seeded subset, so runs differ in character.
        let mut chosen: Vec<Fault> = allowed.iter().copied().filter(|_| rng.chance(60)).collect();
        if chosen.is_empty() && !allowed.is_empty() {
            let pick = usize::try_from(rng.range(0, allowed.len() as u64 - 1)).expect("small");
            chosen.push(allowed[pick]);
        }
        let snapshot_entries =
            [20, 100, 1000, 10_000][usize::try_from(rng.range(0, 3)).expect("small")];
        let latency_ms_min = rng.range(0, 3);
        let mut params = Params {
            seed,
            nodes,
            clients: rng.range(3, 8),
            duration_s,
            faults: chosen,
            heartbeat_ms,
            election_timeout_ms: heartbeat_ms * rng.range(4, 8),
            snapshot_entries,
            log_entries_kept: snapshot_entries.min(rng.range(5, 200)),
            latency_ms_min,
            latency_ms_max: latency_ms_min + rng.range(1, 20),
            buggify: rng.chance(50),
            register_keys: rng.range(1, 4),
            counter_keys: rng.range(1, 2),
            ttl_traffic: rng.chance(50),
            bugs: bugs.to_vec(),
            inline_key_len: 0,
        };
        // Drawn last, so the draws above stay what they were.
        params.inline_key_len = [4, 12, 24, orbit_storage::long_keys::INLINE_KEY_LEN_DEFAULT]
            [usize::try_from(rng.range(0, 3)).expect("small")];
        params
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let faults: Vec<&str> = self.faults.iter().map(|x| x.name()).collect();
        write!(
            f,
            "nodes={} clients={} duration={}s faults=[{}] heartbeat={}ms election={}ms snapshot_every={} \
             log_kept={} latency={}..{}ms buggify={} registers={} counters={} ttl_traffic={} inline_key={} bugs=[{}]",
            self.nodes,
            self.clients,
            self.duration_s,
            faults.join(","),
            self.heartbeat_ms,
            self.election_timeout_ms,
            self.snapshot_entries,
            self.log_entries_kept,
            self.latency_ms_min,
            self.latency_ms_max,
            self.buggify,
            self.register_keys,
            self.counter_keys,
            self.ttl_traffic,
            self.inline_key_len,
            self.bugs.join(","),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_decides_the_parameters() {
        // Goal: equal seeds give equal parameters; different seeds differ.
        let a = Params::from_seed(7, None, &[], 30);
        assert_eq!(a, Params::from_seed(7, None, &[], 30));
        let distinct: std::collections::BTreeSet<String> = (0..50)
            .map(|s| Params::from_seed(s, None, &[], 30).to_string())
            .collect();
        assert!(distinct.len() > 40);
    }

    #[test]
    fn fault_names_round_trip() {
        // Goal: every fault class parses from its own name.
        for fault in Fault::ALL {
            assert_eq!(Fault::parse(fault.name()), Some(fault));
        }
    }
}
