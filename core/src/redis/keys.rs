//! The layout of the shard's keyspace, and the value record format.
//!
//! Encoded keys (first byte is the namespace tag):
//!
//! | tag  | rest                                   | value                      |
//! |------|----------------------------------------|----------------------------|
//! | 0x01 | db u8, user key                        | value record (below)       |
//! | 0x02 | deadline_ms u64 BE, db u8, user key    | empty: the expiry index    |
//! | 0x03 | db u8                                  | key count, u64 LE          |
//! | 0x04 | (none)                                 | shard clock ms, u64 LE; log index of the entry that set it, u64 LE |
//! | 0x05 | db u8, key len u32 BE, user key, element | per kind (below)         |
//! | 0x06 | db u8, user key                        | tombstone: log index of the key's last deletion, u64 LE |
//! | 0x07 | deletion index u64 BE, db u8, user key | empty: tombstones by age   |
//! | 0x08 | (none)                                 | tombstone count u64 LE, floor u64 LE |
//! | 0x09 | request id u64 BE                      | a blocking pop's result (below) |
//! | 0x0A | index u64 BE, request id u64 BE        | empty: results by age      |
//! | 0x0B | (none)                                 | result count u64 LE        |
//!
//! A blocking pop's result is kept under its request id so that a retry
//! after an unknown outcome (a leader change) gets the element the first
//! attempt took instead of taking another: `[0][key len u32 LE][key][value]`
//! for BLPOP's (key, value), `[1][value]` for BLMOVE's value. At most
//! [`POP_RESULTS_MAX`] are kept, oldest forgotten first.
//!
//! Tombstones let EXEC tell that a key absent at WATCH was created and
//! deleted meanwhile. At most [`TOMBSTONES_MAX`] are kept; dropping the
//! oldest raises the floor, and a WATCH older than the floor on a key that
//! is absent at EXEC aborts the transaction (it cannot be proven unchanged).
//!
//! Value record: `[kind u8][expires_at_ms u64 LE, 0 = none][version u64 LE][payload]`.
//! `version` is the log index of the entry that last wrote the key.
//!
//! A collection (hash, list, set, sorted set) keeps its record under 0x01 as
//! for a string, with a payload of `[element count u64 LE]`, and one record
//! per element under 0x05. The key's length comes before the key so that no
//! key's elements share a prefix with another key's. Elements of a key, by
//! kind (the first element byte is a sub-tag):
//!
//! | kind | element                  | value        |
//! |------|--------------------------|--------------|
//! | hash | 0x01, field              | field value  |
//! | set  | 0x01, member             | empty        |
//! | list | 0x01, position u64 BE    | item         |
//! | zset | 0x01, member             | score, f64 bits LE |
//! | zset | 0x02, sortable score, member | empty (the order index) |
//! | zset | 0x03, boundary (an index suffix) | members in the rank bucket, u64 LE |
//!
//! A sorted set's order index is cut into rank buckets: a bucket holds the
//! index entries from its boundary (sortable score, member) up to the next
//! bucket's, and its record counts them, so a rank is a sum of bucket
//! counts plus a walk inside one bucket (`core/src/redis/apply/zset.rs`). The
//! first bucket's boundary is empty; an empty bucket is deleted.
//!
//! A list's record payload is `[count u64 LE][head u64 LE]`: its items sit
//! at positions `head .. head + count`, contiguous. Pushing on the left
//! takes `head - 1`; a new list starts at 2^63 so both ends have room.

use crate::store::{Store, StoreError};

pub const TAG_DATA: u8 = 0x01;
pub const TAG_EXPIRY: u8 = 0x02;
pub const TAG_COUNT: u8 = 0x03;
/// The kernel's (`crate::clock`), listed here with the rest of the layout.
pub const TAG_CLOCK: u8 = crate::clock::TAG_CLOCK;
pub const TAG_ELEMENT: u8 = 0x05;
pub const TAG_TOMBSTONE: u8 = 0x06;
pub const TAG_TOMBSTONE_AGE: u8 = 0x07;
pub const TAG_TOMBSTONE_META: u8 = 0x08;

pub const TAG_POP_RESULT: u8 = 0x09;
pub const TAG_POP_RESULT_AGE: u8 = 0x0A;
pub const TAG_POP_RESULT_META: u8 = 0x0B;

/// Blocking-pop results kept for retries, at most.
pub const POP_RESULTS_MAX: u64 = if cfg!(test) { 8 } else { 10_000 };

pub fn pop_result_key(request: u64) -> Vec<u8> {
    let mut out = vec![TAG_POP_RESULT];
    out.extend_from_slice(&request.to_be_bytes());
    out
}

pub fn pop_result_age_key(index: u64, request: u64) -> Vec<u8> {
    let mut out = vec![TAG_POP_RESULT_AGE];
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&request.to_be_bytes());
    out
}

pub const POP_RESULT_META_KEY: [u8; 1] = [TAG_POP_RESULT_META];

pub fn read_pop_result_count(store: &impl Store) -> Result<u64, StoreError> {
    read_u64(store, &POP_RESULT_META_KEY)
}

pub fn write_pop_result_count(store: &mut impl Store, count: u64) -> Result<(), StoreError> {
    store.put(&POP_RESULT_META_KEY, &count.to_le_bytes())
}

/// Tombstones kept, at most (see the module docs). Small in unit tests, so
/// that they reach it.
pub const TOMBSTONES_MAX: u64 = if cfg!(test) { 64 } else { 100_000 };

/// Element sub-tags (see the module table).
pub const SUB_FIELD: u8 = 0x01;
pub const SUB_MEMBER: u8 = 0x01;
pub const SUB_ITEM: u8 = 0x01;
pub const SUB_ZMEMBER: u8 = 0x01;
pub const SUB_ZSCORE: u8 = 0x02;
pub const SUB_ZBUCKET: u8 = 0x03;

/// Where a new list's first item goes.
pub const LIST_HEAD_START: u64 = 1 << 63;

pub const RECORD_HEADER_LEN: usize = 17;

/// The type of a value, as TYPE names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    String = 1,
    Hash = 2,
    Set = 3,
    List = 4,
    ZSet = 5,
}

impl Kind {
    pub fn from_u8(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::String),
            2 => Some(Kind::Hash),
            3 => Some(Kind::Set),
            4 => Some(Kind::List),
            5 => Some(Kind::ZSet),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::Hash => "hash",
            Kind::Set => "set",
            Kind::List => "list",
            Kind::ZSet => "zset",
        }
    }

    /// Store elements per member: a sorted set keeps an index entry beside
    /// each member.
    pub fn elements_per_member(self) -> u64 {
        match self {
            Kind::ZSet => 2,
            Kind::String => 0,
            Kind::Hash | Kind::Set | Kind::List => 1,
        }
    }

    /// True for kinds whose elements live under [`TAG_ELEMENT`].
    pub fn has_elements(self) -> bool {
        !matches!(self, Kind::String)
    }
}

/// A decoded value record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    /// Absolute deadline in ms since the epoch; `None` = lives forever.
    pub expires_at_ms: Option<u64>,
    pub version: u64,
    pub payload: Vec<u8>,
}

impl Record {
    pub fn encode(&self) -> Vec<u8> {
        Record::encode_parts(self.kind, self.expires_at_ms, self.version, &self.payload)
    }

    /// The encoding of a record with these fields, without building one.
    pub fn encode_parts(
        kind: Kind,
        expires_at_ms: Option<u64>,
        version: u64,
        payload: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
        out.push(kind as u8);
        out.extend_from_slice(&expires_at_ms.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(payload);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Record, StoreError> {
        Record::decode_owned(bytes.to_vec())
    }

    /// Decodes a record the caller owns the bytes of: the payload stays in
    /// the same buffer.
    pub fn decode_owned(mut bytes: Vec<u8>) -> Result<Record, StoreError> {
        if bytes.len() < RECORD_HEADER_LEN {
            return Err(StoreError(format!(
                "value record of {} bytes is too short",
                bytes.len()
            )));
        }
        let kind = Kind::from_u8(bytes[0])
            .ok_or_else(|| StoreError(format!("unknown value kind {}", bytes[0])))?;
        let expires = u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes"));
        let version = u64::from_le_bytes(bytes[9..17].try_into().expect("8 bytes"));
        bytes.drain(..RECORD_HEADER_LEN);
        Ok(Record {
            kind,
            expires_at_ms: (expires != 0).then_some(expires),
            version,
            payload: bytes,
        })
    }

    /// True if the record is logically gone at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms
            .is_some_and(|deadline| deadline <= now_ms)
    }
}

pub fn data_key(db: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + key.len());
    out.push(TAG_DATA);
    out.push(db);
    out.extend_from_slice(key);
    out
}

pub fn data_prefix(db: u8) -> [u8; 2] {
    [TAG_DATA, db]
}

/// The prefix of every element of `key` in `db`.
pub fn elements_prefix(db: u8, key: &[u8]) -> Vec<u8> {
    let len = u32::try_from(key.len()).expect("keys are shorter than 4 GiB (proto-max-bulk-len)");
    let mut out = Vec::with_capacity(6 + key.len() + 1);
    out.push(TAG_ELEMENT);
    out.push(db);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// The prefix of every element of every key in `db`.
pub fn db_elements_prefix(db: u8) -> [u8; 2] {
    [TAG_ELEMENT, db]
}

/// The key of one element of `key`: its sub-tag and its own bytes.
pub fn element_key(db: u8, key: &[u8], sub: u8, element: &[u8]) -> Vec<u8> {
    let mut out = elements_prefix(db, key);
    out.reserve(1 + element.len());
    out.push(sub);
    out.extend_from_slice(element);
    out
}

/// A collection record's payload: its element count.
pub fn encode_count(count: u64) -> Vec<u8> {
    count.to_le_bytes().to_vec()
}

pub fn decode_count(payload: &[u8]) -> Result<u64, StoreError> {
    let bytes: [u8; 8] = payload
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError(format!("collection record of {} bytes", payload.len())))?;
    Ok(u64::from_le_bytes(bytes))
}

pub fn expiry_key(deadline_ms: u64, db: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + key.len());
    out.push(TAG_EXPIRY);
    out.extend_from_slice(&deadline_ms.to_be_bytes());
    out.push(db);
    out.extend_from_slice(key);
    out
}

/// Splits an expiry index key into (deadline, db, user key).
pub fn parse_expiry_key(encoded: &[u8]) -> Option<(u64, u8, &[u8])> {
    if encoded.len() < 10 || encoded[0] != TAG_EXPIRY {
        return None;
    }
    let deadline = u64::from_be_bytes(encoded[1..9].try_into().ok()?);
    Some((deadline, encoded[9], &encoded[10..]))
}

pub fn count_key(db: u8) -> [u8; 2] {
    [TAG_COUNT, db]
}

fn read_u64(store: &impl Store, key: &[u8]) -> Result<u64, StoreError> {
    read_u64_at(store, key, 0)
}

/// The `n`-th u64 (LE) of the record at `key`; 0 when it is absent.
fn read_u64_at(store: &impl Store, key: &[u8], n: usize) -> Result<u64, StoreError> {
    match store.get(key)? {
        None => Ok(0),
        Some(bytes) => u64_at(&bytes, n),
    }
}

fn u64_at(bytes: &[u8], n: usize) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .get(n * 8..n * 8 + 8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError(format!("counter of {} bytes", bytes.len())))?;
    Ok(u64::from_le_bytes(arr))
}

fn write_u64_pair(store: &mut impl Store, key: &[u8], a: u64, b: u64) -> Result<(), StoreError> {
    let mut value = a.to_le_bytes().to_vec();
    value.extend_from_slice(&b.to_le_bytes());
    store.put(key, &value)
}

pub fn tombstone_key(db: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + key.len());
    out.push(TAG_TOMBSTONE);
    out.push(db);
    out.extend_from_slice(key);
    out
}

pub fn tombstone_age_key(index: u64, db: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + key.len());
    out.push(TAG_TOMBSTONE_AGE);
    out.extend_from_slice(&index.to_be_bytes());
    out.push(db);
    out.extend_from_slice(key);
    out
}

pub const TOMBSTONE_META_KEY: [u8; 1] = [TAG_TOMBSTONE_META];

/// (tombstones kept, floor: the highest deletion index forgotten).
pub fn read_tombstone_meta(store: &impl Store) -> Result<(u64, u64), StoreError> {
    Ok((
        read_u64_at(store, &TOMBSTONE_META_KEY, 0)?,
        read_u64_at(store, &TOMBSTONE_META_KEY, 1)?,
    ))
}

pub fn write_tombstone_meta(
    store: &mut impl Store,
    count: u64,
    floor: u64,
) -> Result<(), StoreError> {
    write_u64_pair(store, &TOMBSTONE_META_KEY, count, floor)
}

/// The index of `key`'s last deletion, if a tombstone remembers it.
pub fn read_tombstone(store: &impl Store, db: u8, key: &[u8]) -> Result<Option<u64>, StoreError> {
    let encoded = tombstone_key(db, key);
    if store.get(&encoded)?.is_none() {
        return Ok(None);
    }
    read_u64(store, &encoded).map(Some)
}

/// Number of keys stored in `db`, counting expired keys not yet swept
/// (as Redis's DBSIZE does).
pub fn read_count(store: &impl Store, db: u8) -> Result<u64, StoreError> {
    read_u64(store, &count_key(db))
}

pub fn write_count(store: &mut impl Store, db: u8, count: u64) -> Result<(), StoreError> {
    if count == 0 {
        store.delete(&count_key(db))
    } else {
        store.put(&count_key(db), &count.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips() {
        // Goal: the header layout decodes to what was encoded.
        let record = Record {
            kind: Kind::String,
            expires_at_ms: Some(42),
            version: 7,
            payload: b"v".to_vec(),
        };
        assert_eq!(Record::decode(&record.encode()).expect("decodes"), record);
        let forever = Record {
            expires_at_ms: None,
            ..record
        };
        assert_eq!(Record::decode(&forever.encode()).expect("decodes"), forever);
    }

    #[test]
    fn expiry_keys_sort_by_deadline() {
        // Goal: the sweep can walk the index in deadline order.
        let early = expiry_key(5, 0, b"zzz");
        let late = expiry_key(256, 0, b"a");
        assert!(early < late);
        assert_eq!(parse_expiry_key(&late), Some((256, 0, &b"a"[..])));
    }
}
