//! The nemesis: faults injected one at a time during the workload phase,
//! each held for a while and undone, and the healing that undoes whatever
//! could still be in force afterwards. Kill, revive and restart are also
//! what the runner uses to restart an unhealthy node and to tear a run down.
//! Every choice draws from madsim's seeded rng.

use std::sync::Arc;
use std::time::Duration;

use madsim::rand::Rng;
use madsim::runtime::Handle;
use orbit_net::Node;

use crate::workload::home_shard;

use crate::disk::DiskFaults;
use crate::params::Fault;
use crate::runner::{raft_addr, World};

pub(crate) fn kill(world: &World, id: u64, crash_disk: bool) {
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

pub(crate) fn restart(world: &World, id: u64, crash_disk: bool) {
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
pub(crate) async fn nemesis(world: &Arc<World>) {
    let end = Duration::from_secs(world.params.duration_s);
    loop {
        let wait = madsim::rand::thread_rng().gen_range(300..2500);
        madsim::time::sleep(Duration::from_millis(wait)).await;
        if world.start.elapsed() >= end || world.params.faults.is_empty() {
            break;
        }
        let fault = world.params.faults
            [usize::try_from(pick(world.params.faults.len() as u64) - 1).expect("small")];
        let hold = Duration::from_millis(madsim::rand::thread_rng().gen_range(500..5000));
        inject(world, fault, hold).await;
    }
}

/// Injects `fault`, holds it for about `hold`, and undoes it.
async fn inject(world: &Arc<World>, fault: Fault, hold: Duration) {
    match fault {
        Fault::Partition | Fault::Bridge => cut_links(world, fault, hold).await,
        Fault::OneWay => cut_one_way(world, hold).await,
        Fault::Clog => clog(world, hold).await,
        Fault::Delay => delay(world, hold).await,
        Fault::Kill => kill_one(world, hold).await,
        Fault::CrashAll => crash_all(world).await,
        Fault::Pause => pause(world, hold).await,
        Fault::LeaderTransfer => start_election(world).await,
        Fault::Membership => membership_change(world, hold).await,
        Fault::DiskErrors => disk_errors(world, hold).await,
    }
}

/// Splits the nodes into two random sides and cuts every link between
/// them, both ways (with `Fault::Bridge`, except the links of one bridge
/// node, which reaches both sides); mends them after `hold`.
async fn cut_links(world: &World, fault: Fault, hold: Duration) {
    let n = world.params.nodes;
    let net = madsim::net::NetSim::current();
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
            side[usize::try_from(*a).expect("small")] != side[usize::try_from(*b).expect("small")]
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

/// Cuts one direction of one link for `hold`.
async fn cut_one_way(world: &World, hold: Duration) {
    let n = world.params.nodes;
    let net = madsim::net::NetSim::current();
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

/// Isolates one node for `hold`.
async fn clog(world: &World, hold: Duration) {
    let n = world.params.nodes;
    let net = madsim::net::NetSim::current();
    let a = pick(n);
    world.note(format!("nemesis clog n{a} for {}ms", hold.as_millis()));
    net.clog_node(madsim_id(world, a));
    madsim::time::sleep(hold).await;
    net.unclog_node(madsim_id(world, a));
}

/// Raises message latency for `hold`, then restores the run's own.
async fn delay(world: &World, hold: Duration) {
    let net = madsim::net::NetSim::current();
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
    net.update_config(|c| c.send_latency = Duration::from_millis(1)..Duration::from_millis(high));
    madsim::time::sleep(hold).await;
    net.update_config(|c| c.send_latency = normal);
}

/// Power loss on one node; it restarts after `hold`.
async fn kill_one(world: &World, hold: Duration) {
    let n = world.params.nodes;
    let a = pick(n);
    world.note(format!(
        "nemesis kill n{a} (power loss) for {}ms",
        hold.as_millis()
    ));
    kill(world, a, true);
    madsim::time::sleep(hold).await;
    revive(world, a);
}

/// Power loss on every node at once, then all restart.
async fn crash_all(world: &World) {
    let n = world.params.nodes;
    world.note("nemesis crash-all (power loss everywhere)".into());
    for a in 1..=n {
        kill(world, a, true);
    }
    madsim::time::sleep(Duration::from_millis(200)).await;
    for a in 1..=n {
        revive(world, a);
    }
}

/// Freezes one node's execution for `hold`.
async fn pause(world: &World, hold: Duration) {
    let n = world.params.nodes;
    let a = pick(n);
    world.note(format!("nemesis pause n{a} for {}ms", hold.as_millis()));
    Handle::current().pause(madsim_id(world, a));
    madsim::time::sleep(hold).await;
    Handle::current().resume(madsim_id(world, a));
}

/// One node starts an election.
async fn start_election(world: &World) {
    let n = world.params.nodes;
    let a = pick(n);
    if let Some(node) = world.node(a) {
        world.note(format!("nemesis n{a} starts an election"));
        let _ = node.trigger_election(home_shard(&node)).await;
    }
}

/// I/O errors and bit flips, or a full disk, on one node for `hold`.
async fn disk_errors(world: &World, hold: Duration) {
    let n = world.params.nodes;
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
        .filter(|(_, node)| matches!(node.raft_role(home_shard(&node)), Some((_, true))))
        .max_by_key(|(_, node)| {
            node.raft_role(home_shard(&node))
                .map_or(0, |(term, _)| term)
        })
}

/// Undoes every fault that could still be in force.
pub(crate) async fn heal(world: &Arc<World>) {
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
