//! Test harness: real `orbit-server` processes on loopback.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_orbit-server");

/// A loopback port for a test server, never the same twice in one process.
///
/// Asking the kernel for port 0 and closing it is racy: tests of one binary
/// run in parallel, and the kernel hands the same ephemeral port to another
/// bind or to an outgoing connection before the server binds it. Once a
/// node of one test's cluster failed to bind and its client reached another
/// test's node, which answered for a cluster it did not belong to. So ports
/// come from below the ephemeral range (32768..61000 on Linux), from a
/// per-process start and a counter, and only ports that bind now are used.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 10_000;
    const SPAN: u32 = 22_000; // 10,000..32,000
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = (std::process::id().wrapping_mul(7_919)) % SPAN;
    for _ in 0..SPAN {
        let offset = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = LOW + (start + offset) % SPAN;
        let port = u16::try_from(port).expect("below 32,000");
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in 10000..32000");
}

pub struct Server {
    pub id: u64,
    pub resp_port: u16,
    pub raft_port: u16,
    pub dir: PathBuf,
    pub args: Vec<String>,
    child: Option<Child>,
}

impl Server {
    pub fn new(id: u64, resp_port: u16, raft_port: u16, dir: PathBuf, args: Vec<String>) -> Server {
        Server {
            id,
            resp_port,
            raft_port,
            dir,
            args,
            child: None,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.resp_port)
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "node {} is already running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("log file");
        let child = Command::new(BIN)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn orbit-server");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not stop on SIGTERM",
                self.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The most memory the process has held (VmHWM), in KiB.
    #[allow(dead_code)] // not every test binary uses it
    pub fn rss_peak_kib(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status")
    }

    /// Waits up to `timeout` for the process to exit by itself.
    #[allow(dead_code)] // not every test binary uses it
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn connection(&self) -> redis::RedisResult<redis::Connection> {
        let client = redis::Client::open(self.url())?;
        client.get_connection_with_timeout(Duration::from_secs(2))
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub servers: Vec<Server>,
}

/// Every test cluster's secret.
pub const CLUSTER_SECRET: &str = "test cluster secret";

/// Fast Raft timing so tests spend little time in elections.
const TIMING: [&str; 4] = ["--heartbeat-ms", "50", "--election-timeout-ms", "300"];

impl Cluster {
    /// `size` founding members; `extra` flags go to every node.
    pub fn new(size: u64, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let peers: Vec<String> = (1..=size)
            .zip(&ports)
            .map(|(id, (_, raft))| format!("{id}=127.0.0.1:{raft}"))
            .collect();
        let mut servers = Vec::new();
        for (id, (resp, raft)) in (1..=size).zip(&ports) {
            let node_dir = dir.path().join(format!("n{id}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let mut args: Vec<String> = vec![
                "--node-id".into(),
                id.to_string(),
                "--data-dir".into(),
                node_dir.join("data").display().to_string(),
                "--resp-addr".into(),
                format!("127.0.0.1:{resp}"),
                "--raft-addr".into(),
                format!("127.0.0.1:{raft}"),
                "--log".into(),
                "info,openraft=warn".into(),
            ];
            for peer in &peers {
                args.push("--peer".into());
                args.push(peer.clone());
            }
            args.extend(["--cluster-secret".to_string(), CLUSTER_SECRET.to_string()]);
            args.extend(TIMING.iter().map(|s| s.to_string()));
            args.extend(extra.iter().map(|s| s.to_string()));
            servers.push(Server {
                id,
                resp_port: *resp,
                raft_port: *raft,
                dir: node_dir,
                args,
                child: None,
            });
        }
        Cluster { dir, servers }
    }

    /// One node, started, once it leads.
    pub fn single_node() -> Cluster {
        let mut cluster = Cluster::new(1, &[]);
        cluster.start_all();
        cluster.wait_leader(Duration::from_secs(15));
        cluster
    }

    pub fn start_all(&mut self) {
        for server in &mut self.servers {
            server.start();
        }
    }

    pub fn server(&mut self, id: u64) -> &mut Server {
        &mut self.servers[usize::try_from(id - 1).expect("id")]
    }

    /// The leader's id, as reported by a running node, within `timeout`.
    pub fn wait_leader(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            for server in self.servers.iter().filter(|s| s.is_running()) {
                if let Some(info) = raft_info(server) {
                    if info.get("role").map(String::as_str) == Some("leader") {
                        return server.id;
                    }
                }
            }
            assert!(Instant::now() < deadline, "no leader within {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running node reports the same state hash at the
    /// same applied index; returns that hash.
    pub fn wait_converged(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let hashes: Vec<Option<String>> = self
                .servers
                .iter()
                .filter(|s| s.is_running())
                .map(|s| raft_info(s).and_then(|info| info.get("state_hash").cloned()))
                .collect();
            if let Some(Some(first)) = hashes.first() {
                if hashes.iter().all(|h| h.as_ref() == Some(first)) {
                    return first.clone();
                }
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = self
                    .servers
                    .iter()
                    .map(|s| format!("--- node {}\n{}", s.id, s.log_tail()))
                    .collect();
                panic!("replicas did not converge: {hashes:?}\n{}", logs.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The `INFO raft` fields of a node, or None if it does not answer.
pub fn raft_info(server: &Server) -> Option<std::collections::BTreeMap<String, String>> {
    let mut con = server.connection().ok()?;
    let text: String = redis::cmd("INFO").arg("raft").query(&mut con).ok()?;
    Some(
        text.lines()
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
    )
}

/// Runs `op` against any running node until it succeeds or `timeout` passes.
pub fn retry<T>(
    servers: &[&Server],
    timeout: Duration,
    mut op: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    let mut turn = 0usize;
    loop {
        let server = servers[turn % servers.len()];
        turn += 1;
        let error = match server.connection().and_then(|mut con| op(&mut con)) {
            Ok(value) => return value,
            Err(e) => e.to_string(),
        };
        assert!(Instant::now() < deadline, "operation kept failing: {error}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn data_dir(server: &Server) -> &Path {
    &server.dir
}
