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

/// One change an op made to what its family stores: the store key of the
/// record written or deleted (a family's keys carry its tag, so keys of
/// different families never meet). A key written several times by one
/// entry appears once per write, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub key: Vec<u8>,
    pub deleted: bool,
}

/// What apply did besides answering, gathered for the whole entry.
/// Nothing leaves apply through a side door: the caller receives these with
/// the outputs (`crate::machine::Applied`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Effects {
    /// PUBLISH's messages, in the order the ops ran.
    pub published: Vec<Published>,
    /// The records written and deleted, in the order the ops ran, recorded
    /// where the family writes a record (Redis: `write_over`,
    /// `remove_stored`, `flush_db`).
    pub changes: Vec<Change>,
}

/// Where [`Effects`] stood before an op, to undo the op's part.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    published: usize,
    changes: usize,
}

impl Effects {
    /// A mark to roll back to when the op that follows is undone.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            published: self.published.len(),
            changes: self.changes.len(),
        }
    }

    /// Forgets what was recorded after `mark`: the op that recorded it was
    /// undone.
    pub(crate) fn rollback(&mut self, mark: Mark) {
        self.published.truncate(mark.published);
        self.changes.truncate(mark.changes);
    }

    /// Records that the record at store key `key` was written.
    pub fn wrote(&mut self, key: &[u8]) {
        self.changes.push(Change {
            key: key.to_vec(),
            deleted: false,
        });
    }

    /// Records that the record at store key `key` was deleted.
    pub fn deleted(&mut self, key: &[u8]) {
        self.changes.push(Change {
            key: key.to_vec(),
            deleted: true,
        });
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
