//! Sample commands for the golden format test: at least one of every
//! `Command` variant, in declaration order, with field values that exercise
//! the archived layout (non-empty byte strings, `Some` and `None`, negative
//! numbers, every variant of every nested enum).
//!
//! [`declaration_index`] is an exhaustive `match` over `Command`: a new
//! variant does not compile until it has an arm there, and the golden test
//! then fails until the variant has a sample here.
//!
//! These builders describe what format 1's bytes decode to. When a later
//! format changes the types, keep them (adapted to the new types, as the
//! reader of format 1 would see the old bytes) so format-1.txt stays checked.

use orbit_core::redis::command::{
    Aggregate, ExpireCondition, Expiry, GetExExpiry, LexBound, ScoreBound, SetCondition, SetExpiry,
    SetOp, Watched, ZAddFlags, ZRangeSpec,
};
use orbit_core::redis::Command;

/// One sample: its name in the golden file and the command.
pub struct CommandSample {
    pub name: String,
    pub cmd: Command,
}

/// Every sample, in declaration order; a variant's extra samples follow its
/// first one. Names are `command <tag> <Variant>`, with a note for extras.
pub fn command_samples() -> Vec<CommandSample> {
    let groups = [
        strings_a(),
        strings_b(),
        keyspace(),
        hashes_a(),
        hashes_b(),
        sets_a(),
        sets_b(),
        lists_a(),
        lists_b(),
        zsets_a(),
        zsets_b(),
        others(),
    ];
    groups
        .into_iter()
        .flatten()
        .map(|(cmd, note)| {
            let (tag, variant) = declaration_index(&cmd);
            let name = if note.is_empty() {
                format!("command {tag} {variant}")
            } else {
                format!("command {tag} {variant} ({note})")
            };
            CommandSample { name, cmd }
        })
        .collect()
}

/// The variant's place in the declaration of `Command` (its rkyv tag) and its
/// name. One arm per variant and no wildcard, so that a new variant fails to
/// compile here; the function is one long `match` because splitting it would
/// need a wildcard and lose that.
pub fn declaration_index(cmd: &Command) -> (u8, &'static str) {
    match cmd {
        Command::Set { .. } => (0, "Set"),
        Command::Get { .. } => (1, "Get"),
        Command::GetDel { .. } => (2, "GetDel"),
        Command::GetEx { .. } => (3, "GetEx"),
        Command::MSet { .. } => (4, "MSet"),
        Command::MSetNx { .. } => (5, "MSetNx"),
        Command::MGet { .. } => (6, "MGet"),
        Command::Del { .. } => (7, "Del"),
        Command::Exists { .. } => (8, "Exists"),
        Command::IncrBy { .. } => (9, "IncrBy"),
        Command::IncrByFloat { .. } => (10, "IncrByFloat"),
        Command::Append { .. } => (11, "Append"),
        Command::StrLen { .. } => (12, "StrLen"),
        Command::GetRange { .. } => (13, "GetRange"),
        Command::SetRange { .. } => (14, "SetRange"),
        Command::Expire { .. } => (15, "Expire"),
        Command::Ttl { .. } => (16, "Ttl"),
        Command::Persist { .. } => (17, "Persist"),
        Command::Type { .. } => (18, "Type"),
        Command::DbSize => (19, "DbSize"),
        Command::FlushDb => (20, "FlushDb"),
        Command::FlushAll => (21, "FlushAll"),
        Command::Keys { .. } => (22, "Keys"),
        Command::Rename { .. } => (23, "Rename"),
        Command::HSet { .. } => (24, "HSet"),
        Command::HSetNx { .. } => (25, "HSetNx"),
        Command::HGet { .. } => (26, "HGet"),
        Command::HMGet { .. } => (27, "HMGet"),
        Command::HGetAll { .. } => (28, "HGetAll"),
        Command::HDel { .. } => (29, "HDel"),
        Command::HExists { .. } => (30, "HExists"),
        Command::HIncrBy { .. } => (31, "HIncrBy"),
        Command::HIncrByFloat { .. } => (32, "HIncrByFloat"),
        Command::HKeys { .. } => (33, "HKeys"),
        Command::HLen { .. } => (34, "HLen"),
        Command::HStrLen { .. } => (35, "HStrLen"),
        Command::HRandField { .. } => (36, "HRandField"),
        Command::HScan { .. } => (37, "HScan"),
        Command::SAdd { .. } => (38, "SAdd"),
        Command::SRem { .. } => (39, "SRem"),
        Command::SMembers { .. } => (40, "SMembers"),
        Command::SIsMember { .. } => (41, "SIsMember"),
        Command::SMIsMember { .. } => (42, "SMIsMember"),
        Command::SCard { .. } => (43, "SCard"),
        Command::SPop { .. } => (44, "SPop"),
        Command::SRandMember { .. } => (45, "SRandMember"),
        Command::SCombine { .. } => (46, "SCombine"),
        Command::SCombineStore { .. } => (47, "SCombineStore"),
        Command::SInterCard { .. } => (48, "SInterCard"),
        Command::SMove { .. } => (49, "SMove"),
        Command::SScan { .. } => (50, "SScan"),
        Command::Push { .. } => (51, "Push"),
        Command::Pop { .. } => (52, "Pop"),
        Command::LRange { .. } => (53, "LRange"),
        Command::LIndex { .. } => (54, "LIndex"),
        Command::LLen { .. } => (55, "LLen"),
        Command::LSet { .. } => (56, "LSet"),
        Command::LRem { .. } => (57, "LRem"),
        Command::LTrim { .. } => (58, "LTrim"),
        Command::LInsert { .. } => (59, "LInsert"),
        Command::LPos { .. } => (60, "LPos"),
        Command::BlockingPop { .. } => (61, "BlockingPop"),
        Command::LMove { .. } => (62, "LMove"),
        Command::ZAdd { .. } => (63, "ZAdd"),
        Command::ZIncrBy { .. } => (64, "ZIncrBy"),
        Command::ZScore { .. } => (65, "ZScore"),
        Command::ZMScore { .. } => (66, "ZMScore"),
        Command::ZRange { .. } => (67, "ZRange"),
        Command::ZRank { .. } => (68, "ZRank"),
        Command::ZRem { .. } => (69, "ZRem"),
        Command::ZRemRange { .. } => (70, "ZRemRange"),
        Command::ZCard { .. } => (71, "ZCard"),
        Command::ZCount { .. } => (72, "ZCount"),
        Command::ZPop { .. } => (73, "ZPop"),
        Command::ZCombineStore { .. } => (74, "ZCombineStore"),
        Command::ZScan { .. } => (75, "ZScan"),
        Command::Scan { .. } => (76, "Scan"),
        Command::Touch { .. } => (77, "Touch"),
        Command::Time => (78, "Time"),
        Command::RandomKey { .. } => (79, "RandomKey"),
        Command::Copy { .. } => (80, "Copy"),
        Command::ObjectEncoding { .. } => (81, "ObjectEncoding"),
        Command::Publish { .. } => (82, "Publish"),
        Command::Watch { .. } => (83, "Watch"),
        Command::Exec { .. } => (84, "Exec"),
        Command::ExpireSweep { .. } => (85, "ExpireSweep"),
    }
}

fn b(text: &str) -> Vec<u8> {
    text.as_bytes().to_vec()
}

fn list(items: &[&str]) -> Vec<Vec<u8>> {
    items.iter().map(|item| b(item)).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    items.iter().map(|(k, v)| (b(k), b(v))).collect()
}

type Samples = Vec<(Command, &'static str)>;

fn set(condition: SetCondition, expiry: SetExpiry, get: bool) -> Command {
    Command::Set {
        key: b("user:1000"),
        value: b("a value of twenty-four b"),
        condition,
        expiry,
        get,
    }
}

fn get_ex(expiry: GetExExpiry) -> Command {
    Command::GetEx {
        key: b("session:7"),
        expiry,
    }
}

/// Tags 0 to 5.
fn strings_a() -> Samples {
    vec![
        (set(SetCondition::Always, SetExpiry::Clear, false), ""),
        (
            set(SetCondition::IfAbsent, SetExpiry::Keep, true),
            "IfAbsent Keep get",
        ),
        (
            set(
                SetCondition::IfPresent,
                SetExpiry::At(Expiry::RelativeMs(-1500)),
                false,
            ),
            "IfPresent At RelativeMs",
        ),
        (Command::Get { key: b("k") }, ""),
        (Command::GetDel { key: b("gone") }, ""),
        (get_ex(GetExExpiry::Unchanged), ""),
        (get_ex(GetExExpiry::Persist), "Persist"),
        (
            get_ex(GetExExpiry::At(Expiry::AbsoluteMs(1_700_000_123_456))),
            "At AbsoluteMs",
        ),
        (
            Command::MSet {
                pairs: pairs(&[("a", "1"), ("bb", "22"), ("ccc", "")]),
            },
            "",
        ),
        (
            Command::MSetNx {
                pairs: pairs(&[("nx-key", "nx-value")]),
            },
            "",
        ),
    ]
}

/// Tags 6 to 14.
fn strings_b() -> Samples {
    vec![
        (
            Command::MGet {
                keys: list(&["a", "bb", "ccc"]),
            },
            "",
        ),
        (
            Command::Del {
                keys: list(&["old", "older"]),
            },
            "",
        ),
        (
            Command::Exists {
                keys: list(&["maybe"]),
            },
            "",
        ),
        (
            Command::IncrBy {
                key: b("counter"),
                delta: -42,
            },
            "",
        ),
        (
            Command::IncrByFloat {
                key: b("float"),
                delta: b("-1.5e3"),
            },
            "",
        ),
        (
            Command::Append {
                key: b("log"),
                value: b("tail"),
            },
            "",
        ),
        (Command::StrLen { key: b("log") }, ""),
        (
            Command::GetRange {
                key: b("log"),
                start: -7,
                end: -1,
            },
            "",
        ),
        (
            Command::SetRange {
                key: b("log"),
                offset: 0x0102_0304_0506_0708,
                value: b("patch"),
            },
            "",
        ),
    ]
}

fn expire(expiry: Expiry, condition: ExpireCondition) -> Command {
    Command::Expire {
        key: b("ttl-key"),
        expiry,
        condition,
    }
}

/// Tags 15 to 23.
fn keyspace() -> Samples {
    vec![
        (
            expire(Expiry::RelativeMs(60_000), ExpireCondition::Always),
            "",
        ),
        (
            expire(Expiry::AbsoluteMs(-1), ExpireCondition::IfNoExpiry),
            "IfNoExpiry",
        ),
        (
            expire(Expiry::RelativeMs(-5), ExpireCondition::IfHasExpiry),
            "IfHasExpiry",
        ),
        (
            expire(Expiry::AbsoluteMs(i64::MAX), ExpireCondition::IfGreater),
            "IfGreater",
        ),
        (
            expire(Expiry::RelativeMs(i64::MIN), ExpireCondition::IfLess),
            "IfLess",
        ),
        (
            Command::Ttl {
                key: b("ttl-key"),
                millis: true,
            },
            "",
        ),
        (Command::Persist { key: b("ttl-key") }, ""),
        (Command::Type { key: b("what") }, ""),
        (Command::DbSize, ""),
        (Command::FlushDb, ""),
        (Command::FlushAll, ""),
        (
            Command::Keys {
                pattern: b("user:*"),
            },
            "",
        ),
        (
            Command::Rename {
                source: b("from"),
                target: b("to"),
                only_if_absent: true,
            },
            "",
        ),
    ]
}

/// Tags 24 to 31.
fn hashes_a() -> Samples {
    vec![
        (
            Command::HSet {
                key: b("hash"),
                pairs: pairs(&[("f1", "v1"), ("f2", "v2")]),
                count_new: true,
            },
            "",
        ),
        (
            Command::HSetNx {
                key: b("hash"),
                field: b("f3"),
                value: b("v3"),
            },
            "",
        ),
        (
            Command::HGet {
                key: b("hash"),
                field: b("f1"),
            },
            "",
        ),
        (
            Command::HMGet {
                key: b("hash"),
                fields: list(&["f1", "f2", "missing"]),
            },
            "",
        ),
        (Command::HGetAll { key: b("hash") }, ""),
        (
            Command::HDel {
                key: b("hash"),
                fields: list(&["f2"]),
            },
            "",
        ),
        (
            Command::HExists {
                key: b("hash"),
                field: b("f1"),
            },
            "",
        ),
        (
            Command::HIncrBy {
                key: b("hash"),
                field: b("n"),
                delta: -9_000_000_000,
            },
            "",
        ),
    ]
}

fn h_rand_field(count: Option<i64>) -> Command {
    Command::HRandField {
        key: b("hash"),
        count,
        withvalues: true,
        seed: 0x0123_4567_89ab_cdef,
    }
}

fn h_scan(pattern: Option<Vec<u8>>) -> Command {
    Command::HScan {
        key: b("hash"),
        cursor: 17,
        pattern,
        count: 100,
        novalues: true,
    }
}

/// Tags 32 to 37.
fn hashes_b() -> Samples {
    vec![
        (
            Command::HIncrByFloat {
                key: b("hash"),
                field: b("x"),
                delta: b("-0.25"),
            },
            "",
        ),
        (
            Command::HKeys {
                key: b("hash"),
                values: true,
            },
            "",
        ),
        (Command::HLen { key: b("hash") }, ""),
        (
            Command::HStrLen {
                key: b("hash"),
                field: b("f1"),
            },
            "",
        ),
        (h_rand_field(Some(-5)), ""),
        (h_rand_field(None), "count None"),
        (h_scan(Some(b("f*"))), ""),
        (h_scan(None), "pattern None"),
    ]
}

fn s_rand_member(count: Option<i64>) -> Command {
    Command::SRandMember {
        key: b("set"),
        count,
        seed: u64::MAX,
    }
}

/// Tags 38 to 45.
fn sets_a() -> Samples {
    vec![
        (
            Command::SAdd {
                key: b("set"),
                members: list(&["m1", "m2", "m3"]),
            },
            "",
        ),
        (
            Command::SRem {
                key: b("set"),
                members: list(&["m3"]),
            },
            "",
        ),
        (Command::SMembers { key: b("set") }, ""),
        (
            Command::SIsMember {
                key: b("set"),
                member: b("m1"),
            },
            "",
        ),
        (
            Command::SMIsMember {
                key: b("set"),
                members: list(&["m1", "zz"]),
            },
            "",
        ),
        (Command::SCard { key: b("set") }, ""),
        (
            Command::SPop {
                key: b("set"),
                count: Some(2),
                seed: 7,
            },
            "",
        ),
        (s_rand_member(Some(-3)), ""),
        (s_rand_member(None), "count None"),
    ]
}

fn s_combine(op: SetOp) -> Command {
    Command::SCombine {
        op,
        keys: list(&["set", "other-set"]),
    }
}

/// Tags 46 to 50.
fn sets_b() -> Samples {
    vec![
        (s_combine(SetOp::Inter), ""),
        (s_combine(SetOp::Union), "Union"),
        (s_combine(SetOp::Diff), "Diff"),
        (
            Command::SCombineStore {
                op: SetOp::Diff,
                destination: b("dest"),
                keys: list(&["set", "other-set"]),
            },
            "",
        ),
        (
            Command::SInterCard {
                keys: list(&["set", "other-set"]),
                limit: 3,
            },
            "",
        ),
        (
            Command::SMove {
                source: b("set"),
                destination: b("other-set"),
                member: b("m1"),
            },
            "",
        ),
        (
            Command::SScan {
                key: b("set"),
                cursor: 0,
                pattern: Some(b("m?")),
                count: 10,
            },
            "",
        ),
    ]
}

fn pop(count: Option<u64>) -> Command {
    Command::Pop {
        key: b("list"),
        left: false,
        count,
    }
}

/// Tags 51 to 58.
fn lists_a() -> Samples {
    vec![
        (
            Command::Push {
                key: b("list"),
                values: list(&["x", "y", "z"]),
                left: true,
                only_if_exists: false,
            },
            "",
        ),
        (pop(Some(2)), ""),
        (pop(None), "count None"),
        (
            Command::LRange {
                key: b("list"),
                start: 0,
                stop: -1,
            },
            "",
        ),
        (
            Command::LIndex {
                key: b("list"),
                index: -2,
            },
            "",
        ),
        (Command::LLen { key: b("list") }, ""),
        (
            Command::LSet {
                key: b("list"),
                index: -1,
                value: b("last"),
            },
            "",
        ),
        (
            Command::LRem {
                key: b("list"),
                count: -2,
                value: b("x"),
            },
            "",
        ),
        (
            Command::LTrim {
                key: b("list"),
                start: 1,
                stop: -2,
            },
            "",
        ),
    ]
}

fn l_pos(count: Option<u64>) -> Command {
    Command::LPos {
        key: b("list"),
        element: b("y"),
        rank: -1,
        count,
        maxlen: 1000,
    }
}

fn blocking_pop(destination: Option<(Vec<u8>, bool)>) -> Command {
    Command::BlockingPop {
        keys: list(&["queue-a", "queue-b"]),
        left: true,
        destination,
        request: 0xfedc_ba98_7654_3210,
    }
}

/// Tags 59 to 62.
fn lists_b() -> Samples {
    vec![
        (
            Command::LInsert {
                key: b("list"),
                before: true,
                pivot: b("y"),
                value: b("inserted"),
            },
            "",
        ),
        (l_pos(Some(0)), ""),
        (l_pos(None), "count None"),
        (blocking_pop(Some((b("target"), true))), ""),
        (blocking_pop(None), "destination None"),
        (
            Command::LMove {
                source: b("list"),
                destination: b("target"),
                from_left: false,
                to_left: true,
            },
            "",
        ),
    ]
}

fn z_range(spec: ZRangeSpec, rev: bool, limit: Option<(i64, i64)>) -> Command {
    Command::ZRange {
        key: b("zset"),
        spec,
        rev,
        limit,
        withscores: true,
    }
}

/// Tags 63 to 67.
fn zsets_a() -> Samples {
    let flags = ZAddFlags {
        nx: true,
        ch: true,
        ..ZAddFlags::default()
    };
    let other_flags = ZAddFlags {
        xx: true,
        gt: true,
        lt: true,
        incr: true,
        ..ZAddFlags::default()
    };
    let zadd = |flags, pairs| Command::ZAdd {
        key: b("zset"),
        flags,
        pairs,
    };
    let score = ZRangeSpec::Score {
        min: ScoreBound::Inclusive(f64::NEG_INFINITY),
        max: ScoreBound::Exclusive(-2.5),
    };
    let lex = ZRangeSpec::Lex {
        min: LexBound::Inclusive(b("apple")),
        max: LexBound::Exclusive(b("banana")),
    };
    vec![
        (zadd(flags, vec![(1.5, b("one")), (-2.0, b("two"))]), ""),
        (
            zadd(other_flags, vec![(f64::INFINITY, b("inf"))]),
            "xx gt lt incr",
        ),
        (
            Command::ZIncrBy {
                key: b("zset"),
                delta: -0.125,
                member: b("one"),
            },
            "",
        ),
        (
            Command::ZScore {
                key: b("zset"),
                member: b("one"),
            },
            "",
        ),
        (
            Command::ZMScore {
                key: b("zset"),
                members: list(&["one", "nope"]),
            },
            "",
        ),
        (
            z_range(
                ZRangeSpec::Rank { start: 0, stop: -1 },
                false,
                Some((2, -1)),
            ),
            "",
        ),
        (z_range(score, true, None), "Score limit None"),
        (z_range(lex, false, Some((0, 10))), "Lex"),
    ]
}

fn z_combine_store(aggregate: Aggregate) -> Command {
    Command::ZCombineStore {
        union: true,
        destination: b("zdest"),
        keys: list(&["zset", "zother"]),
        weights: vec![1.0, -0.5],
        aggregate,
    }
}

/// Tags 68 to 75.
fn zsets_b() -> Samples {
    let by_score = ZRangeSpec::Score {
        min: ScoreBound::Exclusive(0.5),
        max: ScoreBound::Inclusive(f64::INFINITY),
    };
    let everything = ZRangeSpec::Lex {
        min: LexBound::Min,
        max: LexBound::Max,
    };
    vec![
        (
            Command::ZRank {
                key: b("zset"),
                member: b("two"),
                rev: true,
            },
            "",
        ),
        (
            Command::ZRem {
                key: b("zset"),
                members: list(&["two"]),
            },
            "",
        ),
        (
            Command::ZRemRange {
                key: b("zset"),
                spec: by_score,
            },
            "",
        ),
        (Command::ZCard { key: b("zset") }, ""),
        (
            Command::ZCount {
                key: b("zset"),
                spec: everything,
            },
            "",
        ),
        (
            Command::ZPop {
                key: b("zset"),
                max: true,
                count: None,
            },
            "",
        ),
        (z_combine_store(Aggregate::Sum), ""),
        (z_combine_store(Aggregate::Min), "Min"),
        (z_combine_store(Aggregate::Max), "Max"),
        (
            Command::ZScan {
                key: b("zset"),
                cursor: 3,
                pattern: None,
                count: 20,
            },
            "",
        ),
    ]
}

fn scan(pattern: Option<Vec<u8>>, kind: Option<Vec<u8>>) -> Command {
    Command::Scan {
        cursor: 42,
        pattern,
        count: 10,
        kind,
    }
}

fn copy(db: Option<u8>) -> Command {
    Command::Copy {
        source: b("from"),
        destination: b("to"),
        db,
        replace: true,
    }
}

/// EXEC with a watched key of each kind (a version and absent) and queued
/// commands in several dbs.
fn exec() -> Command {
    let watched = vec![
        Watched {
            db: 0,
            key: b("watched"),
            version: Some(41),
            at_index: 40,
        },
        Watched {
            db: 15,
            key: b("absent"),
            version: None,
            at_index: 40,
        },
    ];
    let ops = vec![
        (0, set(SetCondition::Always, SetExpiry::Clear, false)),
        (
            15,
            Command::IncrBy {
                key: b("counter"),
                delta: 1,
            },
        ),
        (
            3,
            Command::Publish {
                channel: b("news"),
                message: b("hello"),
            },
        ),
    ];
    Command::Exec { watched, ops }
}

/// Tags 76 to 85.
fn others() -> Samples {
    vec![
        (scan(Some(b("k*")), Some(b("hash"))), ""),
        (scan(None, None), "pattern and kind None"),
        (
            Command::Touch {
                keys: list(&["a", "b"]),
            },
            "",
        ),
        (Command::Time, ""),
        (Command::RandomKey { seed: 99 }, ""),
        (copy(Some(15)), ""),
        (copy(None), "db None"),
        (Command::ObjectEncoding { key: b("k") }, ""),
        (
            Command::Publish {
                channel: b("news"),
                message: b("a message"),
            },
            "",
        ),
        (
            Command::Watch {
                keys: list(&["watched", "absent"]),
            },
            "",
        ),
        (exec(), ""),
        (Command::ExpireSweep { limit: 1000 }, ""),
    ]
}
