//! One client connection: its state (protocol version, database, name) and
//! the dispatch of its requests. Connection-level commands are answered here;
//! data commands are lowered to `Command`s and executed through the node.

use std::sync::Arc;

use orbit_core::Output;
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

pub struct Session {
    pub id: u64,
    pub protocol: Protocol,
    pub db: u8,
    shared: Arc<Shared>,
}

fn err(message: impl Into<String>) -> Frame {
    Frame::Error(message.into().into_bytes())
}

fn ok() -> Frame {
    Frame::SimpleString(b"OK".to_vec())
}

/// Converts a command's output to a RESP frame.
pub fn output_frame(output: Output) -> Frame {
    match output {
        Output::Ok => ok(),
        Output::Status(text) => Frame::SimpleString(text.into_bytes()),
        Output::Nil => Frame::Null,
        Output::Int(n) => Frame::Integer(n),
        Output::Bytes(bytes) => Frame::Bulk(bytes),
        Output::Array(items) => Frame::Array(items.into_iter().map(output_frame).collect()),
        Output::Error(text) => Frame::Error(text.into_bytes()),
    }
}

fn exec_error_frame(e: ExecError) -> Frame {
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
        Session {
            id,
            protocol: Protocol::Resp2,
            db: 0,
            shared,
        }
    }

    pub fn limits(&self) -> crate::resp::codec::Limits {
        self.shared.limits
    }

    /// Executes one request and returns its reply.
    pub async fn dispatch(&mut self, args: Vec<Vec<u8>>) -> (Frame, After) {
        debug_assert!(!args.is_empty(), "empty requests are skipped by the caller");
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        let Some(spec) = table::find(&name) else {
            return (unknown_command(&args), After::Continue);
        };
        if !table::arity_ok(spec, args.len()) {
            return (
                err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                )),
                After::Continue,
            );
        }
        self.shared.count_command();
        let rest = &args[1..];
        let frame = match name.as_str() {
            "ping" => match rest {
                [] => Frame::SimpleString(b"PONG".to_vec()),
                [message] => Frame::Bulk(message.clone()),
                _ => err("ERR wrong number of arguments for 'ping' command"),
            },
            "echo" => Frame::Bulk(rest[0].clone()),
            "quit" => return (ok(), After::Close),
            "select" => self.select(&rest[0]),
            "hello" => self.hello(rest),
            "client" => self.client(rest),
            "command" => super::command::reply(rest),
            "info" => info::reply(&self.shared, rest).await,
            _ => self.execute(&name, rest).await,
        };
        (frame, After::Continue)
    }

    async fn execute(&mut self, name: &str, args: &[Vec<u8>]) -> Frame {
        let cmd = match lower::lower(name, args) {
            Ok(cmd) => cmd,
            Err(message) => return err(message),
        };
        match self.shared.node.execute(self.db, cmd).await {
            Ok(output) => output_frame(output),
            Err(e) => exec_error_frame(e),
        }
    }

    fn select(&mut self, arg: &[u8]) -> Frame {
        match lower::parse_i64(arg) {
            None => err(orbit_core::output::errors::NOT_INTEGER),
            Some(db) if (0..i64::from(orbit_core::ids::DB_COUNT)).contains(&db) => {
                self.db = u8::try_from(db).expect("checked range");
                self.shared.update_client(self.id, |c| c.db = self.db);
                ok()
            }
            Some(_) => err("ERR DB index is out of range"),
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
        while let Some(option) = rest.first() {
            match (
                String::from_utf8_lossy(option)
                    .to_ascii_uppercase()
                    .as_str(),
                rest.len(),
            ) {
                // Authentication arrives with AUTH/requirepass support; with
                // no password configured every client is the default user.
                ("AUTH", n) if n >= 3 => rest = &rest[3..],
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
            ("LIST", 1) => Frame::Bulk(self.shared.client_list().into_bytes()),
            ("INFO", 1) => Frame::Bulk(self.shared.client_line(self.id).into_bytes()),
            ("SETNAME" | "GETNAME" | "ID" | "SETINFO" | "LIST" | "INFO", _) => err(format!(
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

fn validate_client_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().all(|b| (b'!'..=b'~').contains(b)) {
        Ok(())
    } else {
        Err(err(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}
