//! Lowering of keys and the server: DEL, EXISTS, EXPIRE and TTL, RENAME, COPY, SCAN, KEYS, DBSIZE, FLUSHDB/FLUSHALL, TIME, RANDOMKEY, OBJECT, PUBLISH.

use orbit_core::redis::command::ExpireCondition;
use orbit_core::redis::command::Expiry;
use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

use super::*;

/// The command `name` with `args` if it is one of these; `Ok(None)` if it
/// is not.
pub(super) fn lower(name: &str, args: &[Vec<u8>]) -> Result<Option<Command>, String> {
    let key = || args[0].clone();
    let cmd = match name {
        "del" | "unlink" => Command::Del {
            keys: args.to_vec(),
        },
        "exists" => Command::Exists {
            keys: args.to_vec(),
        },
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
        _ => return Ok(None),
    };
    Ok(Some(cmd))
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
