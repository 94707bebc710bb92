//! Model-based tests of the state machine: random command sequences (a few
//! keys, two dbs, timestamps that sometimes run backwards, random deadlines)
//! go through `apply` on a `MemStore` and through a plain `BTreeMap` model of
//! Redis's semantics; every reply, the whole keyspace, the clock and the
//! bookkeeping invariants must agree after every step.
//!
//! The model is in `model.rs`.
use proptest::prelude::*;
use proptest::sample::select;

use super::invariants::check_invariants;
use super::model::{decode_keyspace, Model, Stamped, START_MS};
use super::*;
use crate::entry::Op;
use crate::redis::command::{ExpireCondition, Expiry, GetExExpiry, SetCondition, SetExpiry};
use crate::store::MemStore;

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
            let entry = Entry::redis(req.ts_ms, req.db, req.cmd.clone());
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
            let entry = Entry::redis(req.ts_ms, req.db, req.cmd.clone());
            let output = apply(&ctx, &entry, &mut store).expect("MemStore never fails");
            let expected = model.apply(req);
            prop_assert_eq!(&output, &vec![expected.clone()], "step {} {:?}", i, req);
            check_invariants(&store);
            prop_assert_eq!(decode_keyspace(&store), model.dbs.clone(), "keyspace after step {}", i);
            prop_assert_eq!(crate::clock::read_clock(&store).expect("clock"), model.clock_ms);
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
            let entry = Entry::new(
                ts_ms,
                group.iter().map(|r| Op::redis(r.db, r.cmd.clone())).collect(),
            );
            let together = apply(&ctx, &entry, &mut batched).expect("applies");
            let mut apart = Vec::new();
            for r in group {
                let one = Entry::redis(ts_ms, r.db, r.cmd.clone());
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
