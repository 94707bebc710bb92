//! A node's storage in the simulator: simulated disks for the log and the
//! snapshot, and an in-memory engine for the state machine, all outliving the
//! simulated process so a restarted node finds what survived its crash.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use orbit_core::ShardId;
use orbit_net::{OpenError, ShardFiles, ShardStorage};
use orbit_storage::engine::MemEngine;

use crate::disk::{DiskFaults, SimDisk};

#[derive(Clone)]
struct ShardDisks {
    log: SimDisk,
    snapshot: SimDisk,
    engine: MemEngine,
}

/// One node's disks. Clones share them.
#[derive(Clone)]
pub struct SimStorage {
    name: String,
    shards: Arc<Mutex<BTreeMap<ShardId, ShardDisks>>>,
    random: Arc<dyn Fn(u64) -> u64 + Send + Sync>,
    inline_key_len: usize,
}

impl SimStorage {
    pub fn new(
        name: impl Into<String>,
        random: Arc<dyn Fn(u64) -> u64 + Send + Sync>,
        inline_key_len: usize,
    ) -> SimStorage {
        SimStorage {
            name: name.into(),
            shards: Arc::default(),
            random,
            inline_key_len,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ShardId, ShardDisks>> {
        self.shards
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Power loss on this node.
    pub fn crash(&self) {
        for disks in self.lock().values() {
            disks.log.crash();
            disks.snapshot.crash();
            disks.engine.crash();
        }
    }

    /// Forgets every file (the end of a run).
    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn set_faults(&self, faults: DiskFaults) {
        for disks in self.lock().values() {
            disks.log.set_faults(faults);
            disks.snapshot.set_faults(faults);
        }
    }
}

impl ShardStorage for SimStorage {
    fn open(&self, shard: ShardId) -> Result<ShardFiles, OpenError> {
        let mut shards = self.lock();
        let disks = shards.entry(shard).or_insert_with(|| ShardDisks {
            log: SimDisk::new(format!("{}/{shard}/log", self.name), self.random.clone()),
            snapshot: SimDisk::new(
                format!("{}/{shard}/snapshot", self.name),
                self.random.clone(),
            ),
            engine: MemEngine::new(),
        });
        orbit_storage::format::check_and_stamp(&disks.log)?;
        Ok(ShardFiles {
            log_disk: Arc::new(disks.log.clone()),
            snapshot_disk: Arc::new(disks.snapshot.clone()),
            engine: Arc::new(disks.engine.clone()),
            inline_key_len_new: self.inline_key_len,
        })
    }
}
