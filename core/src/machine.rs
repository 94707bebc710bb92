//! The kernel of the shard state machine: applies one committed entry's ops
//! in order, each through its family (`crate::family`), and returns what
//! the entry did.
//!
//! The kernel owns what every family shares:
//! - the entry format: an entry newer than [`ENTRY_FORMAT`] stops the
//!   replica (an `Err`), it is never skipped or guessed at;
//! - the shard clock: it moves once per entry, before its first op; every op
//!   of an entry runs at `max(stamp, clock)`, and no op moves it; an entry
//!   without ops leaves it alone (`crate::clock`);
//! - panics: an op that panics is undone (its writes and its effects) and
//!   answers its family's failure output, the same on every replica, since
//!   the same code panics on the same input over the same state. A panic
//!   must never stop a shard, or one committed entry would stop every
//!   replica at the same index, after every restart;
//! - the result: one output per op, and the entry's effects.
//!
//! Determinism: what is written and returned depends only on `ctx.index`,
//! the entry and the store's contents. There are no clocks, no randomness
//! and no hash-ordered iteration here or in any family.

use crate::entry::{Entry, Op, ENTRY_FORMAT};
use crate::family::{At, Changes, Effects, Family, Published};
use crate::redis::{Output, Redis};
use crate::store::{Store, StoreError};

/// Where in the log an entry sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApplyCtx {
    pub index: u64,
    pub term: u64,
}

/// What one op answers, in its family's terms. A new family adds a variant.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub enum Reply {
    Redis(Output),
}

impl Reply {
    /// The Redis output this reply holds.
    pub fn into_redis(self) -> Output {
        match self {
            Reply::Redis(output) => output,
        }
    }
}

/// What applying one entry did: one reply per op, in order, and the
/// effects of the ops that ran (an op undone after a panic left none).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Applied {
    pub outputs: Vec<Reply>,
    pub published: Vec<Published>,
    pub changes: Changes,
}

/// Applies one committed entry. `Err` is a failure of the store, or an
/// entry this build cannot apply: fatal for the replica. Command errors are
/// outputs in the op's place.
pub fn apply(ctx: &ApplyCtx, entry: &Entry, store: &mut impl Store) -> Result<Applied, StoreError> {
    if entry.version > ENTRY_FORMAT {
        return Err(StoreError(format!(
            "the entry at log index {} has entry format {}, newer than this build applies ({ENTRY_FORMAT}): \
             upgrade this node to the version the leader runs",
            ctx.index, entry.version
        )));
    }
    if entry.ops.is_empty() {
        return Ok(Applied::default());
    }
    let now_ms = entry.ts_ms.max(crate::clock::read_clock(store)?);
    crate::clock::write_clock(store, now_ms, ctx.index)?;
    let at = At {
        index: ctx.index,
        now_ms,
    };
    let mut effects = Effects::for_ops(entry.ops.len());
    let outputs = entry
        .ops
        .iter()
        .map(|op| apply_op(at, op, store, &mut effects))
        .collect::<Result<Vec<Reply>, StoreError>>()?;
    assert_eq!(outputs.len(), entry.ops.len(), "one output per op");
    Ok(Applied {
        outputs,
        published: effects.published,
        changes: effects.changes,
    })
}

/// Runs one op through its family, undoing it if it panics.
fn apply_op(
    at: At,
    op: &Op,
    store: &mut impl Store,
    effects: &mut Effects,
) -> Result<Reply, StoreError> {
    match op {
        Op::Redis(op) => guarded::<Redis, _>(at, op, store, effects).map(Reply::Redis),
    }
}

fn guarded<F: Family, S: Store>(
    at: At,
    op: &F::Op,
    store: &mut S,
    effects: &mut Effects,
) -> Result<F::Output, StoreError> {
    store.begin_op();
    let mark = effects.mark();
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        F::apply(at, op, &mut *store, &mut *effects)
    }));
    match ran {
        Ok(result) => result,
        Err(panic) => {
            store.rollback_op();
            effects.rollback(mark);
            Ok(F::failed(panic_reason(&*panic).to_string()))
        }
    }
}

/// Answers a read-only op at `now_ms` without writing anything. Time does
/// not run backwards here either: the op sees `max(now_ms, shard clock)`.
/// A read that panics answers its family's failure output.
pub fn read(now_ms: u64, op: &Op, store: &impl Store) -> Result<Reply, StoreError> {
    let now_ms = now_ms.max(crate::clock::read_clock(store)?);
    match op {
        Op::Redis(op) => read_guarded::<Redis, _>(now_ms, op, store).map(Reply::Redis),
    }
}

fn read_guarded<F: Family, S: Store>(
    now_ms: u64,
    op: &F::Op,
    store: &S,
) -> Result<F::Output, StoreError> {
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| F::read(now_ms, op, store)));
    ran.unwrap_or_else(|panic| Ok(F::failed(panic_reason(&*panic).to_string())))
}

/// The message a panic carried, if it was text.
pub fn panic_reason(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "a panic without a message"
    }
}
