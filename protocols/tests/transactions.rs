//! MULTI / EXEC / WATCH across a real 3-node cluster: a transaction is one
//! log entry, and WATCH aborts EXEC when another client changed a watched
//! key through another node.

mod common;

use std::time::Duration;

use common::Cluster;
use redis::{Connection, Value};

fn run(con: &mut Connection, args: &[&str]) -> Value {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

#[test]
fn watch_aborts_exec_after_a_write_through_another_node() {
    // Goal: client A watches through one node, client B writes the key
    // through another; A's EXEC returns a null array and applies nothing.
    // Without B's write, the same transaction commits.
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(Duration::from_secs(20));
    let (a_node, b_node) = if leader == 1 {
        (2, 3)
    } else {
        (1, if leader == 2 { 3 } else { 2 })
    };
    let mut a = cluster.server(a_node).connection().expect("a");
    let mut b = cluster.server(b_node).connection().expect("b");
    run(&mut a, &["SET", "balance", "100"]);

    run(&mut a, &["WATCH", "balance"]);
    run(&mut b, &["INCRBY", "balance", "5"]);
    assert_eq!(run(&mut a, &["MULTI"]), Value::Okay);
    assert_eq!(
        run(&mut a, &["DECRBY", "balance", "30"]),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        run(&mut a, &["EXEC"]),
        Value::Nil,
        "EXEC aborts: balance changed"
    );
    assert_eq!(
        run(&mut b, &["GET", "balance"]),
        Value::BulkString(b"105".to_vec())
    );

    run(&mut a, &["WATCH", "balance"]);
    run(&mut b, &["SET", "unrelated", "x"]);
    run(&mut a, &["MULTI"]);
    run(&mut a, &["DECRBY", "balance", "30"]);
    assert_eq!(run(&mut a, &["EXEC"]), Value::Array(vec![Value::Int(75)]));

    // A watched key that did not exist, created and deleted by B meanwhile.
    run(&mut a, &["WATCH", "ghost"]);
    run(&mut b, &["SET", "ghost", "boo"]);
    run(&mut b, &["DEL", "ghost"]);
    run(&mut a, &["MULTI"]);
    run(&mut a, &["SET", "ghost", "mine"]);
    assert_eq!(run(&mut a, &["EXEC"]), Value::Nil);
    assert_eq!(run(&mut a, &["EXISTS", "ghost"]), Value::Int(0));

    // WAIT inside MULTI answers at once, with the replicas that hold the
    // log then (Redis does not block there either), even when it asks for
    // more replicas than exist. (Its argument errors, in EXEC's array, are
    // compared with Redis in differential.rs.)
    run(&mut a, &["MULTI"]);
    run(&mut a, &["SET", "waited", "1"]);
    run(&mut a, &["WAIT", "5", "60000"]);
    let started = std::time::Instant::now();
    let replies = run(&mut a, &["EXEC"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "WAIT blocked inside EXEC"
    );
    let Value::Array(items) = replies else {
        panic!("EXEC replied {replies:?}");
    };
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], Value::Okay);
    assert!(
        matches!(items[1], Value::Int(n) if (0..=2).contains(&n)),
        "{items:?}"
    );
}

#[test]
fn concurrent_transactions_do_not_lose_updates() {
    // Goal: the classic WATCH retry loop (read, compute, write) from several
    // clients on different nodes loses no increment: the final counter is
    // exactly the number of committed transactions.
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    cluster.wait_leader(Duration::from_secs(20));
    let urls: Vec<String> = cluster.servers.iter().map(|s| s.url()).collect();
    let per_client = 15;
    let threads: Vec<_> = urls
        .into_iter()
        .map(|url| {
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url)
                    .expect("url")
                    .get_connection()
                    .expect("connect");
                let mut committed = 0;
                while committed < per_client {
                    run(&mut con, &["WATCH", "counter"]);
                    let current: Option<i64> = redis::cmd("GET")
                        .arg("counter")
                        .query(&mut con)
                        .expect("get");
                    let next = current.unwrap_or(0) + 1;
                    run(&mut con, &["MULTI"]);
                    run(&mut con, &["SET", "counter", &next.to_string()]);
                    if run(&mut con, &["EXEC"]) != Value::Nil {
                        committed += 1;
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("client");
    }
    let mut con = cluster.servers[0].connection().expect("connect");
    assert_eq!(
        run(&mut con, &["GET", "counter"]),
        Value::BulkString(b"45".to_vec())
    );
}
