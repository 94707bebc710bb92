//! Lowering of sorted sets: ZADD and the other Z commands, score and lex ranges.

use orbit_core::redis::command::{Aggregate, LexBound, ScoreBound, ZAddFlags, ZRangeSpec};
use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

use super::*;

/// The command `name` with `args` if it is one of these; `Ok(None)` if it
/// is not.
pub(super) fn lower(name: &str, args: &[Vec<u8>]) -> Result<Option<Command>, String> {
    let key = || args[0].clone();
    let cmd = match name {
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
        _ => return Ok(None),
    };
    Ok(Some(cmd))
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
