//! INFO: server, clients, stats, keyspace and raft sections, with real values.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::server::Shared;
use crate::resp::codec::Frame;

/// The Redis version we report, for clients that gate features on it.
pub const REDIS_VERSION: &str = "7.0.15";

const SECTIONS: &[&str] = &["server", "clients", "stats", "keyspace", "raft"];

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
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n",
        shared.connections_total.load(Ordering::Relaxed),
        shared.commands_total.load(Ordering::Relaxed),
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
