//! Pub/sub across a 3-node cluster: a message published through any node
//! reaches subscribers on every node, in publish order; patterns, PUBSUB
//! introspection, RESP2's subscribed context, and PUBLISH's reply.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
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

/// A raw RESP2 connection that reads replies as lines.
struct Raw {
    reader: BufReader<TcpStream>,
}

impl Raw {
    fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        Raw {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, args: &[&str]) {
        self.reader
            .get_mut()
            .write_all(&request(args))
            .expect("write");
    }

    /// One reply, flattened to its lines' payloads (`*3`, `$7`, ... dropped).
    fn reply(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut pending = 1i64;
        while pending > 0 {
            let mut line = String::new();
            self.reader.read_line(&mut line).expect("read");
            let line = line.trim_end_matches("\r\n").to_string();
            pending -= 1;
            match line.as_bytes().first() {
                Some(b'*') => pending += line[1..].parse::<i64>().expect("count").max(0),
                Some(b'$') => {
                    let len: i64 = line[1..].parse().expect("len");
                    if len >= 0 {
                        let mut body = vec![0u8; len as usize + 2];
                        self.reader.read_exact(&mut body).expect("body");
                        out.push(String::from_utf8_lossy(&body[..len as usize]).into_owned());
                    } else {
                        out.push("(nil)".into());
                    }
                }
                _ => out.push(line),
            }
        }
        out
    }
}

#[test]
fn messages_reach_subscribers_on_every_node_in_order() {
    let mut cluster = Cluster::new(3, &[]);
    cluster.start_all();
    cluster.wait_leader(Duration::from_secs(20));
    let ports: Vec<u16> = cluster.servers.iter().map(|s| s.resp_port).collect();
    let mut subscribers: Vec<Raw> = ports.iter().map(|p| Raw::connect(*p)).collect();
    for sub in &mut subscribers {
        sub.send(&["SUBSCRIBE", "news", "other"]);
        assert_eq!(sub.reply(), ["subscribe", "news", ":1"]);
        assert_eq!(sub.reply(), ["subscribe", "other", ":2"]);
    }
    let mut pattern = Raw::connect(ports[1]);
    pattern.send(&["PSUBSCRIBE", "n*"]);
    assert_eq!(pattern.reply(), ["psubscribe", "n*", ":1"]);

    // Publish through each node in turn.
    let mut publisher = Raw::connect(ports[2]);
    for n in 0..5 {
        let mut through = Raw::connect(ports[n % 3]);
        through.send(&["PUBLISH", "news", &format!("m{n}")]);
        let reply = through.reply();
        assert_eq!(reply.len(), 1, "{reply:?}");
    }
    for sub in &mut subscribers {
        for n in 0..5 {
            assert_eq!(sub.reply(), ["message", "news", &format!("m{n}")]);
        }
    }
    for n in 0..5 {
        assert_eq!(
            pattern.reply(),
            ["pmessage", "n*", "news", &format!("m{n}")]
        );
    }

    // The subscribed RESP2 context and PING there.
    let sub = &mut subscribers[0];
    sub.send(&["GET", "k"]);
    assert_eq!(
        sub.reply(),
        ["-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"]
    );
    sub.send(&["PING"]);
    assert_eq!(sub.reply(), ["pong", ""]);

    // Introspection on node 2 (one channel subscriber each, one pattern).
    let mut admin = Raw::connect(ports[1]);
    admin.send(&["PUBSUB", "NUMSUB", "news", "none"]);
    assert_eq!(admin.reply(), ["news", ":1", "none", ":0"]);
    admin.send(&["PUBSUB", "CHANNELS", "n*"]);
    assert_eq!(admin.reply(), ["news"]);
    admin.send(&["PUBSUB", "NUMPAT"]);
    assert_eq!(admin.reply(), [":1"]);
    // PUBLISH counts the receivers on the node that ran it: node 2 has a
    // channel subscriber and a matching pattern.
    admin.send(&["PUBLISH", "news", "last"]);
    assert_eq!(admin.reply(), [":2"]);

    // Unsubscribing from everything leaves the subscribed context.
    sub.send(&["UNSUBSCRIBE"]);
    let first = sub.reply();
    let second = sub.reply();
    // The message published above may arrive before the confirmations.
    let mut events = vec![first, second];
    if events[0][0] == "message" {
        events.remove(0);
        events.push(sub.reply());
    }
    assert_eq!(events[0], ["unsubscribe", "news", ":1"]);
    assert_eq!(events[1], ["unsubscribe", "other", ":0"]);
    sub.send(&["SET", "k", "v"]);
    assert_eq!(sub.reply(), ["+OK"]);
    drop(publisher.reader.get_mut().flush());
    publisher.send(&["PING"]);
    assert_eq!(publisher.reply(), ["+PONG"]);
}
