//! Numbers stored as strings: Redis's rules for reading and writing them.
//!
//! Owns two conversions and their exact acceptance rules:
//! - [`parse_i64`] is Redis's `string2ll`: optional `-`, no `+`, no spaces,
//!   no leading zeros (`0` alone is fine, `-0` is not), fewer than 21 bytes,
//!   within `i64`;
//! - [`incr_by_float`] is INCRBYFLOAT's arithmetic as Redis does it on x86-64
//!   Linux: both operands read by `string2ld` (a whole-string `strtold`, no
//!   leading space, no NaN, no overflow, no underflow to zero; `inf` and hex
//!   floats accepted), added in 80-bit `long double`, printed with `%.17Lf`
//!   and trailing zeros cut, `-0` written as `0`. The `long double` is
//!   emulated in software (see `extended`), so every replica computes the
//!   same bytes as Redis whatever its hardware.
//!
//! The increment reaches us as the client's text and is read exactly as
//! Redis reads it, so `1e400` (finite in long double) is a valid increment.

use super::extended;
pub use super::extended::{Extended, Float};

/// Redis's `LONG_STR_SIZE`: no valid integer string is this long.
const INTEGER_LEN_MAX_BYTES: usize = 21;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: no valid float string is this long.
const FLOAT_LEN_MAX_BYTES: usize = 5 * 1024;

/// Why INCRBYFLOAT refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloatError {
    /// "ERR value is not a valid float".
    NotFloat,
    /// "ERR increment would produce NaN or Infinity".
    NanOrInfinity,
}

/// Parses `bytes` exactly as Redis's `string2ll` does.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() >= INTEGER_LEN_MAX_BYTES {
        return None;
    }
    if bytes == b"0" {
        return Some(0);
    }
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut magnitude = u64::from(first - b'0');
    for &digit in rest {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    let magnitude = i128::from(magnitude);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Reads `bytes` as Redis's `string2ld` does.
pub fn parse_float(bytes: &[u8]) -> Option<Float> {
    if bytes.is_empty() || bytes.len() >= FLOAT_LEN_MAX_BYTES {
        return None;
    }
    extended::parse(bytes)
}

/// INCRBYFLOAT: the text stored after adding the increment `delta` (the
/// client's text) to `current` (`None` when the key is absent, which counts
/// as 0). Both are read as Redis reads them, in long double.
pub fn incr_by_float(current: Option<&[u8]>, delta: &[u8]) -> Result<String, FloatError> {
    let current = match current {
        None => extended::parse(b"0").expect("0 is a float"),
        Some(text) => parse_float(text).ok_or(FloatError::NotFloat)?,
    };
    let delta = parse_float(delta).ok_or(FloatError::NotFloat)?;
    match (current, delta) {
        (Float::Finite(current), Float::Finite(delta)) => current
            .checked_add(delta)
            .map(human_text)
            .ok_or(FloatError::NanOrInfinity),
        // An infinite operand gives an infinite sum, or NaN for inf - inf.
        (Float::Infinite, _) | (_, Float::Infinite) => Err(FloatError::NanOrInfinity),
    }
}

/// Redis's `ld2string(.., LD_STR_HUMAN)`: `%.17Lf` without trailing zeros,
/// and `-0` as `0`.
fn human_text(value: Extended) -> String {
    let fixed = value.to_fixed_17();
    let text = fixed.trim_end_matches('0').trim_end_matches('.');
    let text = if text == "-0" { "0" } else { text };
    assert!(!text.is_empty() && !text.contains('e'));
    text.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_follow_string2ll() {
        // Goal: the cases of Redis's own string2ll tests, plus its length limit.
        for (text, expected) in [
            ("0", Some(0)),
            ("1", Some(1)),
            ("-1", Some(-1)),
            ("99", Some(99)),
            ("-99", Some(-99)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("-9223372036854775809", None),
            ("18446744073709551616", None),
            ("+1", None),
            (" 1", None),
            ("1 ", None),
            ("01", None),
            ("00", None),
            ("-0", None),
            ("-", None),
            ("", None),
            ("1.0", None),
            ("1e3", None),
            ("12a", None),
            ("000000000000000000001", None),
        ] {
            assert_eq!(parse_i64(text.as_bytes()), expected, "{text:?}");
        }
    }

    #[test]
    fn floats_follow_string2ld() {
        // Goal: what strtold reads as a whole string, minus NaN and range errors.
        for text in [
            "1.5", "10", "+1", "-.5", "1.", "5.0e3", "1E-2", "007", "-0", "0e-999", "0x1p3",
            "1e400", "1e-4940",
        ] {
            assert!(
                matches!(parse_float(text.as_bytes()), Some(Float::Finite(_))),
                "{text:?}"
            );
        }
        for text in ["inf", "-Infinity", "+INF"] {
            assert_eq!(
                parse_float(text.as_bytes()),
                Some(Float::Infinite),
                "{text:?}"
            );
        }
        for text in [
            "nan", "1e5000", "1e-5000", "", " 1", "1 ", "1e", ".", "abc", "1,5", "0x", "infinit",
        ] {
            assert_eq!(parse_float(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(parse_float(b"1\0"), None);
        assert_eq!(parse_float(&[b'0'; FLOAT_LEN_MAX_BYTES]), None);
        assert!(parse_float(&[b'0'; FLOAT_LEN_MAX_BYTES - 1]).is_some());
    }

    fn incr(current: &str, delta: &str) -> Result<String, FloatError> {
        incr_by_float(Some(current.as_bytes()), delta.as_bytes())
    }

    #[test]
    fn float_sums_print_like_redis() {
        // Goal: Redis's documented INCRBYFLOAT outputs, and long double results
        // (taken from Redis's own code on x86-64) where f64 would differ.
        assert_eq!(incr("10.50", "0.1"), Ok("10.6".to_string()));
        assert_eq!(incr("10.6", "-5.0"), Ok("5.6".to_string()));
        assert_eq!(incr("5.0e3", "2.0e2"), Ok("5200".to_string()));
        assert_eq!(incr("0.1", "0.2"), Ok("0.3".to_string()));
        assert_eq!(incr("-1.36", "26.44"), Ok("25.08".to_string()));
        assert_eq!(
            incr("87.93", "-746.0"),
            Ok("-658.07000000000000001".to_string())
        );
        assert_eq!(incr("-0.5", "0.5"), Ok("0".to_string()));
        assert_eq!(incr("-1e-30", "0.0"), Ok("0".to_string()));
        assert_eq!(incr("1e20", "0.0"), Ok("100000000000000000000".to_string()));
        assert_eq!(incr_by_float(None, b"1.5"), Ok("1.5".to_string()));
    }

    #[test]
    fn float_errors() {
        // Goal: the two INCRBYFLOAT errors and which input raises which.
        assert_eq!(incr("abc", "1.0"), Err(FloatError::NotFloat));
        assert_eq!(incr("nan", "1.0"), Err(FloatError::NotFloat));
        assert_eq!(incr("1e9999", "1.0"), Err(FloatError::NotFloat));
        assert_eq!(incr("1", "nan"), Err(FloatError::NotFloat));
        assert_eq!(incr("inf", "1.0"), Err(FloatError::NanOrInfinity));
        assert_eq!(incr("-inf", "inf"), Err(FloatError::NanOrInfinity));
        assert_eq!(incr("1", "-inf"), Err(FloatError::NanOrInfinity));
        assert!(incr("1.18e4932", "1.7976931348623157e308").is_ok());
        // A long double increment can: past the maximum is infinity.
        assert_eq!(incr("1.18e4932", "1e4932"), Err(FloatError::NanOrInfinity));
        // An increment beyond f64 but within long double is fine.
        assert!(incr("1", "1e400").is_ok());
    }
}
