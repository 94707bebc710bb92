//! The string and keyspace commands through the whole stack (RESP codec,
//! lowering, Raft, apply, reply encoding), checked with the `redis` crate
//! against Redis 7's documented replies and errors.

mod common;

use std::time::Duration;

use common::Cluster;
use redis::{Connection, RedisResult, Value};

fn run(con: &mut Connection, args: &[&str]) -> RedisResult<Value> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
}

fn ok(con: &mut Connection, args: &[&str]) -> Value {
    run(con, args).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn error(con: &mut Connection, args: &[&str]) -> String {
    match run(con, args) {
        Ok(v) => panic!("{args:?} succeeded with {v:?}"),
        Err(e) => {
            let code = e.code().unwrap_or("").to_string();
            let detail = e.detail().unwrap_or("").to_string();
            format!("{code} {detail}").trim().to_string()
        }
    }
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn int(n: i64) -> Value {
    Value::Int(n)
}

fn okay() -> Value {
    Value::Okay
}

fn start() -> (Cluster, Connection) {
    let cluster = Cluster::single_node();
    let con = cluster.servers[0].connection().expect("connect");
    (cluster, con)
}

#[test]
fn string_commands() {
    // Goal: SET and its options, GET/GETSET/GETDEL/GETEX, SETNX/SETEX/PSETEX,
    // MSET/MSETNX/MGET, APPEND/STRLEN/GETRANGE/SETRANGE reply as Redis does.
    let (_cluster, mut c) = start();
    assert_eq!(ok(&mut c, &["SET", "k", "v"]), okay());
    assert_eq!(ok(&mut c, &["GET", "k"]), bulk("v"));
    assert_eq!(ok(&mut c, &["GET", "missing"]), Value::Nil);
    assert_eq!(ok(&mut c, &["SET", "k", "v2", "NX"]), Value::Nil);
    assert_eq!(ok(&mut c, &["SET", "k", "v2", "XX", "GET"]), bulk("v"));
    assert_eq!(ok(&mut c, &["SET", "new", "x", "XX"]), Value::Nil);
    assert_eq!(ok(&mut c, &["SET", "k", "v3", "EX", "100"]), okay());
    assert_eq!(ok(&mut c, &["TTL", "k"]), int(100));
    assert_eq!(ok(&mut c, &["SET", "k", "v4", "KEEPTTL"]), okay());
    assert_eq!(ok(&mut c, &["TTL", "k"]), int(100));
    assert_eq!(ok(&mut c, &["SET", "k", "v5"]), okay());
    assert_eq!(ok(&mut c, &["TTL", "k"]), int(-1));
    assert_eq!(
        ok(&mut c, &["SET", "k", "v6", "PXAT", "32503680000000"]),
        okay()
    );
    assert!(matches!(ok(&mut c, &["PTTL", "k"]), Value::Int(ms) if ms > 1_000_000));
    assert_eq!(
        error(&mut c, &["SET", "k", "v", "NX", "XX"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut c, &["SET", "k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        error(&mut c, &["SET", "k", "v", "EX", "ten"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut c, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    assert_eq!(ok(&mut c, &["GETSET", "k", "g"]), bulk("v6"));
    assert_eq!(ok(&mut c, &["GETDEL", "k"]), bulk("g"));
    assert_eq!(ok(&mut c, &["GETDEL", "k"]), Value::Nil);
    assert_eq!(ok(&mut c, &["SETNX", "n", "1"]), int(1));
    assert_eq!(ok(&mut c, &["SETNX", "n", "2"]), int(0));
    assert_eq!(ok(&mut c, &["SETEX", "e", "50", "x"]), okay());
    assert_eq!(ok(&mut c, &["TTL", "e"]), int(50));
    assert_eq!(ok(&mut c, &["PSETEX", "p", "50000", "x"]), okay());
    assert_eq!(ok(&mut c, &["TTL", "p"]), int(50));
    assert_eq!(
        error(&mut c, &["SETEX", "e", "-1", "x"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(ok(&mut c, &["GETEX", "e", "PERSIST"]), bulk("x"));
    assert_eq!(ok(&mut c, &["TTL", "e"]), int(-1));
    assert_eq!(ok(&mut c, &["GETEX", "e", "EX", "30"]), bulk("x"));
    assert_eq!(ok(&mut c, &["TTL", "e"]), int(30));
    assert_eq!(ok(&mut c, &["MSET", "a", "1", "b", "2"]), okay());
    assert_eq!(
        error(&mut c, &["MSET", "a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
    assert_eq!(
        ok(&mut c, &["MGET", "a", "nope", "b"]),
        Value::Array(vec![bulk("1"), Value::Nil, bulk("2")])
    );
    assert_eq!(ok(&mut c, &["MSETNX", "a", "9", "z", "9"]), int(0));
    assert_eq!(ok(&mut c, &["GET", "z"]), Value::Nil);
    assert_eq!(ok(&mut c, &["MSETNX", "y", "9", "z", "9"]), int(1));
    assert_eq!(ok(&mut c, &["APPEND", "s", "Hello"]), int(5));
    assert_eq!(ok(&mut c, &["APPEND", "s", " World"]), int(11));
    assert_eq!(ok(&mut c, &["STRLEN", "s"]), int(11));
    assert_eq!(ok(&mut c, &["STRLEN", "nothing"]), int(0));
    assert_eq!(ok(&mut c, &["GETRANGE", "s", "0", "4"]), bulk("Hello"));
    assert_eq!(ok(&mut c, &["GETRANGE", "s", "-5", "-1"]), bulk("World"));
    assert_eq!(ok(&mut c, &["GETRANGE", "s", "5", "1"]), bulk(""));
    assert_eq!(ok(&mut c, &["SETRANGE", "s", "6", "Redis"]), int(11));
    assert_eq!(ok(&mut c, &["GET", "s"]), bulk("Hello Redis"));
    assert_eq!(ok(&mut c, &["SETRANGE", "pad", "3", "x"]), int(4));
    assert_eq!(
        ok(&mut c, &["GET", "pad"]),
        Value::BulkString(b"\0\0\0x".to_vec())
    );
    assert_eq!(
        error(&mut c, &["SETRANGE", "s", "-1", "x"]),
        "ERR offset is out of range"
    );
}

#[test]
fn counters() {
    // Goal: INCR family and INCRBYFLOAT, with their overflow and type errors.
    let (_cluster, mut c) = start();
    assert_eq!(ok(&mut c, &["INCR", "c"]), int(1));
    assert_eq!(ok(&mut c, &["INCRBY", "c", "10"]), int(11));
    assert_eq!(ok(&mut c, &["DECR", "c"]), int(10));
    assert_eq!(ok(&mut c, &["DECRBY", "c", "20"]), int(-10));
    assert_eq!(ok(&mut c, &["SET", "big", "9223372036854775807"]), okay());
    assert_eq!(
        error(&mut c, &["INCR", "big"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(ok(&mut c, &["SET", "word", "abc"]), okay());
    assert_eq!(
        error(&mut c, &["INCR", "word"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        error(&mut c, &["INCRBY", "c", "1.5"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(ok(&mut c, &["SET", "f", "10.50"]), okay());
    assert_eq!(ok(&mut c, &["INCRBYFLOAT", "f", "0.1"]), bulk("10.6"));
    assert_eq!(ok(&mut c, &["INCRBYFLOAT", "f", "-5"]), bulk("5.6"));
    assert_eq!(ok(&mut c, &["INCRBYFLOAT", "g", "3"]), bulk("3"));
    assert_eq!(
        error(&mut c, &["INCRBYFLOAT", "word", "1"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        error(&mut c, &["INCRBYFLOAT", "f", "x"]),
        "ERR value is not a valid float"
    );
}

#[test]
fn keyspace_commands() {
    // Goal: DEL/UNLINK/EXISTS, EXPIRE family with NX/XX/GT/LT, TTL/PTTL,
    // PERSIST, TYPE, KEYS, RENAME/RENAMENX, DBSIZE, FLUSHDB/FLUSHALL, SELECT.
    let (_cluster, mut c) = start();
    ok(
        &mut c,
        &[
            "MSET", "a", "1", "b", "2", "c", "3", "hello", "x", "hallo", "y",
        ],
    );
    assert_eq!(ok(&mut c, &["EXISTS", "a", "a", "nope"]), int(2));
    assert_eq!(ok(&mut c, &["DEL", "a", "nope"]), int(1));
    assert_eq!(ok(&mut c, &["UNLINK", "b"]), int(1));
    assert_eq!(
        ok(&mut c, &["TYPE", "c"]),
        Value::SimpleString("string".into())
    );
    assert_eq!(
        ok(&mut c, &["TYPE", "a"]),
        Value::SimpleString("none".into())
    );
    assert_eq!(ok(&mut c, &["TTL", "a"]), int(-2));
    assert_eq!(ok(&mut c, &["EXPIRE", "c", "100", "XX"]), int(0));
    assert_eq!(ok(&mut c, &["EXPIRE", "c", "100", "NX"]), int(1));
    assert_eq!(ok(&mut c, &["EXPIRE", "c", "50", "GT"]), int(0));
    assert_eq!(ok(&mut c, &["EXPIRE", "c", "200", "GT"]), int(1));
    assert_eq!(ok(&mut c, &["TTL", "c"]), int(200));
    assert_eq!(ok(&mut c, &["PEXPIRE", "c", "5000", "LT"]), int(1));
    assert_eq!(ok(&mut c, &["TTL", "c"]), int(5));
    assert_eq!(ok(&mut c, &["PERSIST", "c"]), int(1));
    assert_eq!(ok(&mut c, &["PERSIST", "c"]), int(0));
    assert_eq!(ok(&mut c, &["EXPIREAT", "c", "32503680000"]), int(1));
    assert_eq!(ok(&mut c, &["PEXPIREAT", "c", "32503680000000"]), int(1));
    assert_eq!(
        error(&mut c, &["EXPIRE", "c", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(ok(&mut c, &["EXPIRE", "nope", "10"]), int(0));
    assert_eq!(ok(&mut c, &["EXPIRE", "c", "-1"]), int(1));
    assert_eq!(ok(&mut c, &["EXISTS", "c"]), int(0));
    let mut keys: Vec<String> = redis::cmd("KEYS").arg("h?llo").query(&mut c).expect("keys");
    keys.sort();
    assert_eq!(keys, vec!["hallo".to_string(), "hello".to_string()]);
    assert_eq!(ok(&mut c, &["RENAME", "hello", "greeting"]), okay());
    assert_eq!(error(&mut c, &["RENAME", "hello", "x"]), "ERR no such key");
    assert_eq!(ok(&mut c, &["RENAMENX", "hallo", "greeting"]), int(0));
    assert_eq!(ok(&mut c, &["RENAMENX", "hallo", "other"]), int(1));
    assert_eq!(ok(&mut c, &["DBSIZE"]), int(2));
    assert_eq!(ok(&mut c, &["SELECT", "1"]), okay());
    assert_eq!(ok(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SET", "in-db-1", "v"]);
    assert_eq!(
        error(&mut c, &["SELECT", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(ok(&mut c, &["FLUSHDB"]), okay());
    assert_eq!(ok(&mut c, &["DBSIZE"]), int(0));
    ok(&mut c, &["SET", "in-db-1", "v"]);
    assert_eq!(ok(&mut c, &["SELECT", "0"]), okay());
    assert_eq!(ok(&mut c, &["DBSIZE"]), int(2));
    assert_eq!(ok(&mut c, &["FLUSHALL"]), okay());
    assert_eq!(ok(&mut c, &["DBSIZE"]), int(0));
    assert_eq!(ok(&mut c, &["SELECT", "1"]), okay());
    assert_eq!(ok(&mut c, &["DBSIZE"]), int(0));
}

#[test]
fn expired_keys_disappear() {
    // Goal: a key set with PX 300 is gone after it expires, for reads and
    // for DBSIZE once the leader's sweep has run.
    let (_cluster, mut c) = start();
    ok(&mut c, &["SET", "short", "v", "PX", "300"]);
    ok(&mut c, &["SET", "long", "v"]);
    assert_eq!(ok(&mut c, &["GET", "short"]), bulk("v"));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(ok(&mut c, &["GET", "short"]), Value::Nil);
    assert_eq!(ok(&mut c, &["EXISTS", "short"]), int(0));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while ok(&mut c, &["DBSIZE"]) != int(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "the expiry sweep never removed the key"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn connection_commands() {
    // Goal: PING, ECHO, HELLO 2/3, CLIENT SETNAME/GETNAME/ID, COMMAND, INFO,
    // QUIT and unknown-command errors as redis-cli and client libraries use them.
    let (_cluster, mut c) = start();
    assert_eq!(ok(&mut c, &["PING"]), Value::SimpleString("PONG".into()));
    assert_eq!(ok(&mut c, &["PING", "hi"]), bulk("hi"));
    assert_eq!(ok(&mut c, &["ECHO", "hey"]), bulk("hey"));
    assert_eq!(ok(&mut c, &["CLIENT", "GETNAME"]), Value::Nil);
    assert_eq!(ok(&mut c, &["CLIENT", "SETNAME", "tester"]), okay());
    assert_eq!(ok(&mut c, &["CLIENT", "GETNAME"]), bulk("tester"));
    assert!(matches!(ok(&mut c, &["CLIENT", "ID"]), Value::Int(id) if id > 0));
    assert_eq!(
        error(&mut c, &["CLIENT", "SETNAME", "a b"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    assert!(error(&mut c, &["CLIENT", "BOGUS"]).starts_with("ERR unknown subcommand 'BOGUS'"));
    let hello = ok(&mut c, &["HELLO", "2"]);
    let Value::Array(fields) = hello else {
        panic!("HELLO 2 is a flat array: {hello:?}")
    };
    assert!(fields.contains(&bulk("proto")) && fields.contains(&int(2)));
    assert_eq!(
        error(&mut c, &["HELLO", "4"]),
        "NOPROTO unsupported protocol version"
    );
    let count = ok(&mut c, &["COMMAND", "COUNT"]);
    assert!(matches!(count, Value::Int(n) if n >= 40));
    let info: String = redis::cmd("INFO").query(&mut c).expect("info");
    for needle in [
        "redis_version:",
        "connected_clients:",
        "# Keyspace",
        "role:leader",
        "applied_index:",
        "term:",
    ] {
        assert!(info.contains(needle), "INFO lacks {needle}: {info}");
    }
    assert!(error(&mut c, &["NOSUCHCMD", "a"])
        .starts_with("ERR unknown command 'NOSUCHCMD', with args beginning with: 'a'"));
    assert_eq!(
        error(&mut c, &["GET"]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(ok(&mut c, &["QUIT"]), okay());
}

#[test]
fn hash_commands() {
    // Goal: the hash commands answer as Redis 7 documents, through the
    // whole stack, including arity, WRONGTYPE and number errors.
    let (_cluster, mut con) = start();
    assert_eq!(ok(&mut con, &["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(ok(&mut con, &["HSET", "h", "a", "9"]), int(0));
    assert_eq!(ok(&mut con, &["HMSET", "h", "c", "3"]), okay());
    assert_eq!(ok(&mut con, &["HSETNX", "h", "c", "x"]), int(0));
    assert_eq!(ok(&mut con, &["HSETNX", "h", "d", "4"]), int(1));
    assert_eq!(ok(&mut con, &["HGET", "h", "a"]), bulk("9"));
    assert_eq!(ok(&mut con, &["HGET", "h", "none"]), Value::Nil);
    assert_eq!(
        ok(&mut con, &["HMGET", "h", "a", "none", "d"]),
        Value::Array(vec![bulk("9"), Value::Nil, bulk("4")])
    );
    assert_eq!(
        ok(&mut con, &["HGETALL", "h"]),
        Value::Array(["a", "9", "b", "2", "c", "3", "d", "4"].map(bulk).to_vec())
    );
    assert_eq!(
        ok(&mut con, &["HKEYS", "h"]),
        Value::Array(["a", "b", "c", "d"].map(bulk).to_vec())
    );
    assert_eq!(
        ok(&mut con, &["HVALS", "h"]),
        Value::Array(["9", "2", "3", "4"].map(bulk).to_vec())
    );
    assert_eq!(ok(&mut con, &["HLEN", "h"]), int(4));
    assert_eq!(ok(&mut con, &["HSTRLEN", "h", "a"]), int(1));
    assert_eq!(ok(&mut con, &["HEXISTS", "h", "b"]), int(1));
    assert_eq!(ok(&mut con, &["HINCRBY", "h", "a", "-10"]), int(-1));
    assert_eq!(
        ok(&mut con, &["HINCRBYFLOAT", "h", "f", "2.5"]),
        bulk("2.5")
    );
    assert_eq!(
        ok(
            &mut con,
            &["HSCAN", "h", "0", "MATCH", "[ab]", "COUNT", "100"]
        ),
        Value::Array(vec![
            bulk("0"),
            Value::Array(["a", "-1", "b", "2"].map(bulk).to_vec())
        ])
    );
    assert_eq!(ok(&mut con, &["HDEL", "h", "a", "b", "zz"]), int(2));
    assert_eq!(
        ok(&mut con, &["TYPE", "h"]),
        Value::SimpleString("hash".into())
    );

    assert_eq!(
        error(&mut con, &["HSET", "h", "a"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        error(&mut con, &["HSET", "h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        error(&mut con, &["HGET", "h"]),
        "ERR wrong number of arguments for 'hget' command"
    );
    assert_eq!(
        error(&mut con, &["HINCRBY", "h", "c", "x"]),
        "ERR value is not an integer or out of range"
    );
    ok(&mut con, &["HSET", "h", "text", "abc"]);
    assert_eq!(
        error(&mut con, &["HINCRBY", "h", "text", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        error(&mut con, &["HINCRBYFLOAT", "h", "text", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(error(&mut con, &["HSCAN", "h", "x"]), "ERR invalid cursor");
    assert_eq!(
        error(&mut con, &["HSCAN", "h", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    ok(&mut con, &["SET", "s", "v"]);
    assert_eq!(
        error(&mut con, &["HGET", "s", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        error(&mut con, &["GET", "h"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn set_commands() {
    // Goal: the set commands answer as Redis 7 documents, through the whole
    // stack, including arity, WRONGTYPE and argument errors.
    let (_cluster, mut con) = start();
    let members = |items: &[&str]| Value::Array(items.iter().map(|i| bulk(i)).collect());
    assert_eq!(ok(&mut con, &["SADD", "s", "c", "a", "b", "a"]), int(3));
    assert_eq!(ok(&mut con, &["SMEMBERS", "s"]), members(&["a", "b", "c"]));
    assert_eq!(ok(&mut con, &["SCARD", "s"]), int(3));
    assert_eq!(ok(&mut con, &["SISMEMBER", "s", "a"]), int(1));
    assert_eq!(
        ok(&mut con, &["SMISMEMBER", "s", "a", "x"]),
        Value::Array(vec![int(1), int(0)])
    );
    assert_eq!(ok(&mut con, &["SREM", "s", "a", "x"]), int(1));
    ok(&mut con, &["SADD", "t", "b", "z"]);
    assert_eq!(ok(&mut con, &["SINTER", "s", "t"]), members(&["b"]));
    assert_eq!(
        ok(&mut con, &["SUNION", "s", "t"]),
        members(&["b", "c", "z"])
    );
    assert_eq!(ok(&mut con, &["SDIFF", "s", "t"]), members(&["c"]));
    assert_eq!(ok(&mut con, &["SUNIONSTORE", "u", "s", "t"]), int(3));
    assert_eq!(
        ok(&mut con, &["SINTERCARD", "2", "u", "s", "LIMIT", "1"]),
        int(1)
    );
    assert_eq!(ok(&mut con, &["SMOVE", "u", "s", "z"]), int(1));
    assert_eq!(
        ok(&mut con, &["SSCAN", "s", "0", "MATCH", "[bz]"]),
        Value::Array(vec![bulk("0"), members(&["b", "z"])])
    );
    let Value::Array(popped) = ok(&mut con, &["SPOP", "s", "2"]) else {
        panic!("SPOP with a count replies an array");
    };
    assert_eq!(popped.len(), 2);
    assert_eq!(ok(&mut con, &["SCARD", "s"]), int(1));
    assert!(matches!(
        ok(&mut con, &["SRANDMEMBER", "u"]),
        Value::BulkString(_)
    ));
    let Value::Array(repeats) = ok(&mut con, &["SRANDMEMBER", "u", "-5"]) else {
        panic!("SRANDMEMBER with a count replies an array");
    };
    assert_eq!(repeats.len(), 5);

    assert_eq!(
        error(&mut con, &["SADD", "s"]),
        "ERR wrong number of arguments for 'sadd' command"
    );
    assert_eq!(
        error(&mut con, &["SPOP", "s", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        error(&mut con, &["SINTERCARD", "0", "s"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        error(&mut con, &["SINTERCARD", "3", "s"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        error(&mut con, &["SINTERCARD", "1", "s", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    ok(&mut con, &["SET", "str", "v"]);
    assert_eq!(
        error(&mut con, &["SADD", "str", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        error(&mut con, &["SUNION", "s", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn list_commands() {
    // Goal: the list commands answer as Redis 7 documents, through the
    // whole stack, including arity, WRONGTYPE and option errors.
    let (_cluster, mut con) = start();
    let items = |values: &[&str]| Value::Array(values.iter().map(|v| bulk(v)).collect());
    assert_eq!(ok(&mut con, &["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(ok(&mut con, &["LPUSH", "l", "z"]), int(4));
    assert_eq!(ok(&mut con, &["LPUSHX", "none", "z"]), int(0));
    assert_eq!(
        ok(&mut con, &["LRANGE", "l", "0", "-1"]),
        items(&["z", "a", "b", "c"])
    );
    assert_eq!(ok(&mut con, &["LINDEX", "l", "-1"]), bulk("c"));
    assert_eq!(ok(&mut con, &["LLEN", "l"]), int(4));
    assert_eq!(ok(&mut con, &["LSET", "l", "0", "y"]), okay());
    assert_eq!(ok(&mut con, &["LINSERT", "l", "BEFORE", "b", "x"]), int(5));
    assert_eq!(ok(&mut con, &["LPOS", "l", "x"]), int(2));
    assert_eq!(
        ok(&mut con, &["LPOS", "l", "b", "RANK", "-1", "COUNT", "0"]),
        Value::Array(vec![int(3)])
    );
    assert_eq!(ok(&mut con, &["LREM", "l", "0", "x"]), int(1));
    assert_eq!(ok(&mut con, &["LTRIM", "l", "1", "-1"]), okay());
    assert_eq!(
        ok(&mut con, &["LRANGE", "l", "0", "-1"]),
        items(&["a", "b", "c"])
    );
    assert_eq!(
        ok(&mut con, &["LMOVE", "l", "m", "RIGHT", "LEFT"]),
        bulk("c")
    );
    assert_eq!(ok(&mut con, &["RPOPLPUSH", "l", "m"]), bulk("b"));
    assert_eq!(
        ok(&mut con, &["LRANGE", "m", "0", "-1"]),
        items(&["b", "c"])
    );
    assert_eq!(ok(&mut con, &["LPOP", "m"]), bulk("b"));
    assert_eq!(ok(&mut con, &["RPOP", "l", "5"]), items(&["a"]));
    assert_eq!(ok(&mut con, &["EXISTS", "l"]), int(0));
    assert_eq!(ok(&mut con, &["LPOP", "l"]), Value::Nil);

    assert_eq!(
        error(&mut con, &["LPUSH", "l"]),
        "ERR wrong number of arguments for 'lpush' command"
    );
    assert_eq!(
        error(&mut con, &["LPOP", "m", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        error(&mut con, &["LPOP", "m", "1", "2"]),
        "ERR wrong number of arguments for 'lpop' command"
    );
    assert_eq!(
        error(&mut con, &["LSET", "m", "9", "v"]),
        "ERR index out of range"
    );
    assert_eq!(
        error(&mut con, &["LSET", "nokey", "0", "v"]),
        "ERR no such key"
    );
    assert_eq!(
        error(&mut con, &["LINSERT", "m", "MIDDLE", "c", "v"]),
        "ERR syntax error"
    );
    assert_eq!(
        error(&mut con, &["LMOVE", "m", "n", "UP", "LEFT"]),
        "ERR syntax error"
    );
    assert!(error(&mut con, &["LPOS", "m", "c", "RANK", "0"]).starts_with("ERR RANK can't be zero"));
    assert_eq!(
        error(&mut con, &["LPOS", "m", "c", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        error(&mut con, &["LPOS", "m", "c", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );
    assert_eq!(
        error(&mut con, &["LRANGE", "m", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
    ok(&mut con, &["SET", "str", "v"]);
    assert_eq!(
        error(&mut con, &["RPUSH", "str", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn hrandfield_counts_and_values() {
    // Goal: HRANDFIELD's forms: one field, distinct fields up to a positive
    // count, exactly |count| with repeats for a negative one, WITHVALUES
    // pairs, and nil / empty on a missing key.
    let (_cluster, mut con) = start();
    ok(&mut con, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    let Value::BulkString(one) = ok(&mut con, &["HRANDFIELD", "h"]) else {
        panic!("a field");
    };
    assert!([&b"a"[..], b"b", b"c"].contains(&one.as_slice()));
    let Value::Array(all) = ok(&mut con, &["HRANDFIELD", "h", "10"]) else {
        panic!("an array");
    };
    let mut all: Vec<Value> = all;
    all.sort_by_key(|v| format!("{v:?}"));
    assert_eq!(all, vec![bulk("a"), bulk("b"), bulk("c")]);
    let Value::Array(repeats) = ok(&mut con, &["HRANDFIELD", "h", "-7"]) else {
        panic!("an array");
    };
    assert_eq!(repeats.len(), 7);
    let Value::Array(pairs) = ok(&mut con, &["HRANDFIELD", "h", "2", "WITHVALUES"]) else {
        panic!("an array");
    };
    assert_eq!(pairs.len(), 4);
    for pair in pairs.chunks(2) {
        let (Value::BulkString(field), Value::BulkString(value)) = (&pair[0], &pair[1]) else {
            panic!("field, value");
        };
        let expected = match field.as_slice() {
            b"a" => "1",
            b"b" => "2",
            _ => "3",
        };
        assert_eq!(value, expected.as_bytes());
    }
    assert_eq!(ok(&mut con, &["HRANDFIELD", "none"]), Value::Nil);
    assert_eq!(
        ok(&mut con, &["HRANDFIELD", "none", "3"]),
        Value::Array(vec![])
    );
    assert_eq!(
        error(&mut con, &["HRANDFIELD", "h", "1", "BOGUS"]),
        "ERR syntax error"
    );
}
