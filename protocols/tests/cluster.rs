//! A 3-node cluster of real processes on loopback: writes through any node,
//! leader failure, catch-up by log and by snapshot, and whole-cluster restart.

mod common;

use std::time::Duration;

use common::{retry, Cluster};

const ELECTION: Duration = Duration::from_secs(15);

fn set(con: &mut redis::Connection, key: &str, value: &str) -> redis::RedisResult<()> {
    redis::cmd("SET").arg(key).arg(value).query(con)
}

fn get(con: &mut redis::Connection, key: &str) -> redis::RedisResult<Option<String>> {
    redis::cmd("GET").arg(key).query(con)
}

#[test]
fn writes_through_any_node_survive_leader_kill_and_restart() {
    // Goal: any node accepts writes; after kill -9 of the leader the survivors
    // elect a new one and keep accepting writes; the killed node catches up
    // by log and all three hold byte-identical state.
    survive_leader_kill(&[]);
}

#[test]
fn one_thread_nodes_survive_leader_kill_and_restart() {
    // Goal: the same with `--threads 1` (tokio's single-thread scheduler, as
    // the bench scripts run nodes).
    survive_leader_kill(&["--threads", "1"]);
}

fn survive_leader_kill(extra: &[&str]) {
    let mut cluster = Cluster::new(3, extra);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    for i in 0..60u64 {
        let server = &cluster.servers[(i % 3) as usize];
        let mut con = server.connection().expect("connect");
        set(&mut con, &format!("k{i}"), &format!("v{i}")).expect("set through any node");
    }
    for server in &cluster.servers {
        let mut con = server.connection().expect("connect");
        assert_eq!(get(&mut con, "k59").expect("get"), Some("v59".to_string()));
        let counter: i64 = redis::cmd("INCR")
            .arg("counter")
            .query(&mut con)
            .expect("incr");
        assert!(counter >= 1);
    }
    let leader = cluster.wait_leader(ELECTION);
    cluster.server(leader).kill();
    let survivors: Vec<&common::Server> =
        cluster.servers.iter().filter(|s| s.is_running()).collect();
    for i in 60..100u64 {
        retry(&survivors, ELECTION, |con| {
            set(con, &format!("k{i}"), &format!("v{i}"))
        });
    }
    let new_leader = cluster.wait_leader(ELECTION);
    assert_ne!(new_leader, leader, "a killed node cannot lead");
    cluster.server(leader).start();
    cluster.wait_converged(ELECTION);
    let mut con = cluster.server(leader).connection().expect("connect");
    for i in 0..100u64 {
        assert_eq!(
            get(&mut con, &format!("k{i}")).expect("get"),
            Some(format!("v{i}")),
            "key k{i}"
        );
    }
    let counter: i64 = redis::cmd("GET")
        .arg("counter")
        .query(&mut con)
        .expect("get counter");
    assert_eq!(counter, 3, "each INCR applied exactly once");
}

#[test]
fn a_lagging_node_catches_up_by_snapshot() {
    // Goal: with a short log (snapshot every 20 entries, few kept), a node that
    // missed hundreds of entries is brought back by installing a snapshot,
    // sent in pieces of 512 bytes (many of them: the file checks it).
    let mut cluster = Cluster::new(
        3,
        &["--snapshot-entries", "20", "--snapshot-chunk-bytes", "512"],
    );
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let lagging = if leader == 3 { 2 } else { 3 };
    cluster.server(lagging).kill();
    let running: Vec<&common::Server> = cluster.servers.iter().filter(|s| s.is_running()).collect();
    for i in 0..300u64 {
        retry(&running, ELECTION, |con| {
            set(con, &format!("s{i}"), &format!("{i}"))
        });
    }
    let snapshot_dir = cluster
        .server(lagging)
        .dir
        .join("data/shard-0/snapshot/snapshot");
    assert!(
        !snapshot_dir.exists(),
        "the lagging node had no snapshot before"
    );
    cluster.server(lagging).start();
    cluster.wait_converged(ELECTION);
    assert!(
        snapshot_dir.exists(),
        "the lagging node caught up by installing a snapshot"
    );
    let snapshot_len = std::fs::metadata(&snapshot_dir).expect("snapshot").len();
    assert!(
        snapshot_len > 8 * 512,
        "a snapshot of {snapshot_len} bytes took several pieces"
    );
    let mut con = cluster.server(lagging).connection().expect("connect");
    assert_eq!(get(&mut con, "s299").expect("get"), Some("299".to_string()));
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).expect("dbsize");
    assert_eq!(size, 300);
}

#[test]
fn whole_cluster_restart_loses_nothing_acknowledged() {
    // Goal: every acknowledged write is still there after all nodes are
    // killed with SIGKILL at once and restarted, and the restarted leader
    // won a new term (reads rely on it: see `enable_leader_restore` in
    // net/src/node.rs).
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    let mut acknowledged = Vec::new();
    for i in 0..150u64 {
        let server = &cluster.servers[(i % 3) as usize];
        let mut con = server.connection().expect("connect");
        let _: i64 = redis::cmd("INCRBY")
            .arg("total")
            .arg(i)
            .query(&mut con)
            .expect("incrby");
        set(&mut con, &format!("r{i}"), &format!("{i}")).expect("set");
        acknowledged.push(i);
    }
    let term_of = |server: &common::Server| -> u64 {
        let info = common::raft_info(server).expect("INFO raft");
        info["term"].parse().expect("a term")
    };
    let leader = cluster.wait_leader(ELECTION);
    let term_before = term_of(&cluster.servers[(leader - 1) as usize]);
    for id in 1..=3 {
        cluster.server(id).kill();
    }
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let term_after = term_of(&cluster.servers[(leader - 1) as usize]);
    assert!(
        term_after > term_before,
        "the restarted cluster's leader leads term {term_after}, not past {term_before}"
    );
    let all: Vec<&common::Server> = cluster.servers.iter().collect();
    let total: i64 = retry(&all, ELECTION, |con| {
        redis::cmd("GET").arg("total").query(con)
    });
    assert_eq!(total, (0..150).sum::<i64>());
    let mut con = cluster.servers[0].connection().expect("connect");
    for i in acknowledged {
        assert_eq!(
            get(&mut con, &format!("r{i}")).expect("get"),
            Some(i.to_string())
        );
    }
    cluster.wait_converged(ELECTION);
}

#[test]
fn sigterm_stops_a_node_cleanly_and_it_restarts() {
    // Goal: SIGTERM exits 0, and the node restarts with its data.
    let mut cluster = Cluster::new(1, &[]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    let mut con = cluster.servers[0].connection().expect("connect");
    set(&mut con, "durable", "yes").expect("set");
    drop(con);
    let status = cluster.server(1).terminate();
    assert!(status.success(), "exit status {status:?}");
    cluster.server(1).start();
    cluster.wait_leader(ELECTION);
    let all: Vec<&common::Server> = cluster.servers.iter().collect();
    let value = retry(&all, ELECTION, |con| get(con, "durable"));
    assert_eq!(value, Some("yes".to_string()));
}

#[test]
fn a_new_node_joins_a_running_cluster() {
    // Goal: `orbit-server --join` adds a node to a running cluster as a voter,
    // it receives the existing data, and the cluster still commits with it.
    let mut cluster = Cluster::new(1, &[]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    let mut con = cluster.servers[0].connection().expect("connect");
    for i in 0..20 {
        set(&mut con, &format!("j{i}"), "x").expect("set");
    }
    let seed = format!("127.0.0.1:{}", cluster.servers[0].raft_port);
    let (resp, raft) = (common::free_port(), common::free_port());
    let dir = cluster.dir.path().join("n2");
    std::fs::create_dir_all(&dir).expect("dir");
    let args: Vec<String> = [
        "--node-id",
        "2",
        "--data-dir",
        &dir.join("data").display().to_string(),
        "--resp-addr",
        &format!("127.0.0.1:{resp}"),
        "--raft-addr",
        &format!("127.0.0.1:{raft}"),
        "--join",
        &seed,
        "--cluster-secret",
        common::CLUSTER_SECRET,
        "--heartbeat-ms",
        "50",
        "--election-timeout-ms",
        "300",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    cluster
        .servers
        .push(common::Server::new(2, resp, raft, dir, args));
    cluster.server(2).start();
    cluster.wait_converged(ELECTION);
    let deadline = std::time::Instant::now() + ELECTION;
    loop {
        let voters = common::raft_info(&cluster.servers[0]).and_then(|i| i.get("voters").cloned());
        if voters.as_deref() == Some("1,2") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node 2 never became a voter: {voters:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut con2 = cluster
        .server(2)
        .connection()
        .expect("connect to the new node");
    assert_eq!(get(&mut con2, "j19").expect("get"), Some("x".to_string()));
    set(&mut con2, "after-join", "y").expect("a write through the new node commits");
    cluster.wait_converged(ELECTION);
}

#[test]
fn random_choices_are_replicated_not_redrawn() {
    // Goal: SPOP through a follower removes the same members on every
    // replica (the seed is drawn once and travels in the entry): the
    // replicas converge to one state hash, and the remaining members are
    // exactly the ones not popped.
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let follower = if leader == 1 { 2 } else { 1 };
    let mut con = cluster.server(follower).connection().expect("connect");
    let members: Vec<String> = (0..50).map(|n| format!("m{n}")).collect();
    let _: i64 = redis::cmd("SADD")
        .arg("s")
        .arg(&members)
        .query(&mut con)
        .expect("sadd");
    let popped: Vec<String> = redis::cmd("SPOP")
        .arg("s")
        .arg(10)
        .query(&mut con)
        .expect("spop");
    assert_eq!(popped.len(), 10);
    cluster.wait_converged(ELECTION);
    let mut expected: Vec<String> = members
        .iter()
        .filter(|m| !popped.contains(m))
        .cloned()
        .collect();
    expected.sort();
    let remaining: Vec<String> = redis::cmd("SMEMBERS")
        .arg("s")
        .query(&mut con)
        .expect("smembers");
    assert_eq!(remaining, expected);
}

#[test]
fn wait_counts_the_followers_holding_the_writes() {
    // Goal: WAIT through a follower or the leader answers with the
    // followers that hold every acknowledged write: both of them in a
    // healthy 3-node cluster; one once a follower is killed, after the
    // timeout when asked for two.
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let follower = if leader == 1 { 2 } else { 1 };
    let mut con = cluster.server(follower).connection().expect("connect");
    set(&mut con, "k", "v").expect("set");
    let replicas: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(5000)
        .query(&mut con)
        .expect("wait");
    assert_eq!(replicas, 2);
    let other = (1..=3)
        .find(|id| *id != leader && *id != follower)
        .expect("third node");
    cluster.server(other).kill();
    let mut con = cluster.server(leader).connection().expect("connect");
    set(&mut con, "k", "w").expect("set");
    let started = std::time::Instant::now();
    let replicas: i64 = redis::cmd("WAIT")
        .arg(2)
        .arg(300)
        .query(&mut con)
        .expect("wait");
    assert_eq!(replicas, 1);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited for the timeout"
    );
    let e = redis::cmd("WAIT")
        .arg(1)
        .arg(-1)
        .query::<i64>(&mut con)
        .expect_err("negative");
    assert_eq!(e.detail(), Some("timeout is negative"));
}
