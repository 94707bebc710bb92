//! A node: one Raft group per shard it hosts, the peer server, and the
//! router that turns a client's command into a linearizable result.
//!
//! Writes are stamped by the node that proposes them (the leader) and go
//! through the shard's log; a follower forwards them to the leader. Reads are
//! answered from applied state after the leader confirms its leadership with
//! a quorum (ReadIndex) and the state machine has applied up to that point.
//! A write is retried on another node only when it certainly was not
//! proposed; otherwise the caller learns that its outcome is unknown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use openraft::async_runtime::watch::WatchReceiver;
use openraft::error::{ClientWriteError, InitializeError, LinearizableReadError, RaftError};
use openraft::raft::AppendEntriesRequest;
use openraft::raft::SnapshotResponse;
use openraft::{BasicNode, ReadPolicy, ServerState, SnapshotPolicy};
use orbit_core::{Entry, Op, Reply, ShardId, StoreError};
use orbit_storage::feed::ChangeFeed;
use orbit_storage::raft::types::{LogId, RaftMetrics, Snapshot, SnapshotMeta, Vote};
use orbit_storage::raft::TypeConfig;
use orbit_storage::watch;
use orbit_storage::{LogStore, ShardState, StateMachine};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

use crate::clock::Stamper;
pub use crate::env::{FsStorage, NodeEnv, Random, ShardFiles, ShardStorage};
use crate::membership::removal_leaves_quorum;
use crate::network::NetworkFactory;
use crate::peer_auth::PeerAuth;
use crate::transport::{
    serve, AppendResults, BoxFuture, PeerHandler, TcpTransport, Transport, TransportError,
};
use crate::wire::{ForwardError, PeerRequest, PeerResponse};

mod housekeeping;
mod membership;
mod peer;
mod reads;
pub mod shard_map;
mod writes;

use self::peer::{IncomingSnapshot, InstalledKey};
use self::shard_map::ShardMap;
use self::writes::{arrived, linger};

/// Keys deleted by one expiry sweep entry, at most.
const SWEEP_KEYS_MAX: u32 = 512;
const RETRY_PAUSE: Duration = Duration::from_millis(50);
/// Ops in one log entry, at most (a larger pipeline run is proposed in parts).
const ENTRY_OPS_MAX: usize = 1024;
/// Entries a shard's leader has proposed and not yet seen commit, at most.
/// One measured best on openraft 0.9 (27k SET/s at 1, 25k at 2, 20k at 4)
/// and again on 0.10 with pipelined replication (bench/redis_compare.sh's
/// load, 3 nodes on 2 cores: SET 40-42k/s at 1; at 2 with the linger 42k,
/// without it 22k; at 4 without it 19k; -P 16 at 2 split into two groups
/// of clients 222k against 232k). On one 2-core machine the leader's thread
/// is the limit (about 20 µs of CPU per SET, 59% of it in the kernel) and
/// the entry rate stays near 1,000/s, so more entries in flight only make
/// them smaller. Across machines, where a round is network and disk time,
/// more may pay.
const WRITES_IN_FLIGHT: usize = 1;
/// How long `commit_writes` waits, at most, for the clients of the last
/// entry to send again before it proposes the next (see there): about one
/// replication round, so that a whole pipelined crowd makes one entry (50
/// clients sending 16 commands each took 1.3 ms to come back).
const LINGER_MAX: Duration = Duration::from_millis(2);
/// The linger also ends once no client has come back for this long: the
/// ones still out are doing something else, and a client that does not come
/// back costs the others no more than this (plus the timer's rounding: tokio's
/// timers fire on millisecond ticks, so up to about 1 ms in production).
const LINGER_GAP: Duration = Duration::from_micros(200);
/// Writes and reads waiting for their turn, per shard; senders wait beyond.
const QUEUE_DEPTH: usize = 8192;

/// Client writes waiting for the shard's next log entry.
struct Proposal {
    ops: Vec<Op>,
    /// The ops' size in the log, about.
    bytes: usize,
    reply: oneshot::Sender<Result<Vec<Reply>, Proposed>>,
}

/// An entry gathers proposals up to [`ENTRY_OPS_MAX`] weight, where an op
/// weighs one plus its bytes over this: about 8 MiB of large values make a
/// full entry, as 1,024 small ops do.
const OP_WEIGHT_BYTES: usize = 8 * 1024;

/// The bytes `ops` take in the log (their encoded size).
fn encoded_bytes(ops: &[Op]) -> usize {
    ops.iter()
        .map(|op| {
            usize::try_from(bincode::serialized_size(op).unwrap_or(u64::MAX)).unwrap_or(usize::MAX)
        })
        .fold(0, usize::saturating_add)
}

/// A read waiting for the next leadership check; it receives the index the
/// state machine must reach before the read may run.
type ReadWaiter = oneshot::Sender<Result<u64, Proposed>>;

/// The receiving ends of a shard's queues, served by tasks `start` spawns.
struct ShardQueues {
    writes: mpsc::Receiver<Proposal>,
    reads: mpsc::Receiver<ReadWaiter>,
}

/// How a node is set up.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub node_id: u64,
    /// Where peers reach this node (also the address advertised to them).
    pub raft_addr: String,
    pub data_dir: PathBuf,
    /// The founding members (id -> peer address). Empty for a node that
    /// joins a running cluster.
    pub initial_members: BTreeMap<u64, String>,
    pub heartbeat_ms: u64,
    pub election_timeout_ms_min: u64,
    pub election_timeout_ms_max: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_entries: u64,
    /// Entries kept in the log behind a snapshot (for slow followers).
    pub log_entries_kept: u64,
    /// Snapshot bytes per piece sent to a follower.
    pub snapshot_chunk_bytes: usize,
    /// The state store's block cache, per shard.
    pub state_cache_bytes: u64,
    /// How long a client command may take before its outcome is unknown.
    pub request_timeout: Duration,
    pub segment_size_max: u64,
    pub expiry_sweep_interval: Duration,
    /// What every peer connection proves it holds (`peer_auth`). Never
    /// empty: a node refuses to start without one.
    pub cluster_secret: Vec<u8>,
    /// The largest write one command may make, in bytes as it travels in
    /// the log; a larger one is refused before it is proposed.
    pub entry_bytes_max: usize,
    /// How much of its change log each shard keeps (`orbit_storage::changes`).
    pub change_retention: orbit_storage::changes::Retention,
}

/// The default [`NodeConfig::entry_bytes_max`]: below Redis's 512 MiB bulk
/// limit, so that a write, its log entry and its copies in flight to two
/// followers fit a machine's memory together.
pub const ENTRY_BYTES_MAX_DEFAULT: usize = 128 << 20;
/// The most [`NodeConfig::entry_bytes_max`] may be: what a peer frame
/// carries with room to spare.
pub const ENTRY_BYTES_MAX_LIMIT: usize = 512 << 20;

impl NodeConfig {
    pub fn new(
        node_id: u64,
        raft_addr: impl Into<String>,
        data_dir: impl Into<PathBuf>,
    ) -> NodeConfig {
        NodeConfig {
            node_id,
            raft_addr: raft_addr.into(),
            data_dir: data_dir.into(),
            initial_members: BTreeMap::new(),
            heartbeat_ms: 100,
            election_timeout_ms_min: 600,
            election_timeout_ms_max: 1200,
            snapshot_entries: 50_000,
            log_entries_kept: 5_000,
            snapshot_chunk_bytes: 4 << 20,
            state_cache_bytes: orbit_storage::engine::CACHE_BYTES_DEFAULT,
            request_timeout: Duration::from_secs(10),
            segment_size_max: orbit_storage::log::SEGMENT_SIZE_MAX_DEFAULT,
            expiry_sweep_interval: Duration::from_millis(1000),
            cluster_secret: Vec::new(),
            entry_bytes_max: ENTRY_BYTES_MAX_DEFAULT,
            change_retention: orbit_storage::changes::Retention::default(),
        }
    }
}

/// Why a command produced no output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// No leader could be found in time; the command was not applied.
    #[error("no Raft leader is available; the command was not applied")]
    NoLeader,
    /// The command may or may not have been applied.
    #[error("the outcome is unknown: {0}")]
    Unknown(String),
    /// The command was not applied.
    #[error("{0}")]
    Failed(String),
}

/// Raft status of one shard on this node, for INFO.
#[derive(Debug, Clone)]
pub struct ShardStatus {
    pub shard: ShardId,
    pub role: &'static str,
    pub term: u64,
    pub leader: Option<u64>,
    pub leader_addr: Option<String>,
    pub last_log_index: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub members: Vec<u64>,
}

/// One shard's Raft: openraft 0.10 names the state machine in the type.
type ShardRaft = openraft::Raft<TypeConfig, StateMachine>;

struct Shard {
    id: ShardId,
    raft: ShardRaft,
    state: Arc<ShardState>,
    log: LogStore,
    writes: mpsc::Sender<Proposal>,
    reads: mpsc::Sender<ReadWaiter>,
    /// Writers answered by the last entries that have not proposed again
    /// since: `commit_writes` lingers for them (see there).
    returning: AtomicUsize,
    /// Readers answered by the last leadership check that have not read
    /// again since: `confirm_reads` lingers for them.
    readers_returning: AtomicUsize,
    /// The snapshot arriving in pieces, if one is.
    incoming_snapshot: std::sync::Mutex<Option<IncomingSnapshot>>,
    /// The last transfer whose last piece installed its snapshot, and the
    /// answer: that piece sent again (its answer was lost) gets the same
    /// answer instead of a refusal that would restart the whole transfer.
    /// A transfer is known by its id, the snapshot's last log id and the vote (a
    /// restarted sender counts its transfers from 0 again).
    installed_snapshot: std::sync::Mutex<Option<(InstalledKey, SnapshotResponse<TypeConfig>)>>,
}

struct Inner {
    config: NodeConfig,
    shard_map: ShardMap,
    shards: BTreeMap<ShardId, Shard>,
    transport: Arc<dyn Transport>,
    stamper: Stamper,
    random: Arc<dyn Random>,
    shutdown_tx: watch::Sender<bool>,
}

/// A running node. Clones share it.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("storage: {0}")]
    Storage(String),
    #[error("raft: {0}")]
    Raft(String),
    #[error("cannot listen for peers on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("no cluster secret: peers could not prove they belong to the cluster")]
    NoClusterSecret,
}

#[derive(Debug, Clone)]
enum Proposed {
    NotLeader(Option<u64>, Option<BasicNode>),
    Unknown(String),
    Failed(String),
}

impl Node {
    /// Opens the node's shards, starts Raft and the peer server.
    pub async fn start(config: NodeConfig, env: NodeEnv) -> Result<Node, StartError> {
        if config.cluster_secret.is_empty() {
            return Err(StartError::NoClusterSecret);
        }
        let auth =
            PeerAuth::new(&config.cluster_secret, config.node_id).with_random(env.random.clone());
        let listener = env
            .net
            .bind(config.raft_addr.clone())
            .await
            .map_err(|source| StartError::Listen {
                addr: config.raft_addr.clone(),
                source,
            })?;
        let transport: Arc<dyn Transport> =
            Arc::new(TcpTransport::new(env.net.clone(), auth.clone()));
        let clock = env.clock.clone();
        // One shard holds every key until the many-shards work lands; the
        // map is the only place that says so.
        let shard_map = ShardMap::single(ShardId(0));
        let mut shards = BTreeMap::new();
        let mut shard_queues = Vec::new();
        for &id in shard_map.shards() {
            let (shard, queues) = open_shard(&config, &env, id, transport.clone()).await?;
            shards.insert(id, shard);
            shard_queues.push((id, queues));
        }
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let node = Node {
            inner: Arc::new(Inner {
                config,
                shard_map,
                shards,
                transport,
                stamper: Stamper::new(clock),
                random: env.random.clone(),
                shutdown_tx,
            }),
        };
        for (shard, queues) in shard_queues.drain(..) {
            tokio::spawn(
                node.clone()
                    .commit_writes(shard, queues.writes, shutdown_rx.clone()),
            );
            tokio::spawn(
                node.clone()
                    .confirm_reads(shard, queues.reads, shutdown_rx.clone()),
            );
        }
        tokio::spawn(serve(
            listener,
            Arc::new(node.clone()),
            auth,
            shutdown_rx.clone(),
        ));
        node.bootstrap().await?;
        for shard in node.inner.shards.keys() {
            tokio::spawn(node.clone().sweep_expired(*shard, shutdown_rx.clone()));
            tokio::spawn(
                node.clone()
                    .break_election_ties(*shard, shutdown_rx.clone()),
            );
        }
        Ok(node)
    }

    /// Founding members initialize the cluster once; openraft allows every
    /// founder to do so with the same membership.
    async fn bootstrap(&self) -> Result<(), StartError> {
        let config = &self.inner.config;
        if !config.initial_members.contains_key(&config.node_id) {
            return Ok(());
        }
        let members: BTreeMap<u64, BasicNode> = config
            .initial_members
            .iter()
            .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
            .collect();
        for shard in self.inner.shards.values() {
            let initialized = shard
                .raft
                .is_initialized()
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
            if initialized {
                continue;
            }
            match shard.raft.initialize(members.clone()).await {
                Ok(()) => tracing::info!(shard = %shard.id, ?members, "initialized the cluster"),
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(StartError::Raft(e.to_string())),
            }
        }
        Ok(())
    }

    /// The node's clock, in ms since the Unix epoch: what the next entry
    /// will be stamped with, give or take the stamp's floor.
    pub fn now_ms(&self) -> u64 {
        self.inner.stamper.now_ms()
    }

    pub fn id(&self) -> u64 {
        self.inner.config.node_id
    }

    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    fn shard(&self, id: ShardId) -> Option<&Shard> {
        self.inner.shards.get(&id)
    }

    /// A reader of what shard `shard` applies on this replica from now on:
    /// the changes and published messages of each entry, in log order (see
    /// `docs/ARCHITECTURE.md`, "Effects"). `None` when it is not hosted here.
    pub fn change_feed(&self, shard: ShardId) -> Option<Result<ChangeFeed, StoreError>> {
        self.shard(shard).map(|s| ChangeFeed::now(s.state.clone()))
    }

    /// The shards of the cluster, home first.
    pub fn shard_ids(&self) -> Vec<ShardId> {
        self.inner.shard_map.shards().to_vec()
    }

    /// WAIT: how many followers hold every shard's log up to its end as of
    /// now (so every write acknowledged before), waiting up to `timeout`
    /// (`None`: until `wanted` do) for `wanted` of them: the fewest over
    /// the shards, each asked of its leader, wherever the client is.
    pub async fn wait_replicas(
        &self,
        wanted: u64,
        timeout: Option<Duration>,
    ) -> Result<u64, ExecError> {
        let mut fewest = u64::MAX;
        for shard in self.shard_ids() {
            fewest = fewest.min(self.wait_replicas_in(shard, wanted, timeout).await?);
        }
        Ok(fewest)
    }

    async fn wait_replicas_in(
        &self,
        shard: ShardId,
        wanted: u64,
        timeout: Option<Duration>,
    ) -> Result<u64, ExecError> {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            // Waits longer than a request timeout go in request-sized steps.
            let step = self.inner.config.request_timeout;
            let now = tokio::time::Instant::now();
            let this_step = match deadline {
                Some(deadline) => deadline.saturating_duration_since(now).min(step),
                None => step,
            };
            let count = match self.replicas_here(shard, wanted, this_step).await {
                Ok(count) => count,
                Err(Proposed::NotLeader(Some(leader), Some(node))) if leader != self.id() => {
                    let request = PeerRequest::Replicas {
                        shard,
                        wanted,
                        timeout_ms: u64::try_from(this_step.as_millis()).unwrap_or(u64::MAX),
                    };
                    match self
                        .inner
                        .transport
                        .call(leader, node.addr, request, this_step + step)
                        .await
                    {
                        Ok(PeerResponse::Replicas(Ok(count))) => count,
                        Ok(PeerResponse::Replicas(Err(e))) => {
                            return Err(ExecError::Failed(e.to_string()))
                        }
                        Ok(other) => {
                            return Err(ExecError::Failed(format!("unexpected reply: {other:?}")))
                        }
                        Err(e) => return Err(ExecError::Failed(e.to_string())),
                    }
                }
                Err(Proposed::NotLeader(..)) => return Err(ExecError::NoLeader),
                Err(Proposed::Unknown(why) | Proposed::Failed(why)) => {
                    return Err(ExecError::Failed(why))
                }
            };
            let expired = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
            if count >= wanted || expired {
                return Ok(count);
            }
        }
    }

    /// On the leader: followers whose matched log reaches the leader's log
    /// end as of the call, waiting up to `timeout` for `wanted` of them.
    async fn replicas_here(
        &self,
        shard_id: ShardId,
        wanted: u64,
        timeout: Duration,
    ) -> Result<u64, Proposed> {
        let Some(shard) = self.shard(shard_id) else {
            return Err(Proposed::Failed(format!("{shard_id} is not hosted here")));
        };
        let mut metrics = shard.raft.metrics();
        let target = {
            let now = metrics.borrow_watched();
            if now.current_leader != Some(self.id()) {
                let leader = now.current_leader;
                let node =
                    leader.and_then(|id| now.membership_config.membership().get_node(&id).cloned());
                return Err(Proposed::NotLeader(leader, node));
            }
            now.last_log_index.unwrap_or(0)
        };
        let count_now = |metrics: &RaftMetrics| {
            metrics.replication.as_ref().map_or(0, |replication| {
                replication
                    .iter()
                    .filter(|(id, matched)| {
                        **id != self.id() && matched.is_some_and(|m| m.index >= target)
                    })
                    .count() as u64
            })
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let count = count_now(&metrics.borrow_and_update());
            if count >= wanted {
                return Ok(count);
            }
            tokio::select! {
                biased;
                changed = metrics.changed() => {
                    if changed.is_err() {
                        return Ok(count);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Ok(count),
            }
        }
    }

    /// A random number from the node's environment (never 0): what a
    /// session draws once for a command that must carry it (a blocking
    /// pop's request id).
    pub fn random_u64(&self) -> u64 {
        self.inner.random.next_u64()
    }

    /// A read of this replica's applied state as it is, without checking
    /// leadership: may be stale. Only for hints (is a list worth a blocking
    /// pop attempt?), never for replies.
    pub fn read_stale(&self, op: &Op) -> Result<Reply, ExecError> {
        let shard = self
            .shard(self.route(op)?)
            .ok_or_else(|| ExecError::Failed("the shard is not hosted here".into()))?;
        let now_ms = self.inner.stamper.now_ms();
        shard
            .state
            .read(now_ms, op)
            .map_err(|e| ExecError::Failed(e.to_string()))
    }

    /// Which shard holds what `cmd` touches.
    pub fn route(&self, op: &Op) -> Result<ShardId, ExecError> {
        self.inner
            .shard_map
            .route(op)
            .map_err(|e| ExecError::Failed(e.to_string()))
    }

    /// Executes one op, wherever its shard's leader is.
    pub async fn execute(&self, op: Op) -> Result<Reply, ExecError> {
        let shard = self.route(&op)?;
        let mut outputs = self.execute_run(shard, vec![op]).await?;
        outputs
            .pop()
            .ok_or_else(|| ExecError::Failed("internal: no output for the command".into()))
    }

    /// Executes a client's pipeline in order, each command with its own
    /// result, as if one by one: a run of consecutive writes is proposed
    /// together (one entry, or consecutive entries), and a run of
    /// consecutive reads shares one leadership check after the writes before
    /// it have committed.
    pub async fn execute_many(&self, ops: Vec<Op>) -> Vec<Result<Reply, ExecError>> {
        let mut results = Vec::with_capacity(ops.len());
        let mut ops = ops.into_iter().peekable();
        while let Some(op) = ops.next() {
            let reads = op.is_read_only();
            let shard = match self.route(&op) {
                Ok(shard) => shard,
                Err(e) => {
                    results.push(Err(e));
                    continue;
                }
            };
            // A write too large for the log fails alone; the commands
            // around it run.
            if !reads {
                if let Err(e) = self.check_entry_size(std::slice::from_ref(&op)) {
                    results.push(Err(e));
                    continue;
                }
            }
            let mut run = vec![op];
            while run.len() < ENTRY_OPS_MAX {
                let fits = |next: &Op| {
                    next.is_read_only() || self.check_entry_size(std::slice::from_ref(next)).is_ok()
                };
                let same_shard = |next: &Op| self.route(next).ok() == Some(shard);
                match ops
                    .next_if(|next| next.is_read_only() == reads && same_shard(next) && fits(next))
                {
                    Some(next) => run.push(next),
                    None => break,
                }
            }
            let count = run.len();
            match self.execute_run(shard, run).await {
                Ok(outputs) => results.extend(outputs.into_iter().map(Ok)),
                Err(e) => results.extend(std::iter::repeat_n(Err(e), count)),
            }
        }
        results
    }

    /// Executes ops that are all reads or all writes, all routed to `shard`
    /// by the caller (each op is routed once: routing lists its keys).
    async fn execute_run(&self, shard: ShardId, mut ops: Vec<Op>) -> Result<Vec<Reply>, ExecError> {
        if !ops[0].is_read_only() {
            self.check_entry_size(&ops)?;
        }
        // Random choices (SPOP, SRANDMEMBER) are drawn here, once: the seed
        // travels with the command, so every replica chooses the same.
        for op in &mut ops {
            for seed in op.seeds_mut() {
                if *seed == 0 {
                    *seed = self.inner.random.next_u64();
                }
            }
        }
        let outputs = if ops[0].is_read_only() {
            self.read(shard, ops).await?
        } else {
            self.write(shard, ops).await?
        };
        Ok(outputs)
    }

    async fn forward(
        &self,
        leader: u64,
        node: BasicNode,
        request: PeerRequest,
        deadline: tokio::time::Instant,
    ) -> Result<Vec<Reply>, Forwarded> {
        let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
        match self
            .inner
            .transport
            .call(leader, node.addr, request, timeout)
            .await
        {
            Ok(PeerResponse::Outputs(Ok(outputs))) => Ok(outputs),
            Ok(PeerResponse::Outputs(Err(ForwardError::NotLeader(_)))) => Err(Forwarded::Retry),
            Ok(PeerResponse::Outputs(Err(ForwardError::Unknown(why)))) => {
                Err(Forwarded::Done(ExecError::Unknown(why)))
            }
            Ok(PeerResponse::Outputs(Err(ForwardError::Failed(why)))) => {
                Err(Forwarded::Done(ExecError::Failed(why)))
            }
            Ok(other) => Err(Forwarded::Done(ExecError::Failed(format!(
                "unexpected reply from node {leader}: {other:?}"
            )))),
            Err(TransportError::Unreachable(_)) => Err(Forwarded::Retry),
            Err(e) => Err(Forwarded::Done(ExecError::Unknown(e.to_string()))),
        }
    }

    /// Raft status of every shard.
    pub async fn status(&self) -> Vec<ShardStatus> {
        let mut out = Vec::new();
        for shard in self.inner.shards.values() {
            let metrics = shard.raft.metrics().borrow_watched().clone();
            let commit_index = metrics.local_committed.map_or(0, |id| id.index);
            let membership = metrics.membership_config.membership();
            let leader_addr = metrics
                .current_leader
                .and_then(|id| membership.get_node(&id).map(|n| n.addr.clone()));
            out.push(ShardStatus {
                shard: shard.id,
                role: match metrics.state {
                    ServerState::Leader => "leader",
                    ServerState::Follower => "follower",
                    ServerState::Candidate => "candidate",
                    ServerState::Learner => "learner",
                    ServerState::Shutdown => "shutdown",
                },
                term: metrics.current_term,
                leader: metrics.current_leader,
                leader_addr,
                last_log_index: metrics.last_log_index.unwrap_or(0),
                commit_index,
                applied_index: metrics.last_applied.map_or(0, |id| id.index),
                members: membership.voter_ids().collect(),
            });
        }
        out
    }

    /// Number of keys in `db` over every shard, and how many carry a deadline.
    pub fn keyspace(&self, db: u8) -> Result<(u64, u64), orbit_core::StoreError> {
        let (mut keys, mut expires) = (0, 0);
        for shard in self.inner.shards.values() {
            let (k, e) = shard.state.key_counts(db)?;
            keys += k;
            expires += e;
        }
        Ok((keys, expires))
    }

    /// A hash of each shard's data, for checking that replicas agree.
    pub fn content_hashes(&self) -> Result<Vec<(ShardId, u64, u64)>, orbit_core::StoreError> {
        self.inner
            .shards
            .values()
            .map(|s| {
                let (applied, hash) = s.state.content_hash()?;
                Ok((s.id, applied, hash))
            })
            .collect()
    }

    /// For the simulator's log-matching check: every entry held on `shard`
    /// as (index, term, crc32 of its encoded record).
    pub fn log_digest(&self, shard: ShardId) -> Result<Vec<(u64, u64, u32)>, String> {
        let shard = self.shard(shard).ok_or("no such shard")?;
        shard.log.digest().map_err(|e| e.to_string())
    }

    /// The shard's current term and whether this node leads it.
    pub fn raft_role(&self, shard: ShardId) -> Option<(u64, bool)> {
        let shard = self.shard(shard)?;
        let metrics = shard.raft.metrics().borrow_watched().clone();
        Some((metrics.current_term, metrics.state == ServerState::Leader))
    }

    /// Waits until Raft on any shard stops on a fatal error (a storage I/O
    /// error, a full disk) and returns what it was. It does not return
    /// while every shard runs; a node whose Raft stopped can serve nothing
    /// it promises, so the server exits on it (fail-stop).
    pub async fn fatal_error(&self) -> String {
        let mut watches: Vec<_> = self
            .inner
            .shards
            .iter()
            .map(|(id, shard)| (*id, shard.raft.metrics()))
            .collect();
        loop {
            for (id, metrics) in &mut watches {
                if let Err(fatal) = &metrics.borrow_and_update().running_state {
                    return format!("{id}: {fatal}");
                }
            }
            let changes = watches
                .iter_mut()
                .map(|(_, metrics)| Box::pin(metrics.changed()));
            let (changed, _, _) = futures_util::future::select_all(changes).await;
            if changed.is_err() {
                return "Raft stopped without a fatal error".to_string();
            }
        }
    }

    /// False once Raft on any shard stopped on a fatal error (storage I/O).
    pub fn is_healthy(&self) -> bool {
        self.inner
            .shards
            .values()
            .all(|s| s.raft.metrics().borrow_watched().running_state.is_ok())
    }

    /// Stops Raft on every shard and the peer server.
    pub async fn shutdown(&self) {
        let _ = self.inner.shutdown_tx.send(true);
        for shard in self.inner.shards.values() {
            if let Err(e) = shard.raft.shutdown().await {
                tracing::warn!(shard = %shard.id, error = %e, "raft shutdown failed");
            }
        }
    }
}

enum Forwarded {
    /// Certainly not applied: try again (maybe elsewhere).
    Retry,
    Done(ExecError),
}

async fn open_shard(
    config: &NodeConfig,
    env: &NodeEnv,
    id: ShardId,
    transport: Arc<dyn Transport>,
) -> Result<(Shard, ShardQueues), StartError> {
    let files = env
        .storage
        .open(id)
        .map_err(|e| StartError::Storage(e.to_string()))?;
    let storage_err = |e: &dyn std::fmt::Display| StartError::Storage(e.to_string());
    let log = LogStore::open_with(files.log_disk, config.segment_size_max, &*env.spawner)
        .map_err(|e| storage_err(&e))?;
    let log_handle = log.clone();
    let state = ShardState::open_with(files.engine, files.inline_key_len_new)
        .map_err(|e| storage_err(&e))?;
    let snapshot_disk = files.snapshot_disk;
    let state_machine = StateMachine::new(state.clone(), snapshot_disk)
        .with_change_retention(config.change_retention);
    let raft_config = openraft::Config {
        cluster_name: "orbit".into(),
        heartbeat_interval: config.heartbeat_ms,
        election_timeout_min: config.election_timeout_ms_min,
        election_timeout_max: config.election_timeout_ms_max,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_entries),
        max_in_snapshot_log_to_keep: config.log_entries_kept,
        install_snapshot_timeout: 2_000,
        // Standard Raft: a leader that restarts must win an election again.
        // Reads rely on it: openraft's read index is the greater of the
        // commit index and the first entry of the leader's term, so a read
        // waits until that entry, and with it everything committed before
        // the term, is applied. A leader restored into its old term would
        // have a commit index rebuilt from what it had applied, below what
        // the cluster had committed (the simulator found that stale read
        // on openraft 0.9, seeds 12 and 14).
        enable_leader_restore: Some(false),
        ..Default::default()
    }
    .validate()
    .map_err(|e| StartError::Raft(e.to_string()))?;
    let network = NetworkFactory {
        transport,
        shard: id,
        node_id: config.node_id,
        snapshot_chunk_bytes: config.snapshot_chunk_bytes,
        // Four heartbeats: a piece is written to memory on arrival.
        snapshot_piece_timeout: Duration::from_millis(config.heartbeat_ms.saturating_mul(4)),
        transfers: Default::default(),
    };
    let raft = ShardRaft::new(
        config.node_id,
        Arc::new(raft_config),
        network,
        log,
        state_machine,
    )
    .await
    .map_err(|e| StartError::Raft(e.to_string()))?;
    let (writes, write_queue) = mpsc::channel(QUEUE_DEPTH);
    let (reads, read_queue) = mpsc::channel(QUEUE_DEPTH);
    let shard = Shard {
        id,
        raft,
        state,
        log: log_handle,
        writes,
        reads,
        returning: AtomicUsize::new(0),
        readers_returning: AtomicUsize::new(0),
        incoming_snapshot: std::sync::Mutex::new(None),
        installed_snapshot: std::sync::Mutex::new(None),
    };
    let queues = ShardQueues {
        writes: write_queue,
        reads: read_queue,
    };
    Ok((shard, queues))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_pieces_join_only_in_order_and_within_one_transfer() {
        // Goal: pieces that continue the transfer join up and the last
        // returns the whole; the piece taken last may come again and is
        // taken once; a gap, an older piece or another transfer's piece is
        // refused; a new first piece starts over.
        let mut slot = None;
        let take = |slot: &mut Option<IncomingSnapshot>, piece, data: &[u8]| {
            IncomingSnapshot::take(slot, piece, data.to_vec())
        };
        assert_eq!(take(&mut slot, (1, 0, false), b"ab"), Ok(None));
        assert_eq!(take(&mut slot, (1, 2, false), b"cd"), Ok(None));
        assert_eq!(
            take(&mut slot, (1, 2, false), b"cd"),
            Ok(None),
            "the last piece again is taken once"
        );
        assert!(
            take(&mut slot, (1, 2, false), b"xy").is_err(),
            "a different repeat"
        );
        assert!(
            take(&mut slot, (1, 0, false), b"a").is_ok(),
            "offset 0 restarts"
        );
        assert_eq!(take(&mut slot, (1, 1, false), b"bcd"), Ok(None));
        assert!(take(&mut slot, (1, 9, false), b"zz").is_err(), "a gap");
        assert!(
            take(&mut slot, (2, 4, false), b"ef").is_err(),
            "another transfer"
        );
        assert_eq!(
            take(&mut slot, (1, 4, true), b"e"),
            Ok(Some(b"abcde".to_vec()))
        );
        assert!(slot.is_none(), "the last piece clears the slot");
        assert!(
            take(&mut slot, (1, 5, true), b"f").is_err(),
            "after the end"
        );
        // A new transfer's first piece replaces one left unfinished.
        assert_eq!(take(&mut slot, (3, 0, false), b"old"), Ok(None));
        assert_eq!(take(&mut slot, (4, 0, false), b"n"), Ok(None));
        assert_eq!(
            take(&mut slot, (4, 1, true), b"ew"),
            Ok(Some(b"new".to_vec()))
        );
        assert_eq!(take(&mut slot, (5, 0, true), b""), Ok(Some(Vec::new())));
    }

    // Plain tokio here (unit tests never run in the simulator), so a yield
    // hands the thread to the linger and back.
    #[allow(clippy::disallowed_methods)]
    #[tokio::test]
    async fn linger_waits_for_the_clients_coming_back_and_no_longer() {
        // Goal: the batch takes the clients the last batch answered as they
        // come back, and ends once all of them are in.
        let (tx, mut queue) = mpsc::channel(16);
        let returning = Arc::new(AtomicUsize::new(2));
        let coming = returning.clone();
        let sender = tokio::spawn(async move {
            for i in 0..2 {
                tokio::task::yield_now().await;
                arrived(&coming);
                tx.send(i).await.expect("queue open");
            }
            tx
        });
        let mut batch = vec![100];
        linger(&mut queue, &returning, &mut batch, 1, |_| 1).await;
        assert_eq!(batch, vec![100, 0, 1]);
        assert_eq!(returning.load(Ordering::Relaxed), 0);
        drop(sender.await.expect("sender"));
    }

    #[tokio::test]
    async fn linger_gives_up_on_clients_that_do_not_come_back() {
        // Goal: a client that does something else costs one gap, after which
        // nobody is waited for any more.
        let (_tx, mut queue) = mpsc::channel::<u32>(16);
        let returning = AtomicUsize::new(3);
        let mut batch = vec![7];
        linger(&mut queue, &returning, &mut batch, 1, |_| 1).await;
        assert_eq!(batch, vec![7]);
        assert_eq!(returning.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn linger_stops_at_a_full_entry() {
        // Goal: however many are expected, a batch never weighs more than an
        // entry holds; the rest wait in the queue for the next one.
        let (tx, mut queue) = mpsc::channel(2 * ENTRY_OPS_MAX);
        for i in 0..ENTRY_OPS_MAX + 10 {
            tx.try_send(i).expect("room");
        }
        let returning = AtomicUsize::new(usize::MAX);
        let mut batch = Vec::new();
        linger(&mut queue, &returning, &mut batch, 0, |_| 1).await;
        assert_eq!(batch.len(), ENTRY_OPS_MAX);
        assert_eq!(queue.len(), 10);
    }
}
