//! The Redis family: Redis's data model (16 databases of strings, hashes,
//! lists, sets and sorted sets with expiry) and its commands, applied with
//! the semantics and reply shapes of Redis 7.
//!
//! - [`command`]: the ops this family puts in the log, and their facts
//!   (keys, read-only-ness, seeds);
//! - [`apply`]: what each op does to the store;
//! - [`keys`]: the layout of the keyspace and the value records;
//! - [`output`]: what an op answers, before a protocol encodes it.

pub mod apply;
pub mod command;
pub mod glob;
pub mod keys;
pub mod output;

use rkyv::{Archive, Deserialize as RDeserialize, Serialize as RSerialize};
use serde::{Deserialize, Serialize};

pub use command::Command;
pub use output::Output;

use crate::family::{At, Effects, Family};
use crate::store::{Store, StoreError};

/// One Redis command and the database it runs in.
#[derive(Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RedisOp {
    pub db: u8,
    pub cmd: Command,
}

/// The Redis command family.
pub struct Redis;

impl Family for Redis {
    type Op = RedisOp;
    type Output = Output;

    const NAME: &'static str = "redis";

    fn keys(op: &RedisOp) -> Vec<&[u8]> {
        op.cmd.keys()
    }

    fn is_read_only(op: &RedisOp) -> bool {
        op.cmd.is_read_only()
    }

    fn seeds_mut(op: &mut RedisOp) -> Vec<&mut u64> {
        op.cmd.seeds_mut()
    }

    fn apply<S: Store>(
        at: At,
        op: &RedisOp,
        store: &mut S,
        effects: &mut Effects,
    ) -> Result<Output, StoreError> {
        apply::run_op(at, op, store, effects)
    }

    fn read<S: Store>(now_ms: u64, op: &RedisOp, store: &S) -> Result<Output, StoreError> {
        apply::read_op(now_ms, op.db, &op.cmd, store)
    }

    fn failed(reason: String) -> Output {
        apply::failed(&reason)
    }
}
