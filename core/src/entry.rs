//! The log entry payload: what one Raft log entry carries (the openraft
//! type configuration that carries it is `orbit_storage::raft`).
//!
//! The kernel knows entries and ops; what an op means belongs to its
//! command family (`crate::family`): Redis today, Kv, Txn and Meta next,
//! Sql and Script later. A family plugs in as one more variant of [`Op`].

use std::sync::Arc;

use rkyv::{Archive, Deserialize as RDeserialize, Serialize as RSerialize};
use serde::{Deserialize, Serialize};

use crate::family::Family;
use crate::redis::command::Command;
use crate::redis::{Redis, RedisOp};

/// The entry format this build writes and the newest it applies. A replica
/// that meets a newer one stops (see `crate::machine::apply`) instead of
/// guessing: a rolling upgrade must reach every replica before a leader
/// proposes entries of a new format.
pub const ENTRY_FORMAT: u16 = 1;

/// One log entry's payload: ops proposed together.
///
/// The leader gathers the ops that arrive while its previous entries are
/// being written (group commit), so one entry, one append and one fsync serve
/// many clients. Each op is applied in order as if it were its own entry; the
/// reply holds one output per op.
///
/// `ts_ms` is the proposer's clock (milliseconds since the Unix epoch) when it
/// proposed the entry. The state machine never reads a clock: expiry and
/// relative TTLs are resolved against this stamp (made monotonic per shard at
/// apply time, see `crate::machine`).
#[derive(Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Entry {
    /// The entry format ([`ENTRY_FORMAT`] when this build wrote it).
    pub version: u16,
    pub ts_ms: u64,
    /// Shared, because openraft clones an entry for every follower it
    /// replicates to and for the apply: a deep copy of a 400-SET entry took
    /// 27 µs (`bench/benches/entry_codec.rs`), a shared one a reference
    /// count. Archived and sent exactly as a `Vec<Op>`.
    #[rkyv(with = SharedVec)]
    pub ops: Arc<Vec<Op>>,
}

/// One op of an entry: a command of one family. rkyv tags a variant by its
/// place here, so a new family is appended, never inserted.
#[derive(Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Op {
    Redis(RedisOp),
}

impl Op {
    /// A Redis command in database `db`.
    pub fn redis(db: u8, cmd: Command) -> Op {
        Op::Redis(RedisOp { db, cmd })
    }

    /// Whether the op never changes state: it is answered from the applied
    /// state after a linearizability check instead of a log entry.
    pub fn is_read_only(&self) -> bool {
        match self {
            Op::Redis(op) => Redis::is_read_only(op),
        }
    }

    /// The keys the op names, in its family's key space (routing reads
    /// them).
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            Op::Redis(op) => Redis::keys(op),
        }
    }

    /// The random seeds the op carries, for the proposing node to fill.
    pub fn seeds_mut(&mut self) -> Vec<&mut u64> {
        match self {
            Op::Redis(op) => Redis::seeds_mut(op),
        }
    }
}

/// Archives an `Arc<Vec<T>>` as the `Vec<T>` it holds: the same bytes, so
/// sharing in memory leaves the log format as it was.
pub struct SharedVec;

impl<T: Archive> rkyv::with::ArchiveWith<Arc<Vec<T>>> for SharedVec {
    type Archived = <Vec<T> as Archive>::Archived;
    type Resolver = <Vec<T> as Archive>::Resolver;

    fn resolve_with(
        field: &Arc<Vec<T>>,
        resolver: Self::Resolver,
        out: rkyv::Place<Self::Archived>,
    ) {
        field.as_ref().resolve(resolver, out);
    }
}

impl<T, S> rkyv::with::SerializeWith<Arc<Vec<T>>, S> for SharedVec
where
    T: Archive,
    Vec<T>: RSerialize<S>,
    S: rkyv::rancor::Fallible + ?Sized,
{
    fn serialize_with(field: &Arc<Vec<T>>, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        field.as_ref().serialize(serializer)
    }
}

impl<T, D> rkyv::with::DeserializeWith<<Vec<T> as Archive>::Archived, Arc<Vec<T>>, D> for SharedVec
where
    T: Archive,
    <Vec<T> as Archive>::Archived: RDeserialize<Vec<T>, D>,
    D: rkyv::rancor::Fallible + ?Sized,
{
    fn deserialize_with(
        field: &<Vec<T> as Archive>::Archived,
        deserializer: &mut D,
    ) -> Result<Arc<Vec<T>>, D::Error> {
        Ok(Arc::new(field.deserialize(deserializer)?))
    }
}

impl Entry {
    /// An entry of the current format.
    pub fn new(ts_ms: u64, ops: Vec<Op>) -> Entry {
        Entry {
            version: ENTRY_FORMAT,
            ts_ms,
            ops: Arc::new(ops),
        }
    }

    /// An entry holding a single Redis command.
    pub fn redis(ts_ms: u64, db: u8, cmd: Command) -> Entry {
        Entry::new(ts_ms, vec![Op::redis(db, cmd)])
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ops at {} ms (format {})",
            self.ops.len(),
            self.ts_ms,
            self.version
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::command::{SetCondition, SetExpiry};

    /// `Entry` as it would be without sharing its ops.
    #[derive(Archive, RSerialize)]
    struct PlainEntry {
        version: u16,
        ts_ms: u64,
        ops: Vec<Op>,
    }

    #[test]
    fn shared_ops_archive_as_a_plain_vec() {
        // Goal: sharing the ops in memory changes no archived byte, and the archive decodes back to the same request.
        let ops: Vec<Op> = (0..5u8)
            .map(|i| {
                Op::redis(
                    i,
                    Command::Set {
                        key: vec![b'k', i],
                        value: vec![i; usize::from(i) * 7],
                        condition: SetCondition::Always,
                        expiry: SetExpiry::Clear,
                        get: i % 2 == 0,
                    },
                )
            })
            .collect();
        let shared = Entry::new(1_700_000_000_123, ops.clone());
        let plain = PlainEntry {
            version: shared.version,
            ts_ms: shared.ts_ms,
            ops,
        };
        let shared_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&shared).expect("encodes");
        let plain_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&plain).expect("encodes");
        assert_eq!(shared_bytes.as_slice(), plain_bytes.as_slice());
        let back: Entry =
            rkyv::from_bytes::<Entry, rkyv::rancor::Error>(&plain_bytes).expect("decodes");
        assert_eq!(back, shared);
    }
}
