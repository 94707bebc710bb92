//! Model-based tests of the state machine: random command sequences (a few
//! keys, two dbs, timestamps that sometimes run backwards, random deadlines)
//! go through `apply` on a `MemStore` and through a plain `BTreeMap` model of
//! Redis's semantics; every reply, the whole keyspace, the clock and the
//! bookkeeping invariants must agree after every step.
//!
//! The model shares only leaf helpers whose exactness is tested on their own
//! (glob matching, the long double arithmetic of INCRBYFLOAT); the keyspace
//! logic (existence, expiry, counts, replies) is written again here.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;

use super::tests::check_invariants;
use super::*;
use crate::command::{ExpireCondition, Expiry, GetExExpiry, SetCondition, SetExpiry};
use crate::raft::Op;
use crate::store::MemStore;

const START_MS: u64 = 1_000_000;

/// A key's value and deadline.
type Entry = (Vec<u8>, Option<u64>);

/// Redis as a map per db. Expired entries stay until a write names them, a
/// sweep takes them or a flush, exactly as in the state machine's contract.
struct Model {
    dbs: Vec<BTreeMap<Vec<u8>, Entry>>,
    clock_ms: u64,
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

impl Model {
    fn new() -> Model {
        Model {
            dbs: vec![BTreeMap::new(); usize::from(DB_COUNT)],
            clock_ms: 0,
        }
    }

    fn apply(&mut self, req: &Stamped) -> Output {
        self.clock_ms = self.clock_ms.max(req.ts_ms);
        let (now, db) = (self.clock_ms, usize::from(req.db));
        if req.cmd.is_read_only() {
            return self.read(db, now, &req.cmd);
        }
        for key in named_keys(&req.cmd) {
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
                    let ms = i64::try_from(deadline - now).expect("small");
                    Output::Int(if *millis { ms } else { (ms + 500) / 1000 })
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
                    .filter(|k| pattern == b"*" || crate::glob::glob_match(pattern, k, false))
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
        if offset + value.len() as u64 > STRING_LEN_MAX_BYTES {
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
fn decode_keyspace(store: &MemStore) -> Vec<BTreeMap<Vec<u8>, Entry>> {
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

fn key() -> impl Strategy<Value = Vec<u8>> {
    select(vec![
        b"a".to_vec(),
        b"b".to_vec(),
        b"ab".to_vec(),
        Vec::new(),
    ])
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    let pool = [
        "",
        "v",
        "10",
        "-7",
        "0",
        "1.5",
        "007",
        "+1",
        "9223372036854775807",
        "-9223372036854775808",
        "x y",
    ];
    select(
        pool.iter()
            .map(|v| v.as_bytes().to_vec())
            .collect::<Vec<_>>(),
    )
}

fn keys_strategy() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(key(), 1..4)
}

fn pairs() -> impl Strategy<Value = Vec<(Vec<u8>, Vec<u8>)>> {
    proptest::collection::vec((key(), value()), 1..4)
}

fn expiry() -> impl Strategy<Value = Expiry> {
    let start = i64::try_from(START_MS).expect("small");
    // Small relative values land exactly on "now", the boundary of expiry.
    prop_oneof![
        select(vec![-1i64, 0, 1]).prop_map(Expiry::RelativeMs),
        (-100i64..3_000).prop_map(Expiry::RelativeMs),
        (start - 1_000..start + 8_000).prop_map(Expiry::AbsoluteMs),
    ]
}

fn set_command() -> impl Strategy<Value = Command> {
    let condition = select(vec![
        SetCondition::Always,
        SetCondition::IfAbsent,
        SetCondition::IfPresent,
    ]);
    let expiry = prop_oneof![
        2 => Just(SetExpiry::Clear),
        1 => Just(SetExpiry::Keep),
        2 => expiry().prop_map(SetExpiry::At),
    ];
    (key(), value(), condition, expiry, any::<bool>()).prop_map(
        |(key, value, condition, expiry, get)| Command::Set {
            key,
            value,
            condition,
            expiry,
            get,
        },
    )
}

fn expiry_command() -> impl Strategy<Value = Command> {
    let condition = select(vec![
        ExpireCondition::Always,
        ExpireCondition::IfNoExpiry,
        ExpireCondition::IfHasExpiry,
        ExpireCondition::IfGreater,
        ExpireCondition::IfLess,
    ]);
    let getex = prop_oneof![
        Just(GetExExpiry::Unchanged),
        Just(GetExExpiry::Persist),
        expiry().prop_map(GetExExpiry::At),
    ];
    prop_oneof![
        3 => (key(), expiry(), condition).prop_map(|(key, expiry, condition)| Command::Expire { key, expiry, condition }),
        2 => (key(), any::<bool>()).prop_map(|(key, millis)| Command::Ttl { key, millis }),
        1 => key().prop_map(|key| Command::Persist { key }),
        1 => (key(), getex).prop_map(|(key, expiry)| Command::GetEx { key, expiry }),
        2 => (0u32..3).prop_map(|limit| Command::ExpireSweep { limit }),
    ]
}

fn string_command() -> impl Strategy<Value = Command> {
    let delta = select(vec![1i64, -1, 5, i64::MAX, i64::MIN]);
    let float_delta = select(vec![
        b"0.5".to_vec(),
        b"-1.25".to_vec(),
        b"3".to_vec(),
        b"0.1".to_vec(),
        b"1e400".to_vec(),
        b"x".to_vec(),
    ]);
    let index = select(vec![0i64, 1, 2, -1, -2, -5, 5, i64::MIN, i64::MAX]);
    prop_oneof![
        key().prop_map(|key| Command::Get { key }),
        key().prop_map(|key| Command::GetDel { key }),
        (key(), delta).prop_map(|(key, delta)| Command::IncrBy { key, delta }),
        (key(), float_delta).prop_map(|(key, delta)| Command::IncrByFloat { key, delta }),
        (key(), value()).prop_map(|(key, value)| Command::Append { key, value }),
        key().prop_map(|key| Command::StrLen { key }),
        (key(), index.clone(), index).prop_map(|(key, start, end)| Command::GetRange {
            key,
            start,
            end
        }),
        (key(), 0u64..6, value()).prop_map(|(key, offset, value)| Command::SetRange {
            key,
            offset,
            value
        }),
        key().prop_map(|key| Command::Type { key }),
    ]
}

fn keyspace_command() -> impl Strategy<Value = Command> {
    let pattern = select(vec!["*", "a*", "?", "[ab]*", "*b", "**"]);
    prop_oneof![
        3 => pairs().prop_map(|pairs| Command::MSet { pairs }),
        2 => pairs().prop_map(|pairs| Command::MSetNx { pairs }),
        2 => keys_strategy().prop_map(|keys| Command::MGet { keys }),
        3 => keys_strategy().prop_map(|keys| Command::Del { keys }),
        2 => keys_strategy().prop_map(|keys| Command::Exists { keys }),
        2 => Just(Command::DbSize),
        2 => pattern.prop_map(|p| Command::Keys { pattern: p.as_bytes().to_vec() }),
        3 => (key(), key(), any::<bool>())
            .prop_map(|(source, target, only_if_absent)| Command::Rename { source, target, only_if_absent }),
        1 => Just(Command::FlushDb),
        1 => Just(Command::FlushAll),
    ]
}

/// A request and how far its timestamp moved from the previous one.
fn steps() -> impl Strategy<Value = Vec<(i64, u8, Command)>> {
    let command = prop_oneof![4 => set_command(), 3 => expiry_command(), 4 => string_command(), 3 => keyspace_command()];
    let ts_delta = prop_oneof![select(vec![0i64, 1, -1]), -400i64..700];
    let step = (ts_delta, select(vec![0u8, 0, 1]), command);
    proptest::collection::vec(step, 1..80)
}

/// The requests of a plan: timestamps drift from START_MS, sometimes back.
/// One command with its entry's stamp.
#[derive(Clone, Debug)]
struct Stamped {
    ts_ms: u64,
    db: u8,
    cmd: Command,
}

fn requests(plan: &[(i64, u8, Command)]) -> Vec<Stamped> {
    let mut ts = i64::try_from(START_MS).expect("small");
    plan.iter()
        .map(|(delta, db, cmd)| {
            ts += delta;
            Stamped {
                ts_ms: u64::try_from(ts).expect("stays positive"),
                db: *db,
                cmd: cmd.clone(),
            }
        })
        .collect()
}

fn run(requests: &[Stamped]) -> (MemStore, Vec<Output>) {
    let mut store = MemStore::default();
    let outputs = requests
        .iter()
        .enumerate()
        .map(|(i, req)| {
            let ctx = ApplyCtx {
                index: i as u64 + 1,
                term: 1,
            };
            let entry = Request::one(req.ts_ms, req.db, req.cmd.clone());
            let mut outputs = apply(&ctx, &entry, &mut store).expect("MemStore never fails");
            assert_eq!(outputs.len(), 1);
            outputs.remove(0)
        })
        .collect();
    (store, outputs)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn apply_agrees_with_model(plan in steps()) {
        // Goal: every reply and the whole keyspace match the model after each
        // step, and the count records and expiry index stay exact.
        let mut store = MemStore::default();
        let mut model = Model::new();
        for (i, req) in requests(&plan).iter().enumerate() {
            let ctx = ApplyCtx { index: i as u64 + 1, term: 1 };
            let entry = Request::one(req.ts_ms, req.db, req.cmd.clone());
            let output = apply(&ctx, &entry, &mut store).expect("MemStore never fails");
            let expected = model.apply(req);
            prop_assert_eq!(&output, &vec![expected.clone()], "step {} {:?}", i, req);
            check_invariants(&store);
            prop_assert_eq!(decode_keyspace(&store), model.dbs.clone(), "keyspace after step {}", i);
            prop_assert_eq!(keys::read_clock(&store).expect("clock"), model.clock_ms);
            if req.cmd.is_read_only() {
                let now = model.clock_ms;
                let read_output = read(now, req.db, &req.cmd, &store).expect("reads");
                prop_assert_eq!(read_output, expected, "read path at step {}", i);
            }
        }
    }

    #[test]
    fn an_entry_of_many_ops_applies_like_its_ops_one_by_one(
        plan in steps(),
        chunk in 1usize..6,
    ) {
        // Goal: group commit changes nothing observable. Ops packed into one
        // entry give the same replies and bytes as the same ops applied one
        // entry each at the same stamp and log index.
        let requests = requests(&plan);
        let mut batched = MemStore::default();
        let mut single = MemStore::default();
        for (n, group) in requests.chunks(chunk).enumerate() {
            let ctx = ApplyCtx { index: n as u64 + 1, term: 1 };
            let ts_ms = group[0].ts_ms;
            let entry = Request {
                ts_ms,
                ops: std::sync::Arc::new(
                    group.iter().map(|r| Op { db: r.db, cmd: r.cmd.clone() }).collect(),
                ),
            };
            let together = apply(&ctx, &entry, &mut batched).expect("applies");
            let mut apart = Vec::new();
            for r in group {
                let one = Request::one(ts_ms, r.db, r.cmd.clone());
                apart.extend(apply(&ctx, &one, &mut single).expect("applies"));
            }
            prop_assert_eq!(together, apart, "entry {}", n);
            prop_assert_eq!(&batched, &single, "bytes after entry {}", n);
        }
    }

    #[test]
    fn replay_is_byte_identical(plan in steps()) {
        // Goal: the same log applied to two fresh stores gives the same bytes
        // and the same replies.
        let requests = requests(&plan);
        let (first_store, first_outputs) = run(&requests);
        let (second_store, second_outputs) = run(&requests);
        prop_assert_eq!(first_outputs, second_outputs);
        prop_assert!(first_store == second_store, "stores differ");
    }
}
