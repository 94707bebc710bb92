//! Blocking pops on a real 3-node cluster: they wake when another client
//! pushes through another node, time out as Redis does, and survive a
//! leader change without losing or duplicating an element.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{retry, Cluster};
use redis::Value;

const ELECTION: Duration = Duration::from_secs(20);

fn other_than(leader: u64) -> (u64, u64) {
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    (others[0], others[1])
}

#[test]
fn blpop_wakes_on_a_push_through_another_node_and_times_out() {
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let (a_node, b_node) = other_than(leader);
    let a_url = cluster.server(a_node).url();
    let waiter = std::thread::spawn(move || {
        let mut a = redis::Client::open(a_url)
            .expect("url")
            .get_connection()
            .expect("a");
        let started = Instant::now();
        let got: Value = redis::cmd("BLPOP")
            .arg("jobs")
            .arg("other")
            .arg(10)
            .query(&mut a)
            .expect("blpop");
        (got, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut b = cluster.server(b_node).connection().expect("b");
    let _: i64 = redis::cmd("RPUSH")
        .arg("jobs")
        .arg("j1")
        .query(&mut b)
        .expect("push");
    let (got, waited) = waiter.join().expect("waiter");
    assert_eq!(
        got,
        Value::Array(vec![
            Value::BulkString(b"jobs".to_vec()),
            Value::BulkString(b"j1".to_vec())
        ])
    );
    assert!(
        waited < Duration::from_secs(9),
        "woken by the push, not the timeout"
    );

    let mut a = cluster.server(a_node).connection().expect("a");
    let started = Instant::now();
    let none: Value = redis::cmd("BRPOP")
        .arg("empty")
        .arg("0.3")
        .query(&mut a)
        .expect("brpop");
    assert_eq!(none, Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let none: Value = redis::cmd("BLMOVE")
        .arg("empty")
        .arg("dst")
        .arg("LEFT")
        .arg("RIGHT")
        .arg("0.1")
        .query(&mut a)
        .expect("blmove");
    assert_eq!(none, Value::Nil);
    let _: i64 = redis::cmd("RPUSH")
        .arg("src")
        .arg("x")
        .query(&mut a)
        .expect("push");
    let moved: Value = redis::cmd("BRPOPLPUSH")
        .arg("src")
        .arg("dst")
        .arg(1)
        .query(&mut a)
        .expect("brpoplpush");
    assert_eq!(moved, Value::BulkString(b"x".to_vec()));
    for (args, expected) in [
        (vec!["BLPOP", "k", "-1"], "ERR timeout is negative"),
        (
            vec!["BLPOP", "k", "soon"],
            "ERR timeout is not a float or out of range",
        ),
        (
            vec!["BLMOVE", "a", "b", "UP", "LEFT", "1"],
            "ERR syntax error",
        ),
    ] {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        let e = cmd.query::<Value>(&mut a).expect_err("an error");
        assert_eq!(
            format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
            expected
        );
    }
}

#[test]
fn a_closed_client_pops_nothing() {
    // Goal: a client that disconnects while blocked takes no element.
    let mut cluster = Cluster::new(1, &[]);
    cluster.start_all();
    cluster.wait_leader(ELECTION);
    let port = cluster.servers[0].resp_port;
    {
        use std::io::Write;
        let mut raw = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        raw.write_all(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$1\r\n0\r\n")
            .expect("write");
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(200));
    let mut con = cluster.servers[0].connection().expect("connect");
    let _: i64 = redis::cmd("RPUSH")
        .arg("q")
        .arg("kept")
        .query(&mut con)
        .expect("push");
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<String> = redis::cmd("LRANGE")
        .arg("q")
        .arg(0)
        .arg(-1)
        .query(&mut con)
        .expect("lrange");
    assert_eq!(left, ["kept"]);
}

#[test]
fn blocked_consumers_survive_a_leader_change_without_loss_or_duplicates() {
    // Goal: consumers blocked on followers; the leader is killed; a
    // producer keeps pushing through whichever node answers. Every element
    // pushed is consumed exactly once.
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(ELECTION);
    let (f1, f2) = other_than(leader);
    let consumer_urls = [cluster.server(f1).url(), cluster.server(f2).url()];
    let total = 40u32;
    let consumers: Vec<_> = consumer_urls
        .into_iter()
        .map(|url| {
            std::thread::spawn(move || {
                let mut got = Vec::new();
                let mut con = redis::Client::open(url.clone())
                    .expect("url")
                    .get_connection()
                    .expect("consumer");
                loop {
                    match redis::cmd("BLPOP")
                        .arg("work")
                        .arg(3)
                        .query::<Option<(String, String)>>(&mut con)
                    {
                        Ok(Some((_, item))) if item == "stop" => break,
                        Ok(Some((_, item))) => got.push(item),
                        Ok(None) => {}
                        // An error means nothing was popped: reconnect, go on.
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(200));
                            if let Ok(fresh) =
                                redis::Client::open(url.clone()).and_then(|c| c.get_connection())
                            {
                                con = fresh;
                            }
                        }
                    }
                }
                got
            })
        })
        .collect();
    // A push whose outcome is unknown is not retried (a retry could push
    // it twice); it may or may not be consumed, but at most once.
    let mut maybe = BTreeSet::new();
    for n in 0..total {
        if n == total / 2 {
            cluster.server(leader).kill();
        }
        let item = format!("item{n}");
        let deadline = Instant::now() + ELECTION;
        let mut turn = 0;
        loop {
            let running: Vec<&common::Server> =
                cluster.servers.iter().filter(|s| s.is_running()).collect();
            let server = running[turn % running.len()];
            turn += 1;
            let pushed = server.connection().and_then(|mut con| {
                redis::cmd("RPUSH")
                    .arg("work")
                    .arg(&item)
                    .query::<i64>(&mut con)
            });
            match pushed {
                Ok(_) => break,
                Err(e) if e.code() == Some("UNKNOWN") => {
                    maybe.insert(item.clone());
                    break;
                }
                Err(_) => {
                    assert!(Instant::now() < deadline, "pushes kept failing");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
    let survivors: Vec<&common::Server> =
        cluster.servers.iter().filter(|s| s.is_running()).collect();
    for _ in 0..2 {
        retry(&survivors, ELECTION, |con| {
            redis::cmd("RPUSH")
                .arg("work")
                .arg("stop")
                .query::<i64>(con)
        });
    }
    let mut consumed = Vec::new();
    for consumer in consumers {
        consumed.extend(consumer.join().expect("consumer"));
    }
    let unique: BTreeSet<&String> = consumed.iter().collect();
    assert_eq!(
        unique.len(),
        consumed.len(),
        "an element was consumed twice: {consumed:?}"
    );
    let consumed: BTreeSet<String> = consumed.into_iter().collect();
    for n in 0..total {
        let item = format!("item{n}");
        if !maybe.contains(&item) {
            assert!(
                consumed.contains(&item),
                "{item} was pushed but never consumed"
            );
        }
    }
    assert!(
        consumed.iter().all(|item| item.starts_with("item")),
        "nothing else was consumed"
    );
}
