//! Real client tools against a real node: redis-cli and redis-py, used the
//! way a new user would after reading the README. `bash .ci/run` installs
//! both (Debian's redis-tools, PyPI's redis).

mod common;

use std::process::Command;

use common::Cluster;

fn require(tool: &str, probe: &[&str]) {
    let found = Command::new(tool)
        .args(probe)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "`{tool}` is needed by this test; `bash .ci/run` installs it (see the README)"
    );
}

fn redis_cli(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let output = Command::new("redis-cli")
        .args(["-p", &port])
        .args(args)
        .output()
        .expect("run redis-cli");
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_string()
}

#[test]
fn redis_cli_works() {
    // Goal: redis-cli's everyday commands, its error display and its
    // startup handshake (COMMAND DOCS) work against a node.
    require("redis-cli", &["--version"]);
    let cluster = Cluster::single_node();
    let port = cluster.servers[0].resp_port;
    assert_eq!(redis_cli(port, &["PING"]), "PONG");
    assert_eq!(redis_cli(port, &["SET", "greeting", "hello world"]), "OK");
    assert_eq!(redis_cli(port, &["GET", "greeting"]), "hello world");
    assert_eq!(redis_cli(port, &["INCR", "visits"]), "1");
    assert_eq!(redis_cli(port, &["EXPIRE", "visits", "60"]), "1");
    assert_eq!(redis_cli(port, &["TTL", "visits"]), "60");
    assert_eq!(redis_cli(port, &["GET", "nothing"]), "");
    assert_eq!(
        redis_cli(port, &["INCR", "greeting"]),
        "ERR value is not an integer or out of range"
    );
    assert!(redis_cli(port, &["INFO", "raft"]).contains("role:leader"));
    assert!(redis_cli(port, &["COMMAND", "DOCS", "get"]).contains("summary"));
    // Interactive mode reads commands from stdin, as a person typing would.
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(b"SET k v\nGET k\nDBSIZE\n")?;
            child.wait_with_output()
        })
        .expect("redis-cli with stdin");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim_end(),
        "OK\nv\n3"
    );
}

#[test]
fn redis_py_works() {
    // Goal: redis-py (RESP2 and RESP3) runs a typical session unchanged.
    require("python3", &["-c", "import redis"]);
    let cluster = Cluster::single_node();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/clients/redis_py_smoke.py"
    );
    let output = Command::new("python3")
        .arg(script)
        .arg(cluster.servers[0].resp_port.to_string())
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "redis-py smoke failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
