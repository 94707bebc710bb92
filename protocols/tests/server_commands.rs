//! Server commands through a real server: requirepass and AUTH, CONFIG,
//! ACL, DEBUG, TIME, CLIENT KILL and INFO's sections.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::Cluster;
use redis::{Connection, Value};

fn run(con: &mut Connection, args: &[&str]) -> Result<Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).map_err(|e| {
        format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
            .trim()
            .to_string()
    })
}

fn connect(port: u16, password: Option<&str>) -> Connection {
    let url = match password {
        Some(p) => format!("redis://:{p}@127.0.0.1:{port}"),
        None => format!("redis://127.0.0.1:{port}"),
    };
    redis::Client::open(url)
        .expect("url")
        .get_connection()
        .expect("connect")
}

#[test]
fn requirepass_gates_every_command_until_auth() {
    // Goal: with requirepass, commands before AUTH get NOAUTH; a wrong
    // password gets WRONGPASS; the right one (AUTH, AUTH default, HELLO
    // AUTH, or the client's URL) opens the connection; CONFIG SET
    // requirepass changes the password for new connections.
    let mut cluster = Cluster::new(1, &["--requirepass", "s3cret"]);
    cluster.start_all();
    let port = cluster.servers[0].resp_port;
    // wait_leader reads INFO without a password, so wait here instead.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut authed = loop {
        let attempt = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{port}"))
            .expect("url")
            .get_connection();
        if let Ok(mut con) = attempt {
            if run(&mut con, &["SET", "k", "v"]).is_ok() {
                break con;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server never accepted the password"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut con = connect(port, None);
    assert_eq!(
        run(&mut con, &["GET", "k"]),
        Err("NOAUTH Authentication required.".into())
    );
    assert_eq!(
        run(&mut con, &["AUTH", "wrong"]),
        Err("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        run(&mut con, &["AUTH", "someone", "s3cret"]),
        Err("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    assert_eq!(
        run(&mut con, &["AUTH", "default", "s3cret"]),
        Ok(Value::Okay)
    );
    assert_eq!(
        run(&mut con, &["GET", "k"]),
        Ok(Value::BulkString(b"v".to_vec()))
    );

    let mut hello = connect(port, None);
    assert!(run(&mut hello, &["HELLO", "3"])
        .unwrap_err()
        .starts_with("NOAUTH"));
    assert!(run(&mut hello, &["HELLO", "3", "AUTH", "default", "s3cret"]).is_ok());
    assert!(run(&mut hello, &["GET", "k"]).is_ok());

    assert_eq!(
        run(&mut authed, &["CONFIG", "SET", "requirepass", "next"]),
        Ok(Value::Okay)
    );
    assert!(
        run(&mut authed, &["GET", "k"]).is_ok(),
        "open connections stay authenticated"
    );
    let mut fresh = connect(port, None);
    assert!(run(&mut fresh, &["AUTH", "s3cret"])
        .unwrap_err()
        .starts_with("WRONGPASS"));
    assert_eq!(run(&mut fresh, &["AUTH", "next"]), Ok(Value::Okay));
}

#[test]
fn config_acl_debug_time_and_info() {
    // Goal: CONFIG GET/SET for the settings Orbit has (errors for the rest),
    // the ACL answers for the one user, DEBUG refused, TIME near the
    // wall clock, INFO with Redis's sections.
    let cluster = Cluster::single_node();
    let mut con = connect(cluster.servers[0].resp_port, None);
    assert_eq!(
        run(&mut con, &["AUTH", "x"]),
        Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?".into())
    );
    let config: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("data*")
        .arg("appendfsync")
        .query(&mut con)
        .expect("config get");
    assert_eq!(config, ["databases", "16", "appendfsync", "always"]);
    assert_eq!(
        run(&mut con, &["CONFIG", "SET", "proto-max-bulk-len", "2mb"]),
        Ok(Value::Okay)
    );
    let bulk: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("proto-max-bulk-len")
        .query(&mut con)
        .expect("get");
    assert_eq!(bulk, ["proto-max-bulk-len", "2097152"]);
    assert_eq!(
        run(&mut con, &["CONFIG", "SET", "databases", "32"]),
        Err("ERR CONFIG SET failed (possibly related to argument 'databases') - can't set immutable config".into())
    );
    assert_eq!(
        run(&mut con, &["CONFIG", "SET", "no-such-thing", "1"]),
        Err("ERR Unknown option or number of arguments for CONFIG SET - 'no-such-thing'".into())
    );
    assert_eq!(
        run(&mut con, &["ACL", "WHOAMI"]),
        Ok(Value::BulkString(b"default".to_vec()))
    );
    assert!(run(&mut con, &["ACL", "SETUSER", "alice"])
        .unwrap_err()
        .contains("not supported by Orbit"));
    assert!(run(&mut con, &["DEBUG", "SLEEP", "0"])
        .unwrap_err()
        .starts_with("ERR DEBUG command not allowed"));
    let (secs, micros): (String, String) = redis::cmd("TIME").query(&mut con).expect("time");
    let secs: u64 = secs.parse().expect("seconds");
    let micros: u64 = micros.parse().expect("microseconds");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(secs.abs_diff(now) <= 5, "TIME {secs} vs {now}");
    assert!(micros < 1_000_000);
    let info: String = redis::cmd("INFO").query(&mut con).expect("info");
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
        "# Raft",
    ] {
        assert!(info.contains(section), "INFO lacks {section}");
    }
    assert!(info.contains("role:master"));
    let rss: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_rss:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory_rss");
    assert!(rss > 1024 * 1024, "a real resident size: {rss}");
}

#[test]
fn client_kill_closes_the_named_connection() {
    // Goal: CLIENT KILL ID closes that client's connection (its next
    // command fails) and replies how many were killed; SKIPME spares the
    // caller; the old CLIENT KILL addr form says "No such client" when none.
    let cluster = Cluster::single_node();
    let port = cluster.servers[0].resp_port;
    let mut admin = connect(port, None);
    let mut victim = connect(port, None);
    let victim_id = client_id(&mut victim);
    assert_eq!(
        run(
            &mut admin,
            &["CLIENT", "KILL", "ID", &victim_id.to_string()]
        ),
        Ok(Value::Int(1))
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        run(&mut victim, &["PING"]).is_err(),
        "the killed connection is closed"
    );
    assert_eq!(
        run(&mut admin, &["CLIENT", "KILL", "1.2.3.4:5"]),
        Err("ERR No such client".into())
    );
    let admin_id = client_id(&mut admin);
    assert_eq!(
        run(&mut admin, &["CLIENT", "KILL", "ID", &admin_id.to_string()]),
        Ok(Value::Int(0)),
        "SKIPME yes is the default"
    );
    assert_eq!(
        run(&mut admin, &["PING"]),
        Ok(Value::SimpleString("PONG".into()))
    );
}

/// CLIENT LIST's `key=value` fields for client `id`.
/// CLIENT LIST with `options`, as text.
fn client_list(con: &mut Connection, options: &[&str]) -> String {
    let args: Vec<&str> = ["CLIENT", "LIST"].iter().chain(options).copied().collect();
    match run(con, &args) {
        Ok(Value::BulkString(bytes)) => String::from_utf8(bytes).expect("utf-8"),
        other => panic!("{args:?}: {other:?}"),
    }
}

fn client_fields(con: &mut Connection, id: i64) -> std::collections::BTreeMap<String, String> {
    let list = client_list(con, &["ID", &id.to_string()]);
    let line = list
        .lines()
        .next()
        .unwrap_or_else(|| panic!("client {id} is listed"));
    line.split(' ')
        .filter_map(|field| field.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn client_id(con: &mut Connection) -> i64 {
    match run(con, &["CLIENT", "ID"]) {
        Ok(Value::Int(id)) => id,
        other => panic!("CLIENT ID: {other:?}"),
    }
}

#[test]
fn client_list_shows_each_clients_state() {
    // Goal: CLIENT LIST reports what each client is doing, as Redis 7 does:
    // a subscriber has flags=P and its counts, a client inside MULTI flags=x
    // and its queued count, a blocked BLPOP flags=b and cmd=blpop, a RESP3
    // client resp=3, the caller cmd=client|list; TYPE and ID filter; bad
    // options get Redis's errors.
    let cluster = Cluster::single_node();
    let port = cluster.servers[0].resp_port;
    let mut admin = connect(port, None);

    let mut subscriber = connect(port, None);
    let subscriber_id = client_id(&mut subscriber);
    run(&mut subscriber, &["SUBSCRIBE", "news", "sport"]).expect("subscribe");
    let mut in_multi = connect(port, None);
    let multi_id = client_id(&mut in_multi);
    run(&mut in_multi, &["MULTI"]).expect("multi");
    run(&mut in_multi, &["SET", "a", "1"]).expect("queued");
    run(&mut in_multi, &["INCR", "b"]).expect("queued");
    let mut resp3 = connect(port, None);
    let resp3_id = client_id(&mut resp3);
    run(&mut resp3, &["HELLO", "3"]).expect("hello");
    run(&mut resp3, &["SELECT", "4"]).expect("select");
    let blocked_id = {
        let mut con = connect(port, None);
        let id = client_id(&mut con);
        std::thread::spawn(move || run(&mut con, &["BLPOP", "nothing-here", "5"]));
        id
    };
    std::thread::sleep(Duration::from_millis(300));

    let sub = client_fields(&mut admin, subscriber_id);
    assert_eq!(
        (
            sub["flags"].as_str(),
            sub["sub"].as_str(),
            sub["psub"].as_str(),
            sub["cmd"].as_str()
        ),
        ("P", "2", "0", "subscribe")
    );
    let multi = client_fields(&mut admin, multi_id);
    assert_eq!(
        (multi["flags"].as_str(), multi["multi"].as_str()),
        ("x", "2")
    );
    let r3 = client_fields(&mut admin, resp3_id);
    assert_eq!(
        (
            r3["resp"].as_str(),
            r3["db"].as_str(),
            r3["flags"].as_str(),
            r3["multi"].as_str()
        ),
        ("3", "4", "N", "-1")
    );
    let blocked = client_fields(&mut admin, blocked_id);
    assert_eq!(
        (blocked["flags"].as_str(), blocked["cmd"].as_str()),
        ("b", "blpop")
    );
    let admin_id = client_id(&mut admin);
    let me = client_fields(&mut admin, admin_id);
    assert_eq!(
        (me["cmd"].as_str(), me["user"].as_str(), me["resp"].as_str()),
        ("client|list", "default", "2")
    );

    let pubsub = client_list(&mut admin, &["TYPE", "pubsub"]);
    assert_eq!(pubsub.lines().count(), 1);
    assert!(pubsub.starts_with(&format!("id={subscriber_id} ")));
    let normal = client_list(&mut admin, &["TYPE", "NORMAL"]);
    assert_eq!(normal.lines().count(), 4, "every client but the subscriber");
    assert_eq!(client_list(&mut admin, &["TYPE", "master"]), "");
    let two = client_list(
        &mut admin,
        &[
            "ID",
            &subscriber_id.to_string(),
            &multi_id.to_string(),
            "999999",
        ],
    );
    assert_eq!(two.lines().count(), 2);
    for (args, expected) in [
        (
            vec!["CLIENT", "LIST", "TYPE", "foo"],
            "ERR Unknown client type 'foo'",
        ),
        (vec!["CLIENT", "LIST", "ID", "x"], "ERR Invalid client ID"),
        (vec!["CLIENT", "LIST", "ID", "0"], "ERR Invalid client ID"),
        (vec!["CLIENT", "LIST", "ID"], "ERR syntax error"),
        (vec!["CLIENT", "LIST", "foo"], "ERR syntax error"),
    ] {
        assert_eq!(
            run(&mut admin, &args),
            Err(expected.to_string()),
            "{args:?}"
        );
    }
}
