//! One simulated run: boot the cluster on madsim, drive the workload, let the
//! nemesis inject faults, heal, and check everything recorded.
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
use orbit_core::command::{ExpireCondition, Expiry};
use orbit_core::{Command, Output, SetCondition, SetExpiry};
use orbit_net::{ExecError, Node, NodeConfig, NodeEnv, TokioNet, DATA_SHARD};

use crate::checker::leaders::{LeaderSample, LogDigest};
use crate::checker::replicas::StateSample;
use crate::checker::{durability, leaders, linearizable, list, liveness, replicas, set};
use crate::disk::DiskFaults;
use crate::history::{Call, History, Operation, Outcome, Ret};
use crate::params::{Fault, Params};
use crate::sim_storage::SimStorage;

const RAFT_PORT: u16 = 7000;
/// A client gives up on an operation after this long (outcome unknown).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// After healing, a write must commit within this bound.
const LIVENESS_BOUND: Duration = Duration::from_secs(20);
const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);
/// A client retries a call that certainly failed this many times.
const CLIENT_RETRIES_MAX: u32 = 2;
/// The nodes' entry-size-max here, small so that oversized writes are cheap.
const ENTRY_BYTES_MAX: usize = 64 * 1024;
/// One register SET in this many is oversized: its value, padded with
/// leading zeros past [`ENTRY_BYTES_MAX`], must be refused before it is
/// proposed (and, as a failed write, never be read).
const OVERSIZED_ONE_IN: u32 = 40;
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
struct World {
    params: Params,
    start: madsim::time::Instant,
    nodes: Mutex<BTreeMap<u64, Node>>,
    handles: Mutex<BTreeMap<u64, NodeHandle>>,
    storages: BTreeMap<u64, SimStorage>,
    operations: Mutex<Vec<Operation>>,
    trace: Mutex<Vec<String>>,
    state_samples: Mutex<Vec<StateSample>>,
    leader_samples: Mutex<Vec<LeaderSample>>,
    workload_on: AtomicBool,
    next_client: AtomicU64,
    /// Oversized writes that were not refused (see [`OVERSIZED_ONE_IN`]).
    oversized_accepted: Mutex<Vec<String>>,
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

fn raft_addr(node: u64) -> String {
    format!("{}:{RAFT_PORT}", ip(node))
}

impl World {
    fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn note(&self, event: String) {
        let line = format!("{:>8}ms {event}", self.now_ns() / 1_000_000);
        tracing::debug!("{line}");
        self.trace.lock().expect("trace").push(line);
    }

    fn node(&self, id: u64) -> Option<Node> {
        self.nodes.lock().expect("nodes").get(&id).cloned()
    }

    fn live_nodes(&self) -> Vec<(u64, Node)> {
        self.nodes
            .lock()
            .expect("nodes")
            .iter()
            .map(|(id, n)| (*id, n.clone()))
            .collect()
    }

    fn invoke(&self, client: u64, call: Call) -> usize {
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

    fn complete(&self, id: usize, outcome: Outcome) {
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
                orbit_core::apply::panic_reason(&*panic)
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
                orbit_core::apply::panic_reason(&*panic)
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

fn register_key(i: u64) -> String {
    format!("r{i}")
}

fn counter_key(i: u64) -> String {
    format!("c{i}")
}

/// Issues operations one at a time until the workload phase ends. A call
/// that certainly failed is retried (as a new operation) up to
/// [`CLIENT_RETRIES_MAX`] times before the client moves on.
async fn client_loop(world: Arc<World>, node: Node, client: u64) {
    let mut sequence = 0u64;
    let mut retry: Option<(Call, u32)> = None;
    while world.workload_on.load(Ordering::SeqCst) {
        let (call, attempt) = match retry.take() {
            Some((call, attempt)) => (call, attempt),
            None => (next_call(&world.params, client, &mut sequence), 0),
        };
        let oversized = matches!(call, Call::Set { .. })
            && madsim::rand::thread_rng().gen_ratio(1, OVERSIZED_ONE_IN);
        let id = world.invoke(client, call.clone());
        let outcome = execute(&node, &call, oversized).await;
        let failed = outcome == Outcome::Fail;
        if oversized && matches!(outcome, Outcome::Ok(_)) {
            let what = format!("operation #{id} {call:?} answered {outcome:?}");
            world
                .oversized_accepted
                .lock()
                .expect("oversized")
                .push(what);
        }
        world.complete(id, outcome);
        if failed && attempt < CLIENT_RETRIES_MAX && !oversized {
            retry = Some((call, attempt + 1));
        }
        let pause = madsim::rand::thread_rng().gen_range(0..30);
        madsim::time::sleep(Duration::from_millis(pause)).await;
    }
}

/// The set workload's key (checked by `checker::set`).
const SET_KEY: &str = "s0";
/// The list workload's key (checked by `checker::list`).
const LIST_KEY: &str = "l0";

/// A random call of the workload mix; SET values and SADD members are
/// unique.
fn next_call(params: &Params, client: u64, sequence: &mut u64) -> Call {
    let mut rng = madsim::rand::thread_rng();
    let keys = params.register_keys + params.counter_keys;
    let pick = rng.gen_range(0..keys + 2);
    if pick == keys + 1 {
        let key = LIST_KEY.to_string();
        if rng.gen_bool(0.7) {
            *sequence += 1;
            Call::Append {
                key,
                value: (client + 1) * 1_000_000 + *sequence,
            }
        } else {
            Call::ReadList { key }
        }
    } else if pick == keys {
        let key = SET_KEY.to_string();
        if rng.gen_bool(0.7) {
            *sequence += 1;
            Call::SAdd {
                key,
                member: (client + 1) * 1_000_000 + *sequence,
            }
        } else {
            Call::SMembers { key }
        }
    } else if pick < params.register_keys {
        let key = register_key(pick);
        if rng.gen_bool(0.5) {
            *sequence += 1;
            Call::Set {
                key,
                value: (client + 1) * 1_000_000 + *sequence,
            }
        } else {
            Call::Get { key }
        }
    } else {
        let key = counter_key(pick - params.register_keys);
        if rng.gen_bool(0.6) {
            Call::Incr { key }
        } else {
            Call::Get { key }
        }
    }
}

/// The command of `call`; an `oversized` SET's value has leading zeros
/// past [`ENTRY_BYTES_MAX`] (it still reads as the same number).
fn command_for(call: &Call, oversized: bool) -> Command {
    match call {
        Call::Set { key, value } => Command::Set {
            key: key.as_bytes().to_vec(),
            value: if oversized {
                let digits = value.to_string();
                let mut padded = vec![b'0'; ENTRY_BYTES_MAX + 1024 - digits.len()];
                padded.extend_from_slice(digits.as_bytes());
                padded
            } else {
                value.to_string().into_bytes()
            },
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        },
        Call::Get { key } => Command::Get {
            key: key.as_bytes().to_vec(),
        },
        Call::Incr { key } => Command::IncrBy {
            key: key.as_bytes().to_vec(),
            delta: 1,
        },
        Call::SAdd { key, member } => Command::SAdd {
            key: key.as_bytes().to_vec(),
            members: vec![member.to_string().into_bytes()],
        },
        Call::SMembers { key } => Command::SMembers {
            key: key.as_bytes().to_vec(),
        },
        Call::Append { key, value } => Command::Push {
            key: key.as_bytes().to_vec(),
            values: vec![value.to_string().into_bytes()],
            left: false,
            only_if_exists: false,
        },
        Call::ReadList { key } => Command::LRange {
            key: key.as_bytes().to_vec(),
            start: 0,
            stop: -1,
        },
        // The workloads here issue none of the four below (the set and
        // queue models of `checker::linearizable` are for the Jepsen
        // harness); they map to their commands all the same.
        Call::SRem { key, member } => Command::SRem {
            key: key.as_bytes().to_vec(),
            members: vec![member.to_string().into_bytes()],
        },
        Call::SIsMember { key, member } => Command::SIsMember {
            key: key.as_bytes().to_vec(),
            member: member.to_string().into_bytes(),
        },
        Call::Enqueue { key, value } => Command::Push {
            key: key.as_bytes().to_vec(),
            values: vec![value.to_string().into_bytes()],
            left: false,
            only_if_exists: false,
        },
        Call::Dequeue { key } => Command::Pop {
            key: key.as_bytes().to_vec(),
            left: true,
            count: None,
        },
    }
}

/// Executes a call through the node's router and classifies the result.
async fn execute(node: &Node, call: &Call, oversized: bool) -> Outcome {
    let is_read = matches!(
        call,
        Call::Get { .. } | Call::SMembers { .. } | Call::ReadList { .. } | Call::SIsMember { .. }
    );
    let result = madsim::time::timeout(
        CLIENT_TIMEOUT,
        node.execute(0, command_for(call, oversized)),
    )
    .await;
    let unknown = if is_read {
        Outcome::Fail
    } else {
        Outcome::Unknown
    };
    match result {
        Err(_) => unknown,
        Ok(Err(ExecError::Unknown(_))) => unknown,
        Ok(Err(ExecError::NoLeader | ExecError::Failed(_))) => Outcome::Fail,
        Ok(Ok(output)) => match (call, output) {
            (Call::Set { .. }, Output::Ok) => Outcome::Ok(Ret::Done),
            (Call::Get { .. }, Output::Nil) => Outcome::Ok(Ret::Value(None)),
            (Call::Get { .. }, Output::Bytes(bytes)) => {
                match std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    Some(value) => Outcome::Ok(Ret::Value(Some(value))),
                    None => Outcome::Fail,
                }
            }
            (Call::Incr { .. }, Output::Int(n)) => Outcome::Ok(Ret::Counter(n)),
            (Call::SAdd { .. }, Output::Int(n)) => Outcome::Ok(Ret::Added(n)),
            (Call::Append { .. } | Call::Enqueue { .. }, Output::Int(n)) => {
                Outcome::Ok(Ret::Length(n))
            }
            (Call::SRem { .. }, Output::Int(n)) => Outcome::Ok(Ret::Removed(n)),
            (Call::SIsMember { .. }, Output::Int(n)) => Outcome::Ok(Ret::IsMember(n == 1)),
            (Call::Dequeue { .. }, Output::Nil) => Outcome::Ok(Ret::Dequeued(None)),
            (Call::Dequeue { .. }, Output::Bytes(bytes)) => {
                match std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    Some(value) => Outcome::Ok(Ret::Dequeued(Some(value))),
                    None => Outcome::Fail,
                }
            }
            (Call::ReadList { .. }, Output::Array(items)) => {
                let values: Option<Vec<u64>> = items
                    .into_iter()
                    .map(|item| match item {
                        Output::Bytes(bytes) => std::str::from_utf8(&bytes).ok()?.parse().ok(),
                        _ => None,
                    })
                    .collect();
                values.map_or(Outcome::Fail, |values| Outcome::Ok(Ret::Items(values)))
            }
            (Call::SMembers { .. }, Output::Array(items)) => {
                let members: Option<Vec<u64>> = items
                    .into_iter()
                    .map(|item| match item {
                        Output::Bytes(bytes) => std::str::from_utf8(&bytes).ok()?.parse().ok(),
                        _ => None,
                    })
                    .collect();
                match members {
                    Some(mut members) => {
                        members.sort_unstable();
                        Outcome::Ok(Ret::Members(members))
                    }
                    None => Outcome::Fail,
                }
            }
            _ => Outcome::Fail,
        },
    }
}

/// SET PX / EXPIRE / GET traffic on keys outside the checked history: the
/// replicas must still agree on what expired when.
async fn ttl_loop(world: Arc<World>, node: Node) {
    while world.workload_on.load(Ordering::SeqCst) {
        let (key, which, ms) = {
            let mut rng = madsim::rand::thread_rng();
            (
                format!("t{}", rng.gen_range(0..3)),
                rng.gen_range(0..3),
                rng.gen_range(10..1500),
            )
        };
        let key = key.into_bytes();
        let cmd = match which {
            0 => Command::Set {
                key,
                value: b"x".to_vec(),
                condition: SetCondition::Always,
                expiry: SetExpiry::At(Expiry::RelativeMs(ms)),
                get: false,
            },
            1 => Command::Expire {
                key,
                expiry: Expiry::RelativeMs(ms),
                condition: ExpireCondition::Always,
            },
            _ => Command::Get { key },
        };
        let _ = madsim::time::timeout(CLIENT_TIMEOUT, node.execute(0, cmd)).await;
        madsim::time::sleep(Duration::from_millis(ms.unsigned_abs() / 4 + 5)).await;
    }
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
        let metrics = node.raft_role(DATA_SHARD);
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

fn kill(world: &World, id: u64, crash_disk: bool) {
    world.nodes.lock().expect("nodes").remove(&id);
    if let Some(handle) = world.handles.lock().expect("handles").get(&id) {
        Handle::current().kill(handle.id());
    }
    if crash_disk {
        world.storages[&id].crash();
    }
}

fn revive(world: &World, id: u64) {
    if let Some(handle) = world.handles.lock().expect("handles").get(&id) {
        Handle::current().restart(handle.id());
    }
}

fn restart(world: &World, id: u64, crash_disk: bool) {
    kill(world, id, crash_disk);
    revive(world, id);
}

fn madsim_id(world: &World, id: u64) -> madsim::task::NodeId {
    world.handles.lock().expect("handles")[&id].id()
}

fn pick(max_inclusive: u64) -> u64 {
    madsim::rand::thread_rng().gen_range(1..=max_inclusive)
}

/// Injects faults, one at a time, until the workload phase ends; leaves the
/// cluster healed.
async fn nemesis(world: &Arc<World>) {
    let end = Duration::from_secs(world.params.duration_s);
    let n = world.params.nodes;
    loop {
        let wait = madsim::rand::thread_rng().gen_range(300..2500);
        madsim::time::sleep(Duration::from_millis(wait)).await;
        if world.start.elapsed() >= end || world.params.faults.is_empty() {
            break;
        }
        let fault = world.params.faults
            [usize::try_from(pick(world.params.faults.len() as u64) - 1).expect("small")];
        let hold = Duration::from_millis(madsim::rand::thread_rng().gen_range(500..5000));
        let net = madsim::net::NetSim::current();
        match fault {
            Fault::Partition | Fault::Bridge => {
                let mut side: Vec<bool> = (0..=n)
                    .map(|_| madsim::rand::thread_rng().gen_bool(0.5))
                    .collect();
                let bridge = (fault == Fault::Bridge).then(|| pick(n));
                if (1..=n).all(|i| side[usize::try_from(i).expect("small")]) {
                    side[1] = false;
                }
                let cut: Vec<(u64, u64)> = (1..=n)
                    .flat_map(|a| (1..=n).map(move |b| (a, b)))
                    .filter(|(a, b)| a != b && Some(*a) != bridge && Some(*b) != bridge)
                    .filter(|(a, b)| {
                        side[usize::try_from(*a).expect("small")]
                            != side[usize::try_from(*b).expect("small")]
                    })
                    .collect();
                world.note(format!(
                    "nemesis {} bridge={bridge:?} cut={cut:?} for {}ms",
                    fault.name(),
                    hold.as_millis()
                ));
                for (a, b) in &cut {
                    net.clog_link(madsim_id(world, *a), madsim_id(world, *b));
                }
                madsim::time::sleep(hold).await;
                for (a, b) in &cut {
                    net.unclog_link(madsim_id(world, *a), madsim_id(world, *b));
                }
            }
            Fault::OneWay => {
                let (a, b) = (pick(n), pick(n));
                if a != b {
                    world.note(format!(
                        "nemesis one-way n{a}->n{b} for {}ms",
                        hold.as_millis()
                    ));
                    net.clog_link(madsim_id(world, a), madsim_id(world, b));
                    madsim::time::sleep(hold).await;
                    net.unclog_link(madsim_id(world, a), madsim_id(world, b));
                }
            }
            Fault::Clog => {
                let a = pick(n);
                world.note(format!("nemesis clog n{a} for {}ms", hold.as_millis()));
                net.clog_node(madsim_id(world, a));
                madsim::time::sleep(hold).await;
                net.unclog_node(madsim_id(world, a));
            }
            Fault::Delay => {
                let high = madsim::rand::thread_rng().gen_range(50..600);
                world.note(format!(
                    "nemesis delay up to {high}ms for {}ms",
                    hold.as_millis()
                ));
                let normal = Duration::from_millis(world.params.latency_ms_min)
                    ..Duration::from_millis(
                        world
                            .params
                            .latency_ms_max
                            .max(world.params.latency_ms_min + 1),
                    );
                net.update_config(|c| {
                    c.send_latency = Duration::from_millis(1)..Duration::from_millis(high)
                });
                madsim::time::sleep(hold).await;
                net.update_config(|c| c.send_latency = normal);
            }
            Fault::Kill => {
                let a = pick(n);
                world.note(format!(
                    "nemesis kill n{a} (power loss) for {}ms",
                    hold.as_millis()
                ));
                kill(world, a, true);
                madsim::time::sleep(hold).await;
                revive(world, a);
            }
            Fault::CrashAll => {
                world.note("nemesis crash-all (power loss everywhere)".into());
                for a in 1..=n {
                    kill(world, a, true);
                }
                madsim::time::sleep(Duration::from_millis(200)).await;
                for a in 1..=n {
                    revive(world, a);
                }
            }
            Fault::Pause => {
                let a = pick(n);
                world.note(format!("nemesis pause n{a} for {}ms", hold.as_millis()));
                Handle::current().pause(madsim_id(world, a));
                madsim::time::sleep(hold).await;
                Handle::current().resume(madsim_id(world, a));
            }
            Fault::LeaderTransfer => {
                let a = pick(n);
                if let Some(node) = world.node(a) {
                    world.note(format!("nemesis n{a} starts an election"));
                    let _ = node.trigger_election(DATA_SHARD).await;
                }
            }
            Fault::Membership => membership_change(world, hold).await,
            Fault::DiskErrors => {
                let a = pick(n);
                // One episode in three is a full disk instead of errors.
                let full = pick(3) == 1;
                let what = if full { "a full disk" } else { "disk errors" };
                world.note(format!("nemesis {what} on n{a} for {}ms", hold.as_millis()));
                world.storages[&a].set_faults(if full {
                    DiskFaults {
                        full: true,
                        ..DiskFaults::default()
                    }
                } else {
                    DiskFaults {
                        io_error_ppm: 5_000,
                        bit_flip_ppm: 2_000,
                        full: false,
                    }
                });
                madsim::time::sleep(hold).await;
                world.storages[&a].set_faults(DiskFaults::default());
            }
        }
    }
}

/// Removes a voter through the leader, waits, and adds it back.
async fn membership_change(world: &Arc<World>, hold: Duration) {
    let Some((leader_id, leader)) = find_leader(world) else {
        return;
    };
    let victim = pick(world.params.nodes);
    if victim == leader_id {
        return;
    }
    world.note(format!(
        "nemesis remove voter n{victim} for {}ms",
        hold.as_millis()
    ));
    let removed = madsim::time::timeout(Duration::from_secs(5), leader.remove_member(victim)).await;
    world.note(format!("nemesis remove n{victim}: {removed:?}"));
    madsim::time::sleep(hold).await;
    readd_member(world, victim).await;
}

async fn readd_member(world: &Arc<World>, id: u64) {
    for _ in 0..20 {
        if let Some((_, leader)) = find_leader(world) {
            let added =
                madsim::time::timeout(Duration::from_secs(5), leader.add_member(id, raft_addr(id)))
                    .await;
            if matches!(added, Ok(Ok(()))) {
                world.note(format!("nemesis n{id} is a voter again"));
                return;
            }
        }
        madsim::time::sleep(Duration::from_millis(500)).await;
    }
    world.note(format!("nemesis could not re-add n{id}"));
}

fn find_leader(world: &World) -> Option<(u64, Node)> {
    world
        .live_nodes()
        .into_iter()
        .filter(|(_, node)| matches!(node.raft_role(DATA_SHARD), Some((_, true))))
        .max_by_key(|(_, node)| node.raft_role(DATA_SHARD).map_or(0, |(term, _)| term))
}

/// Undoes every fault that could still be in force.
async fn heal(world: &Arc<World>) {
    world.note("heal".into());
    let net = madsim::net::NetSim::current();
    let n = world.params.nodes;
    for a in 1..=n {
        net.unclog_node(madsim_id(world, a));
        for b in 1..=n {
            net.unclog_link(madsim_id(world, a), madsim_id(world, b));
        }
        world.storages[&a].set_faults(DiskFaults::default());
        if world.node(a).is_none() {
            revive(world, a);
        }
    }
    madsim::time::sleep(Duration::from_secs(2)).await;
    if let Some((_, leader)) = find_leader(world) {
        let voters = leader
            .status()
            .await
            .first()
            .map(|s| s.members.clone())
            .unwrap_or_default();
        for id in 1..=n {
            if !voters.contains(&id) {
                readd_member(world, id).await;
            }
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
                madsim::time::timeout(Duration::from_secs(2), node.execute(0, cmd)).await
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
        .filter_map(|(id, node)| node.log_digest(DATA_SHARD).ok().map(|d| (id, d)))
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
