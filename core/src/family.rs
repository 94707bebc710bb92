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

/// An entry's changes, packed: the keys one after another in one buffer,
/// so that recording one costs a copy into it, not an allocation (about
/// 500 instructions per SET otherwise, `bench/examples/apply_workload.rs`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    bytes: Vec<u8>,
    /// Where each change's key ends in `bytes`, and whether it deleted.
    ends: Vec<(usize, bool)>,
}

impl Changes {
    fn push(&mut self, key: &[u8], deleted: bool) {
        self.bytes.extend_from_slice(key);
        self.ends.push((self.bytes.len(), deleted));
    }

    fn truncate(&mut self, len: usize) {
        if let Some(&(end, _)) = len.checked_sub(1).and_then(|last| self.ends.get(last)) {
            self.bytes.truncate(end);
        } else {
            self.bytes.clear();
        }
        self.ends.truncate(len);
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The changes in order: `(store key, deleted)`.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], bool)> + '_ {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|&(end, _)| end));
        starts
            .zip(&self.ends)
            .map(|(start, &(end, deleted))| (&self.bytes[start..end], deleted))
    }

    /// The changes as owned values.
    pub fn to_vec(&self) -> Vec<Change> {
        self.iter()
            .map(|(key, deleted)| Change {
                key: key.to_vec(),
                deleted,
            })
            .collect()
    }
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
    pub changes: Changes,
}

/// Where [`Effects`] stood before an op, to undo the op's part.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mark {
    published: usize,
    changes: usize,
}

impl Effects {
    /// Room for the changes of `ops` ops that write one short key each, so
    /// that the common entry records them without growing its buffers.
    pub fn for_ops(ops: usize) -> Effects {
        Effects {
            published: Vec::new(),
            changes: Changes {
                bytes: Vec::with_capacity(ops * 32),
                ends: Vec::with_capacity(ops),
            },
        }
    }

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
        self.changes.push(key, false);
    }

    /// Records that the record at store key `key` was deleted.
    pub fn deleted(&mut self, key: &[u8]) {
        self.changes.push(key, true);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_keep_their_order_and_roll_back_to_a_mark() {
        // Goal: packed changes read back as recorded, an empty key included,
        // and a rollback forgets exactly what came after the mark.
        let mut effects = Effects::default();
        effects.wrote(b"a");
        let mark = effects.mark();
        effects.deleted(b"");
        effects.wrote(b"ccc");
        assert_eq!(
            effects.changes.iter().collect::<Vec<_>>(),
            vec![(&b"a"[..], false), (&b""[..], true), (&b"ccc"[..], false)]
        );
        effects.rollback(mark);
        assert_eq!(
            effects.changes.to_vec(),
            vec![Change {
                key: b"a".to_vec(),
                deleted: false
            }]
        );
        effects.rollback(Effects::default().mark());
        assert!(effects.changes.is_empty());
        assert_eq!(effects.changes.iter().count(), 0);
    }
}
