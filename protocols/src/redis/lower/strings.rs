//! Lowering of strings: GET, SET and its variants, counters, ranges.

use orbit_core::redis::command::GetExExpiry;
use orbit_core::redis::command::{Expiry, SetCondition, SetExpiry};
use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

use super::*;

/// The command `name` with `args` if it is one of these; `Ok(None)` if it
/// is not.
pub(super) fn lower(name: &str, args: &[Vec<u8>]) -> Result<Option<Command>, String> {
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
        _ => return Ok(None),
    };
    Ok(Some(cmd))
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
