//! Command families: what the kernel asks of every kind of op.
//!
//! The kernel (`crate::entry`, `crate::machine`) carries ops in the log,
//! applies them in order, undoes one that panics, moves the shard clock and
//! collects what each entry did. Everything an op *means* belongs to its
//! family, behind this one trait: the keys it names, whether it only reads,
//! the random seeds the proposer fills in, how it applies and how it reads.
//!
//! Redis is the family today (`crate::redis`). A new family (Kv, Txn and
//! Meta next; Sql and Script later) is a type implementing [`Family`], one
//! variant of [`crate::entry::Op`] and one of [`crate::machine::Reply`];
//! the kernel's dispatch (`Op::is_read_only`, `machine::apply`, ...) gains
//! one arm each, and the compiler lists every place that must.

use crate::store::{Store, StoreError};

/// A message an applied op published: `(channel, message)`.
pub type Published = (Vec<u8>, Vec<u8>);

/// What apply did besides answering, gathered for the whole entry.
/// Nothing leaves apply through a side door: the caller receives these with
/// the outputs (`crate::machine::Applied`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    /// PUBLISH's messages, in the order the ops ran.
    pub published: Vec<Published>,
}

impl Effects {
    /// A mark to roll back to when the op that follows is undone.
    pub(crate) fn mark(&self) -> usize {
        self.published.len()
    }

    /// Forgets what was recorded after `mark`: the op that recorded it was
    /// undone.
    pub(crate) fn rollback(&mut self, mark: usize) {
        self.published.truncate(mark);
    }
}

/// Where and when one op applies: the entry's log index (which versions
/// what the op writes) and the shard time it runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub index: u64,
    pub now_ms: u64,
}

/// One family of commands over one data model.
pub trait Family {
    /// What an op of this family carries in the log.
    type Op;
    /// What an op answers.
    type Output;

    /// The family's name, in messages.
    const NAME: &'static str;

    /// The keys `op` names (routing and, later, locks read them).
    fn keys(op: &Self::Op) -> Vec<&[u8]>;

    /// Whether `op` never changes state (answered by the read path).
    fn is_read_only(op: &Self::Op) -> bool;

    /// The random seeds `op` carries: drawn once, by the node that proposes
    /// (or reads), so that every replica makes the same choices.
    fn seeds_mut(op: &mut Self::Op) -> Vec<&mut u64>;

    /// Applies `op` at `at`, recording its effects. `Err` is a failure of
    /// the store (fatal for the replica); command errors are outputs.
    fn apply<S: Store>(
        at: At,
        op: &Self::Op,
        store: &mut S,
        effects: &mut Effects,
    ) -> Result<Self::Output, StoreError>;

    /// Answers a read-only `op` at `now_ms` without writing.
    fn read<S: Store>(now_ms: u64, op: &Self::Op, store: &S) -> Result<Self::Output, StoreError>;

    /// The output of an op that could not be carried out: it panicked, was
    /// undone, and `reason` says why.
    fn failed(reason: String) -> Self::Output;
}
