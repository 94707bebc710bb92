//! Transactions: MULTI queues commands in the session; EXEC sends them as
//! one `Command::Exec`, a single op of a single log entry, so they apply
//! atomically on every replica. WATCH reads each key's version (a
//! linearizable read) and EXEC carries those versions: the state machine
//! runs nothing if any watched key changed since, and the client gets a
//! null array, as from Redis.
//!
//! Redis's rules kept here: unknown commands and wrong arity while queueing
//! doom the transaction (EXECABORT); other errors happen at EXEC time, in
//! the reply array; MULTI cannot nest; WATCH is refused inside MULTI; EXEC
//! and DISCARD forget the watched keys; SELECT inside MULTI applies to the
//! commands queued after it and to the connection once EXEC ran; WAIT
//! inside MULTI answers at EXEC, after the transaction committed, with the
//! replicas that hold the log then, without blocking. SUBSCRIBE and its
//! family queue too and act at EXEC, their confirmations in the reply
//! array (one element per channel: Redis announces one element per command
//! and writes one per channel, which only lines up for single channels).

use orbit_core::redis::command::Watched;
use orbit_core::redis::{Command, Output, RedisOp};

use super::node_ops;

use super::session::{err, exec_error_frame, ok, output_frame, Session, Step};
use crate::resp::codec::Frame;

/// A command waiting for EXEC.
pub(super) enum Queued {
    Op(RedisOp),
    /// Its reply is known already (PING, ECHO, an argument error).
    Reply(Frame),
    /// SELECT: later commands run in this db.
    Select(u8),
    /// A connection command (CLIENT, INFO, HELLO, COMMAND, ...): run by the
    /// session at EXEC, its reply in its place.
    Connection(String, Vec<Vec<u8>>),
    /// WAIT: at EXEC, the replicas that hold the log now, without blocking
    /// (as Redis answers WAIT inside a transaction).
    Wait(Vec<Vec<u8>>),
    /// SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE or PUNSUBSCRIBE: acts at EXEC.
    Subscription(String, Vec<Vec<u8>>),
}

pub(super) struct Transaction {
    pub(super) queued: Vec<Queued>,
    /// A command was refused while queueing: EXEC will abort.
    dirty: bool,
    /// The db the next queued command runs in.
    db: u8,
}

/// Steps that act at once even inside MULTI.
pub(super) fn runs_inside_multi(step: &Step) -> bool {
    matches!(step, Step::Session(name, _) if matches!(name.as_str(), "exec" | "discard" | "multi" | "watch" | "quit"))
}

impl Session {
    pub(super) fn multi(&mut self) -> Frame {
        if self.transaction.is_some() {
            return err("ERR MULTI calls can not be nested");
        }
        self.transaction = Some(Transaction {
            queued: Vec::new(),
            dirty: false,
            db: self.db,
        });
        ok()
    }

    pub(super) fn discard(&mut self) -> Frame {
        if self.transaction.take().is_none() {
            return err("ERR DISCARD without MULTI");
        }
        self.watched.clear();
        ok()
    }

    /// Queues a step inside MULTI and says how: QUEUED, or an error.
    pub(super) fn queue(&mut self, step: Step) -> Frame {
        let transaction = self.transaction.as_mut().expect("inside MULTI");
        match step {
            Step::Op(mut op) => {
                op.db = transaction.db;
                transaction.queued.push(Queued::Op(op));
            }
            Step::Reply(frame) => transaction.queued.push(Queued::Reply(frame)),
            // Inside MULTI a blocking pop is one attempt (Redis does not
            // block there).
            Step::Block(mut op, _) => {
                op.db = transaction.db;
                transaction.queued.push(Queued::Op(op));
            }
            Step::Invalid(frame) => {
                transaction.dirty = true;
                return frame;
            }
            Step::Session(name, args) => match name.as_str() {
                "select" => match lower_db(&args[1]) {
                    Ok(db) => {
                        transaction.db = db;
                        transaction.queued.push(Queued::Select(db));
                    }
                    Err(frame) => transaction.queued.push(Queued::Reply(frame)),
                },
                "unwatch" => transaction.queued.push(Queued::Reply(ok())),
                "wait" => transaction.queued.push(Queued::Wait(args)),
                "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" => {
                    transaction.queued.push(Queued::Subscription(name, args));
                }
                "client" | "info" | "hello" | "command" | "config" | "acl" | "pubsub" | "auth" => {
                    transaction.queued.push(Queued::Connection(name, args));
                }
                _ => {
                    transaction.dirty = true;
                    return err("ERR Command not allowed inside a transaction");
                }
            },
        }
        Frame::SimpleString(b"QUEUED".to_vec())
    }

    pub(super) async fn exec(&mut self) -> Frame {
        let Some(transaction) = self.transaction.take() else {
            return err("ERR EXEC without MULTI");
        };
        let watched = std::mem::take(&mut self.watched);
        if transaction.dirty {
            return err("EXECABORT Transaction discarded because of previous errors.");
        }
        let ops = transaction
            .queued
            .iter()
            .filter_map(|queued| match queued {
                Queued::Op(op) => Some((op.db, op.cmd.clone())),
                Queued::Reply(_)
                | Queued::Select(_)
                | Queued::Connection(..)
                | Queued::Wait(_)
                | Queued::Subscription(..) => None,
            })
            .collect();
        let outcome =
            node_ops::execute(&self.shared.node, self.db, Command::Exec { watched, ops }).await;
        let outputs = match outcome {
            Ok(Output::Array(outputs)) => outputs,
            Ok(Output::NilArray) => return Frame::NullArray,
            Ok(other) => return err(format!("ERR internal: EXEC replied {other:?}")),
            Err(e) => return exec_error_frame(e),
        };
        let mut outputs = outputs.into_iter();
        let mut replies = Vec::with_capacity(transaction.queued.len());
        for queued in transaction.queued {
            let reply = match queued {
                Queued::Op(op) => match (outputs.next(), &op.cmd) {
                    (Some(_), Command::Publish { channel, .. }) => {
                        let receivers = self.shared.with_hub(|hub| hub.receivers(channel));
                        Frame::Integer(i64::try_from(receivers).unwrap_or(i64::MAX))
                    }
                    (Some(Output::Nil), cmd @ Command::BlockingPop { .. }) => {
                        super::blocking::timeout_reply(cmd)
                    }
                    (Some(output), _) => output_frame(output, self.protocol),
                    (None, _) => err("ERR internal: no reply for a queued command"),
                },
                Queued::Reply(frame) => frame,
                Queued::Select(db) => {
                    self.db = db;
                    self.shared.update_client(self.id, |c| c.db = db);
                    ok()
                }
                // Boxed: session_command can reach EXEC (not from here: only
                // connection commands are queued), so its future is recursive.
                Queued::Connection(name, args) => {
                    Box::pin(self.session_command(&name, &args[1..])).await.0
                }
                Queued::Wait(args) => self.wait(&args[1..], false).await,
                // One confirmation per channel, each its own element.
                Queued::Subscription(name, args) => {
                    let patterns = name.starts_with('p');
                    if name.ends_with("unsubscribe") {
                        self.unsubscribe(&args[1..], patterns, &mut replies);
                    } else {
                        self.subscribe(&args[1..], patterns, &mut replies);
                    }
                    continue;
                }
            };
            replies.push(reply);
        }
        Frame::Array(replies)
    }

    /// WATCH: reads the keys' versions now (a linearizable read) and keeps
    /// them for EXEC.
    pub(super) async fn watch(&mut self, keys: &[Vec<u8>]) -> Frame {
        if self.transaction.is_some() {
            return err("ERR WATCH inside MULTI is not allowed");
        }
        let read = node_ops::execute(
            &self.shared.node,
            self.db,
            Command::Watch {
                keys: keys.to_vec(),
            },
        )
        .await;
        let items = match read {
            Ok(Output::Array(items)) if items.len() == keys.len() + 1 => items,
            Ok(other) => return err(format!("ERR internal: WATCH read {other:?}")),
            Err(e) => return exec_error_frame(e),
        };
        let mut items = items.into_iter();
        let Some(Output::Int(at_index)) = items.next() else {
            return err("ERR internal: WATCH read no index");
        };
        let at_index = u64::try_from(at_index).unwrap_or(0);
        for (key, version) in keys.iter().zip(items) {
            let version = match version {
                Output::Int(v) => Some(u64::try_from(v).unwrap_or(0)),
                _ => None,
            };
            self.watched.push(Watched {
                db: self.db,
                key: key.clone(),
                version,
                at_index,
            });
        }
        ok()
    }
}

/// SELECT's argument, or its error.
pub(super) fn lower_db(arg: &[u8]) -> Result<u8, Frame> {
    match super::lower::parse_i64(arg) {
        None => Err(err(orbit_core::redis::output::errors::NOT_INTEGER)),
        Some(db) if (0..i64::from(orbit_core::ids::DB_COUNT)).contains(&db) => {
            Ok(u8::try_from(db).expect("checked range"))
        }
        // Redis reads the index as an int first.
        Some(db) if i32::try_from(db).is_err() => Err(err(format!(
            "ERR value is out of range, value must between {} and {}",
            i32::MIN,
            i32::MAX
        ))),
        Some(_) => Err(err("ERR DB index is out of range")),
    }
}
