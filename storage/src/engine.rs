//! The key-value engine under a shard's state machine.
//!
//! Three keyspaces: `Data` (what `orbit_core::apply` reads and writes),
//! `Meta` (the applied log id, membership, the change log's floor) and
//! `Changes` (the change log, `crate::changes`). Contract:
//! - [`KvEngine::write`] applies a batch atomically: a view sees all of it or
//!   none of it, before and after a crash.
//! - After [`KvEngine::persist`] returns, every batch written before it
//!   survives a crash; batches written since may be lost, newest first.
//! - A [`KvView`] is a consistent snapshot for as long as it lives.
//!
//! Production uses [`FjallEngine`]. [`MemEngine`] keeps the same contract in
//! memory, with crash semantics the simulator drives (fjall's worker threads
//! cannot run inside madsim; see `docs/SIMULATION.md`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use orbit_core::StoreError;

/// One of the engine's keyspaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Space {
    Data,
    Meta,
    Changes,
}

/// One write of a batch: put when `Some`, delete when `None`.
pub type BatchOp = (Space, Vec<u8>, Option<Vec<u8>>);

pub trait KvView: Send {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Visits keys starting with `prefix` in ascending order until `visit`
    /// returns false.
    fn scan(
        &self,
        space: Space,
        prefix: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.scan_from(space, prefix, prefix, visit)
    }

    /// Like `scan`, from the first key at or after `from`.
    fn scan_from(
        &self,
        space: Space,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;

    /// The keys with `prefix` below `below` (all of them when None), in
    /// descending order, as `Store::scan_rev`.
    fn scan_rev(
        &self,
        space: Space,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
}

pub trait KvEngine: Send + Sync + 'static {
    fn view(&self) -> Box<dyn KvView>;
    fn write(&self, batch: Vec<BatchOp>) -> Result<(), StoreError>;
    fn persist(&self) -> Result<(), StoreError>;
}

fn fjall_err(e: fjall::Error) -> StoreError {
    StoreError(e.to_string())
}

/// fjall: an LSM tree on local disk.
pub struct FjallEngine {
    db: fjall::Database,
    data: fjall::Keyspace,
    meta: fjall::Keyspace,
    changes: fjall::Keyspace,
}

/// The block cache a shard's state store keeps, by default (fjall's own
/// default is 32 MiB; it suggests a fifth of the machine's memory).
pub const CACHE_BYTES_DEFAULT: u64 = 256 << 20;

impl FjallEngine {
    pub fn open(path: &Path) -> Result<Arc<FjallEngine>, StoreError> {
        FjallEngine::open_with_cache(path, CACHE_BYTES_DEFAULT)
    }

    /// Opens the store at `path` with a block cache of `cache_bytes`.
    pub fn open_with_cache(path: &Path, cache_bytes: u64) -> Result<Arc<FjallEngine>, StoreError> {
        assert!(cache_bytes > 0, "a block cache of 0 bytes");
        let db = fjall::Database::builder(path)
            .cache_size(cache_bytes)
            .open()
            .map_err(fjall_err)?;
        let data = db.keyspace("data", data_options).map_err(fjall_err)?;
        let meta = db
            .keyspace("meta", fjall::KeyspaceCreateOptions::default)
            .map_err(fjall_err)?;
        let changes = db
            .keyspace("changes", fjall::KeyspaceCreateOptions::default)
            .map_err(fjall_err)?;
        Ok(Arc::new(FjallEngine {
            db,
            data,
            meta,
            changes,
        }))
    }
}

/// The data keyspace's options: fjall's defaults, except that index and
/// filter blocks are cut into partitions at every level (by default only
/// from level 3). A point read past level 0 otherwise loads its table's
/// whole filter block (megabytes for a 64 MiB table), through a 32 MiB
/// block cache that cannot keep them all: at 3 million sorted-set members
/// three quarters of ZADD's time went to reading and checksumming filter
/// blocks, and loading slowed from 40k to 4.7k members a second. With
/// partitions a read loads one small partition of each, and only the top
/// level index of partitions stays in memory.
fn data_options() -> fjall::KeyspaceCreateOptions {
    use fjall::config::PartitioningPolicy;
    fjall::KeyspaceCreateOptions::default()
        .index_block_partitioning_policy(PartitioningPolicy::all(true))
        .filter_block_partitioning_policy(PartitioningPolicy::all(true))
}

struct FjallView {
    snapshot: fjall::Snapshot,
    data: fjall::Keyspace,
    meta: fjall::Keyspace,
    changes: fjall::Keyspace,
}

impl FjallView {
    fn keyspace(&self, space: Space) -> &fjall::Keyspace {
        match space {
            Space::Data => &self.data,
            Space::Meta => &self.meta,
            Space::Changes => &self.changes,
        }
    }
}

impl KvView for FjallView {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        use fjall::Readable;
        Ok(self
            .snapshot
            .get(self.keyspace(space), key)
            .map_err(fjall_err)?
            .map(|v| v.to_vec()))
    }

    fn scan_from(
        &self,
        space: Space,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        use fjall::Readable;
        if from <= prefix {
            for guard in self.snapshot.prefix(self.keyspace(space), prefix) {
                let (k, v) = guard.into_inner().map_err(fjall_err)?;
                if !visit(&k, &v) {
                    break;
                }
            }
            return Ok(());
        }
        for guard in self.snapshot.range(self.keyspace(space), from.to_vec()..) {
            let (k, v) = guard.into_inner().map_err(fjall_err)?;
            if !k.starts_with(prefix) || !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }

    fn scan_rev(
        &self,
        space: Space,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        use fjall::Readable;
        let Some(range) = orbit_core::store::rev_range(prefix, below) else {
            return Ok(());
        };
        for guard in self.snapshot.range(self.keyspace(space), range).rev() {
            let (k, v) = guard.into_inner().map_err(fjall_err)?;
            if !visit(&k, &v) {
                break;
            }
        }
        Ok(())
    }
}

impl KvEngine for FjallEngine {
    fn view(&self) -> Box<dyn KvView> {
        Box::new(FjallView {
            snapshot: self.db.snapshot(),
            data: self.data.clone(),
            meta: self.meta.clone(),
            changes: self.changes.clone(),
        })
    }

    fn write(&self, batch: Vec<BatchOp>) -> Result<(), StoreError> {
        let mut writes = self.db.batch();
        for (space, key, value) in batch {
            let keyspace = match space {
                Space::Data => &self.data,
                Space::Meta => &self.meta,
                Space::Changes => &self.changes,
            };
            match value {
                Some(value) => writes.insert(keyspace, key, value),
                None => writes.remove(keyspace, key),
            }
        }
        writes.commit().map_err(fjall_err)
    }

    fn persist(&self) -> Result<(), StoreError> {
        self.db
            .persist(fjall::PersistMode::SyncAll)
            .map_err(fjall_err)
    }
}

type Maps = BTreeMap<(Space, Vec<u8>), Vec<u8>>;

#[derive(Default)]
struct MemState {
    /// What views see: every batch written.
    visible: Arc<Maps>,
    /// What survives a crash: the state at the last persist.
    durable: Arc<Maps>,
}

/// An in-memory engine with explicit crash semantics, for the simulator and
/// for tests. Clones share one store.
#[derive(Clone, Default)]
pub struct MemEngine {
    state: Arc<Mutex<MemState>>,
}

impl MemEngine {
    pub fn new() -> MemEngine {
        MemEngine::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemState> {
        self.state.lock().expect("mem engine lock")
    }

    /// A crash: every batch written since the last persist is lost.
    pub fn crash(&self) {
        let mut state = self.lock();
        state.visible = state.durable.clone();
    }
}

struct MemView {
    maps: Arc<Maps>,
}

impl KvView for MemView {
    fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.maps.get(&(space, key.to_vec())).cloned())
    }

    fn scan_from(
        &self,
        space: Space,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        for ((s, k), v) in self.maps.range((space, from.max(prefix).to_vec())..) {
            if *s != space || !k.starts_with(prefix) || !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn scan_rev(
        &self,
        space: Space,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        use std::ops::Bound;
        let Some((lower, upper)) = orbit_core::store::rev_range(prefix, below) else {
            return Ok(());
        };
        let within = |bound: Bound<Vec<u8>>| match bound {
            Bound::Included(key) => Bound::Included((space, key)),
            Bound::Excluded(key) => Bound::Excluded((space, key)),
            // Past every key of this space (spaces order after it excluded).
            Bound::Unbounded => Bound::Unbounded,
        };
        for ((s, k), v) in self.maps.range((within(lower), within(upper))).rev() {
            if *s != space {
                continue;
            }
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }
}

impl KvEngine for MemEngine {
    fn view(&self) -> Box<dyn KvView> {
        Box::new(MemView {
            maps: self.lock().visible.clone(),
        })
    }

    fn write(&self, batch: Vec<BatchOp>) -> Result<(), StoreError> {
        let mut state = self.lock();
        let maps = Arc::make_mut(&mut state.visible);
        for (space, key, value) in batch {
            match value {
                Some(value) => maps.insert((space, key), value),
                None => maps.remove(&(space, key)),
            };
        }
        Ok(())
    }

    fn persist(&self) -> Result<(), StoreError> {
        let mut state = self.lock();
        state.durable = state.visible.clone();
        Ok(())
    }
}
