//! Requests that used to take replicas down (issue: no request can take a
//! replica down). Each case ends in a clear error or in success, with every
//! replica still serving and nothing acknowledged lost.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{retry, Cluster};

const ELECTION: Duration = Duration::from_secs(15);

/// Goal: a key, a hash field and a sorted-set member longer than the
/// storage engine's 65,535-byte key limit commit on 3 nodes (this made
/// every replica's apply panic, again after every restart); the replicas
/// converge, and a restarted node replays them and serves them.
#[test]
fn keys_over_the_engine_limit_replicate_and_survive_restart() {
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    let key = "k".repeat(65_534);
    let field = "f".repeat(70_000);
    let member = "m".repeat(100_000);
    for (i, server) in cluster.servers.iter().enumerate() {
        let mut con = server.connection().expect("connect");
        let key = format!("{key}{i}");
        let () = redis::cmd("SET")
            .arg(&key)
            .arg(i)
            .query(&mut con)
            .expect("set");
        let added: i64 = redis::cmd("HSET")
            .arg("h")
            .arg(format!("{field}{i}"))
            .arg(i)
            .query(&mut con)
            .expect("hset");
        assert_eq!(added, 1);
        let added: i64 = redis::cmd("ZADD")
            .arg("z")
            .arg(0)
            .arg(format!("{member}{i}"))
            .query(&mut con)
            .expect("zadd");
        assert_eq!(added, 1);
    }
    let converged = cluster.wait_converged(ELECTION);
    cluster.server(2).kill();
    cluster.server(2).start();
    assert_eq!(cluster.wait_converged(ELECTION), converged);
    let server = &cluster.servers[1];
    let value: String = retry(&[server], ELECTION, |con| {
        redis::cmd("GET").arg(format!("{key}2")).query(con)
    });
    assert_eq!(value, "2");
    let members: Vec<String> = retry(&[server], ELECTION, |con| {
        redis::cmd("ZRANGE").arg("z").arg(0).arg(-1).query(con)
    });
    let expected: Vec<String> = (0..3).map(|i| format!("{member}{i}")).collect();
    assert_eq!(members, expected, "ties in exact lexicographic order");
    let len: i64 = retry(&[server], ELECTION, |con| {
        redis::cmd("HLEN").arg("h").query(con)
    });
    assert_eq!(len, 3);
}

/// Goal: random picks with repeats on a tiny set or hash (SRANDMEMBER
/// s -2147483648 grew a node to 7.2 GB; Redis itself runs out of memory on
/// -LONG_MAX) answer a clear error, alone and inside MULTI (where they go
/// through every replica's apply), while the node's memory stays under
/// 512 MiB and the connection keeps working.
#[test]
fn random_picks_with_huge_repeat_counts_are_refused_in_bounded_memory() {
    let cluster = Cluster::single_node();
    let server = &cluster.servers[0];
    let mut con = server.connection().expect("connect");
    let _: i64 = redis::cmd("SADD")
        .arg("s")
        .arg(&["a", "b", "c"])
        .query(&mut con)
        .expect("sadd");
    let _: i64 = redis::cmd("HSET")
        .arg("h")
        .arg(&["f", "v"])
        .query(&mut con)
        .expect("hset");
    let too_large = "reply too large";
    for count in ["-2147483648", "-9223372036854775807"] {
        let e = redis::cmd("SRANDMEMBER")
            .arg("s")
            .arg(count)
            .query::<Vec<String>>(&mut con);
        assert!(e.expect_err("refused").to_string().contains(too_large));
        let e = redis::cmd("HRANDFIELD")
            .arg("h")
            .arg(count)
            .query::<Vec<String>>(&mut con);
        assert!(e.expect_err("refused").to_string().contains(too_large));
    }
    // redis-rs turns an error inside EXEC's array into an error of the
    // whole call, so the transaction goes over a plain socket.
    let exec = raw_exchange(
        server.resp_port,
        &[
            &["MULTI"],
            &["SRANDMEMBER", "s", "-2147483648"],
            &["HRANDFIELD", "h", "-4611686018427387903", "WITHVALUES"],
            &["SCARD", "s"],
            &["EXEC"],
        ],
        "*3\r\n",
    );
    assert!(exec.ends_with(":3\r\n"), "{exec}");
    assert_eq!(exec.matches(too_large).count(), 2, "{exec}");
    let picked: Vec<String> = redis::cmd("SRANDMEMBER")
        .arg("s")
        .arg(-1000)
        .query(&mut con)
        .expect("small counts work");
    assert_eq!(picked.len(), 1000);
    let peak_kib = server.rss_peak_kib();
    assert!(peak_kib < 512 * 1024, "peak RSS {peak_kib} KiB");
}

/// Sends `commands` on a fresh connection and returns the raw replies once
/// `until` has come and the connection has been quiet for a moment.
fn raw_exchange(port: u16, commands: &[&[&str]], until: &str) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut request = Vec::new();
    for args in commands {
        request.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for arg in *args {
            request.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
    }
    stream.write_all(&request).expect("send");
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut replies = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => replies.extend_from_slice(&buf[..n]),
            Err(_) if String::from_utf8_lossy(&replies).contains(until) => break,
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&replies).into_owned()
}

/// A tmpfs of `size_mib` mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// None when this process may not mount (not root).
    fn mount(path: std::path::PathBuf, size_mib: u64) -> Option<SmallDisk> {
        std::fs::create_dir_all(&path).expect("mount point");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&path)
            .status()
            .ok()?;
        status.success().then_some(SmallDisk { path })
    }

    fn available_bytes(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&self.path)
            .output()
            .expect("df");
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df avail")
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Goal: a node whose disk fills up exits with status 74 and a message
/// naming the failure (it stayed up answering PING with its Raft stopped, a
/// process no supervisor could see was dead); restarted once there is room,
/// it holds every write it acknowledged.
#[test]
fn a_full_disk_stops_the_node_and_loses_nothing_acknowledged() {
    let mut cluster = Cluster::new(1, &[]);
    let data = cluster.dir.path().join("small-disk");
    let Some(disk) = SmallDisk::mount(data.clone(), 400) else {
        assert_ne!(
            unsafe_free_euid(),
            0,
            "root could not mount a tmpfs: this test needs it"
        );
        eprintln!("skipped: mounting a small disk needs root (CI runs as root)");
        return;
    };
    let server = cluster.server(1);
    let at = server
        .args
        .iter()
        .position(|a| a == "--data-dir")
        .expect("data dir flag");
    server.args[at + 1] = data.join("data").display().to_string();
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    let filler = data.join("filler");
    let room = disk.available_bytes().saturating_sub(24 << 20);
    std::fs::write(&filler, vec![7u8; usize::try_from(room).expect("fits")]).expect("filler");
    let value = vec![b'v'; 1 << 20];
    let mut acknowledged = Vec::new();
    let mut con = cluster.servers[0].connection().expect("connect");
    for i in 0..400u32 {
        match redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&value)
            .query::<()>(&mut con)
        {
            Ok(()) => acknowledged.push(i),
            Err(_) => break,
        }
    }
    assert!(acknowledged.len() < 400, "the disk never filled");
    let server = cluster.server(1);
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("the node exits on a full disk");
    assert_eq!(status.code(), Some(74), "exit status EX_IOERR");
    let log = std::fs::read_to_string(server.dir.join("server.log")).expect("log");
    assert!(log.contains("storage failed"), "{}", server.log_tail());
    std::fs::remove_file(&filler).expect("make room");
    server.start();
    cluster.wait_leader(ELECTION);
    let server = &cluster.servers[0];
    for i in &acknowledged {
        let stored: Vec<u8> = retry(&[server], ELECTION, |con| {
            redis::cmd("GET").arg(format!("k{i}")).query(con)
        });
        assert_eq!(stored.len(), value.len(), "acknowledged k{i} is whole");
    }
    drop(cluster);
    drop(disk);
}

/// Goal: the server's log has no terminal colour codes when stderr is a
/// file (it had them, which made log files hard to read and grep).
#[test]
fn logs_written_to_a_file_carry_no_colour_codes() {
    let cluster = Cluster::single_node();
    let log = std::fs::read_to_string(cluster.servers[0].dir.join("server.log")).expect("log");
    assert!(log.contains("orbit-server started"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in: {log}");
}

/// This process's effective user id, from /proc (no unsafe call).
fn unsafe_free_euid() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|euid| euid.parse().ok())
        .expect("Uid line")
}

/// Goal: wrong passwords are counted in INFO (acl_access_denied_auth),
/// grouped in ACL LOG as Redis shows them, logged without flooding the log
/// (one line for a burst), and the right password still works.
#[test]
fn failed_auth_is_counted_logged_and_in_acl_log() {
    let mut cluster = Cluster::new(1, &["--requirepass", "s3cret"]);
    cluster.start_all();
    let server = &cluster.servers[0];
    // redis-rs sends commands of its own on connecting, so the client
    // logs in with the password and then tries wrong ones.
    let url = format!("redis://:s3cret@127.0.0.1:{}/", server.resp_port);
    let deadline = std::time::Instant::now() + ELECTION;
    let mut con = loop {
        let client = redis::Client::open(url.as_str()).expect("url");
        match client.get_connection_with_timeout(Duration::from_secs(2)) {
            Ok(con) => break con,
            Err(e) => assert!(std::time::Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for _ in 0..50 {
        let wrong = redis::cmd("AUTH").arg("guess").query::<()>(&mut con);
        assert!(wrong
            .expect_err("refused")
            .to_string()
            .contains("WRONGPASS"));
    }
    let () = redis::cmd("AUTH")
        .arg("s3cret")
        .query(&mut con)
        .expect("right password");
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query(&mut con)
        .expect("info");
    assert!(info.contains("acl_access_denied_auth:50"), "{info}");
    let log: Vec<Vec<redis::Value>> = redis::cmd("ACL")
        .arg("LOG")
        .query(&mut con)
        .expect("acl log");
    assert_eq!(log.len(), 1, "one entry for one user's failures");
    let fields: Vec<String> = log[0]
        .iter()
        .step_by(2)
        .map(|v| redis::from_redis_value(v).expect("field name"))
        .collect();
    assert_eq!(
        fields,
        [
            "count",
            "reason",
            "context",
            "object",
            "username",
            "age-seconds",
            "client-info"
        ]
    );
    assert_eq!(log[0][1], redis::Value::Int(50));
    let reason: String = redis::from_redis_value(&log[0][3]).expect("reason");
    assert_eq!(reason, "auth");
    let () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query(&mut con)
        .expect("reset");
    let empty: Vec<redis::Value> = redis::cmd("ACL")
        .arg("LOG")
        .query(&mut con)
        .expect("acl log");
    assert!(empty.is_empty());
    let text = std::fs::read_to_string(server.dir.join("server.log")).expect("log");
    let lines = text.matches("authentication failed").count();
    assert!(
        (1..=5).contains(&lines),
        "{lines} log lines for a burst of 50"
    );
}

/// Goal: the peer port takes nothing from a connection that has not proved
/// the cluster secret: the forged 40-byte Join frame that made node 99 a
/// voter is refused and logged, a peer with the wrong secret is refused,
/// and the voters stay as they were.
#[test]
fn forged_or_unauthenticated_peer_frames_are_refused() {
    let cluster = Cluster::single_node();
    let server = &cluster.servers[0];
    let forged = orbit_net::wire::encode(
        1,
        &orbit_net::wire::PeerRequest::Join {
            node_id: 99,
            addr: "10.255.255.1:1".into(),
        },
    )
    .expect("encode");
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", server.raft_port)).expect("connect");
    stream.write_all(&forged).expect("send");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(answer.is_empty(), "no answer to a forged frame: {answer:?}");
    std::thread::sleep(Duration::from_millis(300));
    let info = common::raft_info(server).expect("info raft");
    assert_eq!(
        info.get("voters").map(String::as_str),
        Some("1"),
        "{info:?}"
    );
    let log = std::fs::read_to_string(server.dir.join("server.log")).expect("log");
    assert!(
        log.contains("refused a peer connection"),
        "{}",
        server.log_tail()
    );
}

/// Goal: a node started on another node's data directory (the README's old
/// join line without --data-dir opened ./data of node 1) refuses to start
/// with a message saying whose directory it is and what to do, and a node
/// with another cluster's secret refuses that cluster's directory.
#[test]
fn a_data_directory_of_another_node_or_cluster_is_refused() {
    let mut cluster = Cluster::new(1, &[]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    cluster.server(1).terminate();
    let data = cluster.servers[0].args.clone();
    let data_dir = data[data.iter().position(|a| a == "--data-dir").expect("flag") + 1].clone();
    for (args, expected) in [
        (
            vec![
                "--node-id",
                "4",
                "--join",
                "127.0.0.1:1",
                "--cluster-secret",
                common::CLUSTER_SECRET,
            ],
            "belongs to node 1, not to node 4",
        ),
        (
            vec!["--cluster-secret", "another cluster"],
            "belongs to cluster",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_orbit-server"))
            .args([
                "--data-dir",
                &data_dir,
                "--resp-addr",
                "127.0.0.1:0",
                "--raft-addr",
                "127.0.0.1:0",
            ])
            .args(&args)
            .output()
            .expect("run orbit-server");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
    cluster.server(1).start();
    cluster.wait_leader(ELECTION);
}

fn voters(server: &common::Server) -> String {
    common::raft_info(server)
        .and_then(|info| info.get("voters").cloned())
        .unwrap_or_default()
}

/// Goal: a dead node is replaced with admin commands: removing a live voter
/// while another is down is refused (it would leave a cluster that cannot
/// commit); removing the dead one works through any node; a new node joins
/// in its place with its own data directory; writes go on throughout.
#[test]
fn a_dead_node_is_removed_and_replaced_without_losing_quorum() {
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let dead = if leader == 3 { 2 } else { 3 };
    let live_follower = 6 - leader - dead;
    cluster.server(dead).kill();
    // The leader notices the dead node within an election timeout.
    std::thread::sleep(Duration::from_millis(1500));
    let through = cluster.servers[usize::try_from(live_follower - 1).expect("id")].connection();
    let mut con = through.expect("connect");
    let refused = redis::cmd("ORBIT")
        .arg("MEMBER")
        .arg("REMOVE")
        .arg(leader)
        .query::<()>(&mut con)
        .expect_err("removing a live voter with one down is refused");
    assert!(refused.to_string().contains("refused"), "{refused}");
    let () = redis::cmd("ORBIT")
        .arg("MEMBER")
        .arg("REMOVE")
        .arg(dead)
        .query(&mut con)
        .expect("the dead voter is removed, through a follower");
    let survivors: Vec<&common::Server> =
        cluster.servers.iter().filter(|s| s.is_running()).collect();
    retry(&survivors, ELECTION, |con| {
        redis::cmd("SET")
            .arg("after-removal")
            .arg(1)
            .query::<()>(con)
    });
    let mut expected: Vec<u64> = vec![leader, live_follower];
    expected.sort_unstable();
    let expected = expected
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(voters(survivors[0]), expected);
    // The replacement: a fresh node joins through any member.
    let seed = cluster.servers[usize::try_from(leader - 1).expect("id")].raft_port;
    let dir = cluster.dir.path().join("n4");
    std::fs::create_dir_all(&dir).expect("dir");
    let (resp, raft) = (common::free_port(), common::free_port());
    let args: Vec<String> = [
        "--node-id",
        "4",
        "--data-dir",
        &dir.join("data").display().to_string(),
        "--resp-addr",
        &format!("127.0.0.1:{resp}"),
        "--raft-addr",
        &format!("127.0.0.1:{raft}"),
        "--join",
        &format!("127.0.0.1:{seed}"),
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
    let mut fourth = common::Server::new(4, resp, raft, dir, args);
    fourth.start();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut with_fourth: Vec<String> = expected.split(',').map(str::to_string).collect();
    with_fourth.push("4".into());
    with_fourth.sort();
    while voters(&fourth) != with_fourth.join(",") {
        assert!(
            std::time::Instant::now() < deadline,
            "node 4 never became a voter: {}",
            fourth.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let value: String = retry(&[&fourth], ELECTION, |con| {
        redis::cmd("GET").arg("after-removal").query(con)
    });
    assert_eq!(value, "1");
}

/// Goal: a 100 MB value commits on 3 nodes while other clients keep being
/// served and no election happens (a 100 MB append used to hold up the
/// heartbeats behind it, for over 100 s of retries); every replica ends
/// with it; a value over the entry size limit gets a clear error at once,
/// through the leader and through a follower, and changes nothing.
#[test]
fn large_values_replicate_without_stalling_the_cluster() {
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let term_before = common::raft_info(&cluster.servers[0]).expect("info")["term"].clone();
    let follower = if leader == 1 { 2 } else { 1 };
    let big = vec![b'x'; 100 << 20];
    let small_ops = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let url = cluster.servers[usize::try_from(leader - 1).expect("id")].url();
    let small = {
        let (small_ops, done) = (small_ops.clone(), done.clone());
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url)
                .expect("url")
                .get_connection()
                .expect("connect");
            let mut slowest = Duration::ZERO;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let started = std::time::Instant::now();
                let () = redis::cmd("SET")
                    .arg("small")
                    .arg(1)
                    .query(&mut con)
                    .expect("small write");
                slowest = slowest.max(started.elapsed());
                small_ops.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            slowest
        })
    };
    let mut con = cluster.servers[usize::try_from(follower - 1).expect("id")]
        .connection()
        .expect("connect");
    let committed = redis::cmd("SET").arg("big").arg(&big).query::<()>(&mut con);
    if let Err(e) = committed {
        let logs: Vec<String> = cluster
            .servers
            .iter()
            .map(|s| format!("--- node {}\n{}", s.id, s.log_tail()))
            .collect();
        panic!("a 100 MB SET commits: {e}\n{}", logs.join("\n"));
    }
    let during = small_ops.load(std::sync::atomic::Ordering::SeqCst);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let slowest = small.join().expect("small writer");
    assert!(
        during > 10,
        "other clients were served meanwhile ({during} writes)"
    );
    assert!(
        slowest < Duration::from_secs(10),
        "no small write waited {slowest:?}"
    );
    let too_big = vec![b'y'; 130 << 20];
    for server in [leader, follower] {
        let mut con = cluster.servers[usize::try_from(server - 1).expect("id")]
            .connection()
            .expect("connect");
        let refused = redis::cmd("SET")
            .arg("too-big")
            .arg(&too_big)
            .query::<()>(&mut con);
        let message = refused.expect_err("over the entry size limit").to_string();
        assert!(message.contains("entry-size-max"), "{message}");
    }
    cluster.wait_converged(Duration::from_secs(60));
    for server in &cluster.servers {
        let info = common::raft_info(server).expect("info");
        assert_eq!(
            info["term"], term_before,
            "no election on node {}",
            server.id
        );
    }
    let mut con = cluster.servers[2].connection().expect("connect");
    let len: i64 = redis::cmd("STRLEN")
        .arg("big")
        .query(&mut con)
        .expect("strlen");
    assert_eq!(len, 100 << 20);
    let exists: i64 = redis::cmd("EXISTS")
        .arg("too-big")
        .query(&mut con)
        .expect("exists");
    assert_eq!(exists, 0);
}

/// Goal: a pipeline of 47,000 GETs of a 100 KB value, sent whole before
/// any reply is read (it grew a node to 5.4 GB, building every reply
/// first), gets every reply while the node stays under 512 MiB: replies go
/// out in chunks, and input is read while they are written.
#[test]
fn a_huge_pipeline_of_large_replies_runs_in_bounded_memory() {
    let cluster = Cluster::single_node();
    let server = &cluster.servers[0];
    let mut con = server.connection().expect("connect");
    let value = vec![b'v'; 100_000];
    let () = redis::cmd("SET")
        .arg("big")
        .arg(&value)
        .query(&mut con)
        .expect("set");
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", server.resp_port)).expect("connect");
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
    let count = 47_000usize;
    let writer = {
        let mut stream = stream.try_clone().expect("clone");
        std::thread::spawn(move || {
            let all: Vec<u8> = request
                .iter()
                .copied()
                .cycle()
                .take(request.len() * count)
                .collect();
            stream.write_all(&all).expect("send the pipeline");
        })
    };
    // Read only once the whole pipeline is sent: the server must keep
    // reading while its replies wait for us.
    writer.join().expect("writer");
    let reply_len = format!("${}\r\n", value.len()).len() + value.len() + 2;
    let mut remaining = reply_len * count;
    let mut buf = vec![0u8; 1 << 20];
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut peak_kib = 0;
    while remaining > 0 {
        let n = stream.read(&mut buf).expect("replies keep coming");
        assert!(
            n > 0,
            "the server closed with {remaining} bytes of replies to go"
        );
        remaining = remaining.saturating_sub(n);
        peak_kib = peak_kib.max(server.rss_peak_kib());
    }
    assert!(peak_kib < 512 * 1024, "peak RSS {peak_kib} KiB");
}

/// Goal: partial bulk strings that never finish (four clients held 1.55 GB)
/// are bounded in total: with --client-query-buffers-max 64 MiB, the
/// client whose input would pass it gets an error and is closed, the
/// others keep their connections, and the server keeps serving.
#[test]
fn unfinished_requests_are_bounded_across_clients() {
    let mut cluster = Cluster::new(1, &["--client-query-buffers-max", "67108864"]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    let server = &cluster.servers[0];
    let chunk = vec![b'x'; 1 << 20];
    let mut clients = Vec::new();
    let mut refused = None;
    'clients: for i in 0..4 {
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", server.resp_port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        stream
            .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$400000000\r\n")
            .expect("header");
        for _ in 0..30 {
            if stream.write_all(&chunk).is_err() {
                refused = Some(i);
                break 'clients;
            }
            let mut answer = [0u8; 256];
            if let Ok(n) = stream.read(&mut answer) {
                let text = String::from_utf8_lossy(&answer[..n]).into_owned();
                assert!(text.contains("query buffers of all clients"), "{text}");
                refused = Some(i);
                break 'clients;
            }
        }
        clients.push(stream);
    }
    assert!(refused.is_some(), "a client past the total was refused");
    let mut con = server.connection().expect("the server still takes clients");
    let () = redis::cmd("SET")
        .arg("after")
        .arg(1)
        .query(&mut con)
        .expect("and serves them");
    assert!(server.rss_peak_kib() < 512 * 1024);
    drop(clients);
}

/// Goal: a subscriber that never reads is disconnected once about 32 MB of
/// messages wait for it (Redis's pubsub output buffer hard limit), instead
/// of the server holding every message; the publisher and other clients
/// go on, and the server's memory stays bounded.
#[test]
fn a_subscriber_that_does_not_read_is_disconnected_in_bounded_memory() {
    let cluster = Cluster::single_node();
    let server = &cluster.servers[0];
    let mut subscriber =
        std::net::TcpStream::connect(("127.0.0.1", server.resp_port)).expect("connect");
    subscriber
        .write_all(b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")
        .expect("subscribe");
    let mut confirmation = [0u8; 64];
    let n = subscriber.read(&mut confirmation).expect("confirmed");
    assert!(String::from_utf8_lossy(&confirmation[..n]).contains("subscribe"));
    // From here the subscriber reads nothing: 200 messages of 1 MB.
    let mut con = server.connection().expect("connect");
    let message = vec![b'm'; 1 << 20];
    let mut receivers = Vec::new();
    for _ in 0..200 {
        let count: i64 = redis::cmd("PUBLISH")
            .arg("ch")
            .arg(&message)
            .query(&mut con)
            .expect("publish");
        receivers.push(count);
    }
    assert_eq!(receivers.first(), Some(&1), "the subscriber was there");
    assert_eq!(
        receivers.last(),
        Some(&0),
        "and was disconnected: {receivers:?}"
    );
    // What reached its socket before that is readable; then the end.
    subscriber
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut sink = vec![0u8; 1 << 20];
    let mut read = 0usize;
    loop {
        match subscriber.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    assert!(read < 100 << 20, "{read} bytes reached the slow subscriber");
    let () = redis::cmd("SET")
        .arg("after")
        .arg(1)
        .query(&mut con)
        .expect("the server goes on");
    assert!(
        server.rss_peak_kib() < 512 * 1024,
        "peak RSS {} KiB",
        server.rss_peak_kib()
    );
}

/// Goal: CLIENT KILL ends a client that stopped reading its replies (its
/// connection waits on a full socket), as it ends one in Redis.
#[test]
fn client_kill_ends_a_client_that_does_not_read() {
    let cluster = Cluster::single_node();
    let server = &cluster.servers[0];
    let mut con = server.connection().expect("connect");
    let () = redis::cmd("SET")
        .arg("big")
        .arg(vec![b'v'; 100_000])
        .query(&mut con)
        .expect("set");
    let mut stuck = std::net::TcpStream::connect(("127.0.0.1", server.resp_port)).expect("connect");
    stuck
        .write_all(b"*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n")
        .expect("client id");
    let mut answer = [0u8; 64];
    let n = stuck.read(&mut answer).expect("id");
    let id: u64 = String::from_utf8_lossy(&answer[1..n])
        .trim()
        .parse()
        .expect("an id");
    let request = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n";
    stuck
        .write_all(&request.repeat(2_000))
        .expect("a pipeline it will not read");
    // Until the server's writes to it block.
    std::thread::sleep(Duration::from_millis(500));
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query(&mut con)
        .expect("client kill");
    assert_eq!(killed, 1);
    // Without reading from it: the connection must end by itself.
    let started = Instant::now();
    let listed = |con: &mut redis::Connection| -> bool {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(con)
            .expect("client list");
        list.lines()
            .any(|line| line.starts_with(&format!("id={id} ")))
    };
    while listed(&mut con) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the killed client is still connected"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(stuck);
}
