//! The node's environment: the seams through which everything
//! nondeterministic reaches it ([`NodeEnv`]), the storage seam
//! ([`ShardStorage`], [`FsStorage`]) and random numbers ([`Random`]).
//! Production fills them with real sockets, clocks, files, threads and the
//! OS's randomness; the simulator with madsim's, all from one seed.

use std::path::PathBuf;
use std::sync::Arc;

use orbit_core::ShardId;
use orbit_storage::engine::{FjallEngine, KvEngine};
use orbit_storage::spawn::{Spawner, ThreadSpawner};
use orbit_storage::{Disk, FsDisk};

use crate::clock::Clock;
use crate::netio::{Net, TokioNet};
use crate::node::NodeConfig;

/// Random numbers: drawn by the node that proposes (seeds of random
/// commands, request ids), for timing jitter, and for handshake nonces.
pub trait Random: Send + Sync + 'static {
    /// A random number, never 0 (0 marks "not drawn yet" in commands).
    fn next_u64(&self) -> u64;
}

/// Production: std's per-process random hash keys (from the OS) over the
/// clock and a per-call counter; unpredictable without the keys.
pub struct OsRandom;

impl Random for OsRandom {
    fn next_u64(&self) -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.finish().max(1)
    }
}

/// What one shard's storage is made of.
pub struct ShardFiles {
    pub log_disk: Arc<dyn Disk>,
    pub snapshot_disk: Arc<dyn Disk>,
    pub engine: Arc<dyn KvEngine>,
    /// Keys up to this length are stored inline in a new store (see
    /// `orbit_storage::long_keys`); an existing store keeps its own.
    pub inline_key_len_new: usize,
}

/// The storage seam: where a node's shards keep their bytes. Production uses
/// [`FsStorage`]; the simulator keeps simulated disks that survive restarts.
/// Why a shard's files could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data's format (newer than this build, or unreadable).
    #[error(transparent)]
    Format(#[from] orbit_storage::format::FormatError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the state store: {0}")]
    Engine(orbit_core::StoreError),
}

pub trait ShardStorage: Send + Sync + 'static {
    /// Opens a shard's files. Implementations check the shard's data
    /// format (`orbit_storage::format::check_and_stamp` on the log's disk)
    /// before opening anything else, so data of a newer format is refused
    /// untouched.
    fn open(&self, shard: ShardId) -> Result<ShardFiles, OpenError>;
}

/// Files under `data_dir/shard-N/{log,snapshot,state}`.
pub struct FsStorage {
    pub data_dir: PathBuf,
    /// Each shard's state store block cache.
    pub cache_bytes: u64,
}

impl ShardStorage for FsStorage {
    fn open(&self, shard: ShardId) -> Result<ShardFiles, OpenError> {
        let dir = self.data_dir.join(format!("shard-{}", shard.0));
        let open_disk = |name: &str| {
            let path = dir.join(name);
            FsDisk::open(&path).map_err(|source| OpenError::Io {
                what: path.display().to_string(),
                source,
            })
        };
        let log_disk = Arc::new(open_disk("log")?);
        // Before fjall opens (and may write) the state store.
        orbit_storage::format::check_and_stamp(&*log_disk)?;
        Ok(ShardFiles {
            log_disk,
            snapshot_disk: Arc::new(open_disk("snapshot")?),
            engine: FjallEngine::open_with_cache(&dir.join("state"), self.cache_bytes)
                .map_err(OpenError::Engine)?,
            inline_key_len_new: orbit_storage::long_keys::INLINE_KEY_LEN_DEFAULT,
        })
    }
}

/// Everything nondeterministic a node touches, behind seams: the only way
/// sockets, time, files, work on its own and random numbers reach it.
#[derive(Clone)]
pub struct NodeEnv {
    pub net: Arc<dyn Net>,
    pub clock: Arc<dyn Clock>,
    pub storage: Arc<dyn ShardStorage>,
    /// Work that runs on its own (the log's flusher).
    pub spawner: Arc<dyn Spawner>,
    pub random: Arc<dyn Random>,
}

impl NodeEnv {
    /// Real sockets, the system clock and files under `config.data_dir`.
    pub fn production(config: &NodeConfig) -> NodeEnv {
        NodeEnv {
            net: Arc::new(TokioNet),
            clock: Arc::new(crate::clock::SystemClock),
            storage: Arc::new(FsStorage {
                data_dir: config.data_dir.clone(),
                cache_bytes: config.state_cache_bytes,
            }),
            spawner: Arc::new(ThreadSpawner),
            random: Arc::new(OsRandom),
        }
    }
}
