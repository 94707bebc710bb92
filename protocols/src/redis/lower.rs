//! Lowering: a Redis request (arguments already split) to a core `Command`.
//!
//! Argument validation and its error texts follow Redis 7: the state machine
//! receives only well-formed commands. Arity has been checked by the caller
//! against [`super::table`].

use orbit_core::redis::command::{
    Aggregate, ExpireCondition, GetExExpiry, LexBound, ScoreBound, SetOp, ZAddFlags, ZRangeSpec,
};
use orbit_core::redis::command::{Expiry, SetCondition, SetExpiry};
use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

/// Largest string value Redis accepts (proto-max-bulk-len).
pub const STRING_LEN_MAX: u64 = 512 * 1024 * 1024;

/// Redis's `string2ll`, shared with the state machine.
pub use orbit_core::redis::apply::numbers::parse_i64;

fn int(bytes: &[u8]) -> Result<i64, String> {
    parse_i64(bytes).ok_or_else(|| errors::NOT_INTEGER.to_string())
}

/// Parses a float as Redis's `string2ld` accepts it (no spaces, no NaN).
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text.is_empty() || text.trim() != text {
        return None;
    }
    let value: f64 = match text.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse().ok()?,
    };
    (!value.is_nan()).then_some(value)
}

fn invalid_expire(cmd: &str) -> String {
    format!("ERR invalid expire time in '{cmd}' command")
}

/// Converts an EX/PX-style argument to milliseconds, as Redis validates it.
fn expire_ms(arg: &[u8], unit_ms: i64, cmd: &str, must_be_positive: bool) -> Result<i64, String> {
    let value = int(arg)?;
    if must_be_positive && value <= 0 {
        return Err(invalid_expire(cmd));
    }
    value
        .checked_mul(unit_ms)
        .ok_or_else(|| invalid_expire(cmd))
}

/// Redis refuses a relative expiry that, added to now, passes i64::MAX
/// milliseconds. Lowering does not know now, so the session asks this
/// with its node's clock once a command is lowered.
pub fn check_expiry_range(name: &str, cmd: &Command, now_ms: u64) -> Result<(), String> {
    let relative_ms = match cmd {
        Command::Set {
            expiry: SetExpiry::At(Expiry::RelativeMs(ms)),
            ..
        }
        | Command::GetEx {
            expiry: GetExExpiry::At(Expiry::RelativeMs(ms)),
            ..
        }
        | Command::Expire {
            expiry: Expiry::RelativeMs(ms),
            ..
        } => *ms,
        _ => return Ok(()),
    };
    let now_ms = i64::try_from(now_ms).unwrap_or(i64::MAX);
    if relative_ms > i64::MAX - now_ms {
        return Err(invalid_expire(name));
    }
    Ok(())
}

/// The count of SRANDMEMBER or HRANDFIELD, bounded as Redis bounds it:
/// within ±i64::MAX, and with WITHVALUES no lower than -(i64::MAX / 2).
fn random_count(arg: &[u8], withvalues: bool) -> Result<i64, String> {
    let count = int(arg)?;
    if count == i64::MIN {
        return Err(format!(
            "ERR value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        ));
    }
    if withvalues && count < -(i64::MAX / 2) {
        return Err("ERR value is out of range".to_string());
    }
    Ok(count)
}

fn upper(arg: &[u8]) -> String {
    String::from_utf8_lossy(arg).to_ascii_uppercase()
}

/// Lowers a data command. `name` is the lower-case command name and `args`
/// the arguments after it.
pub fn lower(name: &str, args: &[Vec<u8>]) -> Result<Command, String> {
    let key = || args[0].clone();
    let cmd = match name {
        "get" => Command::Get { key: key() },
        "set" => lower_set(args)?,
        "setnx" => Command::MSetNx {
            pairs: vec![(key(), args[1].clone())],
        },
        "setex" | "psetex" => {
            let unit = if name == "setex" { 1000 } else { 1 };
            let ms = expire_ms(&args[1], unit, name, true)?;
            Command::Set {
                key: key(),
                value: args[2].clone(),
                condition: SetCondition::Always,
                expiry: SetExpiry::At(Expiry::RelativeMs(ms)),
                get: false,
            }
        }
        "getset" => Command::Set {
            key: key(),
            value: args[1].clone(),
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: true,
        },
        "getdel" => Command::GetDel { key: key() },
        "getex" => lower_getex(args)?,
        "mset" | "msetnx" => {
            if !args.len().is_multiple_of(2) {
                return Err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                ));
            }
            let pairs = args
                .chunks(2)
                .map(|p| (p[0].clone(), p[1].clone()))
                .collect();
            if name == "mset" {
                Command::MSet { pairs }
            } else {
                Command::MSetNx { pairs }
            }
        }
        "mget" => Command::MGet {
            keys: args.to_vec(),
        },
        "del" | "unlink" => Command::Del {
            keys: args.to_vec(),
        },
        "exists" => Command::Exists {
            keys: args.to_vec(),
        },
        "incr" => Command::IncrBy {
            key: key(),
            delta: 1,
        },
        "decr" => Command::IncrBy {
            key: key(),
            delta: -1,
        },
        "incrby" => Command::IncrBy {
            key: key(),
            delta: int(&args[1])?,
        },
        "decrby" => {
            let delta = int(&args[1])?;
            let delta = delta
                .checked_neg()
                .ok_or_else(|| "ERR decrement would overflow".to_string())?;
            Command::IncrBy { key: key(), delta }
        }
        // Checked when applied, after the key's type, as Redis does.
        "incrbyfloat" => Command::IncrByFloat {
            key: key(),
            delta: args[1].clone(),
        },
        "append" => Command::Append {
            key: key(),
            value: args[1].clone(),
        },
        "strlen" => Command::StrLen { key: key() },
        "getrange" => Command::GetRange {
            key: key(),
            start: int(&args[1])?,
            end: int(&args[2])?,
        },
        "setrange" => {
            let offset = int(&args[1])?;
            let offset =
                u64::try_from(offset).map_err(|_| errors::OFFSET_OUT_OF_RANGE.to_string())?;
            if offset.saturating_add(args[2].len() as u64) > STRING_LEN_MAX {
                return Err(errors::STRING_TOO_LONG.to_string());
            }
            Command::SetRange {
                key: key(),
                offset,
                value: args[2].clone(),
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" => lower_expire(name, args)?,
        "ttl" => Command::Ttl {
            key: key(),
            millis: false,
        },
        "pttl" => Command::Ttl {
            key: key(),
            millis: true,
        },
        "persist" => Command::Persist { key: key() },
        "type" => Command::Type { key: key() },
        "dbsize" => Command::DbSize,
        "flushdb" | "flushall" => {
            match args {
                [] => {}
                [mode] if matches!(upper(mode).as_str(), "ASYNC" | "SYNC") => {}
                _ => return Err(errors::SYNTAX.to_string()),
            }
            if name == "flushdb" {
                Command::FlushDb
            } else {
                Command::FlushAll
            }
        }
        "keys" => Command::Keys {
            pattern: args[0].clone(),
        },
        "rename" | "renamenx" => Command::Rename {
            source: key(),
            target: args[1].clone(),
            only_if_absent: name == "renamenx",
        },
        "hset" | "hmset" => {
            if args.len().is_multiple_of(2) {
                return Err(format!(
                    "ERR wrong number of arguments for '{name}' command"
                ));
            }
            Command::HSet {
                key: key(),
                pairs: args[1..]
                    .chunks(2)
                    .map(|p| (p[0].clone(), p[1].clone()))
                    .collect(),
                count_new: name == "hset",
            }
        }
        "hsetnx" => Command::HSetNx {
            key: key(),
            field: args[1].clone(),
            value: args[2].clone(),
        },
        "hget" => Command::HGet {
            key: key(),
            field: args[1].clone(),
        },
        "hmget" => Command::HMGet {
            key: key(),
            fields: args[1..].to_vec(),
        },
        "hgetall" => Command::HGetAll { key: key() },
        "hdel" => Command::HDel {
            key: key(),
            fields: args[1..].to_vec(),
        },
        "hexists" => Command::HExists {
            key: key(),
            field: args[1].clone(),
        },
        "hincrby" => Command::HIncrBy {
            key: key(),
            field: args[1].clone(),
            delta: int(&args[2])?,
        },
        "hincrbyfloat" => {
            // Redis checks the increment before anything else.
            match orbit_core::redis::apply::numbers::parse_float(&args[2]) {
                None => return Err(errors::NOT_FLOAT.to_string()),
                Some(orbit_core::redis::apply::numbers::Float::Infinite) => {
                    return Err("ERR value is NaN or Infinity".to_string())
                }
                Some(_) => {}
            }
            Command::HIncrByFloat {
                key: key(),
                field: args[1].clone(),
                delta: args[2].clone(),
            }
        }
        "hkeys" | "hvals" => Command::HKeys {
            key: key(),
            values: name == "hvals",
        },
        "hlen" => Command::HLen { key: key() },
        "hrandfield" => {
            let (count, withvalues) = match &args[1..] {
                [] => (None, false),
                [count] => (Some(random_count(count, false)?), false),
                [count, option] if upper(option) == "WITHVALUES" => {
                    (Some(random_count(count, true)?), true)
                }
                _ => return Err(errors::SYNTAX.to_string()),
            };
            Command::HRandField {
                key: key(),
                count,
                withvalues,
                seed: 0,
            }
        }
        "hstrlen" => Command::HStrLen {
            key: key(),
            field: args[1].clone(),
        },
        "hscan" => {
            let cursor = parse_cursor(&args[1])?;
            let options = scan_options(&args[2..], true)?;
            Command::HScan {
                key: key(),
                cursor,
                pattern: options.pattern,
                count: options.count,
                novalues: options.novalues,
            }
        }
        "sadd" | "srem" => {
            let members = args[1..].to_vec();
            if name == "sadd" {
                Command::SAdd {
                    key: key(),
                    members,
                }
            } else {
                Command::SRem {
                    key: key(),
                    members,
                }
            }
        }
        "smembers" => Command::SMembers { key: key() },
        "sismember" => Command::SIsMember {
            key: key(),
            member: args[1].clone(),
        },
        "smismember" => Command::SMIsMember {
            key: key(),
            members: args[1..].to_vec(),
        },
        "scard" => Command::SCard { key: key() },
        "spop" => {
            let count = match &args[1..] {
                [] => None,
                [count] => Some(positive_count(count)?),
                _ => return Err(errors::SYNTAX.to_string()),
            };
            Command::SPop {
                key: key(),
                count,
                seed: 0,
            }
        }
        "srandmember" => {
            let count = match &args[1..] {
                [] => None,
                [count] => Some(random_count(count, false)?),
                _ => return Err(errors::SYNTAX.to_string()),
            };
            Command::SRandMember {
                key: key(),
                count,
                seed: 0,
            }
        }
        "sinter" | "sunion" | "sdiff" => Command::SCombine {
            op: set_op(name),
            keys: args.to_vec(),
        },
        "sinterstore" | "sunionstore" | "sdiffstore" => Command::SCombineStore {
            op: set_op(name),
            destination: key(),
            keys: args[1..].to_vec(),
        },
        "sintercard" => lower_sintercard(args)?,
        "smove" => Command::SMove {
            source: key(),
            destination: args[1].clone(),
            member: args[2].clone(),
        },
        "sscan" => {
            let cursor = parse_cursor(&args[1])?;
            let options = scan_options(&args[2..], false)?;
            Command::SScan {
                key: key(),
                cursor,
                pattern: options.pattern,
                count: options.count,
            }
        }
        "lpush" | "rpush" | "lpushx" | "rpushx" => Command::Push {
            key: key(),
            values: args[1..].to_vec(),
            left: name.starts_with('l'),
            only_if_exists: name.ends_with('x'),
        },
        "lpop" | "rpop" => {
            let count = match &args[1..] {
                [] => None,
                [count] => Some(positive_count(count)?),
                _ => {
                    return Err(format!(
                        "ERR wrong number of arguments for '{name}' command"
                    ))
                }
            };
            Command::Pop {
                key: key(),
                left: name == "lpop",
                count,
            }
        }
        "lrange" | "ltrim" => {
            let (start, stop) = (int(&args[1])?, int(&args[2])?);
            if name == "lrange" {
                Command::LRange {
                    key: key(),
                    start,
                    stop,
                }
            } else {
                Command::LTrim {
                    key: key(),
                    start,
                    stop,
                }
            }
        }
        "lindex" => Command::LIndex {
            key: key(),
            index: int(&args[1])?,
        },
        "llen" => Command::LLen { key: key() },
        "lset" => Command::LSet {
            key: key(),
            index: int(&args[1])?,
            value: args[2].clone(),
        },
        "lrem" => Command::LRem {
            key: key(),
            count: int(&args[1])?,
            value: args[2].clone(),
        },
        "linsert" => {
            let before = match upper(&args[1]).as_str() {
                "BEFORE" => true,
                "AFTER" => false,
                _ => return Err(errors::SYNTAX.to_string()),
            };
            Command::LInsert {
                key: key(),
                before,
                pivot: args[2].clone(),
                value: args[3].clone(),
            }
        }
        "lpos" => lower_lpos(args)?,
        "lmove" => Command::LMove {
            source: key(),
            destination: args[1].clone(),
            from_left: side(&args[2])?,
            to_left: side(&args[3])?,
        },
        // The blocking pops, their timeout already taken off by the session.
        "blpop" | "brpop" => Command::BlockingPop {
            keys: args.to_vec(),
            left: name == "blpop",
            destination: None,
            request: 0,
        },
        "blmove" => Command::BlockingPop {
            keys: vec![key()],
            left: side(&args[2])?,
            destination: Some((args[1].clone(), side(&args[3])?)),
            request: 0,
        },
        "brpoplpush" => Command::BlockingPop {
            keys: vec![key()],
            left: false,
            destination: Some((args[1].clone(), true)),
            request: 0,
        },
        "rpoplpush" => Command::LMove {
            source: key(),
            destination: args[1].clone(),
            from_left: false,
            to_left: true,
        },
        "zadd" => lower_zadd(args)?,
        "zincrby" => Command::ZIncrBy {
            key: key(),
            delta: parse_f64(&args[1]).ok_or_else(|| errors::NOT_FLOAT.to_string())?,
            member: args[2].clone(),
        },
        "zscore" => Command::ZScore {
            key: key(),
            member: args[1].clone(),
        },
        "zmscore" => Command::ZMScore {
            key: key(),
            members: args[1..].to_vec(),
        },
        "zrange" | "zrangebyscore" | "zrevrangebyscore" | "zrangebylex" | "zrevrangebylex"
        | "zrevrange" => lower_zrange(name, args)?,
        "zrank" | "zrevrank" => Command::ZRank {
            key: key(),
            member: args[1].clone(),
            rev: name == "zrevrank",
        },
        "zrem" => Command::ZRem {
            key: key(),
            members: args[1..].to_vec(),
        },
        "zremrangebyrank" => Command::ZRemRange {
            key: key(),
            spec: ZRangeSpec::Rank {
                start: int(&args[1])?,
                stop: int(&args[2])?,
            },
        },
        "zremrangebyscore" => Command::ZRemRange {
            key: key(),
            spec: score_spec(&args[1], &args[2])?,
        },
        "zremrangebylex" => Command::ZRemRange {
            key: key(),
            spec: lex_spec(&args[1], &args[2])?,
        },
        "zcard" => Command::ZCard { key: key() },
        "zcount" => Command::ZCount {
            key: key(),
            spec: score_spec(&args[1], &args[2])?,
        },
        "zlexcount" => Command::ZCount {
            key: key(),
            spec: lex_spec(&args[1], &args[2])?,
        },
        "zpopmin" | "zpopmax" => {
            let count = match &args[1..] {
                [] => None,
                [count] => Some(positive_count(count)?),
                _ => return Err(errors::SYNTAX.to_string()),
            };
            Command::ZPop {
                key: key(),
                max: name == "zpopmax",
                count,
            }
        }
        "zunionstore" | "zinterstore" => lower_zcombine_store(name, args)?,
        "zscan" => {
            let cursor = parse_cursor(&args[1])?;
            let options = scan_options(&args[2..], false)?;
            Command::ZScan {
                key: key(),
                cursor,
                pattern: options.pattern,
                count: options.count,
            }
        }
        "scan" => {
            let cursor = parse_cursor(&args[0])?;
            let (options, kind) = scan_options_with_type(&args[1..])?;
            Command::Scan {
                cursor,
                pattern: options.pattern,
                count: options.count,
                kind,
            }
        }
        "touch" => Command::Touch {
            keys: args.to_vec(),
        },
        "randomkey" => Command::RandomKey { seed: 0 },
        "time" => Command::Time,
        "publish" => Command::Publish {
            channel: args[0].clone(),
            message: args[1].clone(),
        },
        "copy" => lower_copy(args)?,
        "object" => match (upper(&args[0]).as_str(), &args[1..]) {
            ("ENCODING", [key]) => Command::ObjectEncoding { key: key.clone() },
            ("ENCODING", _) => {
                return Err("ERR wrong number of arguments for 'object|encoding' command".into())
            }
            _ => {
                return Err(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Orbit supports OBJECT ENCODING only.",
                    String::from_utf8_lossy(&args[0])
                ))
            }
        },
        _ => return Err(format!("ERR unknown command '{name}'")),
    };
    Ok(cmd)
}

/// A count that must not be negative (LPOP, RPOP, SPOP).
fn positive_count(arg: &[u8]) -> Result<u64, String> {
    u64::try_from(int(arg)?).map_err(|_| "ERR value is out of range, must be positive".to_string())
}

/// LEFT or RIGHT (true for LEFT).
fn side(arg: &[u8]) -> Result<bool, String> {
    match upper(arg).as_str() {
        "LEFT" => Ok(true),
        "RIGHT" => Ok(false),
        _ => Err(errors::SYNTAX.to_string()),
    }
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len], with
/// Redis's errors.
fn lower_lpos(args: &[Vec<u8>]) -> Result<Command, String> {
    let mut rank = 1i64;
    let mut count = None;
    let mut maxlen = 0u64;
    let mut rest = &args[2..];
    while let Some(option) = rest.first() {
        let Some(value) = rest.get(1) else {
            return Err(errors::SYNTAX.to_string());
        };
        match upper(option).as_str() {
            "RANK" => {
                rank = int(value)?;
                if rank == 0 {
                    return Err(errors::RANK_ZERO.to_string());
                }
                // Redis 7.0 overflows negating it; later versions refuse it
                // with this text.
                if rank == i64::MIN {
                    return Err(format!(
                        "ERR value is out of range, value must between {} and {}",
                        -i64::MAX,
                        i64::MAX
                    ));
                }
            }
            "COUNT" => {
                count = Some(
                    u64::try_from(int(value)?)
                        .map_err(|_| "ERR COUNT can't be negative".to_string())?,
                );
            }
            "MAXLEN" => {
                maxlen = u64::try_from(int(value)?)
                    .map_err(|_| "ERR MAXLEN can't be negative".to_string())?;
            }
            _ => return Err(errors::SYNTAX.to_string()),
        }
        rest = &rest[2..];
    }
    Ok(Command::LPos {
        key: args[0].clone(),
        element: args[1].clone(),
        rank,
        count,
        maxlen,
    })
}

/// One end of a score range: `(x` excludes x; `-inf` and `+inf` work.
fn score_bound(arg: &[u8]) -> Result<ScoreBound, String> {
    let invalid = || "ERR min or max is not a float".to_string();
    match arg.split_first() {
        Some((b'(', rest)) => Ok(ScoreBound::Exclusive(parse_f64(rest).ok_or_else(invalid)?)),
        _ => Ok(ScoreBound::Inclusive(parse_f64(arg).ok_or_else(invalid)?)),
    }
}

fn score_spec(min: &[u8], max: &[u8]) -> Result<ZRangeSpec, String> {
    Ok(ZRangeSpec::Score {
        min: score_bound(min)?,
        max: score_bound(max)?,
    })
}

/// One end of a lexicographic range: `[a`, `(a`, `-` or `+`.
fn lex_bound(arg: &[u8]) -> Result<LexBound, String> {
    match arg.split_first() {
        Some((b'[', rest)) => Ok(LexBound::Inclusive(rest.to_vec())),
        Some((b'(', rest)) => Ok(LexBound::Exclusive(rest.to_vec())),
        Some((b'-', [])) => Ok(LexBound::Min),
        Some((b'+', [])) => Ok(LexBound::Max),
        _ => Err("ERR min or max not valid string range item".to_string()),
    }
}

fn lex_spec(min: &[u8], max: &[u8]) -> Result<ZRangeSpec, String> {
    Ok(ZRangeSpec::Lex {
        min: lex_bound(min)?,
        max: lex_bound(max)?,
    })
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member ...],
/// with Redis's checks in Redis's order.
fn lower_zadd(args: &[Vec<u8>]) -> Result<Command, String> {
    let mut flags = ZAddFlags::default();
    let mut at = 1;
    while let Some(arg) = args.get(at) {
        match upper(arg).as_str() {
            "NX" => flags.nx = true,
            "XX" => flags.xx = true,
            "GT" => flags.gt = true,
            "LT" => flags.lt = true,
            "CH" => flags.ch = true,
            "INCR" => flags.incr = true,
            _ => break,
        }
        at += 1;
    }
    let rest = &args[at..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(errors::SYNTAX.to_string());
    }
    if let Some(refusal) = flags.refusal(rest.len() / 2) {
        return Err(refusal.to_string());
    }
    let pairs = rest
        .chunks(2)
        .map(|pair| {
            let score = parse_f64(&pair[0]).ok_or_else(|| errors::NOT_FLOAT.to_string())?;
            Ok((score, pair[1].clone()))
        })
        .collect::<Result<_, String>>()?;
    Ok(Command::ZAdd {
        key: args[0].clone(),
        flags,
        pairs,
    })
}

/// ZRANGE with its options, and the older range commands lowered to it.
fn lower_zrange(name: &str, args: &[Vec<u8>]) -> Result<Command, String> {
    let (mut by_score, mut by_lex, mut rev) = match name {
        "zrangebyscore" => (true, false, false),
        "zrevrangebyscore" => (true, false, true),
        "zrangebylex" => (false, true, false),
        "zrevrangebylex" => (false, true, true),
        "zrevrange" => (false, false, true),
        _ => (false, false, false),
    };
    let modern = name == "zrange";
    let mut withscores = false;
    let mut limit = None;
    let mut rest = &args[3..];
    while let Some(option) = rest.first() {
        match upper(option).as_str() {
            "WITHSCORES" if name != "zrangebylex" && name != "zrevrangebylex" => {
                withscores = true;
                rest = &rest[1..];
            }
            "LIMIT" if name != "zrevrange" && rest.len() >= 3 => {
                limit = Some((int(&rest[1])?, int(&rest[2])?));
                rest = &rest[3..];
            }
            "BYSCORE" if modern => {
                by_score = true;
                rest = &rest[1..];
            }
            "BYLEX" if modern => {
                by_lex = true;
                rest = &rest[1..];
            }
            "REV" if modern => {
                rev = true;
                rest = &rest[1..];
            }
            _ => return Err(errors::SYNTAX.to_string()),
        }
    }
    if by_score && by_lex {
        return Err(errors::SYNTAX.to_string());
    }
    if limit.is_some() && !by_score && !by_lex {
        return Err(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                .to_string(),
        );
    }
    if withscores && by_lex {
        return Err(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX".to_string(),
        );
    }
    // Reversed score and lex ranges name the upper end first.
    let (low, high) = if rev && (by_score || by_lex) {
        (&args[2], &args[1])
    } else {
        (&args[1], &args[2])
    };
    let spec = if by_score {
        score_spec(low, high)?
    } else if by_lex {
        lex_spec(low, high)?
    } else {
        ZRangeSpec::Rank {
            start: int(&args[1])?,
            stop: int(&args[2])?,
        }
    };
    Ok(Command::ZRange {
        key: args[0].clone(),
        spec,
        rev,
        limit,
        withscores,
    })
}

/// ZUNIONSTORE / ZINTERSTORE destination numkeys key [key ...]
/// [WEIGHTS weight ...] [AGGREGATE SUM|MIN|MAX].
fn lower_zcombine_store(name: &str, args: &[Vec<u8>]) -> Result<Command, String> {
    let numkeys = int(&args[1])?;
    if numkeys < 1 {
        return Err(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
    }
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > args.len() - 2 {
        return Err(errors::SYNTAX.to_string());
    }
    let keys = args[2..2 + numkeys].to_vec();
    let mut weights = Vec::new();
    let mut aggregate = Aggregate::Sum;
    let mut rest = &args[2 + numkeys..];
    while let Some(option) = rest.first() {
        match upper(option).as_str() {
            "WEIGHTS" if rest.len() > numkeys => {
                weights = rest[1..=numkeys]
                    .iter()
                    .map(|w| {
                        parse_f64(w).ok_or_else(|| "ERR weight value is not a float".to_string())
                    })
                    .collect::<Result<_, _>>()?;
                rest = &rest[1 + numkeys..];
            }
            "AGGREGATE" if rest.len() >= 2 => {
                aggregate = match upper(&rest[1]).as_str() {
                    "SUM" => Aggregate::Sum,
                    "MIN" => Aggregate::Min,
                    "MAX" => Aggregate::Max,
                    _ => return Err(errors::SYNTAX.to_string()),
                };
                rest = &rest[2..];
            }
            _ => return Err(errors::SYNTAX.to_string()),
        }
    }
    Ok(Command::ZCombineStore {
        union: name == "zunionstore",
        destination: args[0].clone(),
        keys,
        weights,
        aggregate,
    })
}

/// SCAN's options: MATCH, COUNT and TYPE.
fn scan_options_with_type(args: &[Vec<u8>]) -> Result<(ScanOptions, Option<Vec<u8>>), String> {
    let mut kind = None;
    let mut rest = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if upper(&args[i]) == "TYPE" {
            let name = args.get(i + 1).ok_or_else(|| errors::SYNTAX.to_string())?;
            kind = Some(name.clone());
            i += 2;
        } else {
            rest.push(args[i].clone());
            i += 1;
        }
    }
    Ok((scan_options(&rest, false)?, kind))
}

/// COPY source destination [DB destination-db] [REPLACE].
fn lower_copy(args: &[Vec<u8>]) -> Result<Command, String> {
    let mut db = None;
    let mut replace = false;
    let mut rest = &args[2..];
    while let Some(option) = rest.first() {
        match (upper(option).as_str(), rest.get(1)) {
            ("REPLACE", _) => {
                replace = true;
                rest = &rest[1..];
            }
            ("DB", Some(value)) => {
                let n = int(value)?;
                db = Some(u8::try_from(n).map_err(|_| "ERR DB index is out of range".to_string())?);
                rest = &rest[2..];
            }
            _ => return Err(errors::SYNTAX.to_string()),
        }
    }
    Ok(Command::Copy {
        source: args[0].clone(),
        destination: args[1].clone(),
        db,
        replace,
    })
}

fn set_op(name: &str) -> SetOp {
    if name.starts_with("sinter") {
        SetOp::Inter
    } else if name.starts_with("sunion") {
        SetOp::Union
    } else {
        SetOp::Diff
    }
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit], with Redis's errors.
fn lower_sintercard(args: &[Vec<u8>]) -> Result<Command, String> {
    let numkeys = parse_i64(&args[0])
        .filter(|n| *n > 0)
        .ok_or_else(|| "ERR numkeys should be greater than 0".to_string())?;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > args.len() - 1 {
        return Err("ERR Number of keys can't be greater than number of args".to_string());
    }
    let keys = args[1..=numkeys].to_vec();
    let mut limit = 0;
    let mut rest = &args[1 + numkeys..];
    while let Some(option) = rest.first() {
        match (upper(option).as_str(), rest.get(1)) {
            ("LIMIT", Some(value)) => {
                limit = parse_i64(value)
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| "ERR LIMIT can't be negative".to_string())?;
                rest = &rest[2..];
            }
            _ => return Err(errors::SYNTAX.to_string()),
        }
    }
    Ok(Command::SInterCard { keys, limit })
}

/// A SCAN-family cursor: an unsigned 64-bit number, as Redis parses it.
fn parse_cursor(arg: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|text| !text.starts_with('+'))
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| "ERR invalid cursor".to_string())
}

/// The options of HSCAN / SSCAN / ZSCAN / SCAN.
struct ScanOptions {
    pattern: Option<Vec<u8>>,
    count: u64,
    novalues: bool,
}

fn scan_options(args: &[Vec<u8>], allow_novalues: bool) -> Result<ScanOptions, String> {
    let mut options = ScanOptions {
        pattern: None,
        count: orbit_core::redis::command::SCAN_COUNT_DEFAULT,
        novalues: false,
    };
    let mut i = 0;
    while i < args.len() {
        let option = upper(&args[i]);
        match (option.as_str(), args.get(i + 1)) {
            ("MATCH", Some(pattern)) => {
                // "*" matches everything: no filter, as Redis does.
                options.pattern = (pattern.as_slice() != b"*").then(|| pattern.clone());
                i += 2;
            }
            ("COUNT", Some(count)) => {
                let count = int(count)?;
                if count < 1 {
                    return Err(errors::SYNTAX.to_string());
                }
                options.count = u64::try_from(count).expect("positive");
                i += 2;
            }
            ("NOVALUES", _) if allow_novalues => {
                options.novalues = true;
                i += 1;
            }
            _ => return Err(errors::SYNTAX.to_string()),
        }
    }
    Ok(options)
}

fn lower_set(args: &[Vec<u8>]) -> Result<Command, String> {
    let mut condition = SetCondition::Always;
    let mut expiry = SetExpiry::Clear;
    let mut get = false;
    let mut i = 2;
    while i < args.len() {
        let option = upper(&args[i]);
        let next = args.get(i + 1);
        match option.as_str() {
            "NX" if condition == SetCondition::Always => condition = SetCondition::IfAbsent,
            "XX" if condition == SetCondition::Always => condition = SetCondition::IfPresent,
            "GET" if !get => get = true,
            "KEEPTTL" if expiry == SetExpiry::Clear => expiry = SetExpiry::Keep,
            "EX" | "PX" | "EXAT" | "PXAT" if expiry == SetExpiry::Clear && next.is_some() => {
                let arg = next.expect("checked above");
                let unit = if option.starts_with('E') { 1000 } else { 1 };
                let ms = expire_ms(arg, unit, "set", true)?;
                expiry = SetExpiry::At(if option.ends_with("AT") {
                    Expiry::AbsoluteMs(ms)
                } else {
                    Expiry::RelativeMs(ms)
                });
                i += 1;
            }
            _ => return Err(errors::SYNTAX.to_string()),
        }
        i += 1;
    }
    Ok(Command::Set {
        key: args[0].clone(),
        value: args[1].clone(),
        condition,
        expiry,
        get,
    })
}

fn lower_getex(args: &[Vec<u8>]) -> Result<Command, String> {
    let expiry = match &args[1..] {
        [] => GetExExpiry::Unchanged,
        [option] if upper(option) == "PERSIST" => GetExExpiry::Persist,
        [option, arg] => {
            let option = upper(option);
            let unit = match option.as_str() {
                "EX" | "EXAT" => 1000,
                "PX" | "PXAT" => 1,
                _ => return Err(errors::SYNTAX.to_string()),
            };
            let ms = expire_ms(arg, unit, "getex", true)?;
            GetExExpiry::At(if option.ends_with("AT") {
                Expiry::AbsoluteMs(ms)
            } else {
                Expiry::RelativeMs(ms)
            })
        }
        _ => return Err(errors::SYNTAX.to_string()),
    };
    Ok(Command::GetEx {
        key: args[0].clone(),
        expiry,
    })
}

fn lower_expire(name: &str, args: &[Vec<u8>]) -> Result<Command, String> {
    let unit = if name.starts_with('p') { 1 } else { 1000 };
    let ms = expire_ms(&args[1], unit, name, false)?;
    let expiry = if name.ends_with("at") {
        Expiry::AbsoluteMs(ms)
    } else {
        Expiry::RelativeMs(ms)
    };
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in &args[2..] {
        match upper(option).as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" => gt = true,
            "LT" => lt = true,
            other => return Err(format!("ERR Unsupported option {other}")),
        }
    }
    if nx && (xx || gt || lt) {
        return Err("ERR NX and XX, GT or LT options at the same time are not compatible".into());
    }
    if gt && lt {
        return Err("ERR GT and LT options at the same time are not compatible".into());
    }
    let condition = match (nx, xx, gt, lt) {
        (true, ..) => ExpireCondition::IfNoExpiry,
        (_, _, true, _) => ExpireCondition::IfGreater,
        (_, _, _, true) => ExpireCondition::IfLess,
        (_, true, ..) => ExpireCondition::IfHasExpiry,
        _ => ExpireCondition::Always,
    };
    Ok(Command::Expire {
        key: args[0].clone(),
        expiry,
        condition,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn integers_parse_like_redis() {
        // Goal: string2ll's strictness (no +, spaces, leading zeros).
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b"+1"[..],
            b" 1",
            b"01",
            b"-0",
            b"",
            b"-",
            b"1.0",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn set_options() {
        // Goal: SET's option grammar and its error texts.
        let cmd = lower("set", &args(&["k", "v", "nx", "px", "100", "get"])).expect("valid");
        assert_eq!(
            cmd,
            Command::Set {
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                condition: SetCondition::IfAbsent,
                expiry: SetExpiry::At(Expiry::RelativeMs(100)),
                get: true
            }
        );
        assert_eq!(
            lower("set", &args(&["k", "v", "nx", "xx"])),
            Err(errors::SYNTAX.into())
        );
        assert_eq!(
            lower("set", &args(&["k", "v", "ex", "1", "keepttl"])),
            Err(errors::SYNTAX.into())
        );
        assert_eq!(
            lower("set", &args(&["k", "v", "ex"])),
            Err(errors::SYNTAX.into())
        );
        assert_eq!(
            lower("set", &args(&["k", "v", "ex", "0"])),
            Err("ERR invalid expire time in 'set' command".into())
        );
        assert_eq!(
            lower("set", &args(&["k", "v", "ex", "x"])),
            Err(errors::NOT_INTEGER.into())
        );
        assert_eq!(
            lower("set", &args(&["k", "v", "ex", "9223372036854775807"])),
            Err("ERR invalid expire time in 'set' command".into())
        );
    }

    #[test]
    fn expire_options() {
        // Goal: EXPIRE's option combinations are refused as Redis refuses them.
        assert!(lower("expire", &args(&["k", "10", "nx"])).is_ok());
        assert_eq!(
            lower("expire", &args(&["k", "10", "nx", "gt"])),
            Err("ERR NX and XX, GT or LT options at the same time are not compatible".into())
        );
        assert_eq!(
            lower("expire", &args(&["k", "10", "gt", "lt"])),
            Err("ERR GT and LT options at the same time are not compatible".into())
        );
        assert_eq!(
            lower("expire", &args(&["k", "10", "zz"])),
            Err("ERR Unsupported option ZZ".into())
        );
        assert_eq!(lower("pexpire", &args(&["k", "-5"])).map(|_| ()), Ok(()));
    }

    #[test]
    fn other_errors() {
        // Goal: argument errors of the string commands.
        assert_eq!(
            lower("mset", &args(&["a", "1", "b"])),
            Err("ERR wrong number of arguments for 'mset' command".into())
        );
        assert_eq!(
            lower("decrby", &args(&["k", "-9223372036854775808"])),
            Err("ERR decrement would overflow".into())
        );
        // INCRBYFLOAT's increment is checked when applied, after the key's
        // type (as Redis does); HINCRBYFLOAT's before anything.
        assert!(lower("incrbyfloat", &args(&["k", "abc"])).is_ok());
        assert_eq!(
            lower("hincrbyfloat", &args(&["k", "f", "abc"])),
            Err(errors::NOT_FLOAT.into())
        );
        assert_eq!(
            lower("hincrbyfloat", &args(&["k", "f", "inf"])),
            Err("ERR value is NaN or Infinity".into())
        );
        assert_eq!(
            lower("setrange", &args(&["k", "-1", "v"])),
            Err(errors::OFFSET_OUT_OF_RANGE.into())
        );
        assert_eq!(
            lower("setrange", &args(&["k", "536870912", "v"])),
            Err(errors::STRING_TOO_LONG.into())
        );
        assert_eq!(
            lower("setex", &args(&["k", "0", "v"])),
            Err("ERR invalid expire time in 'setex' command".into())
        );
        assert_eq!(
            lower("flushdb", &args(&["now"])),
            Err(errors::SYNTAX.into())
        );
    }
}
