//! Commands: what a client asked for, lowered from its protocol.
//!
//! A `Command` is deterministic given an [`crate::ApplyCtx`]: relative times
//! stay relative here and are resolved against the entry's timestamp when
//! applied, so every replica computes the same absolute deadline.

use rkyv::{Archive, Deserialize as RDeserialize, Serialize as RSerialize};
use serde::{Deserialize, Serialize};

pub type Key = Vec<u8>;

/// SCAN-family default COUNT, as in Redis.
pub const SCAN_COUNT_DEFAULT: u64 = 10;
pub type Value = Vec<u8>;

/// Serde for a list of byte strings, each as bytes (one copy, not a walk
/// byte by byte). bincode encodes bytes exactly as a sequence of u8, so the
/// wire format is what it was.
mod bytes_list {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(items: &[Vec<u8>], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(items.iter().map(|item| serde_bytes::Bytes::new(item)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Vec<u8>>, D::Error> {
        let items = Vec::<serde_bytes::ByteBuf>::deserialize(deserializer)?;
        Ok(items
            .into_iter()
            .map(serde_bytes::ByteBuf::into_vec)
            .collect())
    }
}

/// Pairs of byte strings (a hash's fields and values, MSET's keys and
/// values).
pub type BytePairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Serde for a list of byte-string pairs, each side as bytes.
mod byte_pairs {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        pairs: &[(Vec<u8>, Vec<u8>)],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            pairs
                .iter()
                .map(|(a, b)| (serde_bytes::Bytes::new(a), serde_bytes::Bytes::new(b))),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<super::BytePairs, D::Error> {
        let pairs = Vec::<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>::deserialize(deserializer)?;
        Ok(pairs
            .into_iter()
            .map(|(a, b)| (a.into_vec(), b.into_vec()))
            .collect())
    }
}

/// A deadline as the client gave it.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
pub enum Expiry {
    /// Milliseconds after the entry's timestamp (EX, PX, EXPIRE, PEXPIRE).
    RelativeMs(i64),
    /// Milliseconds since the Unix epoch (EXAT, PXAT, EXPIREAT, PEXPIREAT).
    AbsoluteMs(i64),
}

/// SET's NX / XX.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
pub enum SetCondition {
    Always,
    /// Only if the key does not exist.
    IfAbsent,
    /// Only if the key exists.
    IfPresent,
}

/// What SET does with the key's time to live.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
pub enum SetExpiry {
    /// No option: the new value has no expiry.
    Clear,
    /// KEEPTTL: keep the existing expiry.
    Keep,
    /// EX / PX / EXAT / PXAT.
    At(Expiry),
}

/// GETEX's options.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
pub enum GetExExpiry {
    /// No option: leave the expiry alone.
    Unchanged,
    Persist,
    At(Expiry),
}

/// EXPIRE's NX / XX / GT / LT.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
pub enum ExpireCondition {
    Always,
    /// Only if the key has no expiry.
    IfNoExpiry,
    /// Only if the key has an expiry.
    IfHasExpiry,
    /// Only if the new expiry is later than the current one.
    IfGreater,
    /// Only if the new expiry is earlier than the current one.
    IfLess,
}

/// SINTER / SUNION / SDIFF.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// One end of a score range: `(x` excludes x; `-inf` / `+inf` are
/// inclusive infinities.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq,
)]
pub enum ScoreBound {
    Inclusive(f64),
    Exclusive(f64),
}

/// One end of a lexicographic range: `[a`, `(a`, `-` (below everything) or
/// `+` (above everything).
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq, Eq,
)]
pub enum LexBound {
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
    Min,
    Max,
}

/// What a ZRANGE-family command selects.
#[derive(Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum ZRangeSpec {
    /// Ranks `start..=stop` (negative from the end), counted in the
    /// direction of the range.
    Rank { start: i64, stop: i64 },
    /// Scores between `min` and `max` (as given, whatever the direction).
    Score { min: ScoreBound, max: ScoreBound },
    /// Members between `min` and `max`.
    Lex { min: LexBound, max: LexBound },
}

/// ZADD's options.
#[derive(
    Archive,
    RSerialize,
    RDeserialize,
    Serialize,
    Deserialize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
)]
pub struct ZAddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

impl ZAddFlags {
    /// Redis's error for these options with `pairs` score-member pairs, if
    /// it refuses them (lowering and apply both ask).
    pub fn refusal(&self, pairs: usize) -> Option<&'static str> {
        if pairs == 0 {
            Some(crate::redis::output::errors::SYNTAX)
        } else if self.nx && self.xx {
            Some("ERR XX and NX options at the same time are not compatible")
        } else if (self.nx && (self.gt || self.lt)) || (self.gt && self.lt) {
            Some("ERR GT, LT, and/or NX options at the same time are not compatible")
        } else if self.incr && pairs > 1 {
            Some("ERR INCR option supports a single increment-element pair")
        } else {
            None
        }
    }
}

/// ZUNIONSTORE / ZINTERSTORE's AGGREGATE.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq,
)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

/// A key WATCH saw: its version then (`None`: absent) and the log index the
/// state it was read from had reached.
#[derive(
    Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq, Eq,
)]
pub struct Watched {
    pub db: u8,
    #[serde(with = "serde_bytes")]
    pub key: Key,
    pub version: Option<u64>,
    pub at_index: u64,
}

/// One command against one shard. Reads (see [`Command::is_read_only`]) are
/// served from applied state after a ReadIndex check; everything else becomes
/// one log entry.
#[derive(Archive, RSerialize, RDeserialize, Serialize, Deserialize, Debug, Clone, PartialEq)]
// EXEC holds commands: the derive must not require `Command: Archive` to
// prove `Command: Archive` (rkyv's recursive-type recipe).
#[rkyv(serialize_bounds(
    __S: rkyv::ser::Writer + rkyv::ser::Allocator,
    __S::Error: rkyv::rancor::Source,
))]
#[rkyv(deserialize_bounds(__D::Error: rkyv::rancor::Source))]
#[rkyv(bytecheck(bounds(__C: rkyv::validation::ArchiveContext)))]
pub enum Command {
    /// SET, and GETSET as `get: true`, SETEX / PSETEX with an expiry.
    Set {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        value: Value,
        condition: SetCondition,
        expiry: SetExpiry,
        get: bool,
    },
    Get {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    GetDel {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    GetEx {
        #[serde(with = "serde_bytes")]
        key: Key,
        expiry: GetExExpiry,
    },
    MSet {
        #[serde(with = "byte_pairs")]
        pairs: Vec<(Key, Value)>,
    },
    /// MSETNX, and SETNX as one pair. Replies 1 if all were set, else 0.
    MSetNx {
        #[serde(with = "byte_pairs")]
        pairs: Vec<(Key, Value)>,
    },
    MGet {
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
    },
    /// DEL and UNLINK.
    Del {
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
    },
    Exists {
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
    },
    /// INCR, DECR, INCRBY, DECRBY.
    IncrBy {
        #[serde(with = "serde_bytes")]
        key: Key,
        delta: i64,
    },
    /// INCRBYFLOAT; `delta` is the client's text, read in long double as
    /// Redis reads it (so `1e400` is a valid increment).
    IncrByFloat {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        delta: Vec<u8>,
    },
    Append {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        value: Value,
    },
    StrLen {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    GetRange {
        #[serde(with = "serde_bytes")]
        key: Key,
        start: i64,
        end: i64,
    },
    SetRange {
        #[serde(with = "serde_bytes")]
        key: Key,
        offset: u64,
        #[serde(with = "serde_bytes")]
        value: Value,
    },
    /// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT.
    Expire {
        #[serde(with = "serde_bytes")]
        key: Key,
        expiry: Expiry,
        condition: ExpireCondition,
    },
    /// TTL (`millis: false`) and PTTL.
    Ttl {
        #[serde(with = "serde_bytes")]
        key: Key,
        millis: bool,
    },
    Persist {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    Type {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    DbSize,
    FlushDb,
    FlushAll,
    Keys {
        #[serde(with = "serde_bytes")]
        pattern: Vec<u8>,
    },
    /// RENAME, and RENAMENX as `only_if_absent: true`.
    Rename {
        #[serde(with = "serde_bytes")]
        source: Key,
        #[serde(with = "serde_bytes")]
        target: Key,
        only_if_absent: bool,
    },
    /// HSET (`count_new: true`, replies the number of new fields) and HMSET
    /// (replies OK).
    HSet {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "byte_pairs")]
        pairs: Vec<(Vec<u8>, Value)>,
        count_new: bool,
    },
    HSetNx {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        field: Vec<u8>,
        #[serde(with = "serde_bytes")]
        value: Value,
    },
    HGet {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        field: Vec<u8>,
    },
    HMGet {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        fields: Vec<Vec<u8>>,
    },
    HGetAll {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    HDel {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        fields: Vec<Vec<u8>>,
    },
    HExists {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        field: Vec<u8>,
    },
    HIncrBy {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        field: Vec<u8>,
        delta: i64,
    },
    /// HINCRBYFLOAT; `delta` is the client's text (validated when lowered:
    /// finite, as Redis checks before anything else).
    HIncrByFloat {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        field: Vec<u8>,
        #[serde(with = "serde_bytes")]
        delta: Vec<u8>,
    },
    /// HKEYS (`values: false`) and HVALS.
    HKeys {
        #[serde(with = "serde_bytes")]
        key: Key,
        values: bool,
    },
    HLen {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    HStrLen {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        field: Vec<u8>,
    },
    /// HRANDFIELD; `seed` is drawn by the node that runs it.
    HRandField {
        #[serde(with = "serde_bytes")]
        key: Key,
        count: Option<i64>,
        withvalues: bool,
        seed: u64,
    },
    HScan {
        #[serde(with = "serde_bytes")]
        key: Key,
        cursor: u64,
        pattern: Option<Vec<u8>>,
        count: u64,
        novalues: bool,
    },
    SAdd {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        members: Vec<Vec<u8>>,
    },
    SRem {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        members: Vec<Vec<u8>>,
    },
    SMembers {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    SIsMember {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
    },
    SMIsMember {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        members: Vec<Vec<u8>>,
    },
    SCard {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    /// SPOP; `seed` is drawn by the node that runs it (see `needs_seed`).
    SPop {
        #[serde(with = "serde_bytes")]
        key: Key,
        count: Option<u64>,
        seed: u64,
    },
    SRandMember {
        #[serde(with = "serde_bytes")]
        key: Key,
        count: Option<i64>,
        seed: u64,
    },
    /// SINTER, SUNION, SDIFF.
    SCombine {
        op: SetOp,
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
    },
    /// SINTERSTORE, SUNIONSTORE, SDIFFSTORE.
    SCombineStore {
        op: SetOp,
        #[serde(with = "serde_bytes")]
        destination: Key,
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
    },
    /// SINTERCARD; `limit` 0 means none.
    SInterCard {
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
        limit: u64,
    },
    SMove {
        #[serde(with = "serde_bytes")]
        source: Key,
        #[serde(with = "serde_bytes")]
        destination: Key,
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
    },
    SScan {
        #[serde(with = "serde_bytes")]
        key: Key,
        cursor: u64,
        pattern: Option<Vec<u8>>,
        count: u64,
    },
    /// LPUSH / RPUSH (`left`), and LPUSHX / RPUSHX (`only_if_exists`).
    Push {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        values: Vec<Value>,
        left: bool,
        only_if_exists: bool,
    },
    /// LPOP / RPOP, with an optional count.
    Pop {
        #[serde(with = "serde_bytes")]
        key: Key,
        left: bool,
        count: Option<u64>,
    },
    LRange {
        #[serde(with = "serde_bytes")]
        key: Key,
        start: i64,
        stop: i64,
    },
    LIndex {
        #[serde(with = "serde_bytes")]
        key: Key,
        index: i64,
    },
    LLen {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    LSet {
        #[serde(with = "serde_bytes")]
        key: Key,
        index: i64,
        #[serde(with = "serde_bytes")]
        value: Value,
    },
    LRem {
        #[serde(with = "serde_bytes")]
        key: Key,
        count: i64,
        #[serde(with = "serde_bytes")]
        value: Value,
    },
    LTrim {
        #[serde(with = "serde_bytes")]
        key: Key,
        start: i64,
        stop: i64,
    },
    LInsert {
        #[serde(with = "serde_bytes")]
        key: Key,
        before: bool,
        #[serde(with = "serde_bytes")]
        pivot: Value,
        #[serde(with = "serde_bytes")]
        value: Value,
    },
    /// LPOS: `rank` is never 0; `count` `None` replies one position (or nil),
    /// `Some(0)` all; `maxlen` 0 means no limit.
    LPos {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        element: Value,
        rank: i64,
        count: Option<u64>,
        maxlen: u64,
    },
    /// One attempt of a blocking pop (BLPOP / BRPOP: `destination` none;
    /// BLMOVE / BRPOPLPUSH: one key and a destination with its end): pops
    /// from the first non-empty list of `keys`, or replies nil. `request`
    /// is drawn once by the node; an attempt retried with the same request
    /// after an unknown outcome gets the first attempt's result.
    BlockingPop {
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
        left: bool,
        destination: Option<(Key, bool)>,
        request: u64,
    },
    /// LMOVE, and RPOPLPUSH as `from_left: false, to_left: true`.
    LMove {
        #[serde(with = "serde_bytes")]
        source: Key,
        #[serde(with = "serde_bytes")]
        destination: Key,
        from_left: bool,
        to_left: bool,
    },
    ZAdd {
        #[serde(with = "serde_bytes")]
        key: Key,
        flags: ZAddFlags,
        pairs: Vec<(f64, Vec<u8>)>,
    },
    ZIncrBy {
        #[serde(with = "serde_bytes")]
        key: Key,
        delta: f64,
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
    },
    ZScore {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
    },
    ZMScore {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        members: Vec<Vec<u8>>,
    },
    /// ZRANGE and its older forms (ZRANGEBYSCORE, ZREVRANGE, ...). `limit`
    /// is (offset, count), a negative count meaning all.
    ZRange {
        #[serde(with = "serde_bytes")]
        key: Key,
        spec: ZRangeSpec,
        rev: bool,
        limit: Option<(i64, i64)>,
        withscores: bool,
    },
    /// ZRANK (`rev: false`) and ZREVRANK.
    ZRank {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "serde_bytes")]
        member: Vec<u8>,
        rev: bool,
    },
    ZRem {
        #[serde(with = "serde_bytes")]
        key: Key,
        #[serde(with = "bytes_list")]
        members: Vec<Vec<u8>>,
    },
    /// ZREMRANGEBYRANK / BYSCORE / BYLEX.
    ZRemRange {
        #[serde(with = "serde_bytes")]
        key: Key,
        spec: ZRangeSpec,
    },
    ZCard {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    /// ZCOUNT (a score spec) and ZLEXCOUNT (a lex spec).
    ZCount {
        #[serde(with = "serde_bytes")]
        key: Key,
        spec: ZRangeSpec,
    },
    /// ZPOPMIN (`max: false`) and ZPOPMAX.
    ZPop {
        #[serde(with = "serde_bytes")]
        key: Key,
        max: bool,
        count: Option<u64>,
    },
    /// ZUNIONSTORE (`union: true`) and ZINTERSTORE.
    ZCombineStore {
        union: bool,
        #[serde(with = "serde_bytes")]
        destination: Key,
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
        weights: Vec<f64>,
        aggregate: Aggregate,
    },
    ZScan {
        #[serde(with = "serde_bytes")]
        key: Key,
        cursor: u64,
        pattern: Option<Vec<u8>>,
        count: u64,
    },
    /// SCAN over the db's keys; `kind` is TYPE's name for the kind wanted.
    Scan {
        cursor: u64,
        pattern: Option<Vec<u8>>,
        count: u64,
        kind: Option<Vec<u8>>,
    },
    Touch {
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
    },
    /// TIME: the clock of the node that serves the read (the leader), never
    /// behind any time already applied.
    Time,
    /// RANDOMKEY; `seed` is drawn by the node that runs it.
    RandomKey {
        seed: u64,
    },
    /// COPY source destination [DB db] [REPLACE].
    Copy {
        #[serde(with = "serde_bytes")]
        source: Key,
        #[serde(with = "serde_bytes")]
        destination: Key,
        db: Option<u8>,
        replace: bool,
    },
    ObjectEncoding {
        #[serde(with = "serde_bytes")]
        key: Key,
    },
    /// PUBLISH: no state changes; apply records the message in the
    /// entry's effects, and every node hands it to its own subscribers from
    /// its change log.
    Publish {
        #[serde(with = "serde_bytes")]
        channel: Vec<u8>,
        #[serde(with = "serde_bytes")]
        message: Vec<u8>,
    },
    /// WATCH's read: replies `[applied index, version or nil per key]`.
    Watch {
        #[serde(with = "bytes_list")]
        keys: Vec<Key>,
    },
    /// EXEC: the queued commands `(db, command)`, run in order within this
    /// one entry, unless a watched key changed since it was watched (then
    /// nothing runs and the reply is a null array).
    Exec {
        watched: Vec<Watched>,
        #[rkyv(omit_bounds)]
        ops: Vec<(u8, Command)>,
    },
    /// Internal: the leader asks every replica to delete up to `limit` keys
    /// whose deadline is at or before the entry's timestamp.
    ExpireSweep {
        limit: u32,
    },
}

impl Command {
    /// True for commands that never change state. They are answered from the
    /// applied state after a linearizability check instead of a log entry.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Command::Get { .. }
                | Command::MGet { .. }
                | Command::Exists { .. }
                | Command::StrLen { .. }
                | Command::GetRange { .. }
                | Command::Ttl { .. }
                | Command::Type { .. }
                | Command::DbSize
                | Command::Keys { .. }
                | Command::HGet { .. }
                | Command::HMGet { .. }
                | Command::HGetAll { .. }
                | Command::HExists { .. }
                | Command::HKeys { .. }
                | Command::HLen { .. }
                | Command::HStrLen { .. }
                | Command::HScan { .. }
                | Command::HRandField { .. }
                | Command::SMembers { .. }
                | Command::SIsMember { .. }
                | Command::SMIsMember { .. }
                | Command::SCard { .. }
                | Command::SRandMember { .. }
                | Command::SCombine { .. }
                | Command::SInterCard { .. }
                | Command::SScan { .. }
                | Command::LRange { .. }
                | Command::LIndex { .. }
                | Command::LLen { .. }
                | Command::LPos { .. }
                | Command::ZScore { .. }
                | Command::ZMScore { .. }
                | Command::ZRange { .. }
                | Command::ZRank { .. }
                | Command::ZCard { .. }
                | Command::ZCount { .. }
                | Command::ZScan { .. }
                | Command::Watch { .. }
                | Command::Scan { .. }
                | Command::Touch { .. }
                | Command::Time
                | Command::RandomKey { .. }
                | Command::ObjectEncoding { .. }
        )
    }

    /// The user keys this command names (routing reads them): EXEC names
    /// its watched keys and its commands' keys, COPY both of its keys.
    pub fn keys(&self) -> Vec<&[u8]> {
        match self {
            Command::Set { key, .. }
            | Command::Get { key }
            | Command::GetDel { key }
            | Command::GetEx { key, .. }
            | Command::IncrBy { key, .. }
            | Command::IncrByFloat { key, .. }
            | Command::Append { key, .. }
            | Command::StrLen { key }
            | Command::GetRange { key, .. }
            | Command::SetRange { key, .. }
            | Command::Expire { key, .. }
            | Command::Ttl { key, .. }
            | Command::Persist { key }
            | Command::Type { key }
            | Command::HSet { key, .. }
            | Command::HSetNx { key, .. }
            | Command::HGet { key, .. }
            | Command::HMGet { key, .. }
            | Command::HGetAll { key }
            | Command::HDel { key, .. }
            | Command::HExists { key, .. }
            | Command::HIncrBy { key, .. }
            | Command::HIncrByFloat { key, .. }
            | Command::HKeys { key, .. }
            | Command::HLen { key }
            | Command::HStrLen { key, .. }
            | Command::HScan { key, .. }
            | Command::HRandField { key, .. }
            | Command::SAdd { key, .. }
            | Command::SRem { key, .. }
            | Command::SMembers { key }
            | Command::SIsMember { key, .. }
            | Command::SMIsMember { key, .. }
            | Command::SCard { key }
            | Command::SPop { key, .. }
            | Command::SRandMember { key, .. }
            | Command::SScan { key, .. }
            | Command::Push { key, .. }
            | Command::Pop { key, .. }
            | Command::LRange { key, .. }
            | Command::LIndex { key, .. }
            | Command::LLen { key }
            | Command::LSet { key, .. }
            | Command::LRem { key, .. }
            | Command::LTrim { key, .. }
            | Command::LInsert { key, .. }
            | Command::LPos { key, .. }
            | Command::ZAdd { key, .. }
            | Command::ZIncrBy { key, .. }
            | Command::ZScore { key, .. }
            | Command::ZMScore { key, .. }
            | Command::ZRange { key, .. }
            | Command::ZRank { key, .. }
            | Command::ZRem { key, .. }
            | Command::ZRemRange { key, .. }
            | Command::ZCard { key }
            | Command::ZCount { key, .. }
            | Command::ZPop { key, .. }
            | Command::ZScan { key, .. } => vec![key.as_slice()],
            Command::ZCombineStore {
                destination, keys, ..
            }
            | Command::SCombineStore {
                destination, keys, ..
            } => std::iter::once(destination.as_slice())
                .chain(keys.iter().map(Vec::as_slice))
                .collect(),
            Command::LMove {
                source,
                destination,
                ..
            }
            | Command::SMove {
                source,
                destination,
                ..
            } => vec![source.as_slice(), destination.as_slice()],
            Command::BlockingPop {
                keys, destination, ..
            } => keys
                .iter()
                .map(Vec::as_slice)
                .chain(destination.iter().map(|(key, _)| key.as_slice()))
                .collect(),
            Command::Exec { watched, ops } => watched
                .iter()
                .map(|w| w.key.as_slice())
                .chain(ops.iter().flat_map(|(_, cmd)| cmd.keys()))
                .collect(),
            Command::Publish { .. }
            | Command::Scan { .. }
            | Command::RandomKey { .. }
            | Command::Time => Vec::new(),
            Command::ObjectEncoding { key } => vec![key.as_slice()],
            Command::Copy {
                source,
                destination,
                ..
            } => vec![source.as_slice(), destination.as_slice()],
            Command::Touch { keys }
            | Command::SCombine { keys, .. }
            | Command::SInterCard { keys, .. }
            | Command::Watch { keys } => keys.iter().map(Vec::as_slice).collect(),
            Command::MSet { pairs } | Command::MSetNx { pairs } => {
                pairs.iter().map(|(key, _)| key.as_slice()).collect()
            }
            Command::MGet { keys } | Command::Del { keys } | Command::Exists { keys } => {
                keys.iter().map(Vec::as_slice).collect()
            }
            Command::Rename { source, target, .. } => vec![source.as_slice(), target.as_slice()],
            Command::DbSize
            | Command::FlushDb
            | Command::FlushAll
            | Command::Keys { .. }
            | Command::ExpireSweep { .. } => Vec::new(),
        }
    }

    /// The random seed a command carries, for the node to fill in before it
    /// runs: choices are drawn once, by the node that proposes (or reads),
    /// so that every replica makes the same ones.
    pub fn seeds_mut(&mut self) -> Vec<&mut u64> {
        match self {
            Command::SPop { seed, .. }
            | Command::SRandMember { seed, .. }
            | Command::RandomKey { seed }
            | Command::HRandField { seed, .. }
            | Command::BlockingPop { request: seed, .. } => vec![seed],
            Command::Exec { ops, .. } => ops
                .iter_mut()
                .flat_map(|(_, cmd)| cmd.seeds_mut())
                .collect(),
            _ => Vec::new(),
        }
    }
}
