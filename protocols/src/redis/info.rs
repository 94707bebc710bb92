//! INFO: server, clients, stats, keyspace and raft sections, with real values.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::server::Shared;
use crate::resp::codec::Frame;

/// The Redis version we report, for clients that gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";

const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "keyspace",
    "raft",
];

pub async fn reply(shared: &Shared, args: &[Vec<u8>]) -> Frame {
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| matches!(w.as_str(), "all" | "everything" | "default"));
    let mut out = String::new();
    for section in SECTIONS {
        if !all && !wanted.iter().any(|w| w == section) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        match *section {
            "server" => server(shared, &mut out),
            "clients" => clients(shared, &mut out),
            "stats" => stats(shared, &mut out),
            "memory" => memory(&mut out),
            "persistence" => persistence(&mut out),
            "replication" => replication(shared, &mut out).await,
            "cpu" => cpu(&mut out),
            "keyspace" => keyspace(shared, &mut out),
            "raft" => raft(shared, &mut out).await,
            _ => {}
        }
    }
    Frame::Verbatim {
        format: *b"txt",
        text: out.into_bytes(),
    }
}

fn server(shared: &Shared, out: &mut String) {
    let uptime = shared.started_at.elapsed().as_secs();
    let port = shared.resp_addr.rsplit(':').next().unwrap_or("6379");
    let _ = write!(
        out,
        "# Server\r\nredis_version:{REDIS_VERSION}\r\norbit_version:{}\r\nredis_mode:standalone\r\n\
         os:{} {}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{port}\r\nuptime_in_seconds:{uptime}\r\n\
         uptime_in_days:{}\r\nnode_id:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH,
        usize::BITS,
        std::process::id(),
        uptime / 86_400,
        shared.node.id(),
    );
}

fn clients(shared: &Shared, out: &mut String) {
    let _ = write!(
        out,
        "# Clients\r\nconnected_clients:{}\r\n",
        shared.client_count()
    );
}

fn stats(shared: &Shared, out: &mut String) {
    let _ = write!(
        out,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nacl_access_denied_auth:{}\r\n",
        shared.connections_total.load(Ordering::Relaxed),
        shared.commands_total.load(Ordering::Relaxed),
        shared.auth_failures.total(),
    );
}

/// A field of /proc/self/status in kB, as bytes (Linux; 0 elsewhere).
fn proc_status_bytes(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let rest = line.strip_prefix(field)?.strip_prefix(':')?;
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0, |kb| kb * 1024)
}

fn memory(out: &mut String) {
    // Orbit does not count its allocations: the process's resident set is
    // the figure it has, for used_memory as for used_memory_rss.
    let rss = proc_status_bytes("VmRSS");
    let peak = proc_status_bytes("VmHWM");
    let _ = write!(
        out,
        "# Memory\r\nused_memory:{rss}\r\nused_memory_rss:{rss}\r\nused_memory_peak:{peak}\r\n\
         maxmemory:0\r\nmaxmemory_policy:noeviction\r\n"
    );
}

fn persistence(out: &mut String) {
    // The Raft log plays AOF's part: every write is fsynced on a quorum
    // before it is acknowledged; there are no RDB saves.
    out.push_str(
        "# Persistence\r\nloading:0\r\naof_enabled:1\r\naof_rewrite_in_progress:0\r\n\
         rdb_bgsave_in_progress:0\r\nrdb_changes_since_last_save:0\r\n",
    );
}

async fn replication(shared: &Shared, out: &mut String) {
    // Redis roles for Raft ones: the leader is the master; every other
    // member is a replica of it. Any node still accepts any command.
    let statuses = shared.node.status().await;
    let Some(status) = statuses.first() else {
        out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n");
        return;
    };
    if status.leader == Some(shared.node.id()) {
        let followers = status
            .members
            .iter()
            .filter(|id| **id != shared.node.id())
            .count();
        let _ = write!(
            out,
            "# Replication\r\nrole:master\r\nconnected_slaves:{followers}\r\nmaster_repl_offset:{}\r\n",
            status.commit_index
        );
    } else {
        // Peers know each other's Raft addresses only: the host is the
        // leader's, the Raft address is given whole.
        let raft_addr = status.leader_addr.as_deref().unwrap_or("");
        let host = raft_addr.rsplit_once(':').map_or("", |(host, _)| host);
        let _ =
            write!(
            out,
            "# Replication\r\nrole:slave\r\nmaster_host:{host}\r\nmaster_raft_addr:{raft_addr}\r\n\
             master_link_status:{}\r\nslave_repl_offset:{}\r\nconnected_slaves:0\r\n",
            if status.leader.is_some() { "up" } else { "down" },
            status.applied_index
        );
    }
}

fn cpu(out: &mut String) {
    // /proc/self/stat fields 14 and 15: user and system time in clock ticks
    // (100 per second on Linux).
    let (user, system) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let after_name = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = after_name.split_whitespace().collect();
            Some((
                fields.get(11)?.parse::<u64>().ok()?,
                fields.get(12)?.parse::<u64>().ok()?,
            ))
        })
        .unwrap_or((0, 0));
    let _ = write!(
        out,
        "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\n",
        system as f64 / 100.0,
        user as f64 / 100.0
    );
}

fn keyspace(shared: &Shared, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for db in 0..orbit_core::ids::DB_COUNT {
        match shared.node.keyspace(db) {
            Ok((0, _)) => {}
            Ok((keys, expires)) => {
                let _ = write!(out, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
            }
            Err(e) => {
                let _ = write!(out, "# db{db}: unavailable ({e})\r\n");
            }
        }
    }
}

async fn raft(shared: &Shared, out: &mut String) {
    out.push_str("# Raft\r\n");
    let hashes = shared.node.content_hashes().unwrap_or_default();
    for status in shared.node.status().await {
        let members: Vec<String> = status.members.iter().map(u64::to_string).collect();
        let _ = write!(
            out,
            "shard:{}\r\nrole:{}\r\nterm:{}\r\nleader_id:{}\r\nleader_addr:{}\r\nlast_log_index:{}\r\n\
             commit_index:{}\r\napplied_index:{}\r\nvoters:{}\r\nstate_hash:{}\r\n",
            status.shard.0,
            status.role,
            status.term,
            status.leader.map_or("none".to_string(), |id| id.to_string()),
            status.leader_addr.as_deref().unwrap_or("none"),
            status.last_log_index,
            status.commit_index,
            status.applied_index,
            members.join(","),
            hashes
                .iter()
                .find(|(shard, _, _)| *shard == status.shard)
                .map_or("unavailable".to_string(), |(_, applied, hash)| format!("{hash:016x}@{applied}")),
        );
    }
}
