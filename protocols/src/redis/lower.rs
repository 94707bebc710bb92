//! Lowering: a Redis request (arguments already split) to a core `Command`.
//!
//! Argument validation and its error texts follow Redis 7: the state machine
//! receives only well-formed commands. Arity has been checked by the caller
//! against [`super::table`].

use orbit_core::redis::command::GetExExpiry;
use orbit_core::redis::command::{Expiry, SetExpiry};
use orbit_core::redis::output::errors;
use orbit_core::redis::Command;

/// Largest string value Redis accepts (proto-max-bulk-len).
pub const STRING_LEN_MAX: u64 = 512 * 1024 * 1024;

/// Redis's `string2ll`, shared with the state machine.
pub use orbit_core::redis::apply::numbers::parse_i64;

mod hashes;
mod keys;
mod lists;
mod sets;
mod strings;
mod zsets;

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

/// One data type's lowering: the command, or `Ok(None)` if it is not one
/// of that type's.
type LowerFamily = fn(&str, &[Vec<u8>]) -> Result<Option<Command>, String>;

/// The data types' lowerings, asked in turn.
const FAMILIES: [LowerFamily; 6] = [
    strings::lower,
    keys::lower,
    hashes::lower,
    lists::lower,
    sets::lower,
    zsets::lower,
];

/// Lowers a data command. `name` is the lower-case command name and `args`
/// the arguments after it. Each data type lowers its own commands
/// (`lower/*.rs`); this asks them in turn.
pub fn lower(name: &str, args: &[Vec<u8>]) -> Result<Command, String> {
    for lower in FAMILIES {
        if let Some(cmd) = lower(name, args)? {
            return Ok(cmd);
        }
    }
    Err(format!("ERR unknown command '{name}'"))
}

/// A count that must not be negative (LPOP, RPOP, SPOP).
fn positive_count(arg: &[u8]) -> Result<u64, String> {
    u64::try_from(int(arg)?).map_err(|_| "ERR value is out of range, must be positive".to_string())
}

/// A SCAN-family cursor: an unsigned 64-bit number, as Redis parses it.
fn parse_cursor(arg: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|text| !text.starts_with('+'))
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| "ERR invalid cursor".to_string())
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

/// The options of HSCAN / SSCAN / ZSCAN / SCAN.
struct ScanOptions {
    pattern: Option<Vec<u8>>,
    count: u64,
    novalues: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::redis::command::SetCondition;

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
