//! The README's cluster commands, run as written (the binary path aside):
//! three founders, a write and a read through different nodes, and the
//! fourth node's join line. They once lacked what a node needs (the join
//! line had no --data-dir, so node 4 opened node 1's ./data).

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The README's shell lines of the cluster section: variable assignments
/// and orbit-server command lines, `$NAME` expanded.
fn readme_commands() -> (BTreeMap<String, String>, Vec<Vec<String>>) {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## A 3-node cluster on one machine")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a cluster section");
    let mut vars = BTreeMap::new();
    let mut commands = Vec::new();
    for line in section.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("PEERS=") {
            vars.insert("$PEERS".to_string(), rest.trim_matches('"').to_string());
        } else if line.starts_with("./target/release/orbit-server") {
            let mut expanded = line.trim_end_matches('&').to_string();
            for (name, value) in &vars {
                expanded = expanded.replace(name, value);
            }
            commands.push(
                expanded
                    .split_whitespace()
                    .skip(1)
                    .map(str::to_string)
                    .collect(),
            );
        }
    }
    assert!(
        section.contains("export ORBIT_CLUSTER_SECRET="),
        "the README sets a secret"
    );
    (vars, commands)
}

fn start(dir: &std::path::Path, args: &[String], log: &str) -> Child {
    Command::new(common::BIN)
        .args(args)
        .current_dir(dir)
        .env("ORBIT_CLUSTER_SECRET", "readme test secret")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).expect("log"))
        .spawn()
        .expect("orbit-server")
}

fn flag<'a>(args: &'a [String], name: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == name)
        .unwrap_or_else(|| panic!("{name} in {args:?}"));
    &args[at + 1]
}

fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_readme_cluster_commands_work_as_written() {
    // Goal: the README's three founders and its join line start, accept a
    // write on one node and a read on another, and make node 4 a voter.
    let (_, commands) = readme_commands();
    assert_eq!(
        commands.len(),
        4,
        "three founders and a joiner: {commands:?}"
    );
    let join = &commands[3];
    for needed in [
        "--data-dir",
        "--resp-addr",
        "--raft-addr",
        "--join",
        "--node-id",
    ] {
        flag(join, needed);
    }
    let dirs: std::collections::BTreeSet<&str> =
        commands.iter().map(|c| flag(c, "--data-dir")).collect();
    assert_eq!(dirs.len(), 4, "every node its own data directory");
    let work = tempfile::tempdir().expect("tempdir");
    let mut nodes = Nodes(Vec::new());
    for (i, args) in commands[..3].iter().enumerate() {
        nodes
            .0
            .push(start(work.path(), args, &format!("n{}.log", i + 1)));
    }
    let client = |args: &[String]| {
        let url = format!("redis://{}/", flag(args, "--resp-addr"));
        redis::Client::open(url)
            .expect("url")
            .get_connection_with_timeout(Duration::from_secs(2))
    };
    until("a write through node 2", || {
        let mut con = client(&commands[1]).ok()?;
        redis::cmd("SET")
            .arg("k")
            .arg("v")
            .query::<()>(&mut con)
            .ok()
    });
    let value: String = until("a read through node 3", || {
        let mut con = client(&commands[2]).ok()?;
        redis::cmd("GET").arg("k").query(&mut con).ok()
    });
    assert_eq!(value, "v");
    nodes.0.push(start(work.path(), join, "n4.log"));
    until("node 4 a voter", || {
        let mut con = client(&commands[0]).ok()?;
        let info: String = redis::cmd("INFO").arg("raft").query(&mut con).ok()?;
        info.lines()
            .any(|l| l.trim() == "voters:1,2,3,4")
            .then_some(())
    });
    let value: String = until("a read through node 4", || {
        let mut con = client(join).ok()?;
        redis::cmd("GET").arg("k").query(&mut con).ok()
    });
    assert_eq!(value, "v");
}
