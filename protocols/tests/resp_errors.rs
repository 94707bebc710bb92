//! Malformed RESP against a real server: each bad stream gets a RESP error and
//! loses only its own connection; the server and other clients go on.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Cluster;

fn raw(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream
}

/// Sends `bytes` and reads until the server closes the connection.
fn exchange(port: u16, bytes: &[u8]) -> String {
    let mut stream = raw(port);
    stream.write_all(bytes).expect("write");
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    String::from_utf8_lossy(&reply).into_owned()
}

fn ping(port: u16) -> String {
    let mut stream = raw(port);
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").expect("write");
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn malformed_frames_get_errors_and_close_only_their_connection() {
    // Goal: bad type bytes, bad or negative lengths, huge counts and a
    // missing CRLF each get a protocol error and a close, while a client
    // connected throughout keeps working and no data is lost.
    let mut cluster = Cluster::new(1, &["--proto-max-bulk-len", "1024"]);
    cluster.start_all();
    cluster.wait_leader(Duration::from_secs(15));
    let port = cluster.servers[0].resp_port;
    let mut bystander = cluster.servers[0].connection().expect("connect");
    let _: () = redis::cmd("SET")
        .arg("kept")
        .arg("1")
        .query(&mut bystander)
        .expect("set");
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n!4\r\nPING\r\n",
            "ERR Protocol error: expected '$', got '!'",
        ),
        (b"*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*1\r\n$abc\r\n", "ERR Protocol error: invalid bulk length"),
        (b"*-7\r\n", "ERR Protocol error: invalid multibulk length"),
        (
            b"*99999999999999\r\n",
            "ERR Protocol error: invalid multibulk length",
        ),
        (b"*1\r\n$4\r\nPINGxx", "ERR Protocol error"),
        (
            b"SET \"unbalanced\r\n",
            "ERR Protocol error: unbalanced quotes in request",
        ),
    ];
    for (bytes, expected) in cases {
        let reply = exchange(port, bytes);
        assert!(
            reply.starts_with(&format!("-{expected}")),
            "{:?} got {reply:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    let value: String = redis::cmd("GET")
        .arg("kept")
        .query(&mut bystander)
        .expect("bystander still served");
    assert_eq!(value, "1");
    assert_eq!(ping(port), "+PONG\r\n");
}

#[test]
fn a_bulk_over_the_limit_is_refused_before_its_body_is_sent() {
    // Goal: with proto-max-bulk-len 1024, a 2000-byte bulk header is refused
    // at once, without the server waiting for (or buffering) the body.
    let mut cluster = Cluster::new(1, &["--proto-max-bulk-len", "1024"]);
    cluster.start_all();
    cluster.wait_leader(Duration::from_secs(15));
    let port = cluster.servers[0].resp_port;
    let mut stream = raw(port);
    stream
        .write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000\r\n")
        .expect("write header only");
    let mut buf = [0u8; 128];
    let n = stream
        .read(&mut buf)
        .expect("the error arrives without the body");
    assert_eq!(&buf[..n], b"-ERR Protocol error: invalid bulk length\r\n");
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "the connection is closed");
    // A bulk at the limit is fine.
    let mut con = cluster.servers[0].connection().expect("connect");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg(vec![b'x'; 1000])
        .query(&mut con)
        .expect("1000 bytes fit");
    let len: i64 = redis::cmd("STRLEN")
        .arg("k")
        .query(&mut con)
        .expect("strlen");
    assert_eq!(len, 1000);
}

#[test]
fn truncated_frames_and_garbage_do_not_hurt_the_server() {
    // Goal: clients that vanish mid-frame or send random bytes leave the
    // server healthy.
    let cluster = Cluster::single_node();
    let port = cluster.servers[0].resp_port;
    for bytes in [
        &b"*3\r\n$3\r\nSET\r\n$1\r\nk"[..],
        b"*2\r\n$3\r\nGET",
        b"$",
        b"\x00\xff\xfe*\r\n",
    ] {
        let mut stream = raw(port);
        stream.write_all(bytes).expect("write");
        drop(stream);
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..50 {
        let mut junk = Vec::new();
        for _ in 0..64 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            junk.push(seed as u8);
        }
        let mut stream = raw(port);
        let _ = stream.write_all(&junk);
        let _ = stream.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = stream.read_to_end(&mut sink);
    }
    assert_eq!(ping(port), "+PONG\r\n");
}
