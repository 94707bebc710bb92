//! The openraft type configuration and the log entry payload.

use std::io::Cursor;

use rkyv::{Archive, Deserialize as RDeserialize, Serialize as RSerialize};
use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::output::Output;

/// One log entry's payload: client commands proposed together.
///
/// The leader gathers the commands that arrive while its previous entries are
/// being written (group commit), so one entry, one append and one fsync serve
/// many clients. Each op is applied in order as if it were its own entry; the
/// reply holds one output per op.
///
/// `ts_ms` is the proposer's clock (milliseconds since the Unix epoch) when it
/// proposed the entry. The state machine never reads a clock: expiry and
/// relative TTLs are resolved against this stamp (made monotonic per shard at
/// apply time, see `orbit_core::apply`).
#[derive(Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Request {
    pub ts_ms: u64,
    pub ops: Vec<Op>,
}

/// One client command and the database it runs in.
#[derive(Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Op {
    pub db: u8,
    pub cmd: Command,
}

impl Request {
    /// An entry holding a single command.
    pub fn one(ts_ms: u64, db: u8, cmd: Command) -> Request {
        Request {
            ts_ms,
            ops: vec![Op { db, cmd }],
        }
    }
}

openraft::declare_raft_types!(
    /// Orbit's Raft types: requests in, outputs out, snapshots as byte buffers.
    pub TypeConfig:
        D = Request,
        R = Vec<Output>,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = Runtime,
);

/// The async runtime openraft runs on: tokio in production, madsim's
/// simulated runtime in the simulator.
#[cfg(not(madsim))]
pub type Runtime = openraft::TokioRuntime;
#[cfg(madsim)]
pub type Runtime = crate::runtime::MadsimRuntime;
