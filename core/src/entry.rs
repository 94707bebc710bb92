//! The log entry payload: what one Raft log entry carries (the openraft
//! type configuration that carries it is `orbit_storage::raft`).

use std::sync::Arc;

use rkyv::{Archive, Deserialize as RDeserialize, Serialize as RSerialize};
use serde::{Deserialize, Serialize};

use crate::command::Command;

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
    /// Shared, because openraft clones an entry for every follower it
    /// replicates to and for the apply: a deep copy of a 400-SET entry took
    /// 27 µs (`bench/benches/entry_codec.rs`), a shared one a reference
    /// count. Archived and sent exactly as a `Vec<Op>`.
    #[rkyv(with = SharedVec)]
    pub ops: Arc<Vec<Op>>,
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
            ops: Arc::new(vec![Op { db, cmd }]),
        }
    }
}

impl std::fmt::Display for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ops at {} ms", self.ops.len(), self.ts_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{SetCondition, SetExpiry};

    /// `Request` as it was before its ops were shared.
    #[derive(Archive, RSerialize)]
    struct PlainRequest {
        ts_ms: u64,
        ops: Vec<Op>,
    }

    #[test]
    fn shared_ops_archive_as_a_plain_vec() {
        // Goal: sharing the ops in memory changes no archived byte, and the archive decodes back to the same request.
        let ops: Vec<Op> = (0..5u8)
            .map(|i| Op {
                db: i,
                cmd: Command::Set {
                    key: vec![b'k', i],
                    value: vec![i; usize::from(i) * 7],
                    condition: SetCondition::Always,
                    expiry: SetExpiry::Clear,
                    get: i % 2 == 0,
                },
            })
            .collect();
        let shared = Request {
            ts_ms: 1_700_000_000_123,
            ops: Arc::new(ops.clone()),
        };
        let plain = PlainRequest {
            ts_ms: shared.ts_ms,
            ops,
        };
        let shared_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&shared).expect("encodes");
        let plain_bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&plain).expect("encodes");
        assert_eq!(shared_bytes.as_slice(), plain_bytes.as_slice());
        let back: Request =
            rkyv::from_bytes::<Request, rkyv::rancor::Error>(&plain_bytes).expect("decodes");
        assert_eq!(back, shared);
    }
}
