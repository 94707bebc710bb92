//! Framed, checksummed records and the rkyv shapes stored in them.
//!
//! Frame: `[len u32 LE][crc32 u32 LE][payload; len]`, where the crc32
//! (Castagnoli is not needed; crc32fast's IEEE polynomial) covers the four
//! `len` bytes followed by the payload, so a corrupted length is caught too.
//! Payloads are rkyv archives of [`LogRecord`], [`VoteRecord`] or
//! [`LogIdRecord`]. See `docs/LOG_FORMAT.md`.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::raft::types::log_id;
use crate::raft::types::{Entry, LogId, Membership, Vote};
use openraft::{BasicNode, EntryPayload};
use orbit_core::redis::Command;
use rkyv::rancor;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

pub const FRAME_HEADER_LEN: usize = 8;
/// A single record may not exceed this; larger lengths are corruption.
pub const RECORD_LEN_MAX: u32 = 1 << 30;

/// Why a frame could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("incomplete frame: need {needed} bytes, have {available}")]
    Incomplete { needed: usize, available: usize },
    #[error("frame length {0} is zero or above the limit")]
    BadLength(u32),
    #[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    Checksum { stored: u32, computed: u32 },
    #[error("payload does not decode: {0}")]
    Decode(String),
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
}

pub fn frame_crc(len: u32, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&len.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends one frame holding `payload` to `out`.
pub fn write_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = u32::try_from(payload.len()).expect("record payloads are below 4 GiB");
    assert!(
        len > 0 && len <= RECORD_LEN_MAX,
        "record length {len} out of range"
    );
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&frame_crc(len, payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads the frame at the start of `buf`: returns its payload and the frame's
/// total length. The checksum is verified before the payload is returned.
pub fn read_frame(buf: &[u8]) -> Result<(&[u8], usize), FrameError> {
    if buf.len() < FRAME_HEADER_LEN {
        return Err(FrameError::Incomplete {
            needed: FRAME_HEADER_LEN,
            available: buf.len(),
        });
    }
    let len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
    let stored = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    if len == 0 || len > RECORD_LEN_MAX {
        return Err(FrameError::BadLength(len));
    }
    let total = FRAME_HEADER_LEN + len as usize;
    if buf.len() < total {
        return Err(FrameError::Incomplete {
            needed: total,
            available: buf.len(),
        });
    }
    let payload = &buf[FRAME_HEADER_LEN..total];
    let computed = frame_crc(len, payload);
    if computed != stored {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok((payload, total))
}

/// A Raft log entry as stored on disk.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub index: u64,
    pub term: u64,
    pub payload: RecordPayload,
}

/// What a log record holds. rkyv tags a variant by its place, so variants
/// are appended, never inserted or removed.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum RecordPayload {
    Blank,
    /// Data format 1's entry: read (converted to an [`orbit_core::Entry`]
    /// of entry format 1, which means the same), never written.
    Normal(RequestV1),
    Membership(MembershipRecord),
    /// An entry, since data format 2. Boxed, so the archived payload stays
    /// the size it was and format-1 records still decode in place.
    Entry(Box<orbit_core::Entry>),
}

/// Data format 1's log payload, `Request{ts_ms, ops}`: a Redis command per
/// op, before command families and entry versions.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RequestV1 {
    pub ts_ms: u64,
    pub ops: Vec<OpV1>,
}

/// Data format 1's op: one Redis command and its database.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct OpV1 {
    pub db: u8,
    pub cmd: Command,
}

impl RequestV1 {
    /// The entry this request is in entry format 1: the same Redis ops at
    /// the same stamp.
    pub fn into_entry(self) -> orbit_core::Entry {
        let ops = self
            .ops
            .into_iter()
            .map(|op| orbit_core::Op::redis(op.db, op.cmd))
            .collect();
        orbit_core::Entry {
            version: 1,
            ts_ms: self.ts_ms,
            ops: std::sync::Arc::new(ops),
        }
    }
}

/// Appends `entry`'s frame to `out`, encoding through `scratch`, which keeps
/// its capacity from one call to the next. The record holds the entry's
/// entry by its shared ops (`Entry::ops` is an `Arc`), so building it
/// copies no command.
pub fn write_entry_frame(out: &mut Vec<u8>, scratch: &mut AlignedVec, entry: &Entry) {
    let record = LogRecord::from_entry(entry);
    let mut buffer = std::mem::take(scratch);
    buffer.clear();
    let buffer = rkyv::api::high::to_bytes_in::<_, rancor::Error>(&record, buffer)
        .expect("serializing into memory cannot fail");
    write_frame(out, &buffer);
    *scratch = buffer;
}

/// openraft's `Membership` in plain, stable terms.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MembershipRecord {
    /// One voter set, or two during joint consensus.
    pub configs: Vec<Vec<u64>>,
    /// Every node (voters and learners) with its peer address.
    pub nodes: Vec<(u64, String)>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct VoteRecord {
    pub term: u64,
    /// The candidate voted for in `term`, if any.
    pub voted_for: Option<u64>,
    pub committed: bool,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct LogIdRecord {
    pub term: u64,
    pub index: u64,
}

pub fn membership_to_record(membership: &Membership) -> MembershipRecord {
    MembershipRecord {
        configs: membership
            .get_joint_config()
            .iter()
            .map(|set| set.iter().copied().collect())
            .collect(),
        nodes: membership
            .nodes()
            .map(|(id, node)| (*id, node.addr.clone()))
            .collect(),
    }
}

pub fn membership_from_record(record: &MembershipRecord) -> Result<Membership, FrameError> {
    let configs: Vec<BTreeSet<u64>> = record
        .configs
        .iter()
        .map(|ids| ids.iter().copied().collect())
        .collect();
    let nodes: BTreeMap<u64, BasicNode> = record
        .nodes
        .iter()
        .map(|(id, addr)| (*id, BasicNode { addr: addr.clone() }))
        .collect();
    Membership::new(configs, nodes)
        .map_err(|e| FrameError::Decode(format!("membership {:?}: {e}", record.configs)))
}

impl LogRecord {
    pub fn from_entry(entry: &Entry) -> LogRecord {
        let payload = match &entry.payload {
            EntryPayload::Blank => RecordPayload::Blank,
            EntryPayload::Normal(entry) => RecordPayload::Entry(Box::new(entry.clone())),
            EntryPayload::Membership(m) => RecordPayload::Membership(membership_to_record(m)),
        };
        LogRecord {
            index: entry.log_id.index,
            term: entry.log_id.leader_id.term,
            payload,
        }
    }

    pub fn into_entry(self) -> Result<Entry, FrameError> {
        let payload = match self.payload {
            RecordPayload::Blank => EntryPayload::Blank,
            RecordPayload::Normal(request) => EntryPayload::Normal(request.into_entry()),
            RecordPayload::Entry(entry) => EntryPayload::Normal(*entry),
            RecordPayload::Membership(m) => EntryPayload::Membership(membership_from_record(&m)?),
        };
        Ok(Entry {
            log_id: log_id(self.term, self.index),
            payload,
        })
    }
}

impl LogIdRecord {
    pub fn from_log_id(id: &LogId) -> LogIdRecord {
        LogIdRecord {
            term: id.leader_id.term,
            index: id.index,
        }
    }

    pub fn to_log_id(self) -> LogId {
        log_id(self.term, self.index)
    }
}

impl VoteRecord {
    pub fn from_vote(vote: &Vote) -> VoteRecord {
        VoteRecord {
            term: vote.leader_id.term,
            voted_for: Some(vote.leader_id.voted_for),
            committed: vote.committed,
        }
    }

    /// The vote, or `None` for a record without a candidate: openraft 0.9
    /// could store one (a term with no vote cast); 0.10's votes always name
    /// their candidate, and a node that has not voted has no vote at all.
    pub fn to_vote(self) -> Option<Vote> {
        let voted_for = self.voted_for?;
        let mut vote = Vote::new(self.term, voted_for);
        vote.committed = self.committed;
        Some(vote)
    }
}

/// Serializes a value to rkyv bytes.
pub fn to_rkyv<T>(value: &T) -> Vec<u8>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    rkyv::to_bytes::<rancor::Error>(value)
        .expect("serializing into memory cannot fail")
        .to_vec()
}

/// Deserializes rkyv bytes, validating them first. `bytes` need not be aligned.
pub fn from_rkyv<T>(bytes: &[u8]) -> Result<T, FrameError>
where
    T: Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rancor::Error>>
        + rkyv::Deserialize<T, rkyv::rancor::Strategy<rkyv::de::Pool, rancor::Error>>,
{
    let mut aligned = AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    rkyv::from_bytes::<T, rancor::Error>(&aligned).map_err(|e| FrameError::Decode(e.to_string()))
}

/// Decodes a buffer that must hold exactly one frame of `T` (the `vote`
/// and `purged` files, the state machine's metadata records).
pub fn decode_framed<T>(bytes: &[u8]) -> Result<T, FrameError>
where
    T: Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rancor::Error>>
        + rkyv::Deserialize<T, rkyv::rancor::Strategy<rkyv::de::Pool, rancor::Error>>,
{
    let (payload, used) = read_frame(bytes)?;
    if used != bytes.len() {
        return Err(FrameError::Trailing(bytes.len() - used));
    }
    from_rkyv(payload)
}

/// Encodes one value as a complete frame.
pub fn encode_framed<T>(value: &T) -> Vec<u8>
where
    T: for<'a> rkyv::Serialize<
        rkyv::api::high::HighSerializer<
            AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            rancor::Error,
        >,
    >,
{
    let payload = to_rkyv(value);
    let mut out = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    write_frame(&mut out, &payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip_and_checksum() {
        // Goal: a frame reads back, and any flipped bit is refused.
        let mut buf = Vec::new();
        write_frame(&mut buf, b"hello");
        let (payload, used) = read_frame(&buf).expect("valid frame");
        assert_eq!((payload, used), (&b"hello"[..], buf.len()));
        for bit in 0..buf.len() * 8 {
            let mut bad = buf.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                read_frame(&bad).is_err(),
                "flip of bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn log_record_round_trip() {
        // Goal: every payload kind survives rkyv and converts back to the same entry.
        let membership = Membership::new(
            vec![BTreeSet::from([1, 2, 3])],
            BTreeMap::from([
                (1, BasicNode { addr: "a:1".into() }),
                (2, BasicNode { addr: "b:2".into() }),
                (3, BasicNode { addr: "c:3".into() }),
            ]),
        );
        let entries = vec![
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Blank,
            },
            Entry {
                log_id: log_id(2, 2),
                payload: EntryPayload::Normal(orbit_core::Entry::redis(
                    99,
                    0,
                    Command::Get { key: b"k".to_vec() },
                )),
            },
            Entry {
                log_id: log_id(2, 3),
                payload: EntryPayload::Membership(membership.expect("a valid membership")),
            },
        ];
        let mut scratch = AlignedVec::new();
        for entry in entries {
            let record = LogRecord::from_entry(&entry);
            let bytes = to_rkyv(&record);
            let back: LogRecord = from_rkyv(&bytes).expect("decodes");
            assert_eq!(back.clone().into_entry().expect("valid record"), entry);
            assert_eq!(back, record);
            // The buffer-reusing encoder writes the very same frame.
            let mut framed = Vec::new();
            write_frame(&mut framed, &bytes);
            let mut borrowed = Vec::new();
            write_entry_frame(&mut borrowed, &mut scratch, &entry);
            assert_eq!(borrowed, framed);
        }
    }
}
