//! A data directory carries its format version (`shard-N/log/format`): a
//! node refuses data of a newer format with a clear message and changes
//! nothing; a directory from before the version existed is read as it is.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::{retry, Cluster};

const ELECTION: Duration = Duration::from_secs(15);

fn format_file(cluster: &Cluster) -> PathBuf {
    let args = &cluster.servers[0].args;
    let data_dir = &args[args.iter().position(|a| a == "--data-dir").expect("flag") + 1];
    PathBuf::from(data_dir).join("shard-0/log/format")
}

fn get(cluster: &Cluster, key: &str) -> Option<String> {
    retry(&[&cluster.servers[0]], ELECTION, |con| {
        redis::cmd("GET").arg(key).query::<Option<String>>(con)
    })
}

/// Goal: a node stamps format 3; with the file saying format 4 it exits
/// with a message naming the format and what to do, the file untouched and
/// the state store not opened; with the file gone (a directory from before versions) it
/// starts, reads its data and stamps the file again.
#[test]
fn a_newer_format_is_refused_and_an_unversioned_directory_is_read() {
    let mut cluster = Cluster::new(1, &[]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    retry(&[&cluster.servers[0]], ELECTION, |con| {
        redis::cmd("SET").arg("kept").arg("v").query::<()>(con)
    });
    cluster.server(1).terminate();
    let format = format_file(&cluster);
    assert_eq!(
        std::fs::read_to_string(&format).expect("stamped"),
        "orbit-format 3\n"
    );

    std::fs::write(&format, "orbit-format 4\n").expect("write");
    let server_log = cluster.servers[0].dir.join("server.log");
    let before = std::fs::read_to_string(&server_log).expect("log").len();
    cluster.server(1).start();
    let status = cluster
        .server(1)
        .wait_exit(Duration::from_secs(30))
        .expect("the node exits");
    assert!(!status.success());
    let log = std::fs::read_to_string(&server_log).expect("log")[before..].to_string();
    assert!(log.contains("newer Orbit (data format 4"), "{log}");
    assert!(log.contains("fresh data directory"), "{log}");
    assert_eq!(
        std::fs::read_to_string(&format).expect("kept"),
        "orbit-format 4\n"
    );
    assert!(!log.contains("fjall"), "the state store was opened: {log}");

    std::fs::remove_file(&format).expect("remove");
    cluster.server(1).start();
    cluster.wait_leader(ELECTION);
    assert_eq!(get(&cluster, "kept").as_deref(), Some("v"));
    assert_eq!(
        std::fs::read_to_string(&format).expect("stamped again"),
        "orbit-format 3\n"
    );
}
