//! Numbers stored as strings: Redis's rules for reading and writing them.
//!
//! Owns three conversions and their exact acceptance rules:
//! - [`parse_i64`] is Redis's `string2ll`: optional `-`, no `+`, no spaces,
//!   no leading zeros (`0` alone is fine, `-0` is not), fewer than 21 bytes,
//!   within `i64`;
//! - [`parse_f64`] is Redis's `string2ld` (a whole-string `strtold`) read into
//!   an `f64`: no leading space, no trailing bytes, no NaN, no overflow and no
//!   underflow to zero; `inf` is accepted, as `strtold` accepts it;
//! - [`format_f64`] writes INCRBYFLOAT results: fixed notation, never an
//!   exponent, no trailing zeros, at most 17 digits after the point, `-0`
//!   written as `0`.
//!
//! Redis computes INCRBYFLOAT in 80-bit `long double` and prints it with
//! `%.17Lf`. Replicas here must agree bit for bit on every platform, so we
//! compute in `f64` and print the shortest text that reads back as the same
//! `f64`, cut at 17 decimals like `%.17Lf`. For the usual "human" numbers
//! (`10.5` + `0.1` = `10.6`) the text is the same as Redis's; it differs
//! where `f64` rounding shows (`0.1` + `0.2` gives `0.30000000000000004`
//! where Redis says `0.3`). Hexadecimal floats, which `strtold` accepts, are
//! rejected.

/// Redis's `LONG_STR_SIZE`: no valid integer string is this long.
const INTEGER_LEN_MAX_BYTES: usize = 21;
/// Redis's `MAX_LONG_DOUBLE_CHARS`: no valid float string is this long.
const FLOAT_LEN_MAX_BYTES: usize = 5 * 1024;
/// `%.17Lf`: digits printed after the decimal point.
const FRACTION_DIGITS_MAX: usize = 17;

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
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit - b'0'))?;
    }
    let magnitude = i128::from(magnitude);
    i64::try_from(if negative { -magnitude } else { magnitude }).ok()
}

/// Parses `bytes` as Redis's `string2ld` does, into an `f64` (see the module
/// documentation for what differs).
pub fn parse_f64(bytes: &[u8]) -> Option<f64> {
    if bytes.is_empty() || bytes.len() >= FLOAT_LEN_MAX_BYTES {
        return None;
    }
    // Rust's grammar is strtod's without leading whitespace, hexadecimal
    // floats and `nan(...)`; all three are rejected here or by Redis anyway.
    let text = std::str::from_utf8(bytes).ok()?;
    let value: f64 = text.parse().ok()?;
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let is_infinity_literal = unsigned.starts_with(['i', 'I']);
    if value.is_nan() || (value.is_infinite() && !is_infinity_literal) {
        // NaN is refused; an infinite result from digits is strtod's ERANGE.
        return None;
    }
    let mantissa = unsigned.split(['e', 'E']).next().unwrap_or(unsigned);
    if value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        // Underflow to zero is also ERANGE, which Redis refuses.
        return None;
    }
    Some(value)
}

/// Writes an INCRBYFLOAT result (see the module documentation).
pub fn format_f64(value: f64) -> String {
    assert!(value.is_finite(), "callers refuse NaN and infinities");
    let shortest = value.to_string();
    let fraction_digits = shortest.split_once('.').map_or(0, |(_, fraction)| fraction.len());
    let mut text = if fraction_digits <= FRACTION_DIGITS_MAX {
        shortest
    } else {
        let rounded = format!("{value:.prec$}", prec = FRACTION_DIGITS_MAX);
        rounded.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    if text == "-0" {
        text = "0".to_string();
    }
    assert!(!text.contains(['e', 'E']) && !text.ends_with('.'));
    text
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
        // Goal: what strtold accepts as a whole string, minus NaN and range errors.
        for (text, expected) in [
            ("1.5", Some(1.5)),
            ("10", Some(10.0)),
            ("+1", Some(1.0)),
            ("-.5", Some(-0.5)),
            ("1.", Some(1.0)),
            ("5.0e3", Some(5000.0)),
            ("1E-2", Some(0.01)),
            ("007", Some(7.0)),
            ("-0", Some(0.0)),
            ("0e-999", Some(0.0)),
            ("inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("nan", None),
            ("1e400", None),
            ("1e-400", None),
            ("", None),
            (" 1", None),
            ("1 ", None),
            ("1e", None),
            (".", None),
            ("abc", None),
            ("1,5", None),
        ] {
            assert_eq!(parse_f64(text.as_bytes()), expected, "{text:?}");
        }
        assert_eq!(parse_f64(b"1\0"), None);
        assert_eq!(parse_f64(&[b'1'; FLOAT_LEN_MAX_BYTES]), None);
        assert_eq!(parse_f64(&[b'0'; FLOAT_LEN_MAX_BYTES - 1]), Some(0.0));
    }

    #[test]
    fn floats_print_like_redis() {
        // Goal: Redis's documented INCRBYFLOAT outputs and its no-exponent rule.
        assert_eq!(format_f64(10.5 + 0.1), "10.6");
        assert_eq!(format_f64(10.6 - 5.0), "5.6");
        assert_eq!(format_f64(5.0e3 + 2.0e2), "5200");
        assert_eq!(format_f64(3.0e3), "3000");
        assert_eq!(format_f64(-0.0), "0");
        assert_eq!(format_f64(1e21), "1000000000000000000000");
        assert_eq!(format_f64(1e-7), "0.0000001");
        assert_eq!(format_f64(1e-20), "0"); // %.17Lf rounds it away
        assert_eq!(format_f64(-1e-20), "0");
        assert_eq!(format_f64(0.012345678901234567), "0.01234567890123457");
        assert_eq!(format_f64(0.1 + 0.2), "0.30000000000000004");
    }
}
