//! Requests that used to take replicas down (issue: no request can take a
//! replica down). Each case ends in a clear error or in success, with every
//! replica still serving and nothing acknowledged lost.

mod common;

use std::time::Duration;

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
