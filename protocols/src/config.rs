//! `orbit-server` configuration: command-line flags over an optional TOML file.
//!
//! Precedence: a flag given on the command line, else the TOML file's value,
//! else the default. With neither peers nor `--join`, the node founds a
//! single-node cluster of itself. The cluster secret may also come from
//! `ORBIT_CLUSTER_SECRET`; only a lone node may go without one (the server
//! then makes one, see `identity`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use orbit_net::NodeConfig;
use serde::Deserialize;

#[derive(Parser, Debug, Default)]
#[command(
    name = "orbit-server",
    version,
    about = "Orbit: a Raft-replicated database that speaks Redis"
)]
pub struct Flags {
    /// TOML configuration file.
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// This node's id (a positive integer, unique in the cluster).
    #[arg(long)]
    pub node_id: Option<u64>,
    /// Directory for the node's data.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Address for Redis clients.
    #[arg(long)]
    pub resp_addr: Option<String>,
    /// Address for peer (Raft) traffic; also what peers are told.
    #[arg(long)]
    pub raft_addr: Option<String>,
    /// A founding member as ID=RAFT_ADDR; repeat for each (this node included).
    #[arg(long = "peer", value_name = "ID=ADDR")]
    pub peers: Vec<String>,
    /// Join a running cluster through the node whose Raft address this is.
    #[arg(long, value_name = "RAFT_ADDR")]
    pub join: Option<String>,
    /// Largest bulk string a client may send, in bytes (Redis proto-max-bulk-len).
    #[arg(long)]
    pub proto_max_bulk_len: Option<usize>,
    /// Clients must AUTH with this password (Redis requirepass). Prefer the
    /// TOML file: a flag shows in the process list.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// Log filter, as RUST_LOG (e.g. "info", "orbit_net=debug").
    #[arg(long)]
    pub log: Option<String>,
    /// Raft heartbeat interval in milliseconds.
    #[arg(long)]
    pub heartbeat_ms: Option<u64>,
    /// Minimum Raft election timeout in milliseconds (the maximum is twice it).
    #[arg(long)]
    pub election_timeout_ms: Option<u64>,
    /// Build a snapshot after this many log entries.
    #[arg(long)]
    pub snapshot_entries: Option<u64>,
    /// Snapshot bytes per piece sent to a follower (default 4 MiB).
    #[arg(long)]
    pub snapshot_chunk_bytes: Option<usize>,
    /// The state store's block cache (default 256 MiB).
    #[arg(long)]
    pub state_cache_bytes: Option<u64>,
    /// Worker threads for the node (default: one per core). Nodes that share
    /// a machine do better with fewer each.
    #[arg(long)]
    pub threads: Option<usize>,
    /// The secret every node of the cluster holds; peer connections prove
    /// it. Required with several founders or --join; a lone node makes one
    /// (DATA_DIR/cluster.secret). Also ORBIT_CLUSTER_SECRET.
    #[arg(long)]
    pub cluster_secret: Option<String>,
    /// The largest write one command may make, in bytes (default 128 MiB,
    /// at most 512 MiB); larger ones are refused before they are proposed.
    #[arg(long)]
    pub entry_size_max: Option<usize>,
    /// The most unparsed input all clients together may hold, in bytes
    /// (default 2 GiB); a client whose input would pass it is closed.
    #[arg(long)]
    pub client_query_buffers_max: Option<usize>,
    /// Log entries each shard keeps in its change log (default 100000): how
    /// far behind pub/sub delivery may fall before subscribers are told they
    /// missed messages.
    #[arg(long)]
    pub change_retention_entries: Option<u64>,
    /// Bytes each shard's change log keeps at most (default 256 MiB).
    #[arg(long)]
    pub change_retention_bytes: Option<u64>,
}

/// The TOML file's shape; every field is optional.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub node_id: Option<u64>,
    pub data_dir: Option<PathBuf>,
    pub resp_addr: Option<String>,
    pub raft_addr: Option<String>,
    /// Founding members: `[[peers]] id = 1  addr = "127.0.0.1:7001"`.
    #[serde(default)]
    pub peers: Vec<PeerEntry>,
    pub join: Option<String>,
    pub proto_max_bulk_len: Option<usize>,
    pub requirepass: Option<String>,
    pub log: Option<String>,
    pub heartbeat_ms: Option<u64>,
    pub election_timeout_ms: Option<u64>,
    pub snapshot_entries: Option<u64>,
    pub snapshot_chunk_bytes: Option<usize>,
    pub state_cache_bytes: Option<u64>,
    pub threads: Option<usize>,
    pub cluster_secret: Option<String>,
    pub entry_size_max: Option<usize>,
    pub client_query_buffers_max: Option<usize>,
    pub change_retention_entries: Option<u64>,
    pub change_retention_bytes: Option<u64>,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    pub id: u64,
    pub addr: String,
}

/// Everything the server needs, resolved.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub node: NodeConfig,
    pub resp_addr: String,
    pub join: Option<String>,
    pub proto_max_bulk_len: usize,
    /// `None`: no password; every client is the default user.
    pub requirepass: Option<String>,
    pub log: String,
    /// Worker threads; `None`: one per core.
    pub threads: Option<usize>,
    /// The most unparsed input all clients together may hold.
    pub client_query_buffers_max: usize,
}

fn parse_peer(text: &str) -> Result<(u64, String), String> {
    let (id, addr) = text
        .split_once('=')
        .ok_or_else(|| format!("--peer {text:?}: expected ID=ADDR"))?;
    let id = id
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("--peer {text:?}: the id is not a number"))?;
    Ok((id, addr.trim().to_string()))
}

impl ServerConfig {
    /// Resolves flags and the optional file into a configuration.
    pub fn resolve(flags: Flags) -> Result<ServerConfig, String> {
        let file = match &flags.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        let node_id = flags.node_id.or(file.node_id).unwrap_or(1);
        if node_id == 0 {
            return Err("node id must be positive".into());
        }
        let raft_addr = flags
            .raft_addr
            .or(file.raft_addr)
            .unwrap_or_else(|| "127.0.0.1:7379".into());
        let data_dir = flags
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let mut peers = BTreeMap::new();
        for text in &flags.peers {
            let (id, addr) = parse_peer(text)?;
            peers.insert(id, addr);
        }
        if flags.peers.is_empty() {
            for peer in &file.peers {
                peers.insert(peer.id, peer.addr.clone());
            }
        }
        let join = flags.join.or(file.join);
        if join.is_some() && !peers.is_empty() {
            return Err("--join and --peer exclude each other: a joining node learns its peers from the cluster".into());
        }
        if join.is_none() && peers.is_empty() {
            peers.insert(node_id, raft_addr.clone());
        }
        if !peers.is_empty() && !peers.contains_key(&node_id) {
            return Err(format!("the peer list does not name this node ({node_id})"));
        }
        let mut node = NodeConfig::new(node_id, raft_addr, data_dir);
        node.cluster_secret = flags
            .cluster_secret
            .or(file.cluster_secret)
            .or_else(|| std::env::var("ORBIT_CLUSTER_SECRET").ok())
            .unwrap_or_default()
            .into_bytes();
        let lone = join.is_none() && peers.len() == 1;
        if node.cluster_secret.is_empty() && !lone {
            return Err(
                "a cluster of several nodes needs the same cluster secret on every node: \
                 --cluster-secret, cluster_secret in the TOML file, or ORBIT_CLUSTER_SECRET \
                 (a lone node keeps the one it made in DATA_DIR/cluster.secret)"
                    .into(),
            );
        }
        node.initial_members = peers;
        if let Some(ms) = flags.heartbeat_ms.or(file.heartbeat_ms) {
            node.heartbeat_ms = ms;
        }
        if let Some(ms) = flags.election_timeout_ms.or(file.election_timeout_ms) {
            node.election_timeout_ms_min = ms;
            node.election_timeout_ms_max = ms * 2;
        }
        if let Some(n) = flags.snapshot_entries.or(file.snapshot_entries) {
            node.snapshot_entries = n.max(1);
            node.log_entries_kept = node.log_entries_kept.min(n);
        }
        match flags.snapshot_chunk_bytes.or(file.snapshot_chunk_bytes) {
            Some(0) => return Err("snapshot chunk bytes must be at least 1".into()),
            // Below the peer frame limit with room for the piece's header.
            Some(n) if n > 128 << 20 => {
                return Err("snapshot chunk bytes must be at most 134217728 (128 MiB)".into())
            }
            Some(n) => node.snapshot_chunk_bytes = n,
            None => {}
        }
        match flags.state_cache_bytes.or(file.state_cache_bytes) {
            Some(n) if n < 1 << 20 => {
                return Err("the state cache must be at least 1048576 bytes (1 MiB)".into())
            }
            Some(n) => node.state_cache_bytes = n,
            None => {}
        }
        match flags.entry_size_max.or(file.entry_size_max) {
            Some(n) if !(1 << 20..=orbit_net::node::ENTRY_BYTES_MAX_LIMIT).contains(&n) => {
                return Err(format!(
                    "entry size max must be from 1048576 (1 MiB) to {}",
                    orbit_net::node::ENTRY_BYTES_MAX_LIMIT
                ))
            }
            Some(n) => node.entry_bytes_max = n,
            None => {}
        }
        match flags
            .change_retention_entries
            .or(file.change_retention_entries)
        {
            Some(0) => return Err("change retention entries must be at least 1".into()),
            Some(n) => node.change_retention.entries = n,
            None => {}
        }
        match flags.change_retention_bytes.or(file.change_retention_bytes) {
            Some(n) if n < 1 << 20 => {
                return Err("change retention bytes must be at least 1048576 (1 MiB)".into())
            }
            Some(n) => node.change_retention.bytes = n,
            None => {}
        }
        if node.heartbeat_ms == 0 || node.heartbeat_ms * 3 > node.election_timeout_ms_min {
            return Err("the election timeout must be at least three heartbeats".into());
        }
        node.request_timeout = Duration::from_secs(10);
        let threads = flags.threads.or(file.threads);
        if threads == Some(0) {
            return Err("threads must be at least 1".into());
        }
        let client_query_buffers_max = flags
            .client_query_buffers_max
            .or(file.client_query_buffers_max)
            .unwrap_or(2 << 30);
        if client_query_buffers_max < 1 << 20 {
            return Err("client query buffers max must be at least 1048576 (1 MiB)".into());
        }
        Ok(ServerConfig {
            client_query_buffers_max,
            threads,
            node,
            resp_addr: flags
                .resp_addr
                .or(file.resp_addr)
                .unwrap_or_else(|| "127.0.0.1:6379".into()),
            join,
            proto_max_bulk_len: flags
                .proto_max_bulk_len
                .or(file.proto_max_bulk_len)
                .unwrap_or(512 * 1024 * 1024),
            requirepass: flags
                .requirepass
                .or(file.requirepass)
                .filter(|p| !p.is_empty()),
            log: flags
                .log
                .or(file.log)
                .unwrap_or_else(|| "info,openraft=warn".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_found_a_single_node() {
        // Goal: with no flags the node is a one-member cluster in ./data.
        let config = ServerConfig::resolve(Flags::default()).expect("valid");
        assert_eq!(config.node.node_id, 1);
        assert_eq!(config.node.data_dir, PathBuf::from("./data"));
        assert_eq!(config.resp_addr, "127.0.0.1:6379");
        assert_eq!(
            config.node.initial_members,
            BTreeMap::from([(1, "127.0.0.1:7379".to_string())])
        );
    }

    #[test]
    fn file_and_flags_combine() {
        // Goal: flags override the TOML file; the file's peers are used.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("orbit.toml");
        std::fs::write(
            &path,
            "node_id = 2\nraft_addr = \"127.0.0.1:7002\"\ncluster_secret = \"s\"\n[[peers]]\nid = 1\naddr = \"127.0.0.1:7001\"\n\
             [[peers]]\nid = 2\naddr = \"127.0.0.1:7002\"\n",
        )
        .expect("write");
        let flags = Flags {
            config: Some(path),
            resp_addr: Some("127.0.0.1:6400".into()),
            ..Flags::default()
        };
        let config = ServerConfig::resolve(flags).expect("valid");
        assert_eq!(config.node.node_id, 2);
        assert_eq!(config.resp_addr, "127.0.0.1:6400");
        assert_eq!(config.node.initial_members.len(), 2);
        assert_eq!(config.node.cluster_secret, b"s");
    }

    #[test]
    fn only_a_lone_node_may_start_without_a_cluster_secret() {
        // Goal: several founders, or a joiner, without a secret are refused
        // with a message naming the ways to give one; a lone node is not.
        if std::env::var_os("ORBIT_CLUSTER_SECRET").is_some() {
            return; // the environment gives every node one
        }
        let founders = Flags {
            peers: vec!["1=a:1".into(), "2=b:1".into()],
            ..Flags::default()
        };
        let refused = ServerConfig::resolve(founders).expect_err("needs a secret");
        assert!(refused.contains("--cluster-secret"), "{refused}");
        let joiner = Flags {
            join: Some("a:1".into()),
            ..Flags::default()
        };
        assert!(ServerConfig::resolve(joiner).is_err());
        let lone = ServerConfig::resolve(Flags::default()).expect("a lone node");
        assert!(lone.node.cluster_secret.is_empty(), "the server makes it");
        let given = Flags {
            peers: vec!["1=a:1".into(), "2=b:1".into()],
            cluster_secret: Some("k".into()),
            ..Flags::default()
        };
        assert_eq!(
            ServerConfig::resolve(given)
                .expect("valid")
                .node
                .cluster_secret,
            b"k"
        );
    }

    #[test]
    fn bad_configs_are_refused() {
        // Goal: contradictory or malformed settings fail with a message.
        let join_and_peers = Flags {
            join: Some("x:1".into()),
            peers: vec!["1=a:1".into()],
            ..Flags::default()
        };
        assert!(ServerConfig::resolve(join_and_peers).is_err());
        let not_member = Flags {
            node_id: Some(3),
            peers: vec!["1=a:1".into()],
            ..Flags::default()
        };
        assert!(ServerConfig::resolve(not_member).is_err());
        let malformed = Flags {
            peers: vec!["one".into()],
            ..Flags::default()
        };
        assert!(ServerConfig::resolve(malformed).is_err());
        let tiny_cache = Flags {
            state_cache_bytes: Some((1 << 20) - 1),
            ..Flags::default()
        };
        let refused = ServerConfig::resolve(tiny_cache).expect_err("below 1 MiB");
        assert!(refused.contains("state cache"), "{refused}");
    }

    #[test]
    fn the_state_cache_is_set_by_flag_or_file() {
        // Goal: --state-cache-bytes and state_cache_bytes reach the node; the
        // default is the engine's.
        let default = ServerConfig::resolve(Flags::default()).expect("valid");
        assert_eq!(default.node.state_cache_bytes, 256 << 20);
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("orbit.toml");
        std::fs::write(&path, "state_cache_bytes = 2097152\n").expect("write");
        let from_file = Flags {
            config: Some(path.clone()),
            ..Flags::default()
        };
        let config = ServerConfig::resolve(from_file).expect("valid");
        assert_eq!(config.node.state_cache_bytes, 2 << 20);
        let flag_wins = Flags {
            config: Some(path),
            state_cache_bytes: Some(1 << 20),
            ..Flags::default()
        };
        let config = ServerConfig::resolve(flag_wins).expect("valid");
        assert_eq!(config.node.state_cache_bytes, 1 << 20);
    }
}
