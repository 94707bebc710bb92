//! One client connection: its state (protocol version, database, name) and
//! the dispatch of its requests. Connection-level commands are answered here;
//! data commands are lowered to `Command`s and executed through the node.

use std::borrow::Cow;
use std::sync::Arc;

use orbit_core::redis::{Output, RedisOp};
use orbit_net::ExecError;

use super::server::Shared;
use super::{info, lower, table};
use crate::resp::codec::{Frame, Protocol};

/// What the connection loop should do after a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Continue,
    Close,
}

/// A pending request's reply: known already, or the result of its op
/// (for PUBLISH, the channel whose receivers make the reply).
enum Slot {
    Known(Frame),
    Result(Option<Vec<u8>>),
}

/// One request, planned.
pub(super) enum Step {
    /// A data command for the node.
    Op(RedisOp),
    /// Answered already (PING, ECHO, or an error found before executing).
    Reply(Frame),
    /// Refused outright (unknown command, wrong arity): inside MULTI it
    /// dooms the transaction, as in Redis.
    Invalid(Frame),
    /// A blocking pop and how long it may wait (`None`: forever).
    Block(RedisOp, Option<std::time::Duration>),
    /// A connection command (name, whole request), run by the session in
    /// its place.
    Session(String, Vec<Vec<u8>>),
}

pub struct Session {
    pub id: u64,
    pub protocol: Protocol,
    pub db: u8,
    pub(super) shared: Arc<Shared>,
    /// MULTI's queue, while one is open.
    pub(super) transaction: Option<super::multi::Transaction>,
    /// The keys WATCHed since the last EXEC, DISCARD or UNWATCH.
    pub(super) watched: Vec<orbit_core::redis::command::Watched>,
    /// AUTH succeeded, or no password was required when the client came.
    pub(super) authenticated: bool,
    /// SUBSCRIBE / PSUBSCRIBE state, once the client subscribed.
    pub(super) subscriptions: Option<super::pubsub::Subscriptions>,
    /// Turns true when the client closed its socket: blocked commands stop.
    pub(super) peer_closed: Option<orbit_net::watch::Receiver<bool>>,
    /// The last command planned, for CLIENT LIST: noted in the client
    /// registry once per batch of requests (`publish`), or before a
    /// connection command runs, rather than under its lock per command.
    pub(super) last_cmd: Option<Cow<'static, str>>,
}

pub(super) fn err(message: impl Into<String>) -> Frame {
    Frame::Error(message.into().into_bytes())
}

pub(super) fn ok() -> Frame {
    Frame::SimpleString(b"OK".to_vec())
}

/// Converts a command's output to a RESP frame for a client speaking
/// `protocol` (pairs nest in RESP3, flatten in RESP2).
pub fn output_frame(output: Output, protocol: Protocol) -> Frame {
    let frame = |output| output_frame(output, protocol);
    match output {
        Output::Ok => ok(),
        Output::Status(text) => Frame::SimpleString(text.into_bytes()),
        Output::Nil => Frame::Null,
        Output::NilArray => Frame::NullArray,
        Output::Int(n) => Frame::Integer(n),
        Output::Bytes(bytes) => Frame::Bulk(bytes),
        Output::Double(value) => Frame::Double(value),
        Output::Array(items) => Frame::Array(items.into_iter().map(frame).collect()),
        Output::Map(pairs) => Frame::Map(
            pairs
                .into_iter()
                .map(|(key, value)| (frame(key), frame(value)))
                .collect(),
        ),
        Output::Pairs(pairs) if protocol == Protocol::Resp3 => Frame::Array(
            pairs
                .into_iter()
                .map(|(a, b)| Frame::Array(vec![frame(a), frame(b)]))
                .collect(),
        ),
        Output::Pairs(pairs) => Frame::Array(
            pairs
                .into_iter()
                .flat_map(|(a, b)| [frame(a), frame(b)])
                .collect(),
        ),
        Output::Error(text) => Frame::Error(text.into_bytes()),
    }
}

pub(super) fn exec_error_frame(e: ExecError) -> Frame {
    match e {
        ExecError::NoLeader => {
            err("TRYAGAIN no Raft leader is available; the command was not applied")
        }
        ExecError::Unknown(why) => err(format!(
            "UNKNOWN the command may or may not have been applied: {why}"
        )),
        ExecError::Failed(why) => err(format!("ERR {why}")),
    }
}

fn unknown_command(args: &[Vec<u8>]) -> Frame {
    let name = String::from_utf8_lossy(&args[0]);
    let mut text = format!("ERR unknown command '{name}', with args beginning with: ");
    for arg in args.iter().skip(1).take(20) {
        text.push_str(&format!("'{}' ", String::from_utf8_lossy(arg)));
    }
    err(text)
}

impl Session {
    pub fn new(id: u64, shared: Arc<Shared>) -> Session {
        let authenticated = shared.settings().requirepass.is_none();
        Session {
            authenticated,
            subscriptions: None,
            peer_closed: None,
            id,
            protocol: Protocol::Resp2,
            db: 0,
            shared,
            transaction: None,
            watched: Vec::new(),
            last_cmd: None,
        }
    }

    /// Tells the session when its client closes the socket.
    pub fn set_peer_closed(&mut self, closed: orbit_net::watch::Receiver<bool>) {
        self.peer_closed = Some(closed);
    }

    pub fn limits(&self) -> crate::resp::codec::Limits {
        self.shared.limits()
    }

    /// The server this connection belongs to.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Executes a client's requests in order and appends one reply per
    /// request to `replies`. Data commands that follow one another are
    /// executed as a pipeline (`Node::execute_many`): consecutive writes
    /// share a log entry, consecutive reads one leadership check, and each
    /// still gets its own reply in order. Connection commands (SELECT, HELLO,
    /// ...) run between them, in their place. Stops at QUIT.
    pub async fn dispatch_all(
        &mut self,
        requests: Vec<Vec<Vec<u8>>>,
        replies: &mut Vec<Frame>,
    ) -> After {
        let mut pending = Vec::new();
        for args in requests {
            let step = self.plan(args);
            if self.transaction.is_some() && !super::multi::runs_inside_multi(&step) {
                replies.push(self.queue(step));
                continue;
            }
            match step {
                Step::Session(name, args)
                    if matches!(
                        name.as_str(),
                        "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe"
                    ) =>
                {
                    self.run_pending(&mut pending, replies).await;
                    let patterns = name.starts_with('p');
                    if name.ends_with("unsubscribe") {
                        self.unsubscribe(&args[1..], patterns, replies);
                    } else {
                        self.subscribe(&args[1..], patterns, replies);
                    }
                }
                Step::Block(op, timeout) => {
                    self.run_pending(&mut pending, replies).await;
                    self.publish(true);
                    let frame = self.block(op, timeout).await;
                    replies.push(frame);
                }
                Step::Session(name, args) => {
                    self.run_pending(&mut pending, replies).await;
                    self.publish(false);
                    let (frame, after) = self.session_command(&name, &args[1..]).await;
                    replies.push(frame);
                    if after == After::Close {
                        self.publish(false);
                        return After::Close;
                    }
                }
                step => pending.push(step),
            }
        }
        self.run_pending(&mut pending, replies).await;
        self.publish(false);
        After::Continue
    }

    /// Shows the session's state in CLIENT LIST.
    fn publish(&mut self, blocked: bool) {
        let (sub, psub) = self
            .subscriptions
            .as_ref()
            .map_or((0, 0), super::pubsub::Subscriptions::counts);
        let state = super::server::ClientState {
            sub,
            psub,
            multi: self.transaction.as_ref().map(|t| t.queued.len()),
            blocked,
            resp: if self.protocol == Protocol::Resp3 {
                3
            } else {
                2
            },
        };
        let last_cmd = self.last_cmd.take();
        self.shared.update_client(self.id, |c| {
            c.state = state;
            if let Some(cmd) = last_cmd {
                c.last_cmd = cmd;
                c.last_active = std::time::Instant::now();
            }
        });
    }

    /// What a request needs: the node, the session, or nothing but a reply.
    fn plan(&mut self, args: Vec<Vec<u8>>) -> Step {
        debug_assert!(!args.is_empty(), "empty requests are skipped by the caller");
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let Some(spec) = table::find(&name) else {
            return Step::Invalid(unknown_command(&args));
        };
        if !table::arity_ok(spec, args.len()) {
            return Step::Invalid(err(format!(
                "ERR wrong number of arguments for '{name}' command"
            )));
        }
        if self.needs_auth(&name) {
            return Step::Invalid(err(super::admin::NOAUTH));
        }
        if let Some(refusal) = self.refused_while_subscribed(&name) {
            return Step::Invalid(refusal);
        }
        self.shared.count_command();
        let rest = &args[1..];
        self.last_cmd = Some(command_label(spec.name, rest));
        match name.as_str() {
            "debug" => Step::Reply(super::admin::debug_refused()),
            // Subscribed RESP2 clients get PING's reply as a pub/sub event.
            "ping" if self.protocol == Protocol::Resp2 && self.subscription_count() > 0 => {
                Step::Reply(match rest {
                    [] => {
                        Frame::Array(vec![Frame::Bulk(b"pong".to_vec()), Frame::Bulk(Vec::new())])
                    }
                    [message] => Frame::Array(vec![
                        Frame::Bulk(b"pong".to_vec()),
                        Frame::Bulk(message.clone()),
                    ]),
                    _ => err("ERR wrong number of arguments for 'ping' command"),
                })
            }
            "ping" => Step::Reply(match rest {
                [] => Frame::SimpleString(b"PONG".to_vec()),
                [message] => Frame::Bulk(message.clone()),
                _ => err("ERR wrong number of arguments for 'ping' command"),
            }),
            "echo" => Step::Reply(Frame::Bulk(rest[0].clone())),
            "quit" | "select" | "hello" | "client" | "command" | "info" | "multi" | "exec"
            | "discard" | "watch" | "unwatch" | "auth" | "config" | "acl" | "subscribe"
            | "psubscribe" | "unsubscribe" | "punsubscribe" | "pubsub" | "wait" | "orbit" => {
                Step::Session(name, args)
            }
            "blpop" | "brpop" | "blmove" | "brpoplpush" => {
                let (args_only, timeout) = rest.split_at(rest.len() - 1);
                let timeout = match super::blocking::parse_timeout(&timeout[0]) {
                    Ok(timeout) => timeout,
                    Err(message) => return Step::Reply(err(message)),
                };
                match lower::lower(&name, args_only) {
                    Ok(cmd) => Step::Block(RedisOp { db: self.db, cmd }, timeout),
                    Err(message) => Step::Reply(err(message)),
                }
            }
            _ => match lower::lower(&name, rest).and_then(|cmd| {
                lower::check_expiry_range(&name, &cmd, self.shared.node.now_ms())?;
                Ok(cmd)
            }) {
                Ok(cmd) => Step::Op(RedisOp { db: self.db, cmd }),
                Err(message) => Step::Reply(err(message)),
            },
        }
    }

    /// Runs the planned data commands as one pipeline and appends the
    /// replies of every pending step in order.
    async fn run_pending(&mut self, pending: &mut Vec<Step>, replies: &mut Vec<Frame>) {
        if pending.is_empty() {
            return;
        }
        let mut ops = Vec::new();
        let mut slots = Vec::with_capacity(pending.len());
        for step in pending.drain(..) {
            match step {
                Step::Op(op) => {
                    // PUBLISH replies with this node's receivers, counted
                    // once the entry committed.
                    let publish = match &op.cmd {
                        orbit_core::redis::Command::Publish { channel, .. } => {
                            Some(channel.clone())
                        }
                        _ => None,
                    };
                    ops.push(op);
                    slots.push(Slot::Result(publish));
                }
                Step::Reply(frame) | Step::Invalid(frame) => slots.push(Slot::Known(frame)),
                Step::Session(..) | Step::Block(..) => {
                    unreachable!("session and blocking steps are never pending")
                }
            }
        }
        let mut results = if ops.is_empty() {
            Vec::new()
        } else {
            super::node_ops::execute_many(&self.shared.node, ops).await
        }
        .into_iter();
        for slot in slots {
            let frame = match slot {
                Slot::Known(frame) => frame,
                Slot::Result(publish) => match (results.next(), publish) {
                    (Some(Ok(_)), Some(channel)) => {
                        let receivers = self.shared.with_hub(|hub| hub.receivers(&channel));
                        Frame::Integer(i64::try_from(receivers).unwrap_or(i64::MAX))
                    }
                    (Some(Ok(output)), None) => output_frame(output, self.protocol),
                    (Some(Err(e)), _) => exec_error_frame(e),
                    (None, _) => err("ERR internal: no result for the command"),
                },
            };
            replies.push(frame);
        }
    }

    /// Connection commands, answered by the session itself.
    pub(super) async fn session_command(&mut self, name: &str, rest: &[Vec<u8>]) -> (Frame, After) {
        let frame = match name {
            "quit" => return (ok(), After::Close),
            "select" => self.select(&rest[0]),
            "hello" => self.hello(rest),
            "client" => self.client(rest),
            "command" => super::command::reply(rest),
            "info" => info::reply(&self.shared, rest).await,
            "auth" => self.auth(rest),
            "pubsub" => self.pubsub(rest),
            "wait" => self.wait(rest, true).await,
            "config" => self.config(rest),
            "acl" => self.acl(rest),
            "orbit" => self.orbit(rest).await,
            "multi" => self.multi(),
            "exec" => self.exec().await,
            "discard" => self.discard(),
            "watch" => self.watch(rest).await,
            "unwatch" => {
                self.watched.clear();
                ok()
            }
            other => err(format!(
                "ERR internal: '{other}' is not a connection command"
            )),
        };
        (frame, After::Continue)
    }

    /// WAIT numreplicas timeout: how many followers hold every write
    /// acknowledged so far (Raft already had a quorum hold each one). Inside
    /// a transaction (`may_block` false) it counts them now and returns at
    /// once.
    pub(super) async fn wait(&mut self, args: &[Vec<u8>], may_block: bool) -> Frame {
        let Some(wanted) = lower::parse_i64(&args[0]) else {
            return err(orbit_core::redis::output::errors::NOT_INTEGER);
        };
        let timeout_ms = match lower::parse_i64(&args[1]) {
            None => return err("ERR timeout is not an integer or out of range"),
            Some(ms) if ms < 0 => return err("ERR timeout is negative"),
            Some(ms) => u64::try_from(ms).unwrap_or(0),
        };
        let timeout = if may_block {
            (timeout_ms > 0).then(|| std::time::Duration::from_millis(timeout_ms))
        } else {
            Some(std::time::Duration::ZERO)
        };
        let wanted = u64::try_from(wanted).unwrap_or(0);
        match self.shared.node.wait_replicas(wanted, timeout).await {
            Ok(count) => Frame::Integer(i64::try_from(count).unwrap_or(i64::MAX)),
            Err(e) => exec_error_frame(e),
        }
    }

    fn select(&mut self, arg: &[u8]) -> Frame {
        match super::multi::lower_db(arg) {
            Ok(db) => {
                self.db = db;
                self.shared.update_client(self.id, |c| c.db = db);
                ok()
            }
            Err(frame) => frame,
        }
    }

    fn hello(&mut self, args: &[Vec<u8>]) -> Frame {
        let mut protocol = self.protocol;
        let mut rest = args;
        if let Some(version) = args.first() {
            match lower::parse_i64(version) {
                Some(2) => protocol = Protocol::Resp2,
                Some(3) => protocol = Protocol::Resp3,
                Some(_) => return err("NOPROTO unsupported protocol version"),
                None => return err("ERR Protocol version is not an integer or out of range"),
            }
            rest = &args[1..];
        }
        let mut name = None;
        let mut authenticated = self.authenticated;
        while let Some(option) = rest.first() {
            match (
                String::from_utf8_lossy(option)
                    .to_ascii_uppercase()
                    .as_str(),
                rest.len(),
            ) {
                ("AUTH", n) if n >= 3 => {
                    if let Err(e) = self.check_password("HELLO", &rest[1], &rest[2]) {
                        return e;
                    }
                    authenticated = true;
                    rest = &rest[3..];
                }
                ("SETNAME", n) if n >= 2 => {
                    if let Err(e) = validate_client_name(&rest[1]) {
                        return e;
                    }
                    name = Some(rest[1].clone());
                    rest = &rest[2..];
                }
                (other, _) => {
                    return err(format!(
                        "ERR Syntax error in HELLO option '{}'",
                        other.to_ascii_lowercase()
                    ))
                }
            }
        }
        if !authenticated && self.shared.settings().requirepass.is_some() {
            return err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        }
        self.authenticated = authenticated;
        self.protocol = protocol;
        if let Some(name) = name {
            self.shared.update_client(self.id, |c| c.name = name);
        }
        let text = |s: &str| Frame::Bulk(s.as_bytes().to_vec());
        Frame::Map(vec![
            (text("server"), text("redis")),
            (text("version"), text(info::REDIS_VERSION)),
            (
                text("proto"),
                Frame::Integer(if protocol == Protocol::Resp3 { 3 } else { 2 }),
            ),
            (
                text("id"),
                Frame::Integer(i64::try_from(self.id).unwrap_or(i64::MAX)),
            ),
            (text("mode"), text("standalone")),
            (text("role"), text("master")),
            (text("modules"), Frame::Array(Vec::new())),
        ])
    }

    fn client(&mut self, args: &[Vec<u8>]) -> Frame {
        let sub = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
        match (sub.as_str(), args.len()) {
            ("KILL", n) if n >= 2 => self.client_kill(&args[1..]),
            ("SETNAME", 2) => match validate_client_name(&args[1]) {
                Ok(()) => {
                    let name = args[1].clone();
                    self.shared.update_client(self.id, |c| c.name = name);
                    ok()
                }
                Err(e) => e,
            },
            ("GETNAME", 1) => match self.shared.client_name(self.id) {
                Some(name) if !name.is_empty() => Frame::Bulk(name),
                _ => Frame::Null,
            },
            ("ID", 1) => Frame::Integer(i64::try_from(self.id).unwrap_or(i64::MAX)),
            // Client libraries announce themselves; we accept and ignore it.
            ("SETINFO", 3) => ok(),
            ("LIST", _) => self.client_list(&args[1..]),
            ("INFO", 1) => Frame::Bulk(self.shared.client_line(self.id).into_bytes()),
            ("SETNAME" | "GETNAME" | "ID" | "SETINFO" | "INFO" | "KILL", _) => err(format!(
                "ERR wrong number of arguments for 'client|{}' command",
                sub.to_ascii_lowercase()
            )),
            _ => err(format!(
                "ERR unknown subcommand '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(&args[0])
            )),
        }
    }
}

impl Session {
    /// CLIENT LIST [TYPE normal|master|replica|pubsub] | [ID id [id ...]],
    /// with Redis's errors.
    fn client_list(&self, options: &[Vec<u8>]) -> Frame {
        let upper = |arg: &[u8]| String::from_utf8_lossy(arg).to_ascii_uppercase();
        let list = match options {
            [] => self.shared.client_list(|_, _| true),
            [kind, name] if upper(kind) == "TYPE" => match upper(name).as_str() {
                "NORMAL" => self
                    .shared
                    .client_list(|_, c| c.state.sub + c.state.psub == 0),
                "PUBSUB" => self
                    .shared
                    .client_list(|_, c| c.state.sub + c.state.psub > 0),
                // Orbit replicates through Raft, not through Redis
                // replication connections.
                "MASTER" | "REPLICA" | "SLAVE" => String::new(),
                _ => {
                    return err(format!(
                        "ERR Unknown client type '{}'",
                        String::from_utf8_lossy(name)
                    ))
                }
            },
            [kind, ids @ ..] if upper(kind) == "ID" && !ids.is_empty() => {
                let mut wanted = Vec::with_capacity(ids.len());
                for id in ids {
                    match std::str::from_utf8(id)
                        .ok()
                        .and_then(|t| t.parse::<i64>().ok())
                    {
                        Some(id) if id >= 1 => wanted.push(id.unsigned_abs()),
                        _ => return err("ERR Invalid client ID"),
                    }
                }
                self.shared.client_list(|id, _| wanted.contains(&id))
            }
            _ => return err("ERR syntax error"),
        };
        Frame::Bulk(list.into_bytes())
    }
}

/// How CLIENT LIST names a command: container commands with their
/// subcommand, as Redis 7 does (`client|list`, `config|get`).
/// Borrowed from the command table except for those (no allocation per
/// command on the hot path).
fn command_label(name: &'static str, rest: &[Vec<u8>]) -> Cow<'static, str> {
    const CONTAINERS: &[&str] = &["acl", "client", "command", "config", "object", "pubsub"];
    match rest.first() {
        Some(sub) if CONTAINERS.contains(&name) => Cow::Owned(format!(
            "{name}|{}",
            String::from_utf8_lossy(sub).to_ascii_lowercase()
        )),
        _ => Cow::Borrowed(name),
    }
}

fn validate_client_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        Ok(())
    } else {
        Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}
