//! Who a data directory belongs to, and the lone node's cluster secret.
//!
//! `DATA_DIR/identity` records the node id and the cluster id the directory
//! was made for, written before anything else when the directory is new:
//!
//! ```text
//! # Orbit node identity, written when this data directory was made.
//! node_id = 1
//! cluster_id = "3f9a0c1d5e7b2a64"
//! ```
//!
//! The cluster id is derived from the cluster secret (the first 8 bytes of
//! SHA-256 over a label and the secret, in hex), so every member of a
//! cluster, founder or joiner, has the same one without being told, and the
//! file reveals nothing of the secret. A node started on a directory of
//! another node id, or of another cluster, refuses to start and says what
//! to do. A directory with data but no identity (made before this file
//! existed) is adopted: its identity is recorded as the node starting on it.
//!
//! A single node started without a secret makes one, 32 random bytes from
//! the system in hex, and keeps it in `DATA_DIR/cluster.secret` (mode
//! 0600): give it to a node that joins later with `--cluster-secret`.

use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

const IDENTITY_FILE: &str = "identity";
const SECRET_FILE: &str = "cluster.secret";
const SECRET_BYTES: usize = 32;

/// The cluster id of the cluster whose secret is `secret`.
pub fn cluster_id(secret: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"orbit cluster id\0")
        .chain_update(secret)
        .finalize();
    hex(&digest[..8])
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What an identity file says.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    node_id: u64,
    cluster_id: String,
}

fn parse(text: &str) -> Option<Identity> {
    let mut node_id = None;
    let mut cluster_id = None;
    for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
        match line.split_once('=').map(|(k, v)| (k.trim(), v.trim())) {
            Some(("node_id", value)) => node_id = value.parse().ok(),
            Some(("cluster_id", value)) => cluster_id = Some(value.trim_matches('"').to_string()),
            _ => {}
        }
    }
    Some(Identity {
        node_id: node_id?,
        cluster_id: cluster_id?,
    })
}

/// Checks that `data_dir` belongs to node `node_id` of the cluster of
/// `secret`, or records that it does when it has no identity yet.
pub fn check_or_record(data_dir: &Path, node_id: u64, secret: &[u8]) -> Result<(), String> {
    let dir = data_dir.display();
    std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {dir}: {e}"))?;
    let path = data_dir.join(IDENTITY_FILE);
    let wanted = Identity {
        node_id,
        cluster_id: cluster_id(secret),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let found = parse(&text).ok_or_else(|| {
                format!(
                    "{} is damaged: it names no node_id and cluster_id",
                    path.display()
                )
            })?;
            refuse_mismatch(data_dir, &found, &wanted)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let adopted = std::fs::read_dir(data_dir)
                .map_err(|e| format!("cannot read {dir}: {e}"))?
                .any(|entry| entry.is_ok_and(|e| e.file_name() != SECRET_FILE));
            if adopted {
                tracing::info!(data = %dir, node_id, "recording the identity of a data directory made before identities");
            }
            write_file(&path, &render(&wanted), false)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

fn refuse_mismatch(data_dir: &Path, found: &Identity, wanted: &Identity) -> Result<(), String> {
    let dir = data_dir.display();
    if found.node_id != wanted.node_id {
        return Err(format!(
            "{dir} belongs to node {}, not to node {}: start node {} with its own --data-dir \
             (a new node needs an empty one), or start this directory as --node-id {}",
            found.node_id, wanted.node_id, wanted.node_id, found.node_id
        ));
    }
    if found.cluster_id != wanted.cluster_id {
        return Err(format!(
            "{dir} belongs to cluster {}, but this node's cluster secret is cluster {}'s: \
             give the secret of the cluster the directory belongs to, or a new --data-dir",
            found.cluster_id, wanted.cluster_id
        ));
    }
    Ok(())
}

fn render(identity: &Identity) -> String {
    format!(
        "# Orbit node identity, written when this data directory was made.\n\
         node_id = {}\ncluster_id = \"{}\"\n",
        identity.node_id, identity.cluster_id
    )
}

/// The secret a lone node keeps in its data directory, made on first use.
pub fn stored_secret(data_dir: &Path) -> Result<Vec<u8>, String> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => return Err(format!("{} is empty", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let mut random = [0u8; SECRET_BYTES];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
        .map_err(|e| format!("cannot read random bytes for a cluster secret: {e}"))?;
    let secret = hex(&random);
    write_file(&path, &format!("{secret}\n"), true)?;
    tracing::info!(file = %path.display(), "made a cluster secret; a node that joins needs it (--cluster-secret)");
    Ok(secret.into_bytes())
}

/// Writes `text` to `path` through a temporary file, synced, then renamed.
fn write_file(path: &Path, text: &str, private: bool) -> Result<(), String> {
    let failed = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    }
    let mut file = options.open(&temporary).map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)?;
    file.sync_all().map_err(failed)?;
    std::fs::rename(&temporary, path).map_err(failed)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_directory_is_recorded_and_then_checked() {
        // Goal: the first start records the identity; the same node and
        // secret start again; another node id or another cluster's secret
        // is refused with a message that says what to do.
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        check_or_record(&data, 1, b"secret").expect("recorded");
        check_or_record(&data, 1, b"secret").expect("same node again");
        let other_node = check_or_record(&data, 4, b"secret").expect_err("node 4 refused");
        assert!(
            other_node.contains("belongs to node 1, not to node 4"),
            "{other_node}"
        );
        assert!(other_node.contains("--data-dir"), "{other_node}");
        let other_cluster = check_or_record(&data, 1, b"other").expect_err("refused");
        assert!(
            other_cluster.contains("belongs to cluster"),
            "{other_cluster}"
        );
        assert_ne!(cluster_id(b"secret"), cluster_id(b"other"));
        let text = std::fs::read_to_string(data.join(IDENTITY_FILE)).expect("file");
        assert!(
            !text.contains("secret"),
            "the file does not hold the secret"
        );
    }

    #[test]
    fn a_directory_from_before_identities_is_adopted() {
        // Goal: existing data without an identity file starts, and is
        // recorded as the node that started on it.
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("shard-0")).expect("old data");
        check_or_record(dir.path(), 2, b"s").expect("adopted");
        assert!(check_or_record(dir.path(), 3, b"s").is_err());
    }

    #[test]
    fn a_lone_node_keeps_the_secret_it_made() {
        // Goal: the secret is made once, private to its owner, and read
        // back unchanged; a damaged identity file is an error.
        let dir = tempfile::tempdir().expect("tempdir");
        let first = stored_secret(dir.path()).expect("made");
        assert_eq!(first.len(), 2 * SECRET_BYTES);
        assert_eq!(stored_secret(dir.path()).expect("read"), first);
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.path().join(SECRET_FILE))
                .expect("meta")
                .permissions(),
        );
        assert_eq!(mode & 0o077, 0, "only the owner may read it");
        check_or_record(dir.path(), 1, &first).expect("a directory holding only the secret is new");
        std::fs::write(dir.path().join(IDENTITY_FILE), "garbage").expect("damage");
        assert!(check_or_record(dir.path(), 1, &first)
            .unwrap_err()
            .contains("damaged"));
    }
}
