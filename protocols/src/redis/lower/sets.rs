//! Lowering of sets: SADD and the other S commands, set algebra.

use orbit_core::redis::command::SetOp;
use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

use super::*;

/// The command `name` with `args` if it is one of these; `Ok(None)` if it
/// is not.
pub(super) fn lower(name: &str, args: &[Vec<u8>]) -> Result<Option<Command>, String> {
    let key = || args[0].clone();
    let cmd = match name {
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
        _ => return Ok(None),
    };
    Ok(Some(cmd))
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
