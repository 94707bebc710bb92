//! The production stack under turmoil: three real `orbit_net::Node`s (real
//! tokio, the TCP peer transport, openraft, fjall and the segment log on real
//! files) each behind the real RESP server, and a client host that speaks
//! RESP to them over turmoil's simulated TCP. Faults are turmoil's:
//! partitions, crashes and restarts. This covers the code compiled without
//! `cfg(madsim)`; the madsim simulator covers the rest.
//!
//! What the harness guarantees:
//! - A host's data directory is derived from its name and outlives the host,
//!   so a crash or bounce restarts the node on the same files (a process
//!   kill: what was written but not fsync'd survives in the page cache).
//! - The test sees each running node through a registry of `Weak<Node>` that
//!   the host fills on every (re)start; a crash drops the node, so a stale
//!   handle cannot keep fjall's lock on the directory.
//! - Crash and bounce need the `Sim`, which the client cannot reach: the
//!   client queues them and the step loop applies them after the step.
//!
//! Time: each step advances every host's paused tokio clock by `TICK`. The
//! log's flusher is a real thread doing a real fsync; a host waiting on it is
//! idle, so turmoil keeps stepping (about 100 us of real time per step) and
//! the flush completes some ticks later in simulated time. The files live on
//! tmpfs where there is one (see [`data_root`]) so that this costs about a
//! tick; on a disk the tests still pass, only slower in simulated time.
//! Nothing here is deterministic across runs (real threads, real files): a
//! seed fixes turmoil's choices, not the interleaving with the flusher.
//!
//! Run with `RUST_LOG=info` (or `orbit_net=debug`) to see a trace stamped
//! with simulated time.
#![cfg(not(madsim))]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use orbit_net::netio::Net;
use orbit_net::{FsStorage, Node, NodeConfig, NodeEnv};
use orbit_protocols::redis::server::{serve, Shared};
use orbit_protocols::resp::codec::{encode, Decoder, Frame, Limits, Protocol};
use orbit_sim::turmoil_net::{TurmoilClock, TurmoilNet};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOSTS: [&str; 3] = ["n1", "n2", "n3"];
const RAFT_PORT: u16 = 7000;
const RESP_PORT: u16 = 6379;
const TICK: Duration = Duration::from_millis(1);
/// Simulated time a test may take, at most.
const SIM_DURATION: Duration = Duration::from_secs(30);
/// How long the client waits for a reply before calling the outcome unknown.
const REPLY_TIMEOUT: Duration = Duration::from_secs(4);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long a node may take to commit a write before it answers UNKNOWN.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------
// The cluster: hosts, the registry of running nodes, and queued faults.

/// A fault only the step loop can apply.
enum Fault {
    Crash(&'static str),
    Bounce(&'static str),
}

/// What the client sees of the cluster.
#[derive(Clone, Default)]
struct Cluster {
    /// Host name -> the node it runs now; filled by the host on each start.
    nodes: Arc<Mutex<BTreeMap<String, Weak<Node>>>>,
    /// Faults queued by the client, applied after the current step.
    faults: Arc<Mutex<Vec<Fault>>>,
}

fn node_id(host: &str) -> u64 {
    let index = HOSTS
        .iter()
        .position(|h| *h == host)
        .expect("a host of the cluster");
    index as u64 + 1
}

fn node_config(host: &str, data_dir: PathBuf) -> NodeConfig {
    let mut config = NodeConfig::new(node_id(host), format!("{host}:{RAFT_PORT}"), data_dir);
    config.initial_members = HOSTS
        .iter()
        .map(|h| (node_id(h), format!("{h}:{RAFT_PORT}")))
        .collect();
    config.heartbeat_ms = 50;
    config.election_timeout_ms_min = 300;
    config.election_timeout_ms_max = 600;
    config.request_timeout = REQUEST_TIMEOUT;
    config.cluster_secret = b"turmoil cluster".to_vec();
    config
}

/// One host's software: a node and its RESP server, on files under
/// `data_dir` that survive the host's restarts.
async fn run_host(host: &'static str, data_dir: PathBuf, cluster: Cluster) -> turmoil::Result {
    let resp_addr = format!("{host}:{RESP_PORT}");
    let resp_listener = TurmoilNet.bind(resp_addr.clone()).await?;
    let env = NodeEnv {
        net: Arc::new(TurmoilNet),
        clock: Arc::new(TurmoilClock::default()),
        storage: Arc::new(FsStorage {
            data_dir: data_dir.clone(),
            cache_bytes: orbit_storage::engine::CACHE_BYTES_DEFAULT,
        }),
        spawner: Arc::new(orbit_storage::spawn::ThreadSpawner),
        random: Arc::new(orbit_net::OsRandom),
    };
    let node = Arc::new(Node::start(node_config(host, data_dir), env).await?);
    tracing::info!(host, "node started");
    cluster
        .nodes
        .lock()
        .expect("registry lock")
        .insert(host.to_string(), Arc::downgrade(&node));
    let shared = Shared::new(Node::clone(&node), Limits::DEFAULT, resp_addr);
    // Never sent: the host stops only when turmoil drops it. Kept alive
    // because a dropped sender reads as "shut down".
    let (_shutdown_tx, shutdown_rx) = orbit_net::watch::channel(false);
    serve(resp_listener, shared, shutdown_rx).await;
    Ok(())
}

impl Cluster {
    fn node(&self, host: &str) -> Option<Arc<Node>> {
        let nodes = self.nodes.lock().expect("registry lock");
        nodes.get(host).and_then(Weak::upgrade)
    }

    fn crash(&self, host: &'static str) {
        tracing::info!(host, "crash");
        self.faults
            .lock()
            .expect("fault lock")
            .push(Fault::Crash(host));
    }

    fn bounce(&self, host: &'static str) {
        tracing::info!(host, "bounce");
        self.faults
            .lock()
            .expect("fault lock")
            .push(Fault::Bounce(host));
    }

    fn take_faults(&self) -> Vec<Fault> {
        std::mem::take(&mut *self.faults.lock().expect("fault lock"))
    }

    /// Waits until `host` runs no node (after a queued crash).
    async fn wait_down(&self, host: &str) {
        while self.node(host).is_some() {
            tokio::time::sleep(TICK).await;
        }
    }

    /// Waits until every host runs a node.
    async fn wait_up(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while HOSTS.iter().any(|h| self.node(h).is_none()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "a host did not start within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The host whose node leads with the highest term, once one does.
    async fn leader(&self, within: Duration) -> &'static str {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut best: Option<(u64, &'static str)> = None;
            for host in HOSTS {
                let Some(node) = self.node(host) else {
                    continue;
                };
                let status = node.status().await;
                drop(node);
                for shard in status {
                    if shard.role == "leader" && best.is_none_or(|(term, _)| shard.term > term) {
                        best = Some((shard.term, host));
                    }
                }
            }
            if let Some((term, host)) = best {
                tracing::info!(host, term, "leader found");
                return host;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no leader within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until all three nodes hold the same data at the same applied
    /// index (the replicas-agree property) and returns that index.
    async fn converged(&self, within: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let mut seen = BTreeMap::new();
            for host in HOSTS {
                if let Some(node) = self.node(host) {
                    let hashes = node.content_hashes().expect("content hash");
                    seen.insert(host, hashes);
                }
            }
            let distinct: BTreeSet<_> = seen.values().collect();
            if seen.len() == HOSTS.len() && distinct.len() == 1 {
                let hashes = seen.into_values().next().expect("three nodes");
                let applied = hashes.iter().map(|(_, applied, _)| *applied).max();
                return applied.expect("one shard at least");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "replicas did not converge within {within:?}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Stamps log lines with simulated time, the time the nodes see.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(elapsed) => write!(w, "{:>8.3}s", elapsed.as_secs_f64()),
            None => write!(w, "{:>9}", "-"),
        }
    }
}

/// Where the hosts keep their files: on tmpfs where there is one. A real
/// fsync takes milliseconds of real time, and turmoil keeps stepping while a
/// host waits for the flusher thread (about 100 us of real time per 1 ms
/// step), so on a disk one fsync costs tens of simulated milliseconds and
/// Raft RPCs with heartbeat-sized timeouts (50 ms) time out. On tmpfs the
/// same code paths run (write, fsync, rename) and an fsync costs about one
/// step. A crash here is a process kill, which keeps the page cache anyway.
fn data_root() -> tempfile::TempDir {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("orbit-turmoil-")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::tempdir().expect("temp dir")
}

/// Runs `driver` as the client of a fresh three-node cluster until it
/// returns; panics (failing the test) if it fails or runs out of time.
fn run<F, Fut>(seed: u64, driver: F)
where
    F: FnOnce(Cluster) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_timer(SimTime)
        .with_test_writer()
        .try_init();
    let root = data_root();
    let mut sim = turmoil::Builder::new()
        .simulation_duration(SIM_DURATION)
        .tick_duration(TICK)
        .max_message_latency(Duration::from_millis(20))
        .rng_seed(seed)
        .build();
    let cluster = Cluster::default();
    for host in HOSTS {
        let data_dir = root.path().join(host);
        let cluster = cluster.clone();
        sim.host(host, move || {
            run_host(host, data_dir.clone(), cluster.clone())
        });
    }
    let client = driver(cluster.clone());
    sim.client("client", async move {
        client.await;
        Ok(())
    });
    loop {
        let finished = sim.step().expect("the simulation failed");
        for fault in cluster.take_faults() {
            match fault {
                Fault::Crash(host) => sim.crash(host),
                Fault::Bounce(host) => sim.bounce(host),
            }
        }
        if finished {
            break;
        }
    }
}

// ---------------------------------------------------------------------------
// A small RESP client over turmoil TCP (the `redis` crate cannot use
// turmoil's sockets).

struct RespConnection {
    stream: turmoil::net::TcpStream,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl RespConnection {
    async fn call(&mut self, args: &[&str]) -> io::Result<Frame> {
        let request = Frame::Array(
            args.iter()
                .map(|arg| Frame::Bulk(arg.as_bytes().to_vec()))
                .collect(),
        );
        let mut out = Vec::new();
        encode(&request, Protocol::Resp2, &mut out);
        self.stream.write_all(&out).await?;
        loop {
            let decoded = self
                .decoder
                .decode_frame(&self.buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.message()))?;
            if let Some((frame, used)) = decoded {
                self.buf.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// How a command ended, as a client can know it.
#[derive(Debug)]
enum Outcome {
    Ok(Frame),
    /// Certainly not applied: refused, TRYAGAIN, ERR, or never sent.
    Failed(String),
    /// May or may not have been applied: UNKNOWN, timeout, lost connection.
    Unknown(String),
}

/// One client connection to one host, reconnecting as needed.
struct Client {
    host: &'static str,
    connection: Option<RespConnection>,
}

impl Client {
    fn new(host: &'static str) -> Client {
        Client {
            host,
            connection: None,
        }
    }

    async fn call(&mut self, args: &[&str]) -> Outcome {
        if self.connection.is_none() {
            let addr = format!("{}:{RESP_PORT}", self.host);
            let connect = turmoil::net::TcpStream::connect(addr.as_str());
            match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
                Ok(Ok(stream)) => {
                    self.connection = Some(RespConnection {
                        stream,
                        decoder: Decoder::new(Limits::DEFAULT),
                        buf: Vec::new(),
                    })
                }
                Ok(Err(e)) => return Outcome::Failed(format!("connect: {e}")),
                Err(_) => return Outcome::Failed("connect timed out".into()),
            }
        }
        let connection = self.connection.as_mut().expect("connected above");
        match tokio::time::timeout(REPLY_TIMEOUT, connection.call(args)).await {
            Ok(Ok(Frame::Error(text))) => {
                let text = String::from_utf8_lossy(&text).into_owned();
                if text.starts_with("TRYAGAIN") || text.starts_with("ERR") {
                    Outcome::Failed(text)
                } else {
                    Outcome::Unknown(text)
                }
            }
            Ok(Ok(frame)) => Outcome::Ok(frame),
            Ok(Err(e)) => {
                self.connection = None;
                Outcome::Unknown(format!("connection: {e}"))
            }
            Err(_) => {
                self.connection = None;
                Outcome::Unknown("no reply in time".into())
            }
        }
    }
}

/// What a register workload learned: every key's one value, and which
/// writes were acknowledged and which have unknown outcomes.
#[derive(Default)]
struct Writes {
    acked: BTreeMap<String, String>,
    unknown: BTreeMap<String, String>,
}

impl Writes {
    /// SET `key` `value` through `host` until acknowledged. Retrying after
    /// an unknown outcome is safe: the key only ever gets this value.
    async fn set(&mut self, host: &'static str, key: &str, value: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        let mut client = Client::new(host);
        loop {
            match client.call(&["SET", key, value]).await {
                Outcome::Ok(Frame::SimpleString(ok)) if ok == b"OK" => {
                    self.acked.insert(key.to_string(), value.to_string());
                    self.unknown.remove(key);
                    return;
                }
                Outcome::Ok(other) => panic!("SET {key} via {host} returned {other:?}"),
                Outcome::Unknown(why) => {
                    tracing::info!(host, key, why, "write outcome unknown");
                    self.unknown.insert(key.to_string(), value.to_string());
                }
                Outcome::Failed(why) => tracing::info!(host, key, why, "write failed"),
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "SET {key} via {host} not acknowledged within {within:?}"
            );
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Every acknowledged write is readable through every host, and a write
    /// of unknown outcome reads as its value or as absent.
    async fn check_readable(&self) {
        for host in HOSTS {
            let mut client = Client::new(host);
            for (key, value) in &self.acked {
                let got = get(&mut client, key).await;
                assert_eq!(
                    got.as_deref(),
                    Some(value.as_str()),
                    "acknowledged SET {key} lost (read via {host})"
                );
            }
            for (key, value) in &self.unknown {
                let got = get(&mut client, key).await;
                assert!(
                    got.is_none() || got.as_deref() == Some(value.as_str()),
                    "{key} read {got:?} via {host}; only {value} was ever written"
                );
            }
        }
    }
}

/// GET `key`, retrying until the cluster answers.
async fn get(client: &mut Client, key: &str) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match client.call(&["GET", key]).await {
            Outcome::Ok(Frame::Bulk(bytes)) => {
                return Some(String::from_utf8(bytes).expect("utf-8 value"))
            }
            Outcome::Ok(Frame::Null) => return None,
            Outcome::Ok(other) => panic!("GET {key} returned {other:?}"),
            Outcome::Failed(why) | Outcome::Unknown(why) => {
                tracing::info!(host = client.host, key, why, "read failed; retrying");
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "GET {key} via {} did not succeed in time",
            client.host
        );
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

// ---------------------------------------------------------------------------
// Tests.

/// How a partition treats the bytes sent across it.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// `turmoil::hold`/`release`: segments wait at the cut and arrive after
    /// it heals, as TCP's retransmission would deliver them. New connections
    /// cannot open meanwhile (the SYN waits too).
    Hold,
    /// `turmoil::partition`/`repair`: segments are dropped for good. Turmoil
    /// does not retransmit, so a connection that lost a segment is stalled
    /// forever after the repair; only a transport that gives up on a silent
    /// connection and reconnects heals.
    Drop,
}

fn cut(how: Cut, a: &str, b: &str) {
    match how {
        Cut::Hold => turmoil::hold(a, b),
        Cut::Drop => turmoil::partition(a, b),
    }
}

fn heal(how: Cut, a: &str, b: &str) {
    match how {
        Cut::Hold => turmoil::release(a, b),
        Cut::Drop => turmoil::repair(a, b),
    }
}

/// Writes through every node; cuts the leader off from both followers; the
/// majority side elects a new leader and keeps acknowledging writes, while
/// a write sent to the old leader is never acknowledged; after the cut
/// heals, writes through every node (the old leader included) succeed,
/// every acknowledged write is readable through every node, and all three
/// replicas hold identical data at the same applied index.
async fn partition_the_leader(cluster: Cluster, how: Cut) {
    cluster.wait_up(Duration::from_secs(5)).await;
    let mut writes = Writes::default();
    for host in HOSTS {
        for i in 0..5 {
            let key = format!("before-{host}-{i}");
            writes
                .set(host, &key, &format!("{key}-v"), Duration::from_secs(5))
                .await;
        }
    }
    let leader = cluster.leader(Duration::from_secs(5)).await;
    let majority: Vec<&'static str> = HOSTS.into_iter().filter(|h| *h != leader).collect();
    for host in &majority {
        cut(how, leader, host);
    }
    tracing::info!(leader, ?how, "cut the leader off");

    // The cut-off leader cannot reach a quorum, so it must not ack.
    let mut isolated = Client::new(leader);
    let outcome = isolated.call(&["SET", "isolated", "isolated-v"]).await;
    assert!(
        !matches!(outcome, Outcome::Ok(_)),
        "a leader without a quorum acknowledged a write: {outcome:?}"
    );
    writes
        .unknown
        .insert("isolated".into(), "isolated-v".into());

    for i in 0..10 {
        let host = majority[i % majority.len()];
        let key = format!("during-{i}");
        writes
            .set(host, &key, &format!("{key}-v"), Duration::from_secs(8))
            .await;
    }
    for host in &majority {
        heal(how, leader, host);
    }
    tracing::info!(leader, ?how, "healed the cut");

    for host in HOSTS {
        let key = format!("after-{host}");
        writes
            .set(host, &key, &format!("{key}-v"), Duration::from_secs(8))
            .await;
    }
    writes.check_readable().await;
    let applied = cluster.converged(Duration::from_secs(5)).await;
    tracing::info!(applied, acked = writes.acked.len(), "converged");
}

/// Goal: a leader cut off from both followers loses nothing acknowledged,
/// and the cluster heals once the cut does (the cut holds segments, as a
/// partition does to TCP, which retransmits them after it heals).
#[test]
fn partitioned_leader_loses_no_acknowledged_write() {
    run(1, |cluster| partition_the_leader(cluster, Cut::Hold));
}

/// Goal: the same, under turmoil's partition, which drops segments for good:
/// the peer transport must notice a connection that went silent for a whole
/// call timeout and reconnect (it once kept it forever, and the old leader
/// never heard of the new term).
#[test]
fn partitioned_leader_heals_after_segments_are_dropped() {
    run(4, |cluster| partition_the_leader(cluster, Cut::Drop));
}

/// What a counter workload saw.
#[derive(Default)]
struct Counts {
    /// The value each acknowledged INCR returned.
    acked: Vec<i64>,
    unknown: u64,
    failed: u64,
}

/// INCR `key` through `host` until `stop`, tallying outcomes.
async fn incr_until(
    host: &'static str,
    key: &'static str,
    stop: Arc<AtomicBool>,
    counts: Arc<Mutex<Counts>>,
) {
    let mut client = Client::new(host);
    while !stop.load(Ordering::SeqCst) {
        let outcome = client.call(&["INCR", key]).await;
        let pause = !matches!(outcome, Outcome::Ok(_));
        {
            let mut counts = counts.lock().expect("counts lock");
            match outcome {
                Outcome::Ok(Frame::Integer(value)) => counts.acked.push(value),
                Outcome::Ok(other) => panic!("INCR via {host} returned {other:?}"),
                Outcome::Unknown(_) => counts.unknown += 1,
                Outcome::Failed(_) => counts.failed += 1,
            }
        }
        if pause {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// Each acknowledged INCR was applied exactly once: the acknowledged replies
/// are distinct and at most `final_value`, and `final_value` lies between
/// the number acknowledged and that plus the number of unknown outcomes.
fn check_counter(final_value: i64, counts: &Counts) {
    let acked = i64::try_from(counts.acked.len()).expect("small");
    let unknown = i64::try_from(counts.unknown).expect("small");
    tracing::info!(
        final_value,
        acked,
        unknown,
        failed = counts.failed,
        "counted"
    );
    let distinct: BTreeSet<i64> = counts.acked.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        counts.acked.len(),
        "two INCRs returned the same value"
    );
    assert!(
        distinct.last().is_none_or(|v| *v <= final_value),
        "an INCR returned more than the final value {final_value}"
    );
    assert!(
        acked <= final_value && final_value <= acked + unknown,
        "final {final_value}, but {acked} acknowledged and {unknown} unknown"
    );
}

fn acked_count(counts: &Mutex<Counts>) -> usize {
    counts.lock().expect("counts lock").acked.len()
}

async fn wait_acked(counts: &Mutex<Counts>, at_least: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while acked_count(counts) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than {at_least} INCRs acknowledged within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Goal: crashing the leader mid-workload neither loses nor duplicates an
/// acknowledged INCR. Clients INCR one counter through every node while the
/// leader host crashes and restarts on its files. Each acknowledged INCR is
/// applied exactly once: acknowledged replies are distinct, and the final
/// value lies between the number acknowledged and that plus the number of
/// unknown outcomes. The replicas converge afterwards.
#[test]
fn leader_crash_applies_each_acknowledged_incr_once() {
    run(2, |cluster| async move {
        cluster.wait_up(Duration::from_secs(5)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Mutex::new(Counts::default()));
        let workers: Vec<_> = HOSTS
            .into_iter()
            .map(|host| tokio::spawn(incr_until(host, "counter", stop.clone(), counts.clone())))
            .collect();
        wait_acked(&counts, 30, Duration::from_secs(5)).await;

        let leader = cluster.leader(Duration::from_secs(5)).await;
        cluster.crash(leader);
        cluster.wait_down(leader).await;
        let before = acked_count(&counts);
        wait_acked(&counts, before + 20, Duration::from_secs(8)).await;
        cluster.bounce(leader);
        cluster.wait_up(Duration::from_secs(5)).await;
        let before = acked_count(&counts);
        wait_acked(&counts, before + 20, Duration::from_secs(8)).await;
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            worker.await.expect("a worker panicked");
        }

        let final_value: i64 = get(&mut Client::new(HOSTS[0]), "counter")
            .await
            .expect("the counter exists")
            .parse()
            .expect("an integer");
        // The workers are done: the tally is final.
        let counts = std::mem::take(&mut *counts.lock().expect("counts lock"));
        check_counter(final_value, &counts);
        cluster.converged(Duration::from_secs(5)).await;
    });
}

/// A register writer: SET `w<host>-<n>` through `host` until `stop`, each
/// key until acknowledged, counting acknowledgements in `acked_total`.
async fn set_until(
    host: &'static str,
    stop: Arc<AtomicBool>,
    acked_total: Arc<AtomicUsize>,
) -> Writes {
    let mut writes = Writes::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let key = format!("w{host}-{n}");
        writes
            .set(host, &key, &format!("{key}-v"), Duration::from_secs(8))
            .await;
        acked_total.fetch_add(1, Ordering::SeqCst);
        n += 1;
    }
    writes
}

async fn wait_count(count: &AtomicUsize, at_least: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    while count.load(Ordering::SeqCst) < at_least {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than {at_least} writes acknowledged within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Goal: restarting every host at once loses nothing acknowledged. Writers
/// SET keys through every node; mid-workload all three hosts are bounced
/// together (twice), so the cluster must recover from its files alone; then
/// every acknowledged write is readable through every node and the replicas
/// converge.
#[test]
fn whole_cluster_bounce_loses_no_acknowledged_write() {
    run(3, |cluster| async move {
        cluster.wait_up(Duration::from_secs(5)).await;
        let stop = Arc::new(AtomicBool::new(false));
        let acked_total = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = HOSTS
            .into_iter()
            .map(|host| tokio::spawn(set_until(host, stop.clone(), acked_total.clone())))
            .collect();
        for round in 0..2 {
            let before = acked_total.load(Ordering::SeqCst);
            wait_count(&acked_total, before + 15, Duration::from_secs(8)).await;
            tracing::info!(round, "bouncing every host");
            for host in HOSTS {
                cluster.bounce(host);
            }
            // The bounce lands after this step; then wait for every node.
            tokio::time::sleep(TICK).await;
            cluster.wait_up(Duration::from_secs(5)).await;
        }
        let before = acked_total.load(Ordering::SeqCst);
        wait_count(&acked_total, before + 15, Duration::from_secs(8)).await;
        stop.store(true, Ordering::SeqCst);
        let mut writes = Writes::default();
        for writer in writers {
            let done = writer.await.expect("a writer panicked");
            writes.acked.extend(done.acked);
            writes.unknown.extend(done.unknown);
        }
        tracing::info!(
            acked = writes.acked.len(),
            unknown = writes.unknown.len(),
            "written"
        );
        writes.check_readable().await;
        cluster.converged(Duration::from_secs(5)).await;
    });
}
