//! Lowering of lists: pushes, pops (blocking ones included), ranges, LPOS, LMOVE.

use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

use super::*;

/// The command `name` with `args` if it is one of these; `Ok(None)` if it
/// is not.
pub(super) fn lower(name: &str, args: &[Vec<u8>]) -> Result<Option<Command>, String> {
    let key = || args[0].clone();
    let cmd = match name {
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
        _ => return Ok(None),
    };
    Ok(Some(cmd))
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
