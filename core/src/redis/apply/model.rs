//! A plain model of Redis's string and keyspace commands: a `BTreeMap` per
//! db. The model tests (`model_tests.rs`) and the apply fuzz target
//! (`fuzz.rs`) check `apply` against it.
//!
//! The model shares only leaf helpers whose exactness is tested on their own
//! (glob matching, the long double arithmetic of INCRBYFLOAT); the keyspace
//! logic (existence, expiry, counts, replies) is written again here.

use std::collections::BTreeMap;

use super::*;
use crate::redis::command::{ExpireCondition, Expiry, GetExExpiry, SetCondition, SetExpiry};
use crate::store::MemStore;

/// Where the model tests' timestamps start.
pub const START_MS: u64 = 1_000_000;

/// A key's value and deadline.
pub type Entry = (Vec<u8>, Option<u64>);

/// Redis as a map per db. Expired entries stay until a write names them, a
/// sweep takes them or a flush, exactly as in the state machine's contract.
pub struct Model {
    pub dbs: Vec<BTreeMap<Vec<u8>, Entry>>,
    pub clock_ms: u64,
}

fn int(n: usize) -> Output {
    Output::Int(i64::try_from(n).expect("small"))
}

fn bulk(bytes: &[u8]) -> Output {
    Output::Bytes(bytes.to_vec())
}

/// `string2ll`, restated: an optional `-`, then `0` alone or digits without a
/// leading zero, within i64.
fn model_parse_int(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let canonical = digits == b"0" && digits.len() == text.len()
        || digits.first().is_some_and(|d| (b'1'..=b'9').contains(d));
    if !canonical || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

impl Default for Model {
    fn default() -> Model {
        Model::new()
    }
}

impl Model {
    pub fn new() -> Model {
        Model {
            dbs: vec![BTreeMap::new(); usize::from(DB_COUNT)],
            clock_ms: 0,
        }
    }

    pub fn apply(&mut self, req: &Stamped) -> Output {
        self.clock_ms = self.clock_ms.max(req.ts_ms);
        let (now, db) = (self.clock_ms, usize::from(req.db));
        if req.cmd.is_read_only() {
            return self.read(db, now, &req.cmd);
        }
        for key in purged_keys(&req.cmd) {
            if self.dbs[db]
                .get(key)
                .is_some_and(|(_, d)| d.is_some_and(|d| d <= now))
            {
                self.dbs[db].remove(key);
            }
        }
        self.write(db, now, &req.cmd)
    }

    fn live(&self, db: usize, now: u64, key: &[u8]) -> Option<&Entry> {
        self.dbs[db]
            .get(key)
            .filter(|(_, deadline)| deadline.is_none_or(|d| d > now))
    }

    fn read(&self, db: usize, now: u64, cmd: &Command) -> Output {
        let value = |key: &[u8]| {
            self.live(db, now, key)
                .map_or(Output::Nil, |(v, _)| bulk(v))
        };
        match cmd {
            Command::Get { key } => value(key),
            Command::MGet { keys } => Output::Array(keys.iter().map(|k| value(k)).collect()),
            Command::Exists { keys } => int(keys
                .iter()
                .filter(|k| self.live(db, now, k).is_some())
                .count()),
            Command::StrLen { key } => int(self.live(db, now, key).map_or(0, |(v, _)| v.len())),
            Command::GetRange { key, start, end } => {
                let text = self
                    .live(db, now, key)
                    .map_or(&[][..], |(v, _)| v.as_slice());
                bulk(model_range(text, *start, *end))
            }
            Command::Ttl { key, millis } => match self.live(db, now, key) {
                None => Output::Int(-2),
                Some((_, None)) => Output::Int(-1),
                Some((_, Some(deadline))) => {
                    // Deadlines reach i64::MAX: rounded exactly (Redis's C
                    // would overflow there).
                    let ms = i128::from(deadline - now);
                    let ttl = if *millis { ms } else { (ms + 500) / 1000 };
                    Output::Int(i64::try_from(ttl).expect("fits"))
                }
            },
            Command::Type { key } => {
                let name = if self.live(db, now, key).is_some() {
                    "string"
                } else {
                    "none"
                };
                Output::Status(name.into())
            }
            Command::DbSize => int(self.dbs[db].len()),
            Command::Keys { pattern } => Output::Array(
                self.dbs[db]
                    .keys()
                    .filter(|k| {
                        pattern == b"*" || crate::redis::glob::glob_match(pattern, k, false)
                    })
                    .filter(|k| self.live(db, now, k).is_some())
                    .map(|k| bulk(k))
                    .collect(),
            ),
            other => panic!("not a read: {other:?}"),
        }
    }

    fn write(&mut self, db: usize, now: u64, cmd: &Command) -> Output {
        match cmd {
            Command::Set {
                key,
                value,
                condition,
                expiry,
                get,
            } => self.set(db, now, key, value, *condition, *expiry, *get),
            Command::GetDel { key } => self.dbs[db]
                .remove(key)
                .map_or(Output::Nil, |(value, _)| Output::Bytes(value)),
            Command::GetEx { key, expiry } => self.getex(db, now, key, *expiry),
            Command::MSet { pairs } => {
                self.mset(db, pairs);
                Output::Ok
            }
            Command::MSetNx { pairs } => {
                if pairs.iter().any(|(key, _)| self.dbs[db].contains_key(key)) {
                    return Output::Int(0);
                }
                self.mset(db, pairs);
                Output::Int(1)
            }
            Command::Del { keys } => int(keys
                .iter()
                .filter(|k| self.dbs[db].remove(*k).is_some())
                .count()),
            Command::IncrBy { key, delta } => self.incr_by(db, key, *delta),
            Command::IncrByFloat { key, delta } => self.incr_by_float(db, key, delta),
            Command::Append { key, value } => {
                let entry = self.dbs[db]
                    .entry(key.clone())
                    .or_insert((Vec::new(), None));
                entry.0.extend_from_slice(value);
                int(entry.0.len())
            }
            Command::SetRange { key, offset, value } => self.setrange(db, key, *offset, value),
            Command::Expire {
                key,
                expiry,
                condition,
            } => self.expire(db, now, key, *expiry, *condition),
            Command::Persist { key } => match self.dbs[db].get_mut(key) {
                Some((_, deadline @ Some(_))) => {
                    *deadline = None;
                    Output::Int(1)
                }
                _ => Output::Int(0),
            },
            Command::FlushDb => {
                self.dbs[db].clear();
                Output::Ok
            }
            Command::FlushAll => {
                self.dbs.iter_mut().for_each(BTreeMap::clear);
                Output::Ok
            }
            Command::Rename {
                source,
                target,
                only_if_absent,
            } => self.rename(db, source, target, *only_if_absent),
            Command::ExpireSweep { limit } => self.sweep(now, *limit),
            other => panic!("not a write: {other:?}"),
        }
    }

    fn mset(&mut self, db: usize, pairs: &[(Vec<u8>, Vec<u8>)]) {
        for (key, value) in pairs {
            self.dbs[db].insert(key.clone(), (value.clone(), None));
        }
    }

    /// Stores or, for a deadline at or before now, deletes.
    fn store(&mut self, db: usize, now: u64, key: &[u8], value: Vec<u8>, deadline: Option<i128>) {
        match deadline {
            Some(d) if d <= i128::from(now) => {
                self.dbs[db].remove(key);
            }
            _ => {
                let deadline = deadline.map(|d| u64::try_from(d).unwrap_or(u64::MAX));
                self.dbs[db].insert(key.to_vec(), (value, deadline));
            }
        }
    }

    fn set(
        &mut self,
        db: usize,
        now: u64,
        key: &[u8],
        value: &[u8],
        condition: SetCondition,
        expiry: SetExpiry,
        get: bool,
    ) -> Output {
        let old = self.dbs[db].get(key).cloned();
        let reply = match (&old, get) {
            (_, false) => Output::Ok,
            (None, true) => Output::Nil,
            (Some((v, _)), true) => bulk(v),
        };
        let proceed = match condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => old.is_none(),
            SetCondition::IfPresent => old.is_some(),
        };
        if !proceed {
            return if get { reply } else { Output::Nil };
        }
        let deadline = match expiry {
            SetExpiry::Clear => None,
            SetExpiry::Keep => old.and_then(|(_, d)| d).map(i128::from),
            SetExpiry::At(expiry) => Some(resolve(expiry, now)),
        };
        self.store(db, now, key, value.to_vec(), deadline);
        reply
    }

    fn getex(&mut self, db: usize, now: u64, key: &[u8], expiry: GetExExpiry) -> Output {
        let Some((value, deadline)) = self.dbs[db].get(key).cloned() else {
            return Output::Nil;
        };
        let deadline = match expiry {
            GetExExpiry::Unchanged => deadline.map(i128::from),
            GetExExpiry::Persist => None,
            GetExExpiry::At(expiry) => Some(resolve(expiry, now)),
        };
        self.store(db, now, key, value.clone(), deadline);
        Output::Bytes(value)
    }

    fn incr_by(&mut self, db: usize, key: &[u8], delta: i64) -> Output {
        let (text, deadline) = self.dbs[db]
            .get(key)
            .cloned()
            .unwrap_or((b"0".to_vec(), None));
        let Some(current) = model_parse_int(&text) else {
            return Output::err(errors::NOT_INTEGER);
        };
        let Some(next) = current.checked_add(delta) else {
            return Output::err(errors::OVERFLOW);
        };
        self.dbs[db].insert(key.to_vec(), (next.to_string().into_bytes(), deadline));
        Output::Int(next)
    }

    fn incr_by_float(&mut self, db: usize, key: &[u8], delta: &[u8]) -> Output {
        let (text, deadline) = match self.dbs[db].get(key).cloned() {
            Some((text, deadline)) => (Some(text), deadline),
            None => (None, None),
        };
        match numbers::incr_by_float(text.as_deref(), delta) {
            Ok(next) => {
                self.dbs[db].insert(key.to_vec(), (next.clone().into_bytes(), deadline));
                Output::Bytes(next.into_bytes())
            }
            Err(numbers::FloatError::NotFloat) => Output::err(errors::NOT_FLOAT),
            Err(numbers::FloatError::NanOrInfinity) => Output::err(errors::NAN_OR_INF),
        }
    }

    fn setrange(&mut self, db: usize, key: &[u8], offset: u64, value: &[u8]) -> Output {
        let existing = self.dbs[db].get(key).map(|(v, _)| v.len());
        if value.is_empty() {
            return int(existing.unwrap_or(0));
        }
        if offset.saturating_add(value.len() as u64) > STRING_LEN_MAX_BYTES {
            return Output::err(errors::STRING_TOO_LONG);
        }
        let entry = self.dbs[db]
            .entry(key.to_vec())
            .or_insert((Vec::new(), None));
        let offset = usize::try_from(offset).expect("small");
        if entry.0.len() < offset + value.len() {
            entry.0.resize(offset + value.len(), 0);
        }
        entry.0[offset..offset + value.len()].copy_from_slice(value);
        int(entry.0.len())
    }

    fn expire(
        &mut self,
        db: usize,
        now: u64,
        key: &[u8],
        expiry: Expiry,
        condition: ExpireCondition,
    ) -> Output {
        let Some((value, current)) = self.dbs[db].get(key).cloned() else {
            return Output::Int(0);
        };
        let when = resolve(expiry, now);
        let current = current.map(i128::from);
        let allowed = match condition {
            ExpireCondition::Always => true,
            ExpireCondition::IfNoExpiry => current.is_none(),
            ExpireCondition::IfHasExpiry => current.is_some(),
            ExpireCondition::IfGreater => current.is_some_and(|c| when > c),
            ExpireCondition::IfLess => current.is_none_or(|c| when < c),
        };
        if allowed {
            self.store(db, now, key, value, Some(when));
        }
        Output::Int(i64::from(allowed))
    }

    fn rename(&mut self, db: usize, source: &[u8], target: &[u8], only_if_absent: bool) -> Output {
        let Some(entry) = self.dbs[db].get(source).cloned() else {
            return Output::err(errors::NO_SUCH_KEY);
        };
        if source == target {
            return if only_if_absent {
                Output::Int(0)
            } else {
                Output::Ok
            };
        }
        if only_if_absent && self.dbs[db].contains_key(target) {
            return Output::Int(0);
        }
        self.dbs[db].remove(source);
        self.dbs[db].insert(target.to_vec(), entry);
        if only_if_absent {
            Output::Int(1)
        } else {
            Output::Ok
        }
    }

    fn sweep(&mut self, now: u64, limit: u32) -> Output {
        let mut due: Vec<(u64, usize, Vec<u8>)> = Vec::new();
        for (db, map) in self.dbs.iter().enumerate() {
            for (key, (_, deadline)) in map {
                if let Some(deadline) = deadline.filter(|d| *d <= now) {
                    due.push((deadline, db, key.clone()));
                }
            }
        }
        due.sort();
        due.truncate(usize::try_from(limit).expect("small"));
        for (_, db, key) in &due {
            self.dbs[*db].remove(key);
        }
        int(due.len())
    }
}

fn resolve(expiry: Expiry, now: u64) -> i128 {
    match expiry {
        Expiry::RelativeMs(ms) => i128::from(now) + i128::from(ms),
        Expiry::AbsoluteMs(ms) => i128::from(ms),
    }
}

/// GETRANGE as Redis's documentation states it: negative indices count from
/// the end, both ends are inclusive and clamped to the string.
fn model_range(text: &[u8], start: i64, end: i64) -> &[u8] {
    let len = text.len() as i128;
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let from_end = |i: i64| {
        if i < 0 {
            (len + i128::from(i)).max(0)
        } else {
            i128::from(i)
        }
    };
    let (first, last) = (from_end(start), from_end(end).min(len - 1));
    if first > last {
        return &[];
    }
    &text[first as usize..=last as usize]
}

/// The store's keyspace in the model's shape.
pub fn decode_keyspace(store: &MemStore) -> Vec<BTreeMap<Vec<u8>, Entry>> {
    let mut dbs = vec![BTreeMap::new(); usize::from(DB_COUNT)];
    for (encoded, value) in store
        .map
        .range(vec![keys::TAG_DATA]..vec![keys::TAG_DATA + 1])
    {
        let record = Record::decode(value).expect("records decode");
        dbs[usize::from(encoded[1])].insert(
            encoded[2..].to_vec(),
            (record.payload, record.expires_at_ms),
        );
    }
    dbs
}

/// One command with its entry's stamp.
#[derive(Clone, Debug)]
pub struct Stamped {
    pub ts_ms: u64,
    pub db: u8,
    pub cmd: Command,
}
