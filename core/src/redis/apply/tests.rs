//! Unit tests of the state machine: each command's replies, edge cases and
//! errors, checked against Redis 7's documented behaviour, with the
//! bookkeeping invariants checked after every step.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::entry::Op;
use crate::redis::command::{
    ExpireCondition as Cond, Expiry, GetExExpiry, SetCondition, SetExpiry, SetOp, Watched,
};
use crate::store::MemStore;

pub(super) use super::invariants::check_invariants;

const START_MS: u64 = 1_000_000;

/// A shard under test: applies commands at a settable time, one log index
/// each, and checks the invariants after every one.
struct Shard {
    store: MemStore,
    index: u64,
    now_ms: u64,
    db: u8,
}

impl Shard {
    fn new() -> Self {
        Shard {
            store: MemStore::default(),
            index: 0,
            now_ms: START_MS,
            db: 0,
        }
    }

    fn run(&mut self, cmd: Command) -> Output {
        self.index += 1;
        let ctx = ApplyCtx {
            index: self.index,
            term: 1,
        };
        let req = Entry::redis(self.now_ms, self.db, cmd);
        let before = data_records(&self.store);
        let mut applied =
            crate::machine::apply(&ctx, &req, &mut self.store).expect("MemStore never fails");
        assert_eq!(applied.outputs.len(), 1, "one output per op");
        check_invariants(&self.store);
        check_changes(&before, &data_records(&self.store), &applied.changes);
        applied.outputs.remove(0).into_redis()
    }

    fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    fn record(&self, key: &str) -> Option<Record> {
        stored_record(&self.store, self.db, key.as_bytes()).expect("decodes")
    }

    fn dbsize(&mut self) -> Output {
        self.run(Command::DbSize)
    }
}

/// Every data record (tag `TAG_DATA`) of `store`.
fn data_records(store: &MemStore) -> BTreeMap<Vec<u8>, Vec<u8>> {
    store
        .map
        .range(vec![keys::TAG_DATA]..vec![keys::TAG_DATA + 1])
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The changes an entry reported account for what it did to the data
/// records: every record that differs is named, and the last change of
/// each named key says whether it is there now.
fn check_changes(
    before: &BTreeMap<Vec<u8>, Vec<u8>>,
    after: &BTreeMap<Vec<u8>, Vec<u8>>,
    changes: &crate::family::Changes,
) {
    let last: BTreeMap<&[u8], bool> = changes.iter().collect();
    let differing = before
        .keys()
        .chain(after.keys())
        .filter(|key| before.get(*key) != after.get(*key));
    for key in differing {
        assert!(
            last.contains_key(key.as_slice()),
            "record {key:?} changed unreported; changes {changes:?}"
        );
    }
    for (key, deleted) in last {
        assert_eq!(
            !after.contains_key(key),
            deleted,
            "the last change of {key:?} disagrees with the store"
        );
    }
}

fn b(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

fn bytes(text: &str) -> Output {
    Output::Bytes(b(text))
}

fn err(text: &str) -> Output {
    Output::Error(text.to_string())
}

fn set(key: &str, value: &str) -> Command {
    set_with(key, value, SetCondition::Always, SetExpiry::Clear, false)
}

fn set_with(
    key: &str,
    value: &str,
    condition: SetCondition,
    expiry: SetExpiry,
    get: bool,
) -> Command {
    Command::Set {
        key: b(key),
        value: b(value),
        condition,
        expiry,
        get,
    }
}

fn get(key: &str) -> Command {
    Command::Get { key: b(key) }
}

fn ttl(key: &str) -> Command {
    Command::Ttl {
        key: b(key),
        millis: false,
    }
}

fn pttl(key: &str) -> Command {
    Command::Ttl {
        key: b(key),
        millis: true,
    }
}

fn px(ms: i64) -> Expiry {
    Expiry::RelativeMs(ms)
}

fn pxat(ms: u64) -> Expiry {
    Expiry::AbsoluteMs(i64::try_from(ms).expect("test times fit"))
}

fn expire(key: &str, expiry: Expiry, condition: Cond) -> Command {
    Command::Expire {
        key: b(key),
        expiry,
        condition,
    }
}

fn incr_by(key: &str, delta: i64) -> Command {
    Command::IncrBy { key: b(key), delta }
}

fn incr_by_float(key: &str, delta: &str) -> Command {
    Command::IncrByFloat {
        key: b(key),
        delta: b(delta),
    }
}

fn keys_list(names: &[&str]) -> Vec<Key> {
    names.iter().map(|name| b(name)).collect()
}

#[test]
fn set_conditions_and_get_option() {
    // Goal: SET's replies under NX, XX and GET, including failed conditions.
    let mut shard = Shard::new();
    let (nx, xx, always, clear) = (
        SetCondition::IfAbsent,
        SetCondition::IfPresent,
        SetCondition::Always,
        SetExpiry::Clear,
    );
    assert_eq!(shard.run(set_with("k", "1", xx, clear, false)), Output::Nil);
    assert_eq!(shard.run(get("k")), Output::Nil);
    assert_eq!(shard.run(set_with("k", "1", nx, clear, false)), Output::Ok);
    assert_eq!(shard.run(set_with("k", "2", nx, clear, false)), Output::Nil);
    assert_eq!(shard.run(set_with("k", "3", xx, clear, false)), Output::Ok);
    assert_eq!(shard.run(get("k")), bytes("3"));
    assert_eq!(
        shard.run(set_with("k", "4", always, clear, true)),
        bytes("3")
    );
    assert_eq!(shard.run(set_with("k", "5", nx, clear, true)), bytes("4"));
    assert_eq!(shard.run(get("k")), bytes("4"));
    assert_eq!(
        shard.run(set_with("new", "1", xx, clear, true)),
        Output::Nil
    );
    assert_eq!(
        shard.run(set_with("new", "1", always, clear, true)),
        Output::Nil
    );
    assert_eq!(shard.run(get("new")), bytes("1"));
    assert_eq!(shard.dbsize(), Output::Int(2));
}

#[test]
fn set_expiry_options() {
    // Goal: EX/PX/EXAT/PXAT set deadlines, KEEPTTL keeps one, plain SET clears it.
    let mut shard = Shard::new();
    let at = |expiry| set_with("k", "v", SetCondition::Always, SetExpiry::At(expiry), false);
    assert_eq!(shard.run(at(px(10_000))), Output::Ok);
    assert_eq!(shard.run(ttl("k")), Output::Int(10));
    assert_eq!(shard.run(at(pxat(START_MS + 2_500))), Output::Ok);
    assert_eq!(shard.run(pttl("k")), Output::Int(2_500));
    let keep = set_with("k", "w", SetCondition::Always, SetExpiry::Keep, false);
    assert_eq!(shard.run(keep.clone()), Output::Ok);
    assert_eq!(shard.run(pttl("k")), Output::Int(2_500));
    assert_eq!(shard.run(get("k")), bytes("w"));
    assert_eq!(shard.run(set("k", "x")), Output::Ok);
    assert_eq!(shard.run(pttl("k")), Output::Int(-1));
    // KEEPTTL on a missing key gives no deadline.
    assert_eq!(
        shard.run(set_with(
            "fresh",
            "v",
            SetCondition::Always,
            SetExpiry::Keep,
            false
        )),
        Output::Ok
    );
    assert_eq!(shard.run(pttl("fresh")), Output::Int(-1));
}

#[test]
fn set_with_past_deadline_deletes() {
    // Goal: SET with a deadline already past replies as usual but leaves no key.
    let mut shard = Shard::new();
    shard.run(set("k", "old"));
    let past = set_with(
        "k",
        "new",
        SetCondition::Always,
        SetExpiry::At(pxat(START_MS)),
        true,
    );
    assert_eq!(shard.run(past), bytes("old"));
    assert_eq!(shard.run(get("k")), Output::Nil);
    assert_eq!(shard.dbsize(), Output::Int(0));
    let past = set_with(
        "j",
        "v",
        SetCondition::Always,
        SetExpiry::At(Expiry::AbsoluteMs(-5)),
        false,
    );
    assert_eq!(shard.run(past), Output::Ok);
    assert_eq!(shard.dbsize(), Output::Int(0));
}

#[test]
fn expired_keys_are_absent_and_writes_purge_them() {
    // Goal: a key past its deadline is gone for reads; a write naming it deletes it.
    let mut shard = Shard::new();
    shard.run(set_with(
        "k",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(100)),
        false,
    ));
    shard.advance(100);
    assert_eq!(shard.run(get("k")), Output::Nil);
    assert_eq!(shard.run(ttl("k")), Output::Int(-2));
    assert_eq!(
        shard.run(Command::Exists {
            keys: keys_list(&["k"])
        }),
        Output::Int(0)
    );
    assert_eq!(
        shard.run(Command::Type { key: b("k") }),
        Output::Status("none".into())
    );
    // DBSIZE still counts it, as Redis's does until the key is deleted.
    assert_eq!(shard.dbsize(), Output::Int(1));
    assert!(shard.record("k").is_some(), "reads do not delete");
    assert_eq!(
        shard.run(Command::Del {
            keys: keys_list(&["k"])
        }),
        Output::Int(0)
    );
    assert_eq!(shard.dbsize(), Output::Int(0));
    assert!(shard.record("k").is_none());
    // A write that creates the key again starts from nothing.
    shard.run(set_with(
        "k",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(5)),
        false,
    ));
    shard.advance(5);
    assert_eq!(
        shard.run(set_with(
            "k",
            "w",
            SetCondition::IfAbsent,
            SetExpiry::Keep,
            false
        )),
        Output::Ok
    );
    assert_eq!(shard.run(pttl("k")), Output::Int(-1));
    assert_eq!(shard.dbsize(), Output::Int(1));
}

#[test]
fn clock_never_goes_backwards() {
    // Goal: an entry stamped earlier than the shard clock runs at the clock.
    let mut shard = Shard::new();
    shard.run(set_with(
        "k",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(1_000)),
        false,
    ));
    shard.advance(600);
    assert_eq!(shard.run(pttl("k")), Output::Int(400));
    shard.now_ms = START_MS; // a proposer with a slow clock
    assert_eq!(shard.run(pttl("k")), Output::Int(400));
    assert_eq!(
        crate::clock::read_clock(&shard.store).expect("clock"),
        START_MS + 600
    );
    // Relative expiries resolve against the shard clock too.
    shard.run(set_with(
        "j",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(100)),
        false,
    ));
    assert_eq!(
        shard.record("j").and_then(|r| r.expires_at_ms),
        Some(START_MS + 700)
    );
}

#[test]
fn records_carry_the_log_index() {
    // Goal: every record written is stamped with the entry's index.
    let mut shard = Shard::new();
    shard.run(set("k", "v"));
    assert_eq!(shard.record("k").map(|r| r.version), Some(1));
    shard.run(get("k"));
    assert_eq!(
        shard.record("k").map(|r| r.version),
        Some(1),
        "reads do not write"
    );
    shard.run(expire("k", px(100), Cond::Always));
    assert_eq!(shard.record("k").map(|r| r.version), Some(3));
    shard.run(Command::Rename {
        source: b("k"),
        target: b("t"),
        only_if_absent: false,
    });
    assert_eq!(shard.record("t").map(|r| r.version), Some(4));
}

#[test]
fn getdel_and_getex() {
    // Goal: GETDEL deletes and returns; GETEX returns and changes the deadline.
    let mut shard = Shard::new();
    assert_eq!(shard.run(Command::GetDel { key: b("k") }), Output::Nil);
    shard.run(set("k", "v"));
    assert_eq!(shard.run(Command::GetDel { key: b("k") }), bytes("v"));
    assert_eq!(shard.dbsize(), Output::Int(0));
    let getex = |expiry| Command::GetEx {
        key: b("k"),
        expiry,
    };
    assert_eq!(shard.run(getex(GetExExpiry::Persist)), Output::Nil);
    shard.run(set("k", "v"));
    assert_eq!(shard.run(getex(GetExExpiry::At(px(5_000)))), bytes("v"));
    assert_eq!(shard.run(ttl("k")), Output::Int(5));
    assert_eq!(shard.run(getex(GetExExpiry::Unchanged)), bytes("v"));
    assert_eq!(shard.run(ttl("k")), Output::Int(5));
    assert_eq!(shard.run(getex(GetExExpiry::Persist)), bytes("v"));
    assert_eq!(shard.run(ttl("k")), Output::Int(-1));
    // An absolute deadline already past deletes the key after replying.
    assert_eq!(
        shard.run(getex(GetExExpiry::At(pxat(START_MS - 1)))),
        bytes("v")
    );
    assert_eq!(shard.run(get("k")), Output::Nil);
    assert_eq!(shard.dbsize(), Output::Int(0));
}

#[test]
fn multi_key_commands() {
    // Goal: MSET, MSETNX (all or nothing), MGET, DEL and EXISTS counts.
    let mut shard = Shard::new();
    let pairs = |list: &[(&str, &str)]| list.iter().map(|(k, v)| (b(k), b(v))).collect::<Vec<_>>();
    assert_eq!(
        shard.run(Command::MSet {
            pairs: pairs(&[("a", "1"), ("b", "2"), ("a", "3")])
        }),
        Output::Ok
    );
    let mget = Command::MGet {
        keys: keys_list(&["a", "b", "c"]),
    };
    assert_eq!(
        shard.run(mget),
        Output::Array(vec![bytes("3"), bytes("2"), Output::Nil])
    );
    assert_eq!(
        shard.run(Command::MSetNx {
            pairs: pairs(&[("c", "1"), ("a", "9")])
        }),
        Output::Int(0)
    );
    assert_eq!(shard.run(get("c")), Output::Nil);
    assert_eq!(
        shard.run(Command::MSetNx {
            pairs: pairs(&[("c", "1"), ("d", "2")])
        }),
        Output::Int(1)
    );
    assert_eq!(
        shard.run(Command::Exists {
            keys: keys_list(&["a", "a", "x", "c"])
        }),
        Output::Int(3)
    );
    assert_eq!(
        shard.run(Command::Del {
            keys: keys_list(&["a", "a", "x", "c"])
        }),
        Output::Int(2)
    );
    assert_eq!(shard.dbsize(), Output::Int(2));
    // MSET clears deadlines.
    shard.run(expire("b", px(100), Cond::Always));
    shard.run(Command::MSet {
        pairs: pairs(&[("b", "5")]),
    });
    assert_eq!(shard.run(ttl("b")), Output::Int(-1));
}

#[test]
fn incr_by_parses_like_string2ll() {
    // Goal: INCRBY's arithmetic, its two errors, and that it keeps the deadline.
    let mut shard = Shard::new();
    assert_eq!(shard.run(incr_by("n", 5)), Output::Int(5));
    assert_eq!(shard.run(incr_by("n", -7)), Output::Int(-2));
    assert_eq!(shard.run(get("n")), bytes("-2"));
    for bad in [
        "+1",
        " 1",
        "1 ",
        "01",
        "-0",
        "1.5",
        "",
        "abc",
        "9223372036854775808",
    ] {
        shard.run(set("x", bad));
        assert_eq!(
            shard.run(incr_by("x", 1)),
            err(errors::NOT_INTEGER),
            "{bad:?}"
        );
        assert_eq!(shard.run(get("x")), bytes(bad));
    }
    shard.run(set("x", "9223372036854775807"));
    assert_eq!(shard.run(incr_by("x", 1)), err(errors::OVERFLOW));
    assert_eq!(shard.run(incr_by("x", -1)), Output::Int(i64::MAX - 1));
    shard.run(set("x", "-9223372036854775808"));
    assert_eq!(shard.run(incr_by("x", -1)), err(errors::OVERFLOW));
    assert_eq!(shard.run(incr_by("fresh", i64::MIN)), Output::Int(i64::MIN));
    shard.run(expire("n", px(3_000), Cond::Always));
    shard.run(incr_by("n", 1));
    assert_eq!(shard.run(pttl("n")), Output::Int(3_000));
}

#[test]
fn incr_by_float_formats_like_redis() {
    // Goal: the INCRBYFLOAT examples of Redis's documentation, and its errors.
    let mut shard = Shard::new();
    shard.run(set("k", "10.50"));
    assert_eq!(shard.run(incr_by_float("k", "0.1")), bytes("10.6"));
    assert_eq!(shard.run(incr_by_float("k", "-5.0")), bytes("5.6"));
    assert_eq!(shard.run(get("k")), bytes("5.6"));
    shard.run(set("k", "5.0e3"));
    assert_eq!(shard.run(incr_by_float("k", "2.0e2")), bytes("5200"));
    assert_eq!(shard.run(incr_by_float("new", "-0.5")), bytes("-0.5"));
    assert_eq!(shard.run(incr_by_float("new", "0.5")), bytes("0"));
    shard.run(set("k", "abc"));
    assert_eq!(shard.run(incr_by_float("k", "1.0")), err(errors::NOT_FLOAT));
    // Redis adds in long double, so twice the largest f64 is still finite.
    shard.run(set("k", "1e308"));
    let Output::Bytes(doubled) = shard.run(incr_by_float("k", "1e308")) else {
        panic!("a number")
    };
    assert_eq!(doubled.len(), 309);
    assert!(
        doubled.starts_with(b"19999999999999999999337"),
        "Redis's digits"
    );
    shard.run(set("k", "inf"));
    assert_eq!(
        shard.run(incr_by_float("k", "1.0")),
        err(errors::NAN_OR_INF)
    );
    assert_eq!(shard.run(get("k")), bytes("inf"));
    shard.run(set("k", "1"));
    assert_eq!(
        shard.run(incr_by_float("k", "inf")),
        err(errors::NAN_OR_INF)
    );
    assert_eq!(shard.run(incr_by_float("k", "0.2")), bytes("1.2"));
    assert_eq!(shard.run(incr_by_float("k", "0.1")), bytes("1.3"));
    shard.run(set("k", "nan"));
    assert_eq!(shard.run(incr_by_float("k", "1.0")), err(errors::NOT_FLOAT));
    shard.run(set_with(
        "t",
        "1",
        SetCondition::Always,
        SetExpiry::At(px(2_000)),
        false,
    ));
    assert_eq!(shard.run(incr_by_float("t", "1.5")), bytes("2.5"));
    assert_eq!(shard.run(pttl("t")), Output::Int(2_000));
}

#[test]
fn append_and_strlen() {
    // Goal: APPEND creates or extends and returns the length; STRLEN reads it.
    let mut shard = Shard::new();
    assert_eq!(shard.run(Command::StrLen { key: b("k") }), Output::Int(0));
    assert_eq!(
        shard.run(Command::Append {
            key: b("k"),
            value: b("Hello")
        }),
        Output::Int(5)
    );
    assert_eq!(
        shard.run(Command::Append {
            key: b("k"),
            value: b(" World")
        }),
        Output::Int(11)
    );
    assert_eq!(shard.run(get("k")), bytes("Hello World"));
    assert_eq!(shard.run(Command::StrLen { key: b("k") }), Output::Int(11));
    shard.run(expire("k", px(900), Cond::Always));
    assert_eq!(
        shard.run(Command::Append {
            key: b("k"),
            value: Vec::new()
        }),
        Output::Int(11)
    );
    assert_eq!(shard.run(pttl("k")), Output::Int(900));
}

#[test]
fn getrange_indices() {
    // Goal: GETRANGE's documented examples and its handling of odd indices.
    let mut shard = Shard::new();
    shard.run(set("k", "This is a string"));
    let range = |start, end| Command::GetRange {
        key: b("k"),
        start,
        end,
    };
    for (start, end, expected) in [
        (0, 3, "This"),
        (-3, -1, "ing"),
        (0, -1, "This is a string"),
        (10, 100, "string"),
        (-100, 3, "This"),
        (-1, -3, ""),
        (5, 2, ""),
        (16, 20, ""),
        (-1, -1, "g"),
        (i64::MIN, i64::MAX, "This is a string"),
        (3, -100, ""),
    ] {
        assert_eq!(
            shard.run(range(start, end)),
            bytes(expected),
            "{start}..{end}"
        );
    }
    assert_eq!(
        shard.run(Command::GetRange {
            key: b("none"),
            start: 0,
            end: -1
        }),
        bytes("")
    );
    shard.run(set("empty", ""));
    assert_eq!(
        shard.run(Command::GetRange {
            key: b("empty"),
            start: 0,
            end: -1
        }),
        bytes("")
    );
}

#[test]
fn setrange_pads_and_limits() {
    // Goal: SETRANGE's documented examples, its zero padding and size limit.
    let mut shard = Shard::new();
    let setrange = |key: &str, offset, value: &str| Command::SetRange {
        key: b(key),
        offset,
        value: b(value),
    };
    shard.run(set("k", "Hello World"));
    assert_eq!(shard.run(setrange("k", 6, "Redis")), Output::Int(11));
    assert_eq!(shard.run(get("k")), bytes("Hello Redis"));
    assert_eq!(shard.run(setrange("k2", 6, "Redis")), Output::Int(11));
    assert_eq!(
        shard.run(get("k2")),
        Output::Bytes(b"\0\0\0\0\0\0Redis".to_vec())
    );
    assert_eq!(shard.run(setrange("none", 3, "")), Output::Int(0));
    assert_eq!(
        shard.run(Command::Exists {
            keys: keys_list(&["none"])
        }),
        Output::Int(0)
    );
    assert_eq!(shard.run(setrange("k", 1 << 40, "")), Output::Int(11));
    let too_far = STRING_LEN_MAX_BYTES - 1;
    assert_eq!(
        shard.run(setrange("k", too_far, "ab")),
        err(errors::STRING_TOO_LONG)
    );
    assert_eq!(
        shard.run(setrange("none", too_far, "ab")),
        err(errors::STRING_TOO_LONG)
    );
    assert_eq!(
        shard.run(setrange("none", u64::MAX, "a")),
        err(errors::STRING_TOO_LONG)
    );
    assert_eq!(
        shard.run(Command::Exists {
            keys: keys_list(&["none"])
        }),
        Output::Int(0)
    );
    shard.run(expire("k", px(700), Cond::Always));
    shard.run(setrange("k", 0, "J"));
    assert_eq!(shard.run(pttl("k")), Output::Int(700));
    assert_eq!(shard.run(get("k")), bytes("Jello Redis"));
}

#[test]
fn expire_conditions() {
    // Goal: EXPIRE's NX/XX/GT/LT rules, with no expiry counting as infinite.
    let mut shard = Shard::new();
    assert_eq!(
        shard.run(expire("k", px(1_000), Cond::Always)),
        Output::Int(0)
    );
    shard.run(set("k", "v"));
    assert_eq!(
        shard.run(expire("k", px(1_000), Cond::IfHasExpiry)),
        Output::Int(0)
    );
    assert_eq!(
        shard.run(expire("k", px(1_000), Cond::IfGreater)),
        Output::Int(0)
    );
    assert_eq!(
        shard.run(expire("k", px(5_000), Cond::IfLess)),
        Output::Int(1)
    );
    assert_eq!(shard.run(pttl("k")), Output::Int(5_000));
    assert_eq!(
        shard.run(expire("k", px(1_000), Cond::IfNoExpiry)),
        Output::Int(0)
    );
    assert_eq!(
        shard.run(expire("k", px(6_000), Cond::IfLess)),
        Output::Int(0)
    );
    assert_eq!(
        shard.run(expire("k", px(5_000), Cond::IfGreater)),
        Output::Int(0)
    );
    assert_eq!(
        shard.run(expire("k", px(6_000), Cond::IfGreater)),
        Output::Int(1)
    );
    assert_eq!(
        shard.run(expire("k", px(2_000), Cond::IfHasExpiry)),
        Output::Int(1)
    );
    assert_eq!(shard.run(pttl("k")), Output::Int(2_000));
    assert_eq!(
        shard.run(expire("k", px(3_000), Cond::Always)),
        Output::Int(1)
    );
    assert_eq!(shard.run(pttl("k")), Output::Int(3_000));
    // GT against a past deadline fails; LT deletes.
    assert_eq!(
        shard.run(expire("k", px(-1), Cond::IfGreater)),
        Output::Int(0)
    );
    assert_eq!(shard.run(expire("k", px(-1), Cond::IfLess)), Output::Int(1));
    assert_eq!(
        shard.run(Command::Exists {
            keys: keys_list(&["k"])
        }),
        Output::Int(0)
    );
    assert_eq!(shard.dbsize(), Output::Int(0));
}

#[test]
fn expire_in_the_past_deletes() {
    // Goal: a deadline at or before now deletes the key and replies 1.
    let mut shard = Shard::new();
    shard.run(set("a", "v"));
    shard.run(set("b", "v"));
    shard.run(set("c", "v"));
    assert_eq!(shard.run(expire("a", px(0), Cond::Always)), Output::Int(1));
    assert_eq!(
        shard.run(expire("b", pxat(START_MS), Cond::Always)),
        Output::Int(1)
    );
    assert_eq!(
        shard.run(expire("c", Expiry::AbsoluteMs(i64::MIN), Cond::Always)),
        Output::Int(1)
    );
    assert_eq!(shard.dbsize(), Output::Int(0));
    // A huge relative deadline saturates rather than wrapping.
    shard.run(set("d", "v"));
    assert_eq!(
        shard.run(expire("d", px(i64::MAX), Cond::Always)),
        Output::Int(1)
    );
    assert_eq!(shard.run(pttl("d")), Output::Int(i64::MAX));
}

#[test]
fn ttl_rounds_like_redis() {
    // Goal: TTL reports (ms + 500) / 1000; PTTL the exact milliseconds.
    let mut shard = Shard::new();
    for (ms, seconds) in [
        (1, 0),
        (499, 0),
        (500, 1),
        (1_499, 1),
        (1_500, 2),
        (10_000, 10),
    ] {
        shard.run(set_with(
            "k",
            "v",
            SetCondition::Always,
            SetExpiry::At(px(ms)),
            false,
        ));
        assert_eq!(shard.run(ttl("k")), Output::Int(seconds), "{ms} ms");
        assert_eq!(shard.run(pttl("k")), Output::Int(ms));
    }
    shard.run(set("k", "v"));
    assert_eq!(shard.run(ttl("k")), Output::Int(-1));
    assert_eq!(shard.run(ttl("missing")), Output::Int(-2));
}

#[test]
fn persist_removes_deadline() {
    // Goal: PERSIST replies 1 only when it removed a deadline.
    let mut shard = Shard::new();
    assert_eq!(shard.run(Command::Persist { key: b("k") }), Output::Int(0));
    shard.run(set("k", "v"));
    assert_eq!(shard.run(Command::Persist { key: b("k") }), Output::Int(0));
    shard.run(expire("k", px(100), Cond::Always));
    assert_eq!(shard.run(Command::Persist { key: b("k") }), Output::Int(1));
    assert_eq!(shard.run(ttl("k")), Output::Int(-1));
}

#[test]
fn type_dbsize_and_flushes() {
    // Goal: TYPE names, DBSIZE per db, FLUSHDB one db, FLUSHALL all of them.
    let mut shard = Shard::new();
    assert_eq!(
        shard.run(Command::Type { key: b("k") }),
        Output::Status("none".into())
    );
    shard.run(set("k", "v"));
    shard.run(set_with(
        "t",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(50)),
        false,
    ));
    assert_eq!(
        shard.run(Command::Type { key: b("k") }),
        Output::Status("string".into())
    );
    shard.db = 3;
    shard.run(set("k", "v"));
    assert_eq!(shard.dbsize(), Output::Int(1));
    assert_eq!(shard.run(Command::FlushDb), Output::Ok);
    assert_eq!(shard.dbsize(), Output::Int(0));
    shard.run(set_with(
        "x",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(50)),
        false,
    ));
    shard.db = 0;
    assert_eq!(shard.dbsize(), Output::Int(2));
    assert_eq!(shard.run(Command::FlushAll), Output::Ok);
    assert_eq!(shard.dbsize(), Output::Int(0));
    let leftovers: Vec<_> = shard
        .store
        .map
        .keys()
        .filter(|k| {
            ![
                keys::TAG_CLOCK,
                keys::TAG_TOMBSTONE,
                keys::TAG_TOMBSTONE_AGE,
                keys::TAG_TOMBSTONE_META,
            ]
            .contains(&k[0])
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "only the clock and tombstones remain: {leftovers:?}"
    );
}

#[test]
fn keys_lists_live_matches_in_order() {
    // Goal: KEYS returns live matching keys in byte order; `*` includes "".
    let mut shard = Shard::new();
    for key in ["hello", "hallo", "hxllo", "", "b", "a"] {
        shard.run(set(key, "v"));
    }
    shard.run(set_with(
        "hullo",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(10)),
        false,
    ));
    shard.advance(10);
    let mut keys = |pattern: &str| shard_keys(&mut shard, pattern);
    fn shard_keys(shard: &mut Shard, pattern: &str) -> Vec<String> {
        match shard.run(Command::Keys {
            pattern: b(pattern),
        }) {
            Output::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Output::Bytes(name) => String::from_utf8(name).expect("utf-8 names"),
                    other => panic!("not a name: {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }
    assert_eq!(keys("*"), ["", "a", "b", "hallo", "hello", "hxllo"]);
    assert_eq!(keys("h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys("h?llo"), ["hallo", "hello", "hxllo"]);
    assert_eq!(keys("**"), ["a", "b", "hallo", "hello", "hxllo"]);
    assert!(keys("nothing*").is_empty());
}

#[test]
fn rename_moves_value_and_deadline() {
    // Goal: RENAME/RENAMENX replies, deadline transfer and overwrite rules.
    let mut shard = Shard::new();
    let rename = |source: &str, target: &str, nx| Command::Rename {
        source: b(source),
        target: b(target),
        only_if_absent: nx,
    };
    assert_eq!(shard.run(rename("a", "b", false)), err(errors::NO_SUCH_KEY));
    assert_eq!(shard.run(rename("a", "b", true)), err(errors::NO_SUCH_KEY));
    assert_eq!(shard.run(rename("a", "a", false)), err(errors::NO_SUCH_KEY));
    shard.run(set_with(
        "a",
        "1",
        SetCondition::Always,
        SetExpiry::At(px(4_000)),
        false,
    ));
    assert_eq!(shard.run(rename("a", "a", false)), Output::Ok);
    assert_eq!(shard.run(rename("a", "a", true)), Output::Int(0));
    assert_eq!(shard.run(rename("a", "b", false)), Output::Ok);
    assert_eq!(shard.run(get("a")), Output::Nil);
    assert_eq!(shard.run(get("b")), bytes("1"));
    assert_eq!(shard.run(pttl("b")), Output::Int(4_000));
    // Overwriting a target with a deadline by a source without one.
    shard.run(set("c", "2"));
    assert_eq!(shard.run(rename("c", "b", false)), Output::Ok);
    assert_eq!(shard.run(pttl("b")), Output::Int(-1));
    shard.run(set("d", "3"));
    assert_eq!(shard.run(rename("d", "b", true)), Output::Int(0));
    assert_eq!(shard.run(rename("d", "e", true)), Output::Int(1));
    assert_eq!(shard.dbsize(), Output::Int(2));
    // An expired target counts as absent for RENAMENX.
    shard.run(set_with(
        "f",
        "4",
        SetCondition::Always,
        SetExpiry::At(px(1)),
        false,
    ));
    shard.advance(1);
    assert_eq!(shard.run(rename("e", "f", true)), Output::Int(1));
    assert_eq!(shard.run(get("f")), bytes("3"));
}

#[test]
fn expire_sweep_deletes_due_keys_in_deadline_order() {
    // Goal: the sweep deletes up to `limit` due keys, earliest first, across dbs.
    let mut shard = Shard::new();
    let with_ttl =
        |key: &str, ms| set_with(key, "v", SetCondition::Always, SetExpiry::At(px(ms)), false);
    shard.run(with_ttl("late", 30));
    shard.run(with_ttl("early", 10));
    shard.run(with_ttl("never", 1_000));
    shard.db = 1;
    shard.run(with_ttl("middle", 20));
    shard.db = 0;
    shard.advance(30);
    assert_eq!(shard.run(Command::ExpireSweep { limit: 0 }), Output::Int(0));
    assert_eq!(shard.run(Command::ExpireSweep { limit: 2 }), Output::Int(2));
    assert!(shard.record("early").is_none());
    assert!(
        shard.record("late").is_some(),
        "the latest due key waits for the next sweep"
    );
    assert_eq!(keys::read_count(&shard.store, 1).expect("count"), 0);
    assert_eq!(
        shard.run(Command::ExpireSweep { limit: 10 }),
        Output::Int(1)
    );
    assert_eq!(
        shard.run(Command::ExpireSweep { limit: 10 }),
        Output::Int(0)
    );
    assert_eq!(shard.dbsize(), Output::Int(1));
}

#[test]
fn expire_sweep_removes_stale_index_entries() {
    // Goal: an index entry that no record backs is dropped without deleting data.
    let mut shard = Shard::new();
    shard.run(set("k", "v"));
    shard
        .store
        .map
        .insert(keys::expiry_key(START_MS - 5, 0, b"k"), Vec::new());
    shard
        .store
        .map
        .insert(keys::expiry_key(START_MS - 4, 2, b"gone"), Vec::new());
    let ctx = ApplyCtx { index: 99, term: 1 };
    let req = Entry::redis(START_MS, 0, Command::ExpireSweep { limit: 10 });
    assert_eq!(
        apply(&ctx, &req, &mut shard.store).expect("applies"),
        vec![Output::Int(0)]
    );
    check_invariants(&shard.store);
    assert_eq!(shard.run(get("k")), bytes("v"));
}

#[test]
fn read_path_serves_reads_only() {
    // Goal: `read` answers like apply for reads, refuses writes, writes nothing.
    let mut shard = Shard::new();
    shard.run(set_with(
        "k",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(1_000)),
        false,
    ));
    let before = shard.store.clone();
    let read_at =
        |now_ms, cmd: &Command| read(now_ms, 0, cmd, &before).expect("MemStore never fails");
    assert_eq!(read_at(START_MS, &get("k")), bytes("v"));
    assert_eq!(read_at(START_MS + 999, &pttl("k")), Output::Int(1));
    assert_eq!(read_at(START_MS + 1_000, &get("k")), Output::Nil);
    assert_eq!(read_at(START_MS, &Command::DbSize), Output::Int(1));
    assert_eq!(
        read_at(START_MS, &set("k", "w")),
        err("ERR internal: write command on the read path")
    );
    // A reader with a slow clock still sees shard time.
    assert_eq!(read_at(START_MS - 500, &pttl("k")), Output::Int(1_000));
    assert_eq!(
        read(START_MS, DB_COUNT, &get("k"), &before).expect("reads"),
        err(DB_OUT_OF_RANGE)
    );
    assert_eq!(shard.store, before);
}

#[test]
fn reads_through_apply_write_only_the_clock() {
    // Goal: a read-only command in the log changes nothing but the clock.
    let mut shard = Shard::new();
    shard.run(set_with(
        "k",
        "v",
        SetCondition::Always,
        SetExpiry::At(px(10)),
        false,
    ));
    shard.advance(50);
    let mut expected = shard.store.clone();
    for cmd in [
        get("k"),
        ttl("k"),
        Command::Keys { pattern: b("*") },
        Command::DbSize,
    ] {
        shard.run(cmd);
        crate::clock::write_clock(&mut expected, shard.now_ms, shard.index).expect("writes");
        assert_eq!(shard.store, expected);
    }
}

#[test]
fn db_out_of_range_is_an_error() {
    // Goal: a request for a db past the last is refused without touching data.
    let mut shard = Shard::new();
    shard.db = DB_COUNT;
    assert_eq!(shard.run(set("k", "v")), err(DB_OUT_OF_RANGE));
    assert!(shard.store.map.keys().all(|k| k[0] == keys::TAG_CLOCK));
}

fn hset(key: &str, pairs: &[(&str, &str)]) -> Command {
    Command::HSet {
        key: b(key),
        pairs: pairs.iter().map(|(f, v)| (b(f), b(v))).collect(),
        count_new: true,
    }
}

fn hget(key: &str, field: &str) -> Command {
    Command::HGet {
        key: b(key),
        field: b(field),
    }
}

fn hgetall(key: &str) -> Command {
    Command::HGetAll { key: b(key) }
}

fn pairs(items: &[(&str, &str)]) -> Output {
    Output::Map(items.iter().map(|(f, v)| (bytes(f), bytes(v))).collect())
}

fn hscan(key: &str, cursor: u64, count: u64) -> Command {
    Command::HScan {
        key: b(key),
        cursor,
        pattern: None,
        count,
        novalues: true,
    }
}

#[test]
fn hash_set_get_delete_and_count() {
    // Goal: HSET counts new fields only, a repeated field takes its last
    // value, HMSET says OK, HDEL counts what it removed, and the last HDEL
    // deletes the key (Redis deletes empty hashes).
    let mut shard = Shard::new();
    assert_eq!(
        shard.run(hset("h", &[("a", "1"), ("b", "2"), ("a", "3")])),
        Output::Int(2)
    );
    assert_eq!(shard.run(hget("h", "a")), bytes("3"));
    assert_eq!(shard.run(hget("h", "zz")), Output::Nil);
    assert_eq!(shard.run(hget("nokey", "a")), Output::Nil);
    assert_eq!(
        shard.run(hset("h", &[("b", "x"), ("c", "y")])),
        Output::Int(1)
    );
    let hmset = Command::HSet {
        key: b("h"),
        pairs: vec![(b("d"), b("4"))],
        count_new: false,
    };
    assert_eq!(shard.run(hmset), Output::Ok);
    assert_eq!(shard.run(Command::HLen { key: b("h") }), Output::Int(4));
    assert_eq!(
        shard.run(hgetall("h")),
        pairs(&[("a", "3"), ("b", "x"), ("c", "y"), ("d", "4")])
    );
    assert_eq!(
        shard.run(Command::HMGet {
            key: b("h"),
            fields: vec![b("a"), b("nope"), b("d")]
        }),
        Output::Array(vec![bytes("3"), Output::Nil, bytes("4")])
    );
    assert_eq!(
        shard.run(Command::HKeys {
            key: b("h"),
            values: true
        }),
        Output::Array(vec![bytes("3"), bytes("x"), bytes("y"), bytes("4")])
    );
    assert_eq!(
        shard.run(Command::HStrLen {
            key: b("h"),
            field: b("b")
        }),
        Output::Int(1)
    );
    assert_eq!(
        shard.run(Command::HExists {
            key: b("h"),
            field: b("c")
        }),
        Output::Int(1)
    );
    let hdel = |fields: &[&str]| Command::HDel {
        key: b("h"),
        fields: fields.iter().map(|f| b(f)).collect(),
    };
    assert_eq!(shard.run(hdel(&["a", "a", "nope"])), Output::Int(1));
    assert_eq!(shard.run(hdel(&["b", "c", "d"])), Output::Int(3));
    assert_eq!(
        shard.run(Command::Exists { keys: vec![b("h")] }),
        Output::Int(0)
    );
    assert_eq!(shard.dbsize(), Output::Int(0));
    assert_eq!(shard.run(hgetall("h")), pairs(&[]));
}

#[test]
fn hash_type_errors_and_replacement() {
    // Goal: string commands on a hash and hash commands on a string get
    // WRONGTYPE; SET over a hash and DEL drop every field; TYPE says hash.
    let mut shard = Shard::new();
    shard.run(hset("h", &[("f", "v")]));
    shard.run(set("s", "text"));
    assert_eq!(
        shard.run(Command::Type { key: b("h") }),
        Output::Status("hash".into())
    );
    assert_eq!(shard.run(get("h")), err(errors::WRONGTYPE));
    assert_eq!(shard.run(incr_by("h", 1)), err(errors::WRONGTYPE));
    assert_eq!(shard.run(hget("s", "f")), err(errors::WRONGTYPE));
    assert_eq!(shard.run(hset("s", &[("f", "v")])), err(errors::WRONGTYPE));
    assert_eq!(shard.run(hgetall("s")), err(errors::WRONGTYPE));
    assert_eq!(shard.run(set("h", "now a string")), Output::Ok);
    assert_eq!(shard.run(get("h")), bytes("now a string"));
    shard.run(hset("h2", &[("a", "1"), ("b", "2")]));
    assert_eq!(
        shard.run(Command::Del {
            keys: vec![b("h2")]
        }),
        Output::Int(1)
    );
    assert_eq!(shard.run(hset("h2", &[("c", "3")])), Output::Int(1));
    assert_eq!(shard.run(hgetall("h2")), pairs(&[("c", "3")]));
}

#[test]
fn hash_increments_follow_redis() {
    // Goal: HINCRBY / HINCRBYFLOAT create fields at 0, refuse non-numbers
    // with the hash-specific texts, and refuse overflow.
    let mut shard = Shard::new();
    let hincr = |field: &str, delta: i64| Command::HIncrBy {
        key: b("h"),
        field: b(field),
        delta,
    };
    assert_eq!(shard.run(hincr("n", 5)), Output::Int(5));
    assert_eq!(shard.run(hincr("n", -7)), Output::Int(-2));
    shard.run(hset(
        "h",
        &[("text", "abc"), ("big", "9223372036854775807")],
    ));
    assert_eq!(
        shard.run(hincr("text", 1)),
        err("ERR hash value is not an integer")
    );
    assert_eq!(shard.run(hincr("big", 1)), err(errors::OVERFLOW));
    let hincrf = |field: &str, delta: &str| Command::HIncrByFloat {
        key: b("h"),
        field: b(field),
        delta: b(delta),
    };
    assert_eq!(shard.run(hincrf("f", "10.5")), bytes("10.5"));
    assert_eq!(shard.run(hincrf("f", "0.1")), bytes("10.6"));
    assert_eq!(
        shard.run(hincrf("text", "1")),
        err("ERR hash value is not a float")
    );
    assert_eq!(shard.run(Command::HLen { key: b("h") }), Output::Int(4));
}

#[test]
fn hash_keeps_its_ttl_and_moves_with_rename() {
    // Goal: writing a field keeps the key's deadline; EXPIRE and PERSIST keep
    // the fields; RENAME moves every field; expiry deletes them all.
    let mut shard = Shard::new();
    shard.run(hset("h", &[("a", "1"), ("b", "2")]));
    assert_eq!(
        shard.run(expire("h", px(1000), Cond::Always)),
        Output::Int(1)
    );
    shard.run(hset("h", &[("c", "3")]));
    assert_eq!(shard.run(pttl("h")), Output::Int(1000));
    assert_eq!(shard.run(Command::Persist { key: b("h") }), Output::Int(1));
    assert_eq!(shard.run(Command::HLen { key: b("h") }), Output::Int(3));
    shard.run(hset("target", &[("old", "x")]));
    let rename = Command::Rename {
        source: b("h"),
        target: b("target"),
        only_if_absent: false,
    };
    assert_eq!(shard.run(rename), Output::Ok);
    assert_eq!(
        shard.run(hgetall("target")),
        pairs(&[("a", "1"), ("b", "2"), ("c", "3")])
    );
    assert_eq!(shard.run(hgetall("h")), pairs(&[]));
    shard.run(expire("target", px(10), Cond::Always));
    shard.advance(10);
    assert_eq!(shard.run(hgetall("target")), pairs(&[]));
    assert_eq!(
        shard.run(Command::ExpireSweep { limit: 10 }),
        Output::Int(1)
    );
    assert!(shard.store.map.keys().all(|k| k[0] != keys::TAG_ELEMENT));
}

#[test]
fn hscan_visits_every_field_with_tiny_counts_even_under_writes() {
    // Goal: a scan with COUNT 1 returns every field present throughout, even
    // when fields sharing their first 8 bytes outnumber COUNT and when
    // other fields are added and removed between calls.
    let mut shard = Shard::new();
    let names: Vec<String> = (0..40)
        .map(|n| match n % 3 {
            0 => format!("samepref{n:03}"),
            1 => format!("{n}"),
            _ => format!("z{n}\u{0}"),
        })
        .collect();
    let pairs_owned: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    shard.run(hset("h", &pairs_owned));
    let mut seen = BTreeSet::new();
    let mut cursor = 0;
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 200, "the scan makes progress");
        let Output::Array(reply) = shard.run(hscan("h", cursor, 1)) else {
            panic!("HSCAN replies an array");
        };
        let Output::Bytes(next) = &reply[0] else {
            panic!("cursor")
        };
        let Output::Array(items) = &reply[1] else {
            panic!("items")
        };
        for item in items {
            let Output::Bytes(field) = item else {
                panic!("field")
            };
            seen.insert(String::from_utf8(field.clone()).expect("utf8"));
        }
        // Churn: add and remove fields that were never in the original set.
        shard.run(hset("h", &[(&format!("new{calls}"), "x")]));
        shard.run(Command::HDel {
            key: b("h"),
            fields: vec![b(&format!("new{}", calls - 1))],
        });
        cursor = std::str::from_utf8(next)
            .expect("utf8")
            .parse()
            .expect("number");
        if cursor == 0 {
            break;
        }
    }
    for name in &names {
        assert!(seen.contains(name), "{name:?} was never returned");
    }
}

fn sadd(key: &str, members: &[&str]) -> Command {
    Command::SAdd {
        key: b(key),
        members: members.iter().map(|m| b(m)).collect(),
    }
}

fn smembers(key: &str) -> Command {
    Command::SMembers { key: b(key) }
}

fn list(items: &[&str]) -> Output {
    Output::Array(items.iter().map(|i| bytes(i)).collect())
}

#[test]
fn set_add_remove_and_query() {
    // Goal: SADD/SREM count changes only, SMEMBERS lists in byte order,
    // SISMEMBER/SMISMEMBER/SCARD agree, the last SREM deletes the key.
    let mut shard = Shard::new();
    assert_eq!(shard.run(sadd("s", &["b", "a", "b"])), Output::Int(2));
    assert_eq!(shard.run(sadd("s", &["c", "a"])), Output::Int(1));
    assert_eq!(shard.run(smembers("s")), list(&["a", "b", "c"]));
    assert_eq!(shard.run(Command::SCard { key: b("s") }), Output::Int(3));
    assert_eq!(
        shard.run(Command::SIsMember {
            key: b("s"),
            member: b("b")
        }),
        Output::Int(1)
    );
    assert_eq!(
        shard.run(Command::SMIsMember {
            key: b("s"),
            members: vec![b("a"), b("zz")]
        }),
        Output::Array(vec![Output::Int(1), Output::Int(0)])
    );
    assert_eq!(
        shard.run(Command::Type { key: b("s") }),
        Output::Status("set".into())
    );
    let srem = |members: &[&str]| Command::SRem {
        key: b("s"),
        members: members.iter().map(|m| b(m)).collect(),
    };
    assert_eq!(shard.run(srem(&["a", "zz"])), Output::Int(1));
    assert_eq!(shard.run(srem(&["b", "c"])), Output::Int(2));
    assert_eq!(
        shard.run(Command::Exists { keys: vec![b("s")] }),
        Output::Int(0)
    );
    shard.run(set("str", "x"));
    assert_eq!(shard.run(sadd("str", &["a"])), err(errors::WRONGTYPE));
    assert_eq!(shard.run(smembers("str")), err(errors::WRONGTYPE));
}

#[test]
fn set_algebra_and_store_forms() {
    // Goal: SINTER/SUNION/SDIFF and their STORE forms, SINTERCARD with
    // LIMIT, and an empty result deleting the destination.
    let mut shard = Shard::new();
    shard.run(sadd("x", &["a", "b", "c"]));
    shard.run(sadd("y", &["b", "c", "d"]));
    let combine = |op, keys: &[&str]| Command::SCombine {
        op,
        keys: keys.iter().map(|k| b(k)).collect(),
    };
    assert_eq!(
        shard.run(combine(SetOp::Inter, &["x", "y"])),
        list(&["b", "c"])
    );
    assert_eq!(
        shard.run(combine(SetOp::Union, &["x", "y"])),
        list(&["a", "b", "c", "d"])
    );
    assert_eq!(shard.run(combine(SetOp::Diff, &["x", "y"])), list(&["a"]));
    assert_eq!(shard.run(combine(SetOp::Inter, &["x", "none"])), list(&[]));
    shard.run(set("str", "v"));
    assert_eq!(
        shard.run(combine(SetOp::Inter, &["none", "str"])),
        err(errors::WRONGTYPE)
    );
    let store = |op, dest: &str, keys: &[&str]| Command::SCombineStore {
        op,
        destination: b(dest),
        keys: keys.iter().map(|k| b(k)).collect(),
    };
    assert_eq!(
        shard.run(store(SetOp::Union, "str", &["x", "y"])),
        Output::Int(4)
    );
    assert_eq!(shard.run(smembers("str")), list(&["a", "b", "c", "d"]));
    assert_eq!(
        shard.run(store(SetOp::Inter, "str", &["x", "none"])),
        Output::Int(0)
    );
    assert_eq!(
        shard.run(Command::Exists {
            keys: vec![b("str")]
        }),
        Output::Int(0)
    );
    let card = |limit| Command::SInterCard {
        keys: vec![b("x"), b("y")],
        limit,
    };
    assert_eq!(shard.run(card(0)), Output::Int(2));
    assert_eq!(shard.run(card(1)), Output::Int(1));
}

#[test]
fn smove_follows_redis_order_of_checks() {
    // Goal: SMOVE moves a member, deleting an emptied source; an absent
    // source replies 0 even if the destination has the wrong type.
    let mut shard = Shard::new();
    shard.run(sadd("src", &["m"]));
    shard.run(set("str", "v"));
    let smove = |s: &str, d: &str, m: &str| Command::SMove {
        source: b(s),
        destination: b(d),
        member: b(m),
    };
    assert_eq!(shard.run(smove("none", "str", "m")), Output::Int(0));
    assert_eq!(shard.run(smove("src", "str", "m")), err(errors::WRONGTYPE));
    assert_eq!(shard.run(smove("src", "dst", "zz")), Output::Int(0));
    assert_eq!(shard.run(smove("src", "src", "m")), Output::Int(1));
    assert_eq!(shard.run(smove("src", "dst", "m")), Output::Int(1));
    assert_eq!(
        shard.run(Command::Exists {
            keys: vec![b("src")]
        }),
        Output::Int(0)
    );
    assert_eq!(shard.run(smembers("dst")), list(&["m"]));
}

#[test]
fn spop_and_srandmember_are_decided_by_the_seed() {
    // Goal: the same seed makes the same choice on any replica; counts
    // follow Redis (distinct for positive, repeats for negative SRANDMEMBER,
    // SPOP removes what it returns).
    let members: Vec<String> = (0..20).map(|n| format!("m{n:02}")).collect();
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let run = |seed| {
        let mut shard = Shard::new();
        shard.run(sadd("s", &refs));
        let popped = shard.run(Command::SPop {
            key: b("s"),
            count: Some(5),
            seed,
        });
        let left = shard.run(smembers("s"));
        (popped, left, shard.store.clone())
    };
    let (popped, left, store) = run(7);
    assert_eq!(run(7).2, store, "same seed, same bytes");
    let (Output::Array(popped), Output::Array(left)) = (popped, left) else {
        panic!("arrays");
    };
    assert_eq!(popped.len(), 5);
    assert_eq!(left.len(), 15);
    assert!(popped.iter().all(|p| !left.contains(p)));
    assert_ne!(
        run(8).0,
        Output::Array(popped),
        "another seed, another choice"
    );

    let mut shard = Shard::new();
    shard.run(sadd("s", &["a", "b", "c"]));
    let rand = |count, seed| Command::SRandMember {
        key: b("s"),
        count,
        seed,
    };
    let Output::Array(distinct) = shard.run(rand(Some(10), 1)) else {
        panic!()
    };
    assert_eq!(distinct.len(), 3);
    let Output::Array(repeats) = shard.run(rand(Some(-10), 1)) else {
        panic!()
    };
    assert_eq!(repeats.len(), 10);
    assert_eq!(shard.run(rand(Some(0), 1)), Output::Array(Vec::new()));
    assert!(matches!(shard.run(rand(None, 1)), Output::Bytes(_)));
    // Repeats without end would build a reply bigger than any memory
    // (Redis tries, and runs out): past the reply budget it is an error,
    // decided before the reply grows past the budget.
    for count in [-i64::MAX, -(1 << 31), -(i64::MAX / 2)] {
        assert_eq!(
            shard.run(rand(Some(count), 1)),
            err(errors::REPLY_TOO_LARGE)
        );
        shard.run(Command::HSet {
            key: b("h"),
            pairs: vec![(b("f"), b("v"))],
            count_new: true,
        });
        let hrand = Command::HRandField {
            key: b("h"),
            count: Some(count),
            withvalues: true,
            seed: 1,
        };
        assert_eq!(shard.run(hrand), err(errors::REPLY_TOO_LARGE));
    }
    let within = -i64::try_from(
        crate::redis::output::REPLY_BYTES_MAX
            / (1 + crate::redis::output::REPLY_ELEMENT_OVERHEAD_BYTES),
    )
    .expect("fits");
    let Output::Array(most) = shard.run(rand(Some(within), 1)) else {
        panic!("the largest reply within the budget is built")
    };
    assert_eq!(most.len() as i64, -within);
    assert_eq!(shard.run(Command::SCard { key: b("s") }), Output::Int(3));
    let single = Command::SPop {
        key: b("s"),
        count: None,
        seed: 3,
    };
    assert!(matches!(shard.run(single), Output::Bytes(_)));
    assert_eq!(
        shard.run(Command::SPop {
            key: b("none"),
            count: None,
            seed: 3
        }),
        Output::Nil
    );
}

fn push(key: &str, values: &[&str], left: bool) -> Command {
    Command::Push {
        key: b(key),
        values: values.iter().map(|v| b(v)).collect(),
        left,
        only_if_exists: false,
    }
}

fn lrange(key: &str, start: i64, stop: i64) -> Command {
    Command::LRange {
        key: b(key),
        start,
        stop,
    }
}

#[test]
fn list_push_pop_range_and_index() {
    // Goal: pushes at both ends keep Redis's order, pops take from the
    // right end with counts, LRANGE/LINDEX clamp and count from the tail
    // like Redis, and the last pop deletes the key.
    let mut shard = Shard::new();
    assert_eq!(shard.run(push("l", &["a", "b", "c"], true)), Output::Int(3));
    assert_eq!(shard.run(push("l", &["d", "e"], false)), Output::Int(5));
    assert_eq!(
        shard.run(lrange("l", 0, -1)),
        list(&["c", "b", "a", "d", "e"])
    );
    assert_eq!(shard.run(lrange("l", -2, 100)), list(&["d", "e"]));
    assert_eq!(shard.run(lrange("l", 3, 1)), list(&[]));
    assert_eq!(shard.run(lrange("l", 10, 20)), list(&[]));
    assert_eq!(
        shard.run(Command::LIndex {
            key: b("l"),
            index: -1
        }),
        bytes("e")
    );
    assert_eq!(
        shard.run(Command::LIndex {
            key: b("l"),
            index: 5
        }),
        Output::Nil
    );
    assert_eq!(shard.run(Command::LLen { key: b("l") }), Output::Int(5));
    let pop = |left, count| Command::Pop {
        key: b("l"),
        left,
        count,
    };
    assert_eq!(shard.run(pop(true, None)), bytes("c"));
    assert_eq!(shard.run(pop(false, Some(2))), list(&["e", "d"]));
    assert_eq!(shard.run(pop(true, Some(0))), list(&[]));
    assert_eq!(shard.run(pop(true, Some(10))), list(&["b", "a"]));
    assert_eq!(
        shard.run(Command::Exists { keys: vec![b("l")] }),
        Output::Int(0)
    );
    assert_eq!(shard.run(pop(true, None)), Output::Nil);
    let pushx = Command::Push {
        key: b("l"),
        values: vec![b("x")],
        left: true,
        only_if_exists: true,
    };
    assert_eq!(shard.run(pushx), Output::Int(0));
    assert_eq!(
        shard.run(Command::Exists { keys: vec![b("l")] }),
        Output::Int(0)
    );
    shard.run(set("s", "v"));
    assert_eq!(shard.run(push("s", &["a"], true)), err(errors::WRONGTYPE));
    assert_eq!(shard.run(lrange("s", 0, -1)), err(errors::WRONGTYPE));
}

#[test]
fn list_set_remove_trim_insert_and_pos() {
    // Goal: LSET, LREM (both directions and all), LTRIM, LINSERT and LPOS
    // with RANK / COUNT / MAXLEN answer as Redis documents.
    let mut shard = Shard::new();
    shard.run(push("l", &["a", "b", "a", "c", "a"], false));
    let lset = |index, value: &str| Command::LSet {
        key: b("l"),
        index,
        value: b(value),
    };
    assert_eq!(shard.run(lset(-1, "z")), Output::Ok);
    assert_eq!(shard.run(lset(9, "z")), err("ERR index out of range"));
    assert_eq!(
        shard.run(Command::LSet {
            key: b("none"),
            index: 0,
            value: b("v")
        }),
        err(errors::NO_SUCH_KEY)
    );
    assert_eq!(
        shard.run(lrange("l", 0, -1)),
        list(&["a", "b", "a", "c", "z"])
    );
    let lpos = |element: &str, rank, count, maxlen| Command::LPos {
        key: b("l"),
        element: b(element),
        rank,
        count,
        maxlen,
    };
    assert_eq!(shard.run(lpos("a", 1, None, 0)), Output::Int(0));
    assert_eq!(shard.run(lpos("a", 2, None, 0)), Output::Int(2));
    assert_eq!(shard.run(lpos("a", -1, None, 0)), Output::Int(2));
    assert_eq!(
        shard.run(lpos("a", 1, Some(0), 0)),
        Output::Array(vec![Output::Int(0), Output::Int(2)])
    );
    assert_eq!(
        shard.run(lpos("a", 1, Some(0), 2)),
        Output::Array(vec![Output::Int(0)])
    );
    assert_eq!(shard.run(lpos("q", 1, None, 0)), Output::Nil);
    let lrem = |count, value: &str| Command::LRem {
        key: b("l"),
        count,
        value: b(value),
    };
    shard.run(push("l", &["a"], false));
    assert_eq!(shard.run(lrem(-1, "a")), Output::Int(1));
    assert_eq!(
        shard.run(lrange("l", 0, -1)),
        list(&["a", "b", "a", "c", "z"])
    );
    assert_eq!(shard.run(lrem(0, "a")), Output::Int(2));
    assert_eq!(shard.run(lrange("l", 0, -1)), list(&["b", "c", "z"]));
    let linsert = |before, pivot: &str, value: &str| Command::LInsert {
        key: b("l"),
        before,
        pivot: b(pivot),
        value: b(value),
    };
    assert_eq!(shard.run(linsert(true, "c", "x")), Output::Int(4));
    assert_eq!(shard.run(linsert(false, "z", "y")), Output::Int(5));
    assert_eq!(shard.run(linsert(false, "nope", "y")), Output::Int(-1));
    assert_eq!(
        shard.run(lrange("l", 0, -1)),
        list(&["b", "x", "c", "z", "y"])
    );
    let ltrim = |start, stop| Command::LTrim {
        key: b("l"),
        start,
        stop,
    };
    assert_eq!(shard.run(ltrim(1, -2)), Output::Ok);
    assert_eq!(shard.run(lrange("l", 0, -1)), list(&["x", "c", "z"]));
    assert_eq!(shard.run(ltrim(5, 10)), Output::Ok);
    assert_eq!(
        shard.run(Command::Exists { keys: vec![b("l")] }),
        Output::Int(0)
    );
}

#[test]
fn lmove_rotates_and_checks_types_first() {
    // Goal: LMOVE moves between lists and rotates one list onto itself; an
    // absent source replies nil; a wrong-typed destination moves nothing.
    let mut shard = Shard::new();
    shard.run(push("src", &["a", "b", "c"], false));
    let lmove = |s: &str, d: &str, from_left, to_left| Command::LMove {
        source: b(s),
        destination: b(d),
        from_left,
        to_left,
    };
    assert_eq!(shard.run(lmove("src", "src", true, false)), bytes("a"));
    assert_eq!(shard.run(lrange("src", 0, -1)), list(&["b", "c", "a"]));
    assert_eq!(shard.run(lmove("src", "dst", false, true)), bytes("a"));
    assert_eq!(shard.run(lrange("dst", 0, -1)), list(&["a"]));
    assert_eq!(shard.run(lmove("none", "dst", true, true)), Output::Nil);
    shard.run(set("str", "v"));
    assert_eq!(
        shard.run(lmove("src", "str", true, true)),
        err(errors::WRONGTYPE)
    );
    assert_eq!(shard.run(lrange("src", 0, -1)), list(&["b", "c"]));
    shard.run(push("one", &["x"], true));
    assert_eq!(shard.run(lmove("one", "one", true, true)), bytes("x"));
    assert_eq!(shard.run(lrange("one", 0, -1)), list(&["x"]));
}

/// WATCH through the read path: the keys' versions and the applied index.
fn watch(shard: &mut Shard, names: &[&str]) -> Vec<Watched> {
    let Output::Array(items) = shard.run(Command::Watch {
        keys: names.iter().map(|k| b(k)).collect(),
    }) else {
        panic!("WATCH replies an array");
    };
    let Output::Int(at_index) = items[0] else {
        panic!("index first");
    };
    names
        .iter()
        .zip(&items[1..])
        .map(|(name, version)| Watched {
            db: shard.db,
            key: b(name),
            version: match version {
                Output::Int(v) => Some(*v as u64),
                _ => None,
            },
            at_index: at_index as u64,
        })
        .collect()
}

fn exec(watched: Vec<Watched>, ops: Vec<Command>) -> Command {
    Command::Exec {
        watched,
        ops: ops.into_iter().map(|cmd| (0, cmd)).collect(),
    }
}

#[test]
fn exec_runs_everything_in_one_entry_with_errors_in_place() {
    // Goal: EXEC applies its commands in order, each with its own reply
    // (a failing one does not stop the rest), all stamped with one version.
    let mut shard = Shard::new();
    shard.run(set("s", "text"));
    let reply = shard.run(exec(
        Vec::new(),
        vec![set("a", "1"), incr_by("s", 1), incr_by("a", 5), get("a")],
    ));
    assert_eq!(
        reply,
        Output::Array(vec![
            Output::Ok,
            err(errors::NOT_INTEGER),
            Output::Int(6),
            bytes("6")
        ])
    );
    assert_eq!(shard.record("a").expect("a").version, shard.index);
}

#[test]
fn watch_aborts_exactly_when_a_watched_key_changed() {
    // Goal: EXEC aborts (null array) after a write, delete, expiry or
    // create-and-delete of a watched key, and runs otherwise, including
    // after writes to other keys and other dbs.
    let mut shard = Shard::new();
    shard.run(set("k", "1"));
    shard.run(set_with(
        "t",
        "1",
        SetCondition::Always,
        SetExpiry::At(px(100)),
        false,
    ));

    // Untouched: runs.
    let w = watch(&mut shard, &["k", "absent"]);
    shard.run(set("other", "x"));
    shard.run(Command::Del {
        keys: vec![b("other")],
    });
    assert_eq!(
        shard.run(exec(w, vec![get("k")])),
        Output::Array(vec![bytes("1")])
    );

    // Overwritten, even with the same value: aborts.
    let w = watch(&mut shard, &["k"]);
    shard.run(set("k", "1"));
    assert_eq!(shard.run(exec(w, vec![set("k", "2")])), Output::NilArray);
    assert_eq!(
        shard.run(get("k")),
        bytes("1"),
        "an aborted EXEC runs nothing"
    );

    // Deleted: aborts.
    let w = watch(&mut shard, &["k"]);
    shard.run(Command::Del { keys: vec![b("k")] });
    assert_eq!(shard.run(exec(w, vec![])), Output::NilArray);

    // Absent, then created and deleted again: aborts (the tombstone).
    let w = watch(&mut shard, &["k"]);
    shard.run(set("k", "again"));
    shard.run(Command::Del { keys: vec![b("k")] });
    assert_eq!(shard.run(exec(w, vec![])), Output::NilArray);

    // Expired meanwhile: aborts, as in Redis 7.
    let w = watch(&mut shard, &["t"]);
    shard.advance(100);
    assert_eq!(shard.run(exec(w, vec![])), Output::NilArray);

    // A write in another db to the same name: runs.
    let w = watch(&mut shard, &["x"]);
    shard.db = 3;
    shard.run(set("x", "elsewhere"));
    shard.db = 0;
    assert_eq!(shard.run(exec(w, vec![])), Output::Array(vec![]));
}

#[test]
fn forgotten_tombstones_make_old_watches_on_absent_keys_abort() {
    // Goal: past TOMBSTONES_MAX deletions the oldest tombstones go and the
    // floor rises; a watch older than the floor on an absent key aborts
    // (it cannot be proven unchanged), one newer does not.
    let mut shard = Shard::new();
    let old = watch(&mut shard, &["never"]);
    let (count, floor) = keys::read_tombstone_meta(&shard.store).expect("meta");
    assert_eq!((count, floor), (0, 0));
    for n in 0..keys::TOMBSTONES_MAX + 2 {
        let name = format!("d{n}");
        shard.run(set(&name, "v"));
        shard.run(Command::Del {
            keys: vec![b(&name)],
        });
    }
    let (count, floor) = keys::read_tombstone_meta(&shard.store).expect("meta");
    assert_eq!(count, keys::TOMBSTONES_MAX);
    assert!(floor > 0);
    assert_eq!(shard.run(exec(old, vec![])), Output::NilArray);
    let fresh = watch(&mut shard, &["never"]);
    assert_eq!(shard.run(exec(fresh, vec![])), Output::Array(vec![]));
}

fn bpop(names: &[&str], request: u64) -> Command {
    Command::BlockingPop {
        keys: names.iter().map(|k| b(k)).collect(),
        left: true,
        destination: None,
        request,
    }
}

#[test]
fn a_retried_blocking_pop_gets_its_first_result() {
    // Goal: a blocking pop takes from the first non-empty list; retried with
    // the same request (after an unknown outcome) it returns the same
    // element without taking another; nil when all lists are empty (and a
    // nil attempt is not remembered, so a later retry can still pop).
    let mut shard = Shard::new();
    assert_eq!(shard.run(bpop(&["a", "b"], 1)), Output::Nil);
    shard.run(push("b", &["x", "y"], false));
    let got = Output::Array(vec![bytes("b"), bytes("x")]);
    assert_eq!(shard.run(bpop(&["a", "b"], 1)), got);
    assert_eq!(
        shard.run(bpop(&["a", "b"], 1)),
        got,
        "the retry repeats, not pops"
    );
    assert_eq!(shard.run(lrange("b", 0, -1)), list(&["y"]));
    let moved = Command::BlockingPop {
        keys: vec![b("b")],
        left: false,
        destination: Some((b("c"), true)),
        request: 2,
    };
    assert_eq!(shard.run(moved.clone()), bytes("y"));
    assert_eq!(shard.run(moved), bytes("y"));
    assert_eq!(shard.run(lrange("c", 0, -1)), list(&["y"]));
    shard.run(set("s", "v"));
    assert_eq!(shard.run(bpop(&["s"], 3)), err(errors::WRONGTYPE));
    // Old results are forgotten past the cap.
    for request in 10..10 + keys::POP_RESULTS_MAX + 3 {
        shard.run(push("q", &["i"], false));
        shard.run(bpop(&["q"], request));
    }
    assert_eq!(
        keys::read_pop_result_count(&shard.store).expect("count"),
        keys::POP_RESULTS_MAX
    );
}

/// A store that panics right after writing a key or value containing
/// `boom`: an op that fails halfway through its writes.
struct PanickyStore(MemStore);

impl Store for PanickyStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.0.put(key, value)?;
        let boom = |bytes: &[u8]| bytes.windows(4).any(|w| w == b"boom");
        assert!(!boom(key) && !boom(value), "planted: apply fails mid-op");
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.0.delete(key)
    }

    fn begin_op(&mut self) {
        self.0.begin_op();
    }

    fn rollback_op(&mut self) {
        self.0.rollback_op();
    }

    fn scan_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.0.scan_from(prefix, from, visit)
    }

    fn scan_rev(
        &self,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.0.scan_rev(prefix, below, visit)
    }
}

#[test]
fn an_op_that_panics_is_undone_and_answers_an_error() {
    // Goal: an op that panics after some of its writes leaves no trace of
    // them, answers an error, and the ops after it in the entry still
    // apply; inside EXEC the whole transaction is undone. The same input
    // gives the same store on every replica.
    let run = || {
        let mut store = PanickyStore(MemStore::default());
        let ctx = ApplyCtx { index: 1, term: 1 };
        let setup = Entry::redis(1_000, 0, set("before", "1"));
        apply(&ctx, &setup, &mut store).expect("setup applies");
        let before = store.0.clone();
        let req = Entry::new(
            1_000,
            vec![
                Op::redis(
                    0,
                    Command::SAdd {
                        key: b("s"),
                        members: vec![b("a"), b("boom")],
                    },
                ),
                Op::redis(
                    0,
                    Command::Exec {
                        watched: Vec::new(),
                        ops: vec![(0, set("t1", "x")), (0, set("t2", "boom"))],
                    },
                ),
                Op::redis(0, set("after", "2")),
            ],
        );
        let ctx = ApplyCtx { index: 2, term: 1 };
        let applied =
            crate::machine::apply(&ctx, &req, &mut store).expect("a panic is not a store failure");
        // The undone ops' changes went with them: only the last op's remains.
        assert_eq!(
            applied.changes.to_vec(),
            vec![crate::family::Change {
                key: keys::data_key(0, b"after"),
                deleted: false
            }]
        );
        let outputs: Vec<Output> = applied.outputs.into_iter().map(Reply::into_redis).collect();
        (before, store.0, outputs)
    };
    let (before, after, outputs) = run();
    assert_eq!(outputs.len(), 3, "{outputs:?}");
    for output in &outputs[..2] {
        let Output::Error(text) = output else {
            panic!("an error, not {output:?}")
        };
        assert!(text.starts_with(OP_FAILED), "{text}");
        assert!(text.contains("planted: apply fails mid-op"), "{text}");
    }
    assert_eq!(outputs[2], Output::Ok);
    check_invariants(&after);
    let mut expected = before.clone();
    let ctx = ApplyCtx { index: 2, term: 1 };
    apply(
        &ctx,
        &Entry::redis(1_000, 0, set("after", "2")),
        &mut expected,
    )
    .expect("applies");
    assert_eq!(after.map, expected.map, "nothing of the failed ops remains");
    assert_eq!(run().1.map, after.map, "the same on every replica");
}
