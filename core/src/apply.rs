//! The shard state machine (being written).
use crate::output::Output;
use crate::raft::Request;
use crate::store::{Store, StoreError};
use crate::command::Command;

/// Where in the log an entry sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyCtx {
    pub index: u64,
    pub term: u64,
}

pub fn apply(ctx: &ApplyCtx, req: &Request, store: &mut impl Store) -> Result<Output, StoreError> {
    let _ = (ctx, req, store);
    Err(StoreError("apply is being written".into()))
}

pub fn read(now_ms: u64, db: u8, cmd: &Command, store: &impl Store) -> Result<Output, StoreError> {
    let _ = (now_ms, db, cmd, store);
    Err(StoreError("read is being written".into()))
}
