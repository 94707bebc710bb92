//! Redis: RESP sessions over the node. `server` accepts connections,
//! `session` holds a connection's state and dispatches its requests,
//! `lower` turns data commands into core `Command`s, `table` describes the
//! commands, `command` and `info` answer COMMAND and INFO, `multi` holds
//! MULTI / EXEC / WATCH, `auth` checks passwords and records failures,
//! `changes` follows the change log for pub/sub and blocking pops.

mod admin;
mod auth;
mod blocking;
mod changes;
mod client_memory;
pub mod command;
pub mod info;
pub mod lower;
mod multi;
mod node_ops;
pub mod pubsub;
pub mod server;
pub mod session;
pub mod table;
