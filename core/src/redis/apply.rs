//! The shard state machine: executes one [`Command`] against a [`Store`] with
//! the semantics and reply shapes of Redis 7.
//!
//! Owns the meaning of every command and the bookkeeping beside the data
//! (layout in [`crate::redis::keys`]). After every `apply`:
//! - the count record of each db equals the number of data records in it;
//! - the expiry index holds one entry `(deadline, db, key)` for each data
//!   record with a deadline, and no other entry;
//! - no record was written with a deadline at or before the entry's time;
//! - the shard clock never decreases: an entry runs at `max(ts_ms, clock)`.
//!
//! A record whose deadline is at or before now is absent to every command.
//! Reads never delete it. A write command first deletes the expired records
//! of every key it names (as Redis's `lookupKeyWrite` does), and
//! `ExpireSweep` deletes the rest in deadline order. DBSIZE therefore counts
//! expired keys not yet deleted, as Redis's does.
//!
//! Determinism: what is written and returned depends only on `ctx.index`, the
//! request and the store's contents. There are no clocks, no randomness and
//! no hash-ordered iteration here.

mod extended;
mod hash;
mod keyspace;
mod list;
pub mod numbers;
mod picks;
mod scan;
mod set;
mod zset;

#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzz;
#[cfg(any(test, feature = "fuzzing"))]
pub mod invariants;
#[cfg(any(test, feature = "fuzzing"))]
pub mod model;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod zset_model_tests;

use crate::entry::Entry;
use crate::family::{At, Effects};
use crate::ids::DB_COUNT;
use crate::machine::{ApplyCtx, Reply};
use crate::redis::command::{
    Command, ExpireCondition, Expiry, GetExExpiry, Key, SetCondition, SetExpiry, Value, Watched,
};
use crate::redis::glob::glob_match;
use crate::redis::keys::{self, Kind, Record};
use crate::redis::output::{errors, Output};
use crate::redis::RedisOp;
use crate::store::{Store, StoreError};

/// Redis's default `proto-max-bulk-len`: no write may grow a string beyond it.
pub const STRING_LEN_MAX_BYTES: u64 = 512 * 1024 * 1024;

const WRITE_ON_READ_PATH: &str = "ERR internal: write command on the read path";
const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";

/// What an op answers when it could not be carried out (a bug: apply
/// panicked). The reason follows it.
pub const OP_FAILED: &str = "ERR internal error, the command was not applied:";

/// Runs one Redis op at `at` (the kernel, `crate::machine`, moved the clock
/// and undoes the op if it panics).
pub(crate) fn run_op(
    at: At,
    op: &RedisOp,
    store: &mut impl Store,
    effects: &mut Effects,
) -> Result<Output, StoreError> {
    Shard {
        store,
        db: 0,
        now_ms: at.now_ms,
        version: at.index,
        effects,
    }
    .run_in(op.db, &op.cmd)
}

/// Executes a read-only command at `now_ms` (already no earlier than the
/// shard clock) without writing anything.
pub(crate) fn read_op(
    now_ms: u64,
    db: u8,
    cmd: &Command,
    store: &impl Store,
) -> Result<Output, StoreError> {
    if db >= DB_COUNT {
        return Ok(Output::err(DB_OUT_OF_RANGE));
    }
    read_command(&View { store, db, now_ms }, cmd)
}

/// Applies a Redis-only entry and answers its outputs: the kernel's apply
/// as tests, benchmarks and the fuzz target call it.
pub fn apply(
    ctx: &ApplyCtx,
    entry: &Entry,
    store: &mut impl Store,
) -> Result<Vec<Output>, StoreError> {
    let applied = crate::machine::apply(ctx, entry, store)?;
    Ok(applied.outputs.into_iter().map(Reply::into_redis).collect())
}

/// Reads with a Redis command at `now_ms`, as the kernel's read path does
/// (time no earlier than the shard clock, a panic answered), for tests,
/// benchmarks and the fuzz target.
pub fn read(now_ms: u64, db: u8, cmd: &Command, store: &impl Store) -> Result<Output, StoreError> {
    let now_ms = now_ms.max(crate::clock::read_clock(store)?);
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_op(now_ms, db, cmd, store)
    }));
    ran.unwrap_or_else(|panic| Ok(failed(crate::machine::panic_reason(&*panic))))
}

/// The output of an op that panicked and was undone.
pub(crate) fn failed(reason: &str) -> Output {
    Output::Error(format!("{OP_FAILED} {reason}"))
}

/// The user keys whose expired records are deleted before a write runs:
/// the keys it names, but for EXEC (its commands purge their own keys, each
/// in its own db) and COPY (it purges its destination, in the destination's
/// db, itself).
fn purged_keys(cmd: &Command) -> Vec<&[u8]> {
    match cmd {
        Command::Exec { .. } => Vec::new(),
        Command::Copy { source, .. } => vec![source.as_slice()],
        _ => cmd.keys(),
    }
}

/// An absolute deadline in ms; may be negative or beyond `u64` before it is
/// checked against now.
fn deadline_ms(expiry: Expiry, now_ms: u64) -> i128 {
    match expiry {
        Expiry::RelativeMs(ms) => i128::from(now_ms) + i128::from(ms),
        Expiry::AbsoluteMs(ms) => i128::from(ms),
    }
}

fn int_output(n: u64) -> Output {
    Output::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

fn len_output(len: usize) -> Output {
    int_output(u64::try_from(len).unwrap_or(u64::MAX))
}

/// What a key holds, for commands that want a string.
enum Found {
    Absent,
    String(Record),
    WrongType,
}

/// Read access to one db at one instant; shared by the read path and apply.
struct View<'s, S: Store> {
    store: &'s S,
    db: u8,
    now_ms: u64,
}

/// Dispatches a read-only command.
fn read_command<S: Store>(view: &View<'_, S>, cmd: &Command) -> Result<Output, StoreError> {
    match cmd {
        Command::Get { key } => view.get(key),
        Command::MGet { keys } => view.mget(keys),
        Command::Exists { keys } => view.exists(keys),
        Command::StrLen { key } => view.strlen(key),
        Command::GetRange { key, start, end } => view.getrange(key, *start, *end),
        Command::Ttl { key, millis } => view.ttl(key, *millis),
        Command::Type { key } => view.type_of(key),
        Command::DbSize => Ok(int_output(keys::read_count(view.store, view.db)?)),
        Command::Keys { pattern } => view.keys(pattern),
        Command::HGet { key, field } => view.hget(key, field),
        Command::HMGet { key, fields } => view.hmget(key, fields),
        Command::HGetAll { key } => view.hgetall(key),
        Command::HExists { key, field } => view.hexists(key, field),
        Command::HKeys { key, values } => view.hkeys_or_vals(key, *values),
        Command::HLen { key } => view.hlen(key),
        Command::HStrLen { key, field } => view.hstrlen(key, field),
        Command::HRandField {
            key,
            count,
            withvalues,
            seed,
        } => view.hrandfield(key, *count, *withvalues, *seed),
        Command::HScan {
            key,
            cursor,
            pattern,
            count,
            novalues,
        } => view.hscan(key, *cursor, pattern.as_deref(), *count, *novalues),
        Command::SMembers { key } => view.smembers(key),
        Command::SIsMember { key, member } => view.sismember(key, member),
        Command::SMIsMember { key, members } => view.smismember(key, members),
        Command::SCard { key } => view.scard(key),
        Command::SRandMember { key, count, seed } => view.srandmember(key, *count, *seed),
        Command::SCombine { op, keys } => view.scombine(*op, keys),
        Command::SInterCard { keys, limit } => view.sintercard(keys, *limit),
        Command::SScan {
            key,
            cursor,
            pattern,
            count,
        } => view.sscan(key, *cursor, pattern.as_deref(), *count),
        Command::LRange { key, start, stop } => view.lrange(key, *start, *stop),
        Command::LIndex { key, index } => view.lindex(key, *index),
        Command::LLen { key } => view.llen(key),
        Command::LPos {
            key,
            element,
            rank,
            count,
            maxlen,
        } => view.lpos(key, element, *rank, *count, *maxlen),
        Command::Watch { keys } => view.watch(keys),
        Command::Scan {
            cursor,
            pattern,
            count,
            kind,
        } => view.scan_keys(*cursor, pattern.as_deref(), *count, kind.as_deref()),
        Command::Touch { keys } => view.touch(keys),
        Command::Time => Ok(Output::Array(vec![
            Output::Bytes((view.now_ms / 1000).to_string().into_bytes()),
            Output::Bytes((view.now_ms % 1000 * 1000).to_string().into_bytes()),
        ])),
        Command::RandomKey { seed } => view.random_key(*seed),
        Command::ObjectEncoding { key } => view.object_encoding(key),
        Command::ZScore { key, member } => view.zscore(key, member),
        Command::ZMScore { key, members } => view.zmscore(key, members),
        Command::ZRange {
            key,
            spec,
            rev,
            limit,
            withscores,
        } => view.zrange(key, spec, *rev, *limit, *withscores),
        Command::ZRank { key, member, rev } => view.zrank(key, member, *rev),
        Command::ZCard { key } => view.zcard(key),
        Command::ZCount { key, spec } => view.zcount(key, spec),
        Command::ZScan {
            key,
            cursor,
            pattern,
            count,
        } => view.zscan(key, *cursor, pattern.as_deref(), *count),
        // Everything else changes state: it never reaches the read path.
        _ => {
            assert!(
                !cmd.is_read_only(),
                "every read-only command has a read arm"
            );
            Ok(Output::err(WRITE_ON_READ_PATH))
        }
    }
}

/// A key-value pair of bytes.
type Pair = (Vec<u8>, Vec<u8>);

/// Every (key without `prefix`, value) under `prefix`, in key order.
fn scan_suffixes(store: &impl Store, prefix: &[u8]) -> Result<Vec<Pair>, StoreError> {
    let mut out = Vec::new();
    store.scan(prefix, &mut |encoded, value| {
        out.push((encoded[prefix.len()..].to_vec(), value.to_vec()));
        true
    })?;
    Ok(out)
}

/// Redis's clamping of an index range (LRANGE, LTRIM, ZRANGE, ...) over
/// `len` items: negative indices count from the end, ends past the list
/// are cut; `None` when nothing is left.
fn index_range(len: u64, start: i64, stop: i64) -> Option<(u64, u64)> {
    let len = i128::from(len);
    let resolve = |i: i64| {
        let i = i128::from(i);
        if i < 0 {
            len + i
        } else {
            i
        }
    };
    let start = resolve(start).max(0);
    let stop = resolve(stop).min(len - 1);
    if start > stop || start >= len {
        return None;
    }
    Some((u64::try_from(start).ok()?, u64::try_from(stop).ok()?))
}

/// Deletes and returns the first key under `age_tag`: the oldest entry of
/// an age index (tombstones, blocking-pop results), whose count says there
/// is one.
fn take_oldest(store: &mut impl Store, age_tag: u8) -> Result<Vec<u8>, StoreError> {
    let mut oldest = None;
    store.scan(&[age_tag], &mut |encoded, _| {
        oldest = Some(encoded.to_vec());
        false
    })?;
    let oldest = oldest.ok_or_else(|| {
        StoreError(format!(
            "age index {age_tag:#04x} out of step with its count"
        ))
    })?;
    store.delete(&oldest)?;
    Ok(oldest)
}

/// The stored record of `key` in `db`, expired or not.
fn stored_record(store: &impl Store, db: u8, key: &[u8]) -> Result<Option<Record>, StoreError> {
    store
        .get(&keys::data_key(db, key))?
        .map(Record::decode_owned)
        .transpose()
}

impl<S: Store> View<'_, S> {
    /// The record of `key` unless it is missing or expired.
    fn live(&self, key: &[u8]) -> Result<Option<Record>, StoreError> {
        let record = stored_record(self.store, self.db, key)?;
        Ok(record.filter(|record| !record.is_expired(self.now_ms)))
    }

    fn find_string(&self, key: &[u8]) -> Result<Found, StoreError> {
        Ok(match self.live(key)? {
            None => Found::Absent,
            Some(record) if record.kind == Kind::String => Found::String(record),
            Some(_) => Found::WrongType,
        })
    }

    fn get(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_string(key)? {
            Found::Absent => Output::Nil,
            Found::String(record) => Output::Bytes(record.payload),
            Found::WrongType => Output::err(errors::WRONGTYPE),
        })
    }

    fn mget(&self, keys: &[Key]) -> Result<Output, StoreError> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(match self.find_string(key)? {
                Found::String(record) => Output::Bytes(record.payload),
                Found::Absent | Found::WrongType => Output::Nil,
            });
        }
        Ok(Output::Array(values))
    }

    /// Counts every live key, duplicates included.
    fn exists(&self, keys: &[Key]) -> Result<Output, StoreError> {
        let mut count = 0u64;
        for key in keys {
            count += u64::from(self.live(key)?.is_some());
        }
        Ok(int_output(count))
    }

    fn strlen(&self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.find_string(key)? {
            Found::Absent => Output::Int(0),
            Found::String(record) => len_output(record.payload.len()),
            Found::WrongType => Output::err(errors::WRONGTYPE),
        })
    }

    fn getrange(&self, key: &[u8], start: i64, end: i64) -> Result<Output, StoreError> {
        Ok(match self.find_string(key)? {
            Found::Absent => Output::Bytes(Vec::new()),
            Found::String(record) => Output::Bytes(substring(&record.payload, start, end).to_vec()),
            Found::WrongType => Output::err(errors::WRONGTYPE),
        })
    }

    fn ttl(&self, key: &[u8], millis: bool) -> Result<Output, StoreError> {
        let Some(record) = self.live(key)? else {
            return Ok(Output::Int(-2));
        };
        let Some(deadline) = record.expires_at_ms else {
            return Ok(Output::Int(-1));
        };
        assert!(
            deadline > self.now_ms,
            "a live record's deadline is in the future"
        );
        let remaining_ms = deadline - self.now_ms;
        Ok(int_output(if millis {
            remaining_ms
        } else {
            remaining_ms.saturating_add(500) / 1000
        }))
    }

    fn type_of(&self, key: &[u8]) -> Result<Output, StoreError> {
        let name = self.live(key)?.map_or("none", |record| record.kind.name());
        Ok(Output::Status(name.to_string()))
    }

    /// WATCH: the applied index of this state, then each key's version
    /// (nil when absent or expired).
    fn watch(&self, names: &[Key]) -> Result<Output, StoreError> {
        let index = crate::clock::read_applied_index(self.store)?;
        let mut out = vec![int_output(index)];
        for name in names {
            out.push(match self.live(name)? {
                Some(record) => int_output(record.version),
                None => Output::Nil,
            });
        }
        Ok(Output::Array(out))
    }

    /// KEYS: live keys matching `pattern`, in byte order. Like Redis, a lone
    /// `*` skips the matcher, so it also lists the empty key.
    fn keys(&self, pattern: &[u8]) -> Result<Output, StoreError> {
        let all_keys = pattern == b"*";
        let prefix = keys::data_prefix(self.db);
        let mut names = Vec::new();
        let mut failure = None;
        self.store.scan(&prefix, &mut |encoded, value| {
            let name = &encoded[prefix.len()..];
            if !all_keys && !glob_match(pattern, name, false) {
                return true;
            }
            match Record::decode(value) {
                Ok(record) if record.is_expired(self.now_ms) => true,
                Ok(_) => {
                    names.push(Output::Bytes(name.to_vec()));
                    true
                }
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        })?;
        match failure {
            Some(error) => Err(error),
            None => Ok(Output::Array(names)),
        }
    }
}

/// GETRANGE's slice, with Redis's handling of negative and outlying indices.
fn substring(bytes: &[u8], start: i64, end: i64) -> &[u8] {
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let len = i128::try_from(bytes.len()).expect("a slice length fits in i128");
    let resolve = |index: i64| {
        let index = i128::from(index);
        if index < 0 {
            (len + index).max(0)
        } else {
            index
        }
    };
    let (start, end) = (resolve(start), resolve(end).min(len - 1));
    if len == 0 || start > end {
        return &[];
    }
    let start = usize::try_from(start).expect("0 <= start <= end < len");
    let end = usize::try_from(end).expect("0 <= end < len");
    &bytes[start..=end]
}

/// Write access to one db at one instant, stamping `version` on what it
/// writes. Every change to data goes through `put` and `remove`, which keep
/// the count and the expiry index in step.
struct Shard<'s, S: Store> {
    store: &'s mut S,
    db: u8,
    now_ms: u64,
    version: u64,
    effects: &'s mut Effects,
}

impl<S: Store> Shard<'_, S> {
    fn view(&self) -> View<'_, S> {
        View {
            store: &*self.store,
            db: self.db,
            now_ms: self.now_ms,
        }
    }

    /// Runs one command in `db`: reads on the read path; writes after
    /// deleting the expired records of the keys they name.
    fn run_in(&mut self, db: u8, cmd: &Command) -> Result<Output, StoreError> {
        if db >= DB_COUNT {
            return Ok(Output::err(DB_OUT_OF_RANGE));
        }
        let mut shard = self.in_db(db);
        if cmd.is_read_only() {
            return read_command(&shard.view(), cmd);
        }
        if let Command::Set {
            key,
            value,
            condition,
            expiry,
            get,
        } = cmd
        {
            // SET reads its key once, for the purge and the write both.
            return shard.set(key, value, *condition, *expiry, *get);
        }
        for key in purged_keys(cmd) {
            shard.purge_if_expired(key)?;
        }
        shard.execute(cmd)
    }

    /// EXEC: nothing runs if a watched key changed since WATCH read it
    /// (null array); otherwise every queued command runs, in order, in this
    /// entry, each with its own reply (errors included, as in Redis).
    fn exec(&mut self, watched: &[Watched], ops: &[(u8, Command)]) -> Result<Output, StoreError> {
        for w in watched {
            if w.db >= DB_COUNT || self.in_db(w.db).changed_since(w)? {
                return Ok(Output::NilArray);
            }
        }
        let mut outputs = Vec::with_capacity(ops.len());
        for (db, cmd) in ops {
            outputs.push(match cmd {
                Command::Exec { .. } => Output::err("ERR EXEC inside a transaction"),
                cmd => self.run_in(*db, cmd)?,
            });
        }
        Ok(Output::Array(outputs))
    }

    /// Whether `w.key` may have changed since WATCH saw it: a new version,
    /// appearing or disappearing (expiry included), or, for a key absent
    /// both times, a deletion after the watch (a tombstone, or tombstones
    /// forgotten past the watch, which cannot rule one out).
    fn changed_since(&self, w: &Watched) -> Result<bool, StoreError> {
        let now = self.view().live(&w.key)?;
        Ok(match (w.version, now) {
            (Some(version), Some(record)) => record.version != version,
            (Some(_), None) | (None, Some(_)) => true,
            (None, None) => {
                let deleted = keys::read_tombstone(self.store, self.db, &w.key)?;
                let (_, floor) = keys::read_tombstone_meta(self.store)?;
                deleted.is_some_and(|index| index > w.at_index) || floor > w.at_index
            }
        })
    }

    /// The same shard, working in another db.
    fn in_db(&mut self, db: u8) -> Shard<'_, S> {
        Shard {
            store: &mut *self.store,
            db,
            now_ms: self.now_ms,
            version: self.version,
            effects: &mut *self.effects,
        }
    }

    /// Dispatches a command; read-only ones go to the read path.
    fn execute(&mut self, cmd: &Command) -> Result<Output, StoreError> {
        match cmd {
            Command::Set {
                key,
                value,
                condition,
                expiry,
                get,
            } => self.set(key, value, *condition, *expiry, *get),
            Command::GetDel { key } => self.getdel(key),
            Command::GetEx { key, expiry } => self.getex(key, *expiry),
            Command::MSet { pairs } => self.mset(pairs),
            Command::MSetNx { pairs } => self.msetnx(pairs),
            Command::Del { keys } => self.del(keys),
            Command::IncrBy { key, delta } => self.incr_by(key, *delta),
            Command::IncrByFloat { key, delta } => self.incr_by_float(key, delta),
            Command::Append { key, value } => self.append(key, value),
            Command::SetRange { key, offset, value } => self.setrange(key, *offset, value),
            Command::Expire {
                key,
                expiry,
                condition,
            } => self.expire(key, *expiry, *condition),
            Command::Persist { key } => self.persist(key),
            Command::FlushDb => self.flush_db().map(|()| Output::Ok),
            Command::FlushAll => self.flush_all(),
            Command::Rename {
                source,
                target,
                only_if_absent,
            } => self.rename(source, target, *only_if_absent),
            Command::ExpireSweep { limit } => self.expire_sweep(*limit),
            Command::HSet {
                key,
                pairs,
                count_new,
            } => self.hset(key, pairs, *count_new),
            Command::HSetNx { key, field, value } => self.hsetnx(key, field, value),
            Command::HDel { key, fields } => self.hdel(key, fields),
            Command::HIncrBy { key, field, delta } => self.hincrby(key, field, *delta),
            Command::HIncrByFloat { key, field, delta } => self.hincrbyfloat(key, field, delta),
            Command::SAdd { key, members } => self.sadd(key, members),
            Command::SRem { key, members } => self.srem(key, members),
            Command::SPop { key, count, seed } => self.spop(key, *count, *seed),
            Command::SCombineStore {
                op,
                destination,
                keys,
            } => self.scombine_store(*op, destination, keys),
            Command::SMove {
                source,
                destination,
                member,
            } => self.smove(source, destination, member),
            Command::Push {
                key,
                values,
                left,
                only_if_exists,
            } => self.push(key, values, *left, *only_if_exists),
            Command::Pop { key, left, count } => self.pop(key, *left, *count),
            Command::LSet { key, index, value } => self.lset(key, *index, value),
            Command::LRem { key, count, value } => self.lrem(key, *count, value),
            Command::LTrim { key, start, stop } => self.ltrim(key, *start, *stop),
            Command::LInsert {
                key,
                before,
                pivot,
                value,
            } => self.linsert(key, *before, pivot, value),
            Command::LMove {
                source,
                destination,
                from_left,
                to_left,
            } => self.lmove(source, destination, *from_left, *to_left),
            Command::ZAdd { key, flags, pairs } => self.zadd(key, *flags, pairs),
            Command::ZIncrBy { key, delta, member } => self.zincrby(key, *delta, member),
            Command::ZRem { key, members } => self.zrem(key, members),
            Command::ZRemRange { key, spec } => self.zremrange(key, spec),
            Command::ZPop { key, max, count } => self.zpop(key, *max, *count),
            Command::ZCombineStore {
                union,
                destination,
                keys,
                weights,
                aggregate,
            } => self.zcombine_store(*union, destination, keys, weights, *aggregate),
            Command::Exec { watched, ops } => self.exec(watched, ops),
            Command::BlockingPop {
                keys,
                left,
                destination,
                request,
            } => self.blocking_pop(keys, *left, destination.as_ref(), *request),
            // Delivery is the node's, after apply; the reply (receivers) too.
            Command::Publish { channel, message } => {
                self.effects
                    .published
                    .push((channel.clone(), message.clone()));
                Ok(Output::Int(0))
            }
            Command::Copy {
                source,
                destination,
                db,
                replace,
            } => self.copy(source, destination, *db, *replace),
            // The rest only reads (`run_in` sends those to the read path
            // before this).
            _ => read_command(&self.view(), cmd),
        }
    }

    /// Writes `key` as a string.
    fn put(
        &mut self,
        key: &[u8],
        payload: Vec<u8>,
        expires_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.put_kind(key, Kind::String, payload, expires_at_ms)
    }

    /// Writes `key`, replacing any value it had (a collection's elements
    /// included), and keeps the count and the expiry index in step.
    fn put_kind(
        &mut self,
        key: &[u8],
        kind: Kind,
        payload: Vec<u8>,
        expires_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.write_record(key, kind, payload, expires_at_ms, true)
    }

    /// Writes a collection's record (its element count) and leaves its
    /// elements alone; keeps the count and the expiry index in step.
    fn put_collection(
        &mut self,
        key: &[u8],
        kind: Kind,
        payload: Vec<u8>,
        expires_at_ms: Option<u64>,
    ) -> Result<(), StoreError> {
        self.write_record(key, kind, payload, expires_at_ms, false)
    }

    fn write_record(
        &mut self,
        key: &[u8],
        kind: Kind,
        payload: Vec<u8>,
        expires_at_ms: Option<u64>,
        replace_elements: bool,
    ) -> Result<(), StoreError> {
        let old = stored_record(self.store, self.db, key)?;
        self.write_over(
            key,
            kind,
            &payload,
            expires_at_ms,
            replace_elements,
            old.as_ref(),
        )
    }

    /// `write_record` for a caller that has just read `old`, the record
    /// stored at `key` (expired or not).
    fn write_over(
        &mut self,
        key: &[u8],
        kind: Kind,
        payload: &[u8],
        expires_at_ms: Option<u64>,
        replace_elements: bool,
        old: Option<&Record>,
    ) -> Result<(), StoreError> {
        assert!(
            expires_at_ms.is_none_or(|deadline| deadline > self.now_ms),
            "a record is never written already expired"
        );
        match old {
            Some(old) => {
                self.unindex(key, old.expires_at_ms)?;
                if replace_elements && old.kind.has_elements() {
                    self.delete_elements(key)?;
                }
            }
            None => self.adjust_count(true)?,
        }
        if let Some(deadline) = expires_at_ms {
            self.store
                .put(&keys::expiry_key(deadline, self.db, key), &[])?;
        }
        let record = Record::encode_parts(kind, expires_at_ms, self.version, payload);
        let data_key = keys::data_key(self.db, key);
        self.effects.wrote(&data_key);
        self.store.put_owned(data_key, record)
    }

    /// Writes a counted collection's record (hash, set, sorted set) with
    /// `count` members, keeping the deadline of `existing`; a collection
    /// left empty is deleted, as in Redis.
    fn store_counted(
        &mut self,
        key: &[u8],
        kind: Kind,
        existing: Option<&Record>,
        count: u64,
    ) -> Result<(), StoreError> {
        if count == 0 {
            return self.remove(key).map(drop);
        }
        let expires_at_ms = existing.and_then(|record| record.expires_at_ms);
        self.put_collection(key, kind, keys::encode_count(count), expires_at_ms)
    }

    /// Deletes the elements `names` (under sub-tag `sub`) of the counted
    /// collection `existing` at `key`; returns how many there were.
    fn remove_named(
        &mut self,
        key: &[u8],
        kind: Kind,
        existing: &Record,
        sub: u8,
        names: &[Vec<u8>],
    ) -> Result<u64, StoreError> {
        let mut count = keys::decode_count(&existing.payload)?;
        let mut removed = 0u64;
        for name in names {
            let element = keys::element_key(self.db, key, sub, name);
            if self.store.get(&element)?.is_some() {
                self.store.delete(&element)?;
                removed += 1;
                count -= 1;
            }
        }
        if removed > 0 {
            self.store_counted(key, kind, Some(existing), count)?;
        }
        Ok(removed)
    }

    /// Every element of `key`: (element bytes after the key's prefix, value).
    fn elements(&self, key: &[u8]) -> Result<Vec<Pair>, StoreError> {
        scan_suffixes(&*self.store, &keys::elements_prefix(self.db, key))
    }

    fn delete_elements(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let prefix = keys::elements_prefix(self.db, key);
        for (element, _) in self.elements(key)? {
            let mut encoded = prefix.clone();
            encoded.extend_from_slice(&element);
            self.store.delete(&encoded)?;
        }
        Ok(())
    }

    /// Writes `key` over `old` (the record stored there, just read) to
    /// expire at `when_ms` (`None`: never). A deadline at or before now
    /// deletes the key instead, as in Redis.
    fn put_until(
        &mut self,
        key: &[u8],
        kind: Kind,
        payload: &[u8],
        when_ms: Option<i128>,
        old: Option<&Record>,
    ) -> Result<(), StoreError> {
        match when_ms {
            Some(when) if when <= i128::from(self.now_ms) => match old {
                Some(old) => self.remove_stored(key, old),
                None => Ok(()),
            },
            when => {
                let deadline = when.map(|when| u64::try_from(when).unwrap_or(u64::MAX));
                self.write_over(key, kind, payload, deadline, true, old)
            }
        }
    }

    /// Deletes `key`'s record, expired or not; returns whether there was one.
    fn remove(&mut self, key: &[u8]) -> Result<bool, StoreError> {
        let Some(old) = stored_record(self.store, self.db, key)? else {
            return Ok(false);
        };
        self.remove_stored(key, &old)?;
        Ok(true)
    }

    /// `remove` for a caller that has just read `old`, the record stored at
    /// `key`.
    fn remove_stored(&mut self, key: &[u8], old: &Record) -> Result<(), StoreError> {
        self.unindex(key, old.expires_at_ms)?;
        if old.kind.has_elements() {
            self.delete_elements(key)?;
        }
        let data_key = keys::data_key(self.db, key);
        self.effects.deleted(&data_key);
        self.store.delete(&data_key)?;
        self.adjust_count(false)?;
        self.bury(key)
    }

    /// Records that `key` was deleted by this entry (for WATCH), forgetting
    /// the oldest tombstone when there are too many.
    fn bury(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let (mut count, mut floor) = keys::read_tombstone_meta(self.store)?;
        match keys::read_tombstone(self.store, self.db, key)? {
            Some(previous) => self
                .store
                .delete(&keys::tombstone_age_key(previous, self.db, key))?,
            None => count += 1,
        }
        self.store.put(
            &keys::tombstone_key(self.db, key),
            &self.version.to_le_bytes(),
        )?;
        self.store
            .put(&keys::tombstone_age_key(self.version, self.db, key), &[])?;
        if count > keys::TOMBSTONES_MAX {
            let oldest = take_oldest(self.store, keys::TAG_TOMBSTONE_AGE)?;
            let index = u64::from_be_bytes(oldest[1..9].try_into().expect("8 bytes"));
            let (db, name) = (oldest[9], &oldest[10..]);
            self.store.delete(&keys::tombstone_key(db, name))?;
            floor = floor.max(index);
            count -= 1;
        }
        keys::write_tombstone_meta(self.store, count, floor)
    }

    fn purge_if_expired(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let stored = stored_record(self.store, self.db, key)?;
        if stored.is_some_and(|record| record.is_expired(self.now_ms)) {
            self.remove(key)?;
        }
        Ok(())
    }

    fn unindex(&mut self, key: &[u8], expires_at_ms: Option<u64>) -> Result<(), StoreError> {
        match expires_at_ms {
            Some(deadline) => self.store.delete(&keys::expiry_key(deadline, self.db, key)),
            None => Ok(()),
        }
    }

    fn adjust_count(&mut self, added: bool) -> Result<(), StoreError> {
        let count = keys::read_count(self.store, self.db)?;
        let next = if added {
            count.checked_add(1)
        } else {
            count.checked_sub(1)
        };
        let next = next.ok_or_else(|| {
            StoreError(format!(
                "key count {count} of db {} is out of step with the data",
                self.db
            ))
        })?;
        keys::write_count(self.store, self.db, next)
    }

    /// SET, reading its key once: an expired record is purged first (as
    /// `run_in` does for other writes), and the write replaces what is
    /// left.
    fn set(
        &mut self,
        key: &[u8],
        value: &Value,
        condition: SetCondition,
        expiry: SetExpiry,
        get: bool,
    ) -> Result<Output, StoreError> {
        let old = match stored_record(self.store, self.db, key)? {
            Some(record) if record.is_expired(self.now_ms) => {
                self.remove_stored(key, &record)?;
                None
            }
            live => live,
        };
        if get
            && old
                .as_ref()
                .is_some_and(|record| record.kind != Kind::String)
        {
            return Ok(Output::err(errors::WRONGTYPE));
        }
        let blocked = match condition {
            SetCondition::Always => false,
            SetCondition::IfAbsent => old.is_some(),
            SetCondition::IfPresent => old.is_none(),
        };
        let when_ms = match expiry {
            SetExpiry::Clear => None,
            SetExpiry::Keep => old
                .as_ref()
                .and_then(|record| record.expires_at_ms)
                .map(i128::from),
            SetExpiry::At(expiry) => Some(deadline_ms(expiry, self.now_ms)),
        };
        if !blocked {
            self.put_until(key, Kind::String, value, when_ms, old.as_ref())?;
        }
        Ok(match (old, get, blocked) {
            (None, true, _) => Output::Nil,
            (Some(record), true, _) => Output::Bytes(record.payload),
            (_, false, true) => Output::Nil,
            (_, false, false) => Output::Ok,
        })
    }

    fn getdel(&mut self, key: &[u8]) -> Result<Output, StoreError> {
        Ok(match self.view().find_string(key)? {
            Found::Absent => Output::Nil,
            Found::WrongType => Output::err(errors::WRONGTYPE),
            Found::String(record) => {
                self.remove(key)?;
                Output::Bytes(record.payload)
            }
        })
    }

    fn getex(&mut self, key: &[u8], expiry: GetExExpiry) -> Result<Output, StoreError> {
        let record = match self.view().find_string(key)? {
            Found::Absent => return Ok(Output::Nil),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::String(record) => record,
        };
        let reply = Output::Bytes(record.payload.clone());
        match expiry {
            GetExExpiry::Unchanged => {}
            GetExExpiry::Persist if record.expires_at_ms.is_none() => {}
            GetExExpiry::Persist => self.put(key, record.payload, None)?,
            GetExExpiry::At(expiry) => {
                let when_ms = deadline_ms(expiry, self.now_ms);
                self.put_until(
                    key,
                    record.kind,
                    &record.payload,
                    Some(when_ms),
                    Some(&record),
                )?;
            }
        }
        Ok(reply)
    }

    fn mset(&mut self, pairs: &[(Key, Value)]) -> Result<Output, StoreError> {
        for (key, value) in pairs {
            self.put(key, value.clone(), None)?;
        }
        Ok(Output::Ok)
    }

    fn msetnx(&mut self, pairs: &[(Key, Value)]) -> Result<Output, StoreError> {
        for (key, _) in pairs {
            if self.view().live(key)?.is_some() {
                return Ok(Output::Int(0));
            }
        }
        self.mset(pairs)?;
        Ok(Output::Int(1))
    }

    fn del(&mut self, keys: &[Key]) -> Result<Output, StoreError> {
        let mut deleted = 0u64;
        for key in keys {
            if self.view().live(key)?.is_some() {
                self.remove(key)?;
                deleted += 1;
            }
        }
        Ok(int_output(deleted))
    }

    fn incr_by(&mut self, key: &[u8], delta: i64) -> Result<Output, StoreError> {
        let (current, expires_at_ms) = match self.view().find_string(key)? {
            Found::Absent => (0, None),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::String(record) => match numbers::parse_i64(&record.payload) {
                Some(current) => (current, record.expires_at_ms),
                None => return Ok(Output::err(errors::NOT_INTEGER)),
            },
        };
        let Some(next) = current.checked_add(delta) else {
            return Ok(Output::err(errors::OVERFLOW));
        };
        self.put(key, next.to_string().into_bytes(), expires_at_ms)?;
        Ok(Output::Int(next))
    }

    fn incr_by_float(&mut self, key: &[u8], delta: &[u8]) -> Result<Output, StoreError> {
        let (current, expires_at_ms) = match self.view().find_string(key)? {
            Found::Absent => (None, None),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::String(record) => (Some(record.payload), record.expires_at_ms),
        };
        match numbers::incr_by_float(current.as_deref(), delta) {
            Ok(text) => {
                let text = text.into_bytes();
                self.put(key, text.clone(), expires_at_ms)?;
                Ok(Output::Bytes(text))
            }
            Err(numbers::FloatError::NotFloat) => Ok(Output::err(errors::NOT_FLOAT)),
            Err(numbers::FloatError::NanOrInfinity) => Ok(Output::err(errors::NAN_OR_INF)),
        }
    }

    fn append(&mut self, key: &[u8], value: &[u8]) -> Result<Output, StoreError> {
        let record = match self.view().find_string(key)? {
            Found::Absent => {
                self.put(key, value.to_vec(), None)?;
                return Ok(len_output(value.len()));
            }
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::String(record) => record,
        };
        if exceeds_string_max(record.payload.len() as u64, value.len() as u64) {
            return Ok(Output::err(errors::STRING_TOO_LONG));
        }
        let mut payload = record.payload;
        payload.extend_from_slice(value);
        let len = payload.len();
        self.put(key, payload, record.expires_at_ms)?;
        Ok(len_output(len))
    }

    fn setrange(&mut self, key: &[u8], offset: u64, value: &[u8]) -> Result<Output, StoreError> {
        let (payload, expires_at_ms) = match self.view().find_string(key)? {
            // Setting nothing on a missing key does not create it.
            Found::Absent if value.is_empty() => return Ok(Output::Int(0)),
            Found::Absent => (Vec::new(), None),
            Found::WrongType => return Ok(Output::err(errors::WRONGTYPE)),
            Found::String(record) if value.is_empty() => {
                return Ok(len_output(record.payload.len()))
            }
            Found::String(record) => (record.payload, record.expires_at_ms),
        };
        if exceeds_string_max(offset, value.len() as u64) {
            return Ok(Output::err(errors::STRING_TOO_LONG));
        }
        let start = usize::try_from(offset).expect("offset is under 512 MiB");
        let mut payload = payload;
        if payload.len() < start + value.len() {
            payload.resize(start + value.len(), 0);
        }
        payload[start..start + value.len()].copy_from_slice(value);
        let len = payload.len();
        self.put(key, payload, expires_at_ms)?;
        Ok(len_output(len))
    }

    fn expire(
        &mut self,
        key: &[u8],
        expiry: Expiry,
        condition: ExpireCondition,
    ) -> Result<Output, StoreError> {
        let Some(record) = self.view().live(key)? else {
            return Ok(Output::Int(0));
        };
        let when_ms = deadline_ms(expiry, self.now_ms);
        let current_ms = record.expires_at_ms.map(i128::from);
        // GT and LT treat "no expiry" as an infinite TTL.
        let allowed = match condition {
            ExpireCondition::Always => true,
            ExpireCondition::IfNoExpiry => current_ms.is_none(),
            ExpireCondition::IfHasExpiry => current_ms.is_some(),
            ExpireCondition::IfGreater => current_ms.is_some_and(|current| when_ms > current),
            ExpireCondition::IfLess => current_ms.is_none_or(|current| when_ms < current),
        };
        if !allowed {
            return Ok(Output::Int(0));
        }
        self.retime(key, record, Some(when_ms))?;
        Ok(Output::Int(1))
    }

    /// Gives `key` (whose live record is `record`) a new deadline, keeping
    /// its value and elements; a deadline at or before now deletes it.
    fn retime(
        &mut self,
        key: &[u8],
        record: Record,
        when_ms: Option<i128>,
    ) -> Result<(), StoreError> {
        match when_ms {
            None => self.write_record(key, record.kind, record.payload, None, false),
            Some(when) if when <= i128::from(self.now_ms) => self.remove(key).map(drop),
            Some(when) => {
                let deadline = u64::try_from(when).unwrap_or(u64::MAX);
                self.write_record(key, record.kind, record.payload, Some(deadline), false)
            }
        }
    }

    fn persist(&mut self, key: &[u8]) -> Result<Output, StoreError> {
        match self.view().live(key)? {
            Some(record) if record.expires_at_ms.is_some() => {
                self.retime(key, record, None)?;
                Ok(Output::Int(1))
            }
            Some(_) | None => Ok(Output::Int(0)),
        }
    }

    fn rename(
        &mut self,
        source: &[u8],
        target: &[u8],
        only_if_absent: bool,
    ) -> Result<Output, StoreError> {
        let Some(record) = self.view().live(source)? else {
            return Ok(Output::err(errors::NO_SUCH_KEY));
        };
        let done = if only_if_absent {
            Output::Int(1)
        } else {
            Output::Ok
        };
        if source == target {
            return Ok(if only_if_absent { Output::Int(0) } else { done });
        }
        if only_if_absent && self.view().live(target)?.is_some() {
            return Ok(Output::Int(0));
        }
        // The target takes the source's deadline, or none, and its elements.
        let elements = self.elements(source)?;
        self.put_kind(target, record.kind, record.payload, record.expires_at_ms)?;
        let target_prefix = keys::elements_prefix(self.db, target);
        for (element, value) in elements {
            let mut encoded = target_prefix.clone();
            encoded.extend_from_slice(&element);
            self.store.put(&encoded, &value)?;
        }
        self.remove(source)?;
        Ok(done)
    }

    /// Deletes every record of this db with its index entries. The keys are
    /// collected first because the store cannot change during a scan.
    fn flush_db(&mut self) -> Result<(), StoreError> {
        let prefix = keys::data_prefix(self.db);
        let mut doomed: Vec<(Vec<u8>, Option<u64>)> = Vec::new();
        let mut failure = None;
        self.store
            .scan(&prefix, &mut |encoded, value| match Record::decode(value) {
                Ok(record) => {
                    doomed.push((encoded[prefix.len()..].to_vec(), record.expires_at_ms));
                    true
                }
                Err(error) => {
                    failure = Some(error);
                    false
                }
            })?;
        if let Some(error) = failure {
            return Err(error);
        }
        for (key, expires_at_ms) in &doomed {
            self.unindex(key, *expires_at_ms)?;
            let data_key = keys::data_key(self.db, key);
            self.effects.deleted(&data_key);
            self.store.delete(&data_key)?;
            self.bury(key)?;
        }
        let mut elements = Vec::new();
        self.store
            .scan(&keys::db_elements_prefix(self.db), &mut |encoded, _| {
                elements.push(encoded.to_vec());
                true
            })?;
        for encoded in &elements {
            self.store.delete(encoded)?;
        }
        keys::write_count(self.store, self.db, 0)
    }

    fn flush_all(&mut self) -> Result<Output, StoreError> {
        for db in 0..DB_COUNT {
            self.in_db(db).flush_db()?;
        }
        Ok(Output::Ok)
    }

    /// Deletes up to `limit` keys whose deadline is at or before now, in
    /// deadline order, across all dbs. An index entry whose record is gone or
    /// has another deadline is stale: it is removed and counts toward
    /// `limit`, which bounds the work of one entry.
    fn expire_sweep(&mut self, limit: u32) -> Result<Output, StoreError> {
        let due = self.due_index_entries(limit)?;
        assert!(due.len() <= usize::try_from(limit).unwrap_or(usize::MAX));
        let mut deleted = 0u64;
        for (deadline, db, key) in due {
            let mut shard = self.in_db(db);
            match stored_record(shard.store, db, &key)? {
                Some(record) if record.expires_at_ms == Some(deadline) => {
                    shard.remove(&key)?;
                    deleted += 1;
                }
                Some(_) | None => shard.store.delete(&keys::expiry_key(deadline, db, &key))?,
            }
        }
        Ok(int_output(deleted))
    }

    /// The first `limit` expiry index entries with a deadline at or before now.
    fn due_index_entries(&self, limit: u32) -> Result<Vec<(u64, u8, Vec<u8>)>, StoreError> {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut due = Vec::new();
        let mut malformed = None;
        self.store.scan(&[keys::TAG_EXPIRY], &mut |encoded, _| {
            if due.len() >= limit {
                return false;
            }
            match keys::parse_expiry_key(encoded) {
                Some((deadline, _, _)) if deadline > self.now_ms => false,
                Some((deadline, db, key)) => {
                    due.push((deadline, db, key.to_vec()));
                    true
                }
                None => {
                    malformed = Some(encoded.to_vec());
                    false
                }
            }
        })?;
        match malformed {
            Some(encoded) => Err(StoreError(format!(
                "malformed expiry index key {encoded:?}"
            ))),
            None => Ok(due),
        }
    }
}

/// Redis's `checkStringLength`: would a string of `len + added` bytes exceed
/// the maximum?
fn exceeds_string_max(len: u64, added: u64) -> bool {
    len.checked_add(added)
        .is_none_or(|total| total > STRING_LEN_MAX_BYTES)
}
