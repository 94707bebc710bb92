//! The node as the Redis sessions use it: Redis family ops in, Redis
//! outputs out. The node itself knows ops of every family (`Op`) and
//! answers `Reply`s; this is the one place the sessions cross over.

use orbit_core::redis::{Command, Output, RedisOp};
use orbit_core::{Op, Reply};
use orbit_net::{ExecError, Node};

/// Runs one Redis command in `db`, wherever its shard's leader is.
pub(super) async fn execute(node: &Node, db: u8, cmd: Command) -> Result<Output, ExecError> {
    node.execute(Op::redis(db, cmd))
        .await
        .map(Reply::into_redis)
}

/// Runs a pipeline of Redis ops, one result each, in order.
pub(super) async fn execute_many(node: &Node, ops: Vec<RedisOp>) -> Vec<Result<Output, ExecError>> {
    let ops = ops.into_iter().map(Op::Redis).collect();
    node.execute_many(ops)
        .await
        .into_iter()
        .map(|result| result.map(Reply::into_redis))
        .collect()
}

/// A possibly stale read of this replica's state (hints only).
pub(super) fn read_stale(node: &Node, db: u8, cmd: Command) -> Result<Output, ExecError> {
    node.read_stale(&Op::redis(db, cmd)).map(Reply::into_redis)
}
