//! The x87 80-bit `long double` (what Redis computes INCRBYFLOAT in on x86-64
//! Linux), in software: glibc's `strtold`, addition, and `printf("%.17Lf")`.
//!
//! Owns exact arithmetic on numbers `±mantissa × 2^exponent` with a 64-bit
//! mantissa, rounded once to nearest with ties to even, gradual underflow
//! included, so INCRBYFLOAT gives Redis's bytes on every replica whatever its
//! hardware. Intermediate values are exact big integers ([`Big`]).
//!
//! Invariant of [`Extended`]: the mantissa is zero, or has bit 63 set, or the
//! exponent is [`EXPONENT_MIN`] (a subnormal); the exponent never exceeds
//! [`EXPONENT_MAX`] (larger values are infinite, reported as `None`).

use std::cmp::Ordering;

/// The exponent of the smallest subnormal, 2^-16445 (x87: 2^(1 - 16383 - 63)).
pub const EXPONENT_MIN: i64 = -16445;
/// The exponent of the largest finite value, (2^64 - 1) × 2^16320.
pub const EXPONENT_MAX: i64 = 16320;
const MANTISSA_BITS: i64 = 64;
/// Extra quotient bits kept below the mantissa when dividing, so that the
/// rounding bit and the sticky bit are exact.
const GUARD_BITS: i64 = 2;
/// Exponents written in the text are clamped here; anything beyond is far
/// outside the range and only its sign matters.
const TEXT_EXPONENT_MAX: i64 = 1_000_000;

/// A finite long double.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extended {
    negative: bool,
    mantissa: u64,
    exponent: i64,
}

/// What `strtold` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Float {
    Finite(Extended),
    /// `inf` or `infinity`, either sign.
    Infinite,
}

impl Extended {
    fn zero(negative: bool) -> Extended {
        Extended {
            negative,
            mantissa: 0,
            exponent: 0,
        }
    }

    /// The nearest value to `±x × 2^exponent`, with `sticky` saying that the
    /// exact value is a little more than `x` (bits lost below it). `None` if
    /// it rounds beyond the largest finite value.
    fn round(negative: bool, x: &Big, exponent: i64, sticky: bool) -> Option<Extended> {
        let len = x.bit_len();
        if len == 0 {
            return Some(Extended::zero(negative));
        }
        let dropped = (len - MANTISSA_BITS).max(EXPONENT_MIN - exponent);
        let (mantissa, exponent) = if dropped <= 0 {
            // Exact: shift up to normal, or as far as the exponent floor allows.
            let shift = (MANTISSA_BITS - len).min(exponent - EXPONENT_MIN);
            (x.bits_from(0) << shift, exponent - shift)
        } else {
            let mut kept = x.bits_from(dropped);
            let mut exponent = exponent + dropped;
            let half = x.bit(dropped - 1);
            let rest = sticky || x.any_below(dropped - 1);
            if half && (rest || kept & 1 == 1) {
                kept = kept.wrapping_add(1);
                if kept == 0 {
                    kept = 1 << 63;
                    exponent += 1;
                }
            }
            (kept, exponent)
        };
        if mantissa == 0 {
            return Some(Extended::zero(negative));
        }
        if exponent > EXPONENT_MAX {
            return None;
        }
        assert!(
            mantissa >> 63 == 1 || exponent == EXPONENT_MIN,
            "normal or subnormal"
        );
        Some(Extended {
            negative,
            mantissa,
            exponent,
        })
    }

    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// `self + other`, rounded once; `None` if the sum overflows.
    pub fn checked_add(self, other: Extended) -> Option<Extended> {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Some(Extended::zero(self.negative && other.negative)),
            (true, false) => return Some(other),
            (false, true) => return Some(self),
            (false, false) => {}
        }
        let base = self.exponent.min(other.exponent);
        let a = Big::from_u64(self.mantissa).shl(self.exponent - base);
        let b = Big::from_u64(other.mantissa).shl(other.exponent - base);
        if self.negative == other.negative {
            return Extended::round(self.negative, &a.add(&b), base, false);
        }
        match a.cmp(&b) {
            // Exact cancellation gives +0 when rounding to nearest.
            Ordering::Equal => Some(Extended::zero(false)),
            Ordering::Greater => Extended::round(self.negative, &a.sub(&b), base, false),
            Ordering::Less => Extended::round(other.negative, &b.sub(&a), base, false),
        }
    }

    /// glibc's `printf("%.17Lf", self)`: the exact value rounded (ties to
    /// even) to 17 digits after the point.
    pub fn to_fixed_17(self) -> String {
        const SCALE: u128 = 100_000_000_000_000_000;
        let sign = if self.negative { "-" } else { "" };
        if self.exponent >= 0 {
            let integer = Big::from_u64(self.mantissa).shl(self.exponent);
            return format!("{sign}{}.00000000000000000", integer.to_decimal());
        }
        let shift = u32::try_from(-self.exponent).expect("exponent >= EXPONENT_MIN");
        let (mut integer, fraction) = match shift {
            1..=63 => (
                self.mantissa >> shift,
                self.mantissa & ((1u64 << shift) - 1),
            ),
            _ => (0, self.mantissa),
        };
        // fraction × 10^17 < 2^121, so beyond 121 bits of shift it is below
        // half a unit of the last digit and rounds to zero.
        let mut digits = 0u128;
        if shift <= 121 {
            let scaled = u128::from(fraction) * SCALE;
            digits = scaled >> shift;
            let rest = scaled & ((1u128 << shift) - 1);
            let half = 1u128 << (shift - 1);
            if rest > half || (rest == half && digits & 1 == 1) {
                digits += 1;
            }
            if digits == SCALE {
                digits = 0;
                integer += 1;
            }
        }
        format!("{sign}{integer}.{digits:017}")
    }
}

/// Reads the whole of `text` as glibc's `strtold` would, refusing what
/// Redis's `string2ld` refuses: a partial read, NaN, overflow to infinity and
/// underflow to zero. Leading whitespace is not accepted.
pub fn parse(text: &[u8]) -> Option<Float> {
    let (negative, unsigned) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"infinity") {
        return Some(Float::Infinite);
    }
    let hex_digits = match unsigned {
        [b'0', b'x' | b'X', rest @ ..] => Some(rest),
        _ => None,
    };
    let (digits, exponent_text, radix_bits) = match hex_digits {
        Some(rest) => split_exponent(rest, b'p').map(|(d, e)| (d, e, 4))?,
        None => split_exponent(unsigned, b'e').map(|(d, e)| (d, e, 0))?,
    };
    let (mantissa, fraction_digits) = parse_digits(digits, if radix_bits == 4 { 16 } else { 10 })?;
    let exponent = match exponent_text {
        Some(text) => parse_exponent(text)?,
        None => 0,
    };
    if mantissa.bit_len() == 0 {
        return Some(Float::Finite(Extended::zero(negative)));
    }
    let value = if radix_bits == 4 {
        from_binary(negative, &mantissa, exponent - 4 * fraction_digits)?
    } else {
        from_decimal(negative, mantissa, exponent - fraction_digits)?
    };
    // A nonzero text that rounds to zero is strtold's ERANGE underflow.
    (!value.is_zero()).then_some(Float::Finite(value))
}

/// Splits `mantissa[marker exponent]`, case-insensitively on the marker.
fn split_exponent(text: &[u8], marker: u8) -> Option<(&[u8], Option<&[u8]>)> {
    match text.iter().position(|b| b.eq_ignore_ascii_case(&marker)) {
        Some(at) => Some((&text[..at], Some(&text[at + 1..]))),
        None => Some((text, None)),
    }
}

/// Reads digits with at most one point: the integer they spell and how many
/// came after the point. At least one digit is required.
fn parse_digits(text: &[u8], radix: u32) -> Option<(Big, i64)> {
    // Digits go in by chunks that fit a limb: 9 decimal or 7 hex digits.
    let chunk_digits_max = if radix == 16 { 7 } else { 9 };
    let mut value = Big::zero();
    let (mut chunk, mut chunk_digits) = (0u32, 0u32);
    let (mut seen_digit, mut seen_point, mut fraction_digits) = (false, false, 0i64);
    for &byte in text {
        if byte == b'.' && !seen_point {
            seen_point = true;
            continue;
        }
        let digit = char::from(byte).to_digit(radix)?;
        seen_digit = true;
        fraction_digits += i64::from(seen_point);
        chunk = chunk * radix + digit;
        chunk_digits += 1;
        if chunk_digits == chunk_digits_max {
            value.mul_add_small(radix.pow(chunk_digits), chunk);
            (chunk, chunk_digits) = (0, 0);
        }
    }
    value.mul_add_small(radix.pow(chunk_digits), chunk);
    seen_digit.then_some((value, fraction_digits))
}

/// A decimal exponent `[+-]digits`, clamped to ±[`TEXT_EXPONENT_MAX`].
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let magnitude = digits.iter().fold(0i64, |acc, d| {
        (acc * 10 + i64::from(d - b'0')).min(TEXT_EXPONENT_MAX)
    });
    Some(if negative { -magnitude } else { magnitude })
}

/// `±mantissa × 2^exponent`, rounded; `None` on overflow.
fn from_binary(negative: bool, mantissa: &Big, exponent: i64) -> Option<Extended> {
    let magnitude_bits = mantissa.bit_len() + exponent;
    if magnitude_bits > EXPONENT_MAX + MANTISSA_BITS + 1 {
        return None;
    }
    if magnitude_bits < EXPONENT_MIN - 1 {
        return Some(Extended::zero(negative));
    }
    Extended::round(negative, mantissa, exponent, false)
}

/// `±mantissa × 10^exponent`, rounded; `None` on overflow.
fn from_decimal(negative: bool, mut mantissa: Big, exponent: i64) -> Option<Extended> {
    // log10(2) ≈ 0.30103 bounds the magnitude before any big arithmetic:
    // the largest finite value is about 1.19e4932, the smallest subnormal
    // about 3.65e-4951.
    let bits = mantissa.bit_len();
    if (bits - 1) * 30_103 / 100_000 + exponent > 4_933 {
        return None;
    }
    if bits * 30_103 / 100_000 + 1 + exponent < -4_952 {
        return Some(Extended::zero(negative));
    }
    if exponent >= 0 {
        mantissa.mul_pow10(exponent);
        return Extended::round(negative, &mantissa, 0, false);
    }
    let mut divisor = Big::from_u64(1);
    divisor.mul_pow10(-exponent);
    // Scale one side by 2^scale so that the quotient has the mantissa's bits
    // plus guard bits, no more: the remainder then only feeds the sticky bit.
    let scale = MANTISSA_BITS + GUARD_BITS + divisor.bit_len() - bits;
    let (dividend, divisor) = if scale >= 0 {
        (mantissa.shl(scale), divisor)
    } else {
        (mantissa, divisor.shl(-scale))
    };
    let (quotient, remainder) = dividend.div_rem(&divisor);
    Extended::round(negative, &quotient, -scale, remainder.bit_len() > 0)
}

/// An unsigned big integer, little-endian 32-bit limbs, no high zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Big {
    limbs: Vec<u32>,
}

impl Big {
    fn zero() -> Big {
        Big { limbs: Vec::new() }
    }

    fn from_u64(value: u64) -> Big {
        let mut big = Big {
            limbs: vec![value as u32, (value >> 32) as u32],
        };
        big.trim();
        big
    }

    fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    fn bit_len(&self) -> i64 {
        match self.limbs.last() {
            None => 0,
            Some(top) => {
                let limbs = i64::try_from(self.limbs.len()).expect("limb count fits i64");
                32 * limbs - i64::from(top.leading_zeros())
            }
        }
    }

    fn bit(&self, index: i64) -> bool {
        let Ok(index) = usize::try_from(index) else {
            return false;
        };
        self.limbs
            .get(index / 32)
            .is_some_and(|limb| (limb >> (index % 32)) & 1 == 1)
    }

    /// True if any bit below `index` is set.
    fn any_below(&self, index: i64) -> bool {
        let Ok(index) = usize::try_from(index) else {
            return false;
        };
        let (whole, part) = (index / 32, index % 32);
        let whole_set = self.limbs.iter().take(whole).any(|&limb| limb != 0);
        let part_set = part > 0
            && self
                .limbs
                .get(whole)
                .is_some_and(|&limb| limb << (32 - part) != 0);
        whole_set || part_set
    }

    /// The 64 bits starting at bit `from`.
    fn bits_from(&self, from: i64) -> u64 {
        (0..64)
            .filter(|&i| self.bit(from + i))
            .fold(0u64, |acc, i| acc | (1 << i))
    }

    fn mul_add_small(&mut self, factor: u32, addend: u32) {
        let mut carry = u64::from(addend);
        for limb in &mut self.limbs {
            let product = u64::from(*limb) * u64::from(factor) + carry;
            *limb = product as u32;
            carry = product >> 32;
        }
        if carry > 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    fn mul_pow10(&mut self, exponent: i64) {
        let mut left = exponent;
        while left > 0 {
            let step = left.min(9);
            self.mul_add_small(10u32.pow(u32::try_from(step).expect("step <= 9")), 0);
            left -= step;
        }
    }

    fn shl(&self, bits: i64) -> Big {
        let bits = usize::try_from(bits).expect("shifts are non-negative");
        let (whole, part) = (bits / 32, bits % 32);
        let mut limbs = vec![0u32; whole];
        let mut carry = 0u32;
        for &limb in &self.limbs {
            limbs.push(if part == 0 {
                limb
            } else {
                (limb << part) | carry
            });
            carry = if part == 0 { 0 } else { limb >> (32 - part) };
        }
        limbs.push(carry);
        let mut big = Big { limbs };
        big.trim();
        big
    }

    fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    fn add(&self, other: &Big) -> Big {
        let len = self.limbs.len().max(other.limbs.len());
        let mut limbs = Vec::with_capacity(len + 1);
        let mut carry = 0u64;
        for i in 0..len {
            let sum = u64::from(self.limbs.get(i).copied().unwrap_or(0))
                + u64::from(other.limbs.get(i).copied().unwrap_or(0))
                + carry;
            limbs.push(sum as u32);
            carry = sum >> 32;
        }
        limbs.push(carry as u32);
        let mut big = Big { limbs };
        big.trim();
        big
    }

    /// `self - other`; requires `self >= other`.
    fn sub(&self, other: &Big) -> Big {
        assert!(
            self.cmp(other) != Ordering::Less,
            "big subtraction would go negative"
        );
        let mut limbs = Vec::with_capacity(self.limbs.len());
        let mut borrow = 0i64;
        for (i, &limb) in self.limbs.iter().enumerate() {
            let mut difference =
                i64::from(limb) - i64::from(other.limbs.get(i).copied().unwrap_or(0)) - borrow;
            borrow = i64::from(difference < 0);
            difference += borrow << 32;
            limbs.push(difference as u32);
        }
        let mut big = Big { limbs };
        big.trim();
        big
    }

    fn shr(&self, bits: i64) -> Big {
        let bits = usize::try_from(bits).expect("shifts are non-negative");
        let (whole, part) = (bits / 32, bits % 32);
        let limbs = self.limbs.get(whole..).unwrap_or(&[]);
        let mut shifted: Vec<u32> = limbs
            .iter()
            .enumerate()
            .map(|(i, &limb)| {
                let above = limbs.get(i + 1).copied().unwrap_or(0);
                if part == 0 {
                    limb
                } else {
                    (limb >> part) | (above << (32 - part))
                }
            })
            .collect();
        shifted.truncate(limbs.len());
        let mut big = Big { limbs: shifted };
        big.trim();
        big
    }

    /// Binary long division: (quotient, remainder). Only the quotient's bits
    /// are iterated, so a short quotient is cheap whatever the operands' size.
    fn div_rem(&self, divisor: &Big) -> (Big, Big) {
        assert!(divisor.bit_len() > 0, "division by zero");
        let quotient_bits = (self.bit_len() - divisor.bit_len() + 1).max(0);
        let mut remainder = self.shr(quotient_bits);
        assert!(remainder.cmp(divisor) == Ordering::Less);
        let limbs = usize::try_from(quotient_bits / 32 + 1).expect("small quotient");
        let mut quotient = Big {
            limbs: vec![0; limbs],
        };
        for index in (0..quotient_bits).rev() {
            remainder = remainder.shl(1);
            if self.bit(index) {
                remainder.mul_add_small(1, 1);
            }
            if remainder.cmp(divisor) != Ordering::Less {
                remainder = remainder.sub(divisor);
                let index = usize::try_from(index).expect("bit indices are non-negative");
                quotient.limbs[index / 32] |= 1 << (index % 32);
            }
        }
        quotient.trim();
        (quotient, remainder)
    }

    fn to_decimal(&self) -> String {
        const CHUNK: u64 = 1_000_000_000;
        let mut rest = self.clone();
        let mut chunks = Vec::new();
        while rest.bit_len() > 0 {
            let mut remainder = 0u64;
            for limb in rest.limbs.iter_mut().rev() {
                let current = (remainder << 32) | u64::from(*limb);
                *limb = (current / CHUNK) as u32;
                remainder = current % CHUNK;
            }
            rest.trim();
            chunks.push(remainder);
        }
        let mut text = chunks
            .pop()
            .map_or_else(|| "0".to_string(), |top| top.to_string());
        for chunk in chunks.iter().rev() {
            text.push_str(&format!("{chunk:09}"));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Extended {
        match parse(text.as_bytes()) {
            Some(Float::Finite(value)) => value,
            other => panic!("{text:?} read as {other:?}"),
        }
    }

    #[test]
    fn reads_exact_binary_values_exactly() {
        // Goal: values a 64-bit mantissa holds exactly come back unchanged.
        assert_eq!(
            value("1"),
            Extended {
                negative: false,
                mantissa: 1 << 63,
                exponent: -63
            }
        );
        assert_eq!(
            value("-0.5"),
            Extended {
                negative: true,
                mantissa: 1 << 63,
                exponent: -64
            }
        );
        assert_eq!(value("0x1p3"), value("8"));
        assert_eq!(value("0X.8"), value("0.5"));
        assert_eq!(
            value("18446744073709551615").to_fixed_17(),
            "18446744073709551615.00000000000000000"
        );
    }

    #[test]
    fn rounds_to_nearest_even() {
        // Goal: one bit past the mantissa rounds to even; a sticky bit rounds up.
        assert_eq!(
            value("18446744073709551617").to_fixed_17(),
            "18446744073709551616.00000000000000000"
        );
        assert_eq!(
            value("18446744073709551619").to_fixed_17(),
            "18446744073709551620.00000000000000000"
        );
        assert_eq!(value("0.1").to_fixed_17(), "0.10000000000000000");
    }

    #[test]
    fn range_limits_follow_strtold() {
        // Goal: overflow and underflow to zero are refused; subnormals are not.
        assert!(parse(b"1e4932").is_some());
        assert_eq!(parse(b"1e4933"), None);
        assert_eq!(parse(b"1e-5000"), None);
        let tiny = value("4e-4951");
        assert_eq!((tiny.mantissa, tiny.exponent), (1, EXPONENT_MIN));
        assert_eq!(
            parse(b"0e99999999999"),
            Some(Float::Finite(Extended::zero(false)))
        );
        assert_eq!(parse(b"-Infinity"), Some(Float::Infinite));
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "0x", "0xp1", "0x1p", "nan", "1.2.3", "inf1",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn adds_with_one_rounding() {
        // Goal: sums are exact before one rounding, and x + -x is +0.
        let sum = value("10.50").checked_add(value("0.1")).expect("finite");
        assert_eq!(sum.to_fixed_17(), "10.60000000000000000");
        let zero = value("2.5").checked_add(value("-2.5")).expect("finite");
        assert_eq!(zero, Extended::zero(false));
        let huge = value("1e4932");
        assert_eq!(huge.checked_add(huge), None);
        let tiny = value("1e-4940");
        assert_eq!(huge.checked_add(tiny), Some(huge));
    }
}
