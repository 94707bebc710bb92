//! One simulated run: boot the cluster on madsim, let the workload
//! (`workload.rs`) and the nemesis (`nemesis.rs`) loose on it, heal, and
//! check everything recorded. This file owns the run loop, the world the
//! run shares, sampling, the liveness measurements and the checking.
//!
//! Everything here runs inside one madsim runtime seeded with the run's seed:
//! scheduling, network delays, clocks, election timeouts, buggify decisions,
//! workload choices and fault choices all come from it, so a seed replays
//! the same run and the same trace hash.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madsim::rand::Rng;
use madsim::runtime::{Handle, NodeHandle};
use orbit_core::redis::command::{SetCondition, SetExpiry};
use orbit_core::redis::{Command, Output};
use orbit_net::{Node, NodeConfig, NodeEnv, TokioNet};

use crate::workload::{execute_redis, home_shard};

use crate::checker::leaders::{LeaderSample, LogDigest};
use crate::checker::replicas::StateSample;
use crate::checker::{durability, leaders, linearizable, list, liveness, replicas, set};
use crate::history::{Call, History, Operation, Outcome, Ret};
use crate::nemesis::{heal, kill, nemesis, restart};
use crate::params::Params;
use crate::sim_storage::SimStorage;
use crate::workload::{
    client_loop, counter_key, execute, register_key, ttl_loop, CLIENT_TIMEOUT, ENTRY_BYTES_MAX,
    LIST_KEY, SET_KEY,
};

const RAFT_PORT: u16 = 7000;
/// After healing, a write must commit within this bound.
const LIVENESS_BOUND: Duration = Duration::from_secs(20);
const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);
/// The client id used for the final reads.
const FINAL_READER: u64 = u64::MAX;

/// What a run found.
#[derive(Debug, Clone)]
pub struct Report {
    pub params: Params,
    pub trace_hash: u64,
    pub failures: Vec<String>,
    pub operations: usize,
    pub ok: usize,
    pub failed: usize,
    pub unknown: usize,
    pub simulated_ms: u64,
    pub trace: Vec<String>,
}

/// Shared state of a run, outside every simulated node.
pub(crate) struct World {
    pub(crate) params: Params,
    pub(crate) start: madsim::time::Instant,
    pub(crate) nodes: Mutex<BTreeMap<u64, Node>>,
    pub(crate) handles: Mutex<BTreeMap<u64, NodeHandle>>,
    pub(crate) storages: BTreeMap<u64, SimStorage>,
    operations: Mutex<Vec<Operation>>,
    trace: Mutex<Vec<String>>,
    state_samples: Mutex<Vec<StateSample>>,
    leader_samples: Mutex<Vec<LeaderSample>>,
    pub(crate) workload_on: AtomicBool,
    next_client: AtomicU64,
    /// Oversized writes that were not refused (see `OVERSIZED_ONE_IN` in
    /// `workload.rs`).
    pub(crate) oversized_accepted: Mutex<Vec<String>>,
}

fn ip(node: u64) -> IpAddr {
    // TEST-NET-1 (RFC 5737): virtual addresses inside madsim, never real traffic.
    IpAddr::V4(Ipv4Addr::new(
        192,
        0,
        2,
        u8::try_from(node).expect("few nodes"),
    ))
}

pub(crate) fn raft_addr(node: u64) -> String {
    format!("{}:{RAFT_PORT}", ip(node))
}

impl World {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    pub(crate) fn note(&self, event: String) {
        let line = format!("{:>8}ms {event}", self.now_ns() / 1_000_000);
        tracing::debug!("{line}");
        self.trace.lock().expect("trace").push(line);
    }

    pub(crate) fn node(&self, id: u64) -> Option<Node> {
        self.nodes.lock().expect("nodes").get(&id).cloned()
    }

    pub(crate) fn live_nodes(&self) -> Vec<(u64, Node)> {
        self.nodes
            .lock()
            .expect("nodes")
            .iter()
            .map(|(id, n)| (*id, n.clone()))
            .collect()
    }

    pub(crate) fn invoke(&self, client: u64, call: Call) -> usize {
        let mut operations = self.operations.lock().expect("operations");
        let id = operations.len();
        self.note(format!("invoke c{client} {call:?}"));
        operations.push(Operation {
            id: id as u64,
            client,
            call,
            invoked_at_ns: self.now_ns(),
            completed_at_ns: None,
            outcome: Outcome::Unknown,
        });
        id
    }

    pub(crate) fn complete(&self, id: usize, outcome: Outcome) {
        let now = self.now_ns();
        let mut operations = self.operations.lock().expect("operations");
        let op = &mut operations[id];
        if outcome != Outcome::Unknown {
            op.completed_at_ns = Some(now);
        }
        self.note(format!("complete c{} #{id} {outcome:?}", op.client));
        op.outcome = outcome;
    }
}

/// Runs one seed to the end and checks it. Panics inside the simulation are
/// caught and reported as failures.
pub fn run(params: &Params) -> Report {
    // Each run gets a fresh thread: std's hash-map seeds are per thread and
    // advance with every map created, so a run sharing a thread with earlier
    // runs would behave differently from the same seed run alone.
    let params = params.clone();
    let fallback = params.clone();
    std::thread::Builder::new()
        .name(format!("seed-{}", params.seed))
        .spawn(move || run_here(&params))
        .expect("spawn a simulation thread")
        .join()
        .unwrap_or_else(|_| panic_report(&fallback, "the simulation thread died".into()))
}

fn run_here(params: &Params) -> Report {
    let runtime =
        madsim::runtime::Runtime::with_seed_and_config(params.seed, madsim_config(params));
    let params_inner = params.clone();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        runtime.block_on(simulate(params_inner))
    }));
    outcome.unwrap_or_else(|panic| {
        panic_report(
            params,
            format!(
                "no panic: the simulation panicked: {}",
                orbit_core::machine::panic_reason(&*panic)
            ),
        )
    })
}

fn madsim_config(params: &Params) -> madsim::Config {
    let mut config = madsim::Config::default();
    config.net.send_latency = Duration::from_millis(params.latency_ms_min)
        ..Duration::from_millis(params.latency_ms_max.max(params.latency_ms_min + 1));
    config
}

/// The run [`check_determinism`] is checking (madsim's check takes a plain
/// `fn`, so the parameters travel beside it).
static CHECKED: Mutex<Option<Params>> = Mutex::new(None);

fn simulate_checked() -> impl std::future::Future<Output = Report> {
    let params = CHECKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone()
        .expect("check_determinism sets the parameters first");
    simulate(params)
}

/// Runs one seed twice under madsim's own determinism check: each run on a
/// fresh thread in this process, the second failing at the first random
/// draw that differs from the first run's. Nothing process-wide (tokio's
/// counter-seeded rng, std's hash keys, statics) may reach a run's choices.
/// Returns the second run's report, with a failure if the check failed.
pub fn check_determinism(params: &Params) -> Report {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _one = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    *CHECKED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(params.clone());
    let config = madsim_config(params);
    let seed = params.seed;
    let outcome = std::panic::catch_unwind(move || {
        madsim::runtime::Runtime::check_determinism(seed, config, simulate_checked)
    });
    outcome.unwrap_or_else(|panic| {
        panic_report(
            params,
            format!(
                "determinism (madsim's check): {}",
                orbit_core::machine::panic_reason(&*panic)
            ),
        )
    })
}

fn panic_report(params: &Params, failure: String) -> Report {
    Report {
        params: params.clone(),
        trace_hash: 0,
        failures: vec![failure],
        operations: 0,
        ok: 0,
        failed: 0,
        unknown: 0,
        simulated_ms: 0,
        trace: Vec::new(),
    }
}

async fn simulate(params: Params) -> Report {
    orbit_core::fault::reset(params.buggify, &params.bugs);
    let random: Arc<dyn Fn(u64) -> u64 + Send + Sync> =
        Arc::new(|bound| madsim::rand::thread_rng().gen_range(0..bound.max(1)));
    let storages = (1..=params.nodes)
        .map(|id| {
            (
                id,
                SimStorage::new(format!("n{id}"), random.clone(), params.inline_key_len),
            )
        })
        .collect();
    let world = Arc::new(World {
        params: params.clone(),
        start: madsim::time::Instant::now(),
        nodes: Mutex::new(BTreeMap::new()),
        handles: Mutex::new(BTreeMap::new()),
        storages,
        operations: Mutex::new(Vec::new()),
        trace: Mutex::new(Vec::new()),
        state_samples: Mutex::new(Vec::new()),
        leader_samples: Mutex::new(Vec::new()),
        workload_on: AtomicBool::new(true),
        next_client: AtomicU64::new(0),
        oversized_accepted: Mutex::new(Vec::new()),
    });
    world.note(format!("seed {} {}", params.seed, params));
    for id in 1..=params.nodes {
        boot_node(&world, id);
    }
    let sampler = madsim::task::spawn(sample_forever(world.clone()));
    nemesis(&world).await;
    world.workload_on.store(false, Ordering::SeqCst);
    heal(&world).await;
    let mut progress = liveness::Progress {
        healed_at_ns: world.now_ns(),
        ..Default::default()
    };
    progress.first_commit_at_ns = first_commit(&world).await;
    // Let operations still in flight finish or time out.
    madsim::time::sleep(CLIENT_TIMEOUT + Duration::from_secs(1)).await;
    progress.convergence_started_at_ns = world.now_ns();
    (progress.converged_at_ns, progress.last_states) = converge(&world).await;
    let bound_ns = u64::try_from(LIVENESS_BOUND.as_nanos()).unwrap_or(u64::MAX);
    let mut failures = liveness::check(&progress, bound_ns);
    let final_reads = final_reads(&world).await;
    sampler.abort();
    sample_once(&world);
    failures.extend(check_all(&world, &final_reads));
    let report = finish(&world, failures);
    tear_down(&world);
    report
}

/// Kills every node and drops what the run holds: the nodes' tasks and the
/// node init closures refer back to the world, and a sweep runs thousands of
/// seeds in one process.
fn tear_down(world: &World) {
    for id in 1..=world.params.nodes {
        kill(world, id, false);
    }
    world.handles.lock().expect("handles").clear();
    world.operations.lock().expect("operations").clear();
    world.trace.lock().expect("trace").clear();
    world.state_samples.lock().expect("samples").clear();
    world.leader_samples.lock().expect("samples").clear();
    for storage in world.storages.values() {
        storage.clear();
    }
}

fn node_config(params: &Params, id: u64) -> NodeConfig {
    let mut config = NodeConfig::new(id, raft_addr(id), format!("/sim/n{id}"));
    config.initial_members = (1..=params.nodes).map(|n| (n, raft_addr(n))).collect();
    config.heartbeat_ms = params.heartbeat_ms;
    config.election_timeout_ms_min = params.election_timeout_ms;
    config.election_timeout_ms_max = params.election_timeout_ms * 2;
    config.snapshot_entries = params.snapshot_entries;
    config.log_entries_kept = params.log_entries_kept;
    // Small pieces, so a snapshot install is several calls that faults can
    // cut between.
    config.snapshot_chunk_bytes = 256;
    config.request_timeout = Duration::from_secs(4);
    config.segment_size_max = 64 * 1024;
    config.expiry_sweep_interval = Duration::from_millis(500);
    config.cluster_secret = b"simulated cluster".to_vec();
    config.entry_bytes_max = ENTRY_BYTES_MAX;
    config
}

/// Creates simulated node `id`; its init future (re)starts the node after
/// every restart and spawns its clients.
fn boot_node(world: &Arc<World>, id: u64) {
    let init_world = world.clone();
    let handle = Handle::current()
        .create_node()
        .name(format!("n{id}"))
        .ip(ip(id))
        .init(move || {
            let world = init_world.clone();
            async move {
                let config = node_config(&world.params, id);
                let env = NodeEnv {
                    net: Arc::new(TokioNet),
                    clock: Arc::new(orbit_net::SystemClock),
                    storage: Arc::new(world.storages[&id].clone()),
                    spawner: Arc::new(crate::sim_env::TaskSpawner),
                    random: Arc::new(crate::sim_env::SeededRandom),
                };
                let node = loop {
                    match Node::start(config.clone(), env.clone()).await {
                        Ok(node) => break node,
                        Err(e) => {
                            world.note(format!("n{id} failed to start: {e}"));
                            madsim::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                };
                world.note(format!("n{id} started"));
                world.nodes.lock().expect("nodes").insert(id, node.clone());
                let clients_here = (0..world.params.clients)
                    .filter(|c| c % world.params.nodes + 1 == id)
                    .count();
                for _ in 0..clients_here {
                    let client = world.next_client.fetch_add(1, Ordering::SeqCst);
                    madsim::task::spawn(client_loop(world.clone(), node.clone(), client));
                }
                if world.params.ttl_traffic && id == 1 {
                    madsim::task::spawn(ttl_loop(world.clone(), node.clone()));
                }
                std::future::pending::<()>().await;
            }
        })
        .build();
    world.handles.lock().expect("handles").insert(id, handle);
}

/// Samples every live node's Raft role and state hash.
async fn sample_forever(world: Arc<World>) {
    loop {
        madsim::time::sleep(SAMPLE_INTERVAL).await;
        sample_once(&world);
        restart_unhealthy(&world);
    }
}

fn sample_once(world: &World) {
    let at_ns = world.now_ns();
    for (id, node) in world.live_nodes() {
        if let Ok(hashes) = node.content_hashes() {
            for (_, applied, hash) in hashes {
                world
                    .state_samples
                    .lock()
                    .expect("samples")
                    .push(StateSample {
                        at_ns,
                        node: id,
                        applied,
                        hash,
                    });
            }
        }
        let metrics = node.raft_role(home_shard(&node));
        if let Some((term, true)) = metrics {
            let mut samples = world.leader_samples.lock().expect("samples");
            let first = !samples.iter().any(|s| s.node == id && s.term == term);
            samples.push(LeaderSample {
                at_ns,
                node: id,
                term,
            });
            drop(samples);
            if first {
                world.note(format!("n{id} leads term {term}"));
            }
        }
    }
}

/// A node whose Raft stopped on a storage error is restarted, as a process
/// supervisor would (its page cache survives: no disk crash).
fn restart_unhealthy(world: &World) {
    for (id, node) in world.live_nodes() {
        if !node.is_healthy() {
            world.note(format!(
                "n{id} is unhealthy (fatal storage error); restarting it"
            ));
            restart(world, id, false);
        }
    }
}

/// After healing: when a write first commits (trying for up to
/// [`LIVENESS_BOUND`]), judged by `checker::liveness`.
async fn first_commit(world: &Arc<World>) -> Option<u64> {
    let deadline = madsim::time::Instant::now() + LIVENESS_BOUND;
    while madsim::time::Instant::now() < deadline {
        for (_, node) in world.live_nodes() {
            let cmd = Command::Set {
                key: b"liveness".to_vec(),
                value: b"1".to_vec(),
                condition: SetCondition::Always,
                expiry: SetExpiry::Clear,
                get: false,
            };
            if let Ok(Ok(Output::Ok)) =
                madsim::time::timeout(Duration::from_secs(2), execute_redis(&node, cmd)).await
            {
                world.note("liveness: a write committed after healing".into());
                return Some(world.now_ns());
            }
        }
        madsim::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// When every node first holds the same state at the same applied index
/// (trying for up to [`LIVENESS_BOUND`]), and the last states seen.
async fn converge(world: &Arc<World>) -> (Option<u64>, String) {
    let deadline = madsim::time::Instant::now() + LIVENESS_BOUND;
    let mut last = Vec::new();
    while madsim::time::Instant::now() < deadline {
        let nodes = world.live_nodes();
        last = nodes
            .iter()
            .map(|(id, node)| {
                (
                    *id,
                    node.content_hashes()
                        .ok()
                        .and_then(|h| h.first().map(|(_, a, h)| (*a, *h))),
                )
            })
            .collect();
        let all = nodes.len() as u64 == world.params.nodes;
        if all
            && last
                .windows(2)
                .all(|w| w[0].1.is_some() && w[0].1 == w[1].1)
        {
            world.note(format!("converged: {last:?}"));
            return (Some(world.now_ns()), format!("{last:?}"));
        }
        madsim::time::sleep(Duration::from_millis(200)).await;
    }
    (None, format!("{last:?}"))
}

/// Reads every checked key through the leader, recording the reads in the
/// history too.
async fn final_reads(world: &Arc<World>) -> Vec<(String, Option<u64>)> {
    let mut reads = Vec::new();
    let calls: Vec<Call> = (0..world.params.register_keys)
        .map(register_key)
        .chain((0..world.params.counter_keys).map(counter_key))
        .map(|key| Call::Get { key })
        .chain(std::iter::once(Call::SMembers {
            key: SET_KEY.to_string(),
        }))
        .chain(std::iter::once(Call::ReadList {
            key: LIST_KEY.to_string(),
        }))
        .collect();
    for call in calls {
        // A read that fails has no effect: retry it (as a new operation)
        // until one succeeds, on any node. The set's final read goes only to
        // the history, where `checker::set` holds it to every acknowledged
        // add.
        for attempt in 0..20u64 {
            let nodes = world.live_nodes();
            let Some((_, node)) = nodes
                .get(usize::try_from(attempt).unwrap_or(0) % nodes.len().max(1))
                .cloned()
            else {
                break;
            };
            let id = world.invoke(FINAL_READER, call.clone());
            let outcome = execute(&node, &call, false).await;
            let done = match &outcome {
                Outcome::Ok(Ret::Value(value)) => {
                    reads.push((call.key().to_string(), *value));
                    true
                }
                Outcome::Ok(_) => true,
                Outcome::Fail | Outcome::Unknown => false,
            };
            world.complete(id, outcome);
            if done {
                break;
            }
            madsim::time::sleep(Duration::from_millis(500)).await;
        }
    }
    reads
}

fn check_all(world: &World, final_reads: &[(String, Option<u64>)]) -> Vec<String> {
    let mut failures = Vec::new();
    let history = History {
        operations: world.operations.lock().expect("operations").clone(),
    };
    if let Err(e) = linearizable::check(&history) {
        failures.push(format!("linearizability: {e}"));
    }
    if let Err(e) = durability::check(&history, final_reads) {
        failures.push(format!("durability: {e}"));
    }
    if let Err(e) = set::check(&history) {
        failures.push(format!("sets: {e}"));
    }
    if let Err(e) = list::check(&history) {
        failures.push(format!("lists: {e}"));
    }
    if let Err(e) = replicas::check(&world.state_samples.lock().expect("samples")) {
        failures.push(format!("replicas: {e}"));
    }
    let oversized = world.oversized_accepted.lock().expect("oversized");
    if let Some(first) = oversized.first() {
        failures.push(format!(
            "entry size: {} writes over entry-size-max were not refused, the first {first}",
            oversized.len()
        ));
    }
    drop(oversized);
    if let Err(e) =
        leaders::check_one_leader_per_term(&world.leader_samples.lock().expect("samples"))
    {
        failures.push(format!("election safety: {e}"));
    }
    let logs: Vec<(u64, LogDigest)> = world
        .live_nodes()
        .into_iter()
        .filter_map(|(id, node)| node.log_digest(home_shard(&node)).ok().map(|d| (id, d)))
        .collect();
    if let Err(e) = leaders::check_log_matching(&logs) {
        failures.push(format!("log matching: {e}"));
    }
    failures
}

/// FNV-1a over every trace line: equal runs, equal hashes.
fn trace_hash(lines: &[String]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for line in lines {
        for byte in line.bytes().chain(std::iter::once(b'\n')) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn finish(world: &World, failures: Vec<String>) -> Report {
    for failure in &failures {
        world.note(format!("FAILED {failure}"));
    }
    let operations = world.operations.lock().expect("operations").clone();
    let count = |f: fn(&Outcome) -> bool| operations.iter().filter(|op| f(&op.outcome)).count();
    let trace = world.trace.lock().expect("trace").clone();
    Report {
        params: world.params.clone(),
        trace_hash: trace_hash(&trace),
        failures,
        operations: operations.len(),
        ok: count(|o| matches!(o, Outcome::Ok(_))),
        failed: count(|o| matches!(o, Outcome::Fail)),
        unknown: count(|o| matches!(o, Outcome::Unknown)),
        simulated_ms: world.now_ns() / 1_000_000,
        trace,
    }
}
