//! Pipelines: many requests in one write. The server executes the data
//! commands among them as a batch (consecutive writes in one log entry,
//! consecutive reads after one leadership check), yet every request must get
//! its own reply, in order, as if run one by one, with connection commands
//! such as SELECT taking effect exactly where they stand.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Cluster;

fn request(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// Writes all of `requests` at once and reads until `expected` bytes came
/// back (or the server closed the connection).
fn exchange(port: u16, requests: &[Vec<u8>], expected_len: usize) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(&requests.concat()).expect("write");
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while reply.len() < expected_len {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&reply).into_owned()
}

#[test]
fn a_pipeline_gets_every_reply_in_order_with_select_in_its_place() {
    // Goal: writes, reads, errors and SELECTs mixed in one pipeline reply
    // exactly as one-by-one execution would, on a 3-node cluster, sent both
    // to the leader and to a follower (which forwards the batches).
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(Duration::from_secs(20));
    let follower = if leader == 1 { 2 } else { 1 };
    for (round, id) in [leader, follower].into_iter().enumerate() {
        let key = format!("k{round}");
        let k = key.as_str();
        let requests = vec![
            request(&["SET", k, "1"]),
            request(&["INCR", k]),
            request(&["GET", k]),
            request(&["SELECT", "1"]),
            request(&["GET", k]),
            request(&["SET", k, "other-db"]),
            request(&["INCR", k]),
            request(&["NOSUCHCOMMAND"]),
            request(&["GET", k]),
            request(&["SELECT", "0"]),
            request(&["APPEND", k, "0"]),
            request(&["GET", k]),
            request(&["PING"]),
            request(&["DEL", k]),
            request(&["EXISTS", k]),
        ];
        let expected = "+OK\r\n:2\r\n$1\r\n2\r\n+OK\r\n$-1\r\n+OK\r\n\
             -ERR value is not an integer or out of range\r\n\
             -ERR unknown command 'NOSUCHCOMMAND', with args beginning with: \r\n\
             $8\r\nother-db\r\n+OK\r\n:2\r\n$2\r\n20\r\n+PONG\r\n:1\r\n:0\r\n";
        let port = cluster.server(id).resp_port;
        let reply = exchange(port, &requests, expected.len());
        assert_eq!(reply, expected, "pipeline sent to node {id}");
    }
}

#[test]
fn a_long_pipeline_of_writes_loses_and_reorders_nothing() {
    // Goal: 5,000 INCRs and SETs in one write (more than one log entry
    // holds) all apply, in order: the counter ends at 5,000 and each reply
    // is the count so far.
    let mut cluster = Cluster::new(1, &[]);
    cluster.start_all();
    cluster.wait_leader(Duration::from_secs(20));
    let mut requests = Vec::new();
    let mut expected = String::new();
    for n in 1..=5000 {
        requests.push(request(&["INCR", "counter"]));
        expected.push_str(&format!(":{n}\r\n"));
        if n % 1000 == 0 {
            requests.push(request(&["GET", "counter"]));
            expected.push_str(&format!("${}\r\n{n}\r\n", n.to_string().len()));
        }
    }
    let port = cluster.server(1).resp_port;
    let reply = exchange(port, &requests, expected.len());
    assert_eq!(reply.len(), expected.len());
    assert!(
        reply == expected,
        "replies differ from one-by-one execution"
    );
}

#[test]
fn a_malformed_request_ends_the_pipeline_after_the_replies_before_it() {
    // Goal: the requests before a malformed one are executed and answered,
    // then the protocol error is sent and the connection closes.
    let mut cluster = Cluster::new(1, &[]);
    cluster.start_all();
    cluster.wait_leader(Duration::from_secs(20));
    let requests = vec![
        request(&["SET", "a", "1"]),
        request(&["GET", "a"]),
        b"*1\r\n$x\r\n".to_vec(),
        request(&["SET", "a", "2"]),
    ];
    let port = cluster.server(1).resp_port;
    let reply = exchange(port, &requests, usize::MAX);
    assert!(
        reply.starts_with("+OK\r\n$1\r\n1\r\n-ERR Protocol error"),
        "{reply}"
    );
    let after = exchange(port, &[request(&["GET", "a"])], 7);
    assert_eq!(
        after, "$1\r\n1\r\n",
        "the request after the malformed one never ran"
    );
}
