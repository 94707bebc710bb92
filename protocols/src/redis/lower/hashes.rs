//! Lowering of hashes: HSET and the other H commands.

use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

use super::*;

/// The command `name` with `args` if it is one of these; `Ok(None)` if it
/// is not.
pub(super) fn lower(name: &str, args: &[Vec<u8>]) -> Result<Option<Command>, String> {
    let key = || args[0].clone();
    let cmd = match name {
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
        _ => return Ok(None),
    };
    Ok(Some(cmd))
}
