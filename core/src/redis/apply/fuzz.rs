//! The apply fuzz target's check (`fuzz/fuzz_targets/apply.rs`), also run
//! over the target's corpus by a unit test, so every input the fuzzer kept
//! replays in CI.
//!
//! Arbitrary bytes become a sequence of commands with arbitrary numbers
//! (edges first: 0, -1, i64::MIN/MAX, u64::MAX, NaN, infinities) and
//! arbitrary lengths, stamped with timestamps that sometimes run backwards.
//! String and keyspace commands run in dbs 0 and 1 against the model
//! (`model.rs`): every reply, both dbs' keyspaces and the clock must agree
//! after every step. Commands on hashes, sets, lists and sorted sets run in
//! db 2, where no model follows them: there a reply must not be a contained
//! panic, and a read must answer the same through the read path as through
//! apply. After every step the bookkeeping invariants hold, and the whole
//! sequence applied again to a fresh store gives the same bytes.

use super::invariants::check_invariants;
use super::model::{decode_keyspace, Model, Stamped, START_MS};
use super::*;
use crate::redis::command::{
    Aggregate, ExpireCondition, Expiry, GetExExpiry, LexBound, ScoreBound, SetCondition, SetExpiry,
    SetOp, ZAddFlags, ZRangeSpec,
};
use crate::store::MemStore;

/// Steps one input makes, at most.
const STEPS_MAX: usize = 256;
/// The db whose commands no model follows.
const COLLECTIONS_DB: u8 = 2;

/// Runs the check over `data`; panics on any disagreement.
pub fn check(data: &[u8]) {
    let mut input = Input { data, at: 0 };
    let mut steps = Vec::new();
    let mut ts = i64::try_from(START_MS).expect("small");
    while !input.done() && steps.len() < STEPS_MAX {
        ts = (ts + input.pick(&[0i64, 1, -1, 7, 500, -400, 3_000])).max(1);
        let (db, cmd) = if input.byte().is_multiple_of(3) {
            (COLLECTIONS_DB, collection_command(&mut input))
        } else {
            (input.byte() % 2, model_command(&mut input))
        };
        steps.push(Stamped {
            ts_ms: u64::try_from(ts).expect("positive"),
            db,
            cmd,
        });
    }
    let store = run_checked(&steps);
    let again = run_checked(&steps);
    assert!(store == again, "the same commands gave different bytes");
}

/// Applies `steps` one entry each, checking every reply; returns the store.
fn run_checked(steps: &[Stamped]) -> MemStore {
    let mut store = MemStore::default();
    let mut model = Model::new();
    for (i, step) in steps.iter().enumerate() {
        let ctx = ApplyCtx {
            index: i as u64 + 1,
            term: 1,
        };
        let entry = Entry::redis(step.ts_ms, step.db, step.cmd.clone());
        let mut outputs = apply(&ctx, &entry, &mut store).expect("MemStore never fails");
        assert_eq!(outputs.len(), 1, "one output per op");
        let output = outputs.remove(0);
        if let Output::Error(text) = &output {
            assert!(!text.starts_with(OP_FAILED), "step {i} {step:?}: {text}");
        }
        let held = std::panic::catch_unwind(|| check_invariants(&store));
        assert!(
            held.is_ok(),
            "the invariants break at step {i} of {steps:#?}"
        );
        let now = crate::clock::read_clock(&store).expect("clock");
        if step.cmd.is_read_only() {
            let read_path = read(now, step.db, &step.cmd, &store).expect("reads");
            assert_eq!(read_path, output, "read path at step {i} {step:?}");
        }
        if step.db == COLLECTIONS_DB {
            model.clock_ms = model.clock_ms.max(step.ts_ms);
        } else {
            let expected = model.apply(step);
            assert_eq!(output, expected, "step {i} {step:?}");
        }
        let dbs = decode_keyspace(&store);
        assert_eq!(dbs[..2], model.dbs[..2], "keyspace after step {i}");
        assert_eq!(now, model.clock_ms, "the shard clock");
    }
    store
}

/// The fuzzer's bytes, read from the front; zeros once they run out.
struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl Input<'_> {
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn byte(&mut self) -> u8 {
        let byte = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        byte
    }

    fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn pick<T: Clone>(&mut self, pool: &[T]) -> T {
        pool[usize::from(self.byte()) % pool.len()].clone()
    }

    fn u64_raw(&mut self) -> u64 {
        (0..8).fold(0, |n, _| n << 8 | u64::from(self.byte()))
    }

    /// An edge value most of the time, any i64 otherwise.
    fn i64(&mut self) -> i64 {
        match self.byte() % 4 {
            0 => i64::from_be_bytes(self.u64_raw().to_be_bytes()),
            _ => self.pick(&[0, 1, -1, 2, -2, 3, 5, -5, 100, i64::MAX, i64::MIN]),
        }
    }

    fn u64(&mut self) -> u64 {
        match self.byte() % 4 {
            0 => self.u64_raw(),
            _ => self.pick(&[0, 1, 2, 3, 10, 1 << 32, u64::MAX]),
        }
    }

    fn f64(&mut self) -> f64 {
        match self.byte() % 4 {
            0 => f64::from_bits(self.u64_raw()),
            _ => self.pick(&[
                0.0,
                -0.0,
                1.0,
                -1.5,
                2.5,
                1e300,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ]),
        }
    }

    /// Bytes of a length from the pool or any up to 70,000 (past fjall's
    /// key limit), filled from the input.
    fn bytes(&mut self) -> Vec<u8> {
        let len = match self.byte() % 8 {
            0 => {
                let (a, b, c) = (self.byte(), self.byte(), self.byte());
                (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c)) % 70_001
            }
            _ => self.pick(&[0usize, 1, 1, 2, 3, 8]),
        };
        let fill = self.byte();
        vec![fill; len]
    }

    fn key(&mut self) -> Vec<u8> {
        match self.byte() % 8 {
            0 => self.bytes(),
            _ => self.pick(&[&b"a"[..], b"b", b"ab", b""]).to_vec(),
        }
    }

    fn value(&mut self) -> Vec<u8> {
        let pool: [&[u8]; 12] = [
            b"",
            b"v",
            b"10",
            b"-7",
            b"0",
            b"1.5",
            b"007",
            b"+1",
            b"x y",
            b"9223372036854775807",
            b"-9223372036854775808",
            b"1e400",
        ];
        match self.byte() % 6 {
            0 => self.bytes(),
            _ => self.pick(&pool).to_vec(),
        }
    }

    fn keys(&mut self) -> Vec<Vec<u8>> {
        (0..1 + self.byte() % 3).map(|_| self.key()).collect()
    }

    fn expiry(&mut self) -> Expiry {
        let start = i64::try_from(START_MS).expect("small");
        match self.byte() % 4 {
            0 => Expiry::RelativeMs(self.pick(&[-1, 0, 1, 1_500])),
            1 => Expiry::AbsoluteMs(start + self.pick(&[-1_000, 0, 2_000, 8_000])),
            2 => Expiry::RelativeMs(self.i64()),
            _ => Expiry::AbsoluteMs(self.i64()),
        }
    }
}

/// A string or keyspace command, on the model's few keys.
fn model_command(input: &mut Input<'_>) -> Command {
    match input.byte() % 24 {
        0..=2 => Command::Set {
            key: input.key(),
            value: input.value(),
            condition: input.pick(&[
                SetCondition::Always,
                SetCondition::IfAbsent,
                SetCondition::IfPresent,
            ]),
            expiry: match input.byte() % 3 {
                0 => SetExpiry::Clear,
                1 => SetExpiry::Keep,
                _ => SetExpiry::At(input.expiry()),
            },
            get: input.flag(),
        },
        3 => Command::Expire {
            key: input.key(),
            expiry: input.expiry(),
            condition: input.pick(&[
                ExpireCondition::Always,
                ExpireCondition::IfNoExpiry,
                ExpireCondition::IfHasExpiry,
                ExpireCondition::IfGreater,
                ExpireCondition::IfLess,
            ]),
        },
        4 => Command::Ttl {
            key: input.key(),
            millis: input.flag(),
        },
        5 => Command::Persist { key: input.key() },
        6 => Command::GetEx {
            key: input.key(),
            expiry: match input.byte() % 3 {
                0 => GetExExpiry::Unchanged,
                1 => GetExExpiry::Persist,
                _ => GetExExpiry::At(input.expiry()),
            },
        },
        7 => Command::ExpireSweep {
            limit: u32::from(input.byte() % 4),
        },
        8 => Command::Get { key: input.key() },
        9 => Command::GetDel { key: input.key() },
        10 => Command::IncrBy {
            key: input.key(),
            delta: input.i64(),
        },
        11 => Command::IncrByFloat {
            key: input.key(),
            delta: input.value(),
        },
        12 => Command::Append {
            key: input.key(),
            value: input.value(),
        },
        13 => Command::StrLen { key: input.key() },
        14 => Command::GetRange {
            key: input.key(),
            start: input.i64(),
            end: input.i64(),
        },
        15 => Command::SetRange {
            key: input.key(),
            // Past the limit, not up to it: a 512 MB string per step would
            // only slow the fuzzer.
            offset: input.pick(&[0, 1, 5, 100, STRING_LEN_MAX_BYTES, u64::MAX]),
            value: input.value(),
        },
        16 => Command::Type { key: input.key() },
        17 => Command::MSet {
            pairs: (0..1 + input.byte() % 3)
                .map(|_| (input.key(), input.value()))
                .collect(),
        },
        18 => Command::MSetNx {
            pairs: (0..1 + input.byte() % 3)
                .map(|_| (input.key(), input.value()))
                .collect(),
        },
        19 => Command::MGet { keys: input.keys() },
        20 => Command::Del { keys: input.keys() },
        21 => Command::Exists { keys: input.keys() },
        22 => match input.byte() % 8 {
            0 => Command::FlushDb,
            1 => Command::FlushAll,
            2..=4 => Command::DbSize,
            _ => Command::Keys {
                pattern: input
                    .pick(&[&b"*"[..], b"a*", b"?", b"[ab]*", b"*b", b"[^"])
                    .to_vec(),
            },
        },
        _ => Command::Rename {
            source: input.key(),
            target: input.key(),
            only_if_absent: input.flag(),
        },
    }
}

/// A command on a hash, set, list or sorted set, with arbitrary counts,
/// ranks, cursors and scores.
fn collection_command(input: &mut Input<'_>) -> Command {
    match input.byte() % 5 {
        0 => hash_command(input),
        1 => set_command(input),
        2 => list_command(input),
        3 => zset_command(input),
        _ => keyspace_command(input),
    }
}

fn element(input: &mut Input<'_>) -> Vec<u8> {
    match input.byte() % 8 {
        0 => input.bytes(),
        _ => input.pick(&[&b"m"[..], b"n", b"1", b"", b"mm"]).to_vec(),
    }
}

fn elements(input: &mut Input<'_>) -> Vec<Vec<u8>> {
    (0..1 + input.byte() % 4).map(|_| element(input)).collect()
}

fn pattern(input: &mut Input<'_>) -> Option<Vec<u8>> {
    input
        .flag()
        .then(|| input.pick(&[&b"*"[..], b"m*", b"?", b"[", b"\\"]).to_vec())
}

fn hash_command(input: &mut Input<'_>) -> Command {
    let key = input.pick(&[&b"h"[..], b"l"]).to_vec();
    match input.byte() % 8 {
        0 | 1 => Command::HSet {
            key,
            pairs: (0..1 + input.byte() % 3)
                .map(|_| (element(input), input.value()))
                .collect(),
            count_new: input.flag(),
        },
        2 => Command::HDel {
            key,
            fields: elements(input),
        },
        3 => Command::HIncrBy {
            key,
            field: element(input),
            delta: input.i64(),
        },
        4 => Command::HIncrByFloat {
            key,
            field: element(input),
            delta: input.value(),
        },
        5 => Command::HRandField {
            key,
            count: input.flag().then(|| input.i64()),
            withvalues: input.flag(),
            seed: input.u64_raw(),
        },
        6 => Command::HScan {
            key,
            cursor: input.u64(),
            pattern: pattern(input),
            count: input.u64(),
            novalues: input.flag(),
        },
        _ => Command::HGetAll { key },
    }
}

fn set_command(input: &mut Input<'_>) -> Command {
    let key = input.pick(&[&b"s"[..], b"t", b"h"]).to_vec();
    match input.byte() % 8 {
        0 | 1 => Command::SAdd {
            key,
            members: elements(input),
        },
        2 => Command::SRem {
            key,
            members: elements(input),
        },
        3 => Command::SPop {
            key,
            count: input.flag().then(|| input.u64()),
            seed: input.u64_raw(),
        },
        4 => Command::SRandMember {
            key,
            count: input.flag().then(|| input.i64()),
            seed: input.u64_raw(),
        },
        5 => Command::SInterCard {
            keys: vec![key, b"t".to_vec()],
            limit: input.u64(),
        },
        6 => Command::SCombineStore {
            op: input.pick(&[SetOp::Inter, SetOp::Union, SetOp::Diff]),
            destination: input.pick(&[&b"s"[..], b"t", b"u"]).to_vec(),
            keys: vec![key, b"t".to_vec()],
        },
        _ => Command::SScan {
            key,
            cursor: input.u64(),
            pattern: pattern(input),
            count: input.u64(),
        },
    }
}

fn list_command(input: &mut Input<'_>) -> Command {
    let key = input.pick(&[&b"l"[..], b"k", b"s"]).to_vec();
    match input.byte() % 10 {
        0 | 1 => Command::Push {
            key,
            values: elements(input),
            left: input.flag(),
            only_if_exists: input.flag(),
        },
        2 => Command::Pop {
            key,
            left: input.flag(),
            count: input.flag().then(|| input.u64()),
        },
        3 => Command::LRange {
            key,
            start: input.i64(),
            stop: input.i64(),
        },
        4 => Command::LIndex {
            key,
            index: input.i64(),
        },
        5 => Command::LSet {
            key,
            index: input.i64(),
            value: element(input),
        },
        6 => Command::LRem {
            key,
            count: input.i64(),
            value: element(input),
        },
        7 => Command::LTrim {
            key,
            start: input.i64(),
            stop: input.i64(),
        },
        8 => Command::LPos {
            key,
            element: element(input),
            rank: input.i64(),
            count: input.flag().then(|| input.u64()),
            maxlen: input.u64(),
        },
        _ => Command::LInsert {
            key,
            before: input.flag(),
            pivot: element(input),
            value: element(input),
        },
    }
}

fn score_bound(input: &mut Input<'_>) -> ScoreBound {
    if input.flag() {
        ScoreBound::Inclusive(input.f64())
    } else {
        ScoreBound::Exclusive(input.f64())
    }
}

fn lex_bound(input: &mut Input<'_>) -> LexBound {
    match input.byte() % 4 {
        0 => LexBound::Min,
        1 => LexBound::Max,
        2 => LexBound::Inclusive(element(input)),
        _ => LexBound::Exclusive(element(input)),
    }
}

fn zrange_spec(input: &mut Input<'_>) -> ZRangeSpec {
    match input.byte() % 3 {
        0 => ZRangeSpec::Rank {
            start: input.i64(),
            stop: input.i64(),
        },
        1 => ZRangeSpec::Score {
            min: score_bound(input),
            max: score_bound(input),
        },
        _ => ZRangeSpec::Lex {
            min: lex_bound(input),
            max: lex_bound(input),
        },
    }
}

fn zset_command(input: &mut Input<'_>) -> Command {
    let key = input.pick(&[&b"z"[..], b"y", b"s"]).to_vec();
    match input.byte() % 10 {
        0 | 1 => Command::ZAdd {
            key,
            flags: ZAddFlags {
                nx: input.byte().is_multiple_of(4),
                xx: input.byte().is_multiple_of(4),
                gt: input.byte().is_multiple_of(4),
                lt: input.byte().is_multiple_of(4),
                ch: input.flag(),
                incr: input.byte().is_multiple_of(4),
            },
            pairs: (0..1 + input.byte() % 3)
                .map(|_| (input.f64(), element(input)))
                .collect(),
        },
        2 => Command::ZIncrBy {
            key,
            delta: input.f64(),
            member: element(input),
        },
        3 => Command::ZRange {
            key,
            spec: zrange_spec(input),
            rev: input.flag(),
            limit: input.flag().then(|| (input.i64(), input.i64())),
            withscores: input.flag(),
        },
        4 => Command::ZRank {
            key,
            member: element(input),
            rev: input.flag(),
        },
        5 => Command::ZRem {
            key,
            members: elements(input),
        },
        6 => Command::ZRemRange {
            key,
            spec: zrange_spec(input),
        },
        7 => Command::ZPop {
            key,
            max: input.flag(),
            count: input.flag().then(|| input.u64()),
        },
        8 => Command::ZCombineStore {
            union: input.flag(),
            destination: input.pick(&[&b"z"[..], b"y", b"x"]).to_vec(),
            keys: vec![key, b"y".to_vec()],
            weights: if input.flag() {
                vec![input.f64(), input.f64()]
            } else {
                Vec::new()
            },
            aggregate: input.pick(&[Aggregate::Sum, Aggregate::Min, Aggregate::Max]),
        },
        _ => Command::ZCount {
            key,
            spec: zrange_spec(input),
        },
    }
}

fn keyspace_command(input: &mut Input<'_>) -> Command {
    let key = input.pick(&[&b"h"[..], b"s", b"l", b"z", b"y"]).to_vec();
    match input.byte() % 6 {
        0 => Command::Del { keys: vec![key] },
        1 => Command::Copy {
            source: key,
            destination: input.pick(&[&b"h"[..], b"s", b"l", b"z", b"c"]).to_vec(),
            db: None,
            replace: input.flag(),
        },
        2 => Command::Scan {
            cursor: input.u64(),
            pattern: pattern(input),
            count: input.u64(),
            kind: None,
        },
        3 => Command::RandomKey {
            seed: input.u64_raw(),
        },
        4 => Command::Rename {
            source: key,
            target: input.pick(&[&b"h"[..], b"s", b"l", b"z", b"r"]).to_vec(),
            only_if_absent: input.flag(),
        },
        _ => Command::Type { key },
    }
}

#[cfg(test)]
mod tests {
    /// Goal: every input the fuzzer kept (`fuzz/corpus/apply`) passes the
    /// check, so a finding fixed stays fixed.
    #[test]
    fn the_apply_fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/apply");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.expect("a corpus entry").path())
            .collect();
        files.sort();
        assert!(files.len() >= 10, "the corpus has {} inputs", files.len());
        for file in files {
            let data = std::fs::read(&file).expect("a corpus file");
            let outcome = std::panic::catch_unwind(|| super::check(&data));
            assert!(outcome.is_ok(), "corpus input {} fails", file.display());
        }
    }

    #[test]
    fn plain_inputs_pass() {
        // Goal: the check itself runs: empty input, a short one, all bytes.
        super::check(&[]);
        super::check(b"\x01\x00\x05\x02");
        super::check(&(0..=255).collect::<Vec<u8>>());
    }
}
