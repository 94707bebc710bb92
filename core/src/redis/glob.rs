//! Redis's glob matching: `stringmatchlen` from Redis 7's `util.c`, used by
//! KEYS (and later SCAN MATCH and pub/sub patterns).
//!
//! Owns the matching rules, quirks included, so that every pattern selects
//! exactly the keys Redis would select:
//! - `*` matches any run of bytes, `?` one byte, `\x` the byte `x`;
//! - `[...]` matches one byte of a set: `^` first negates, `a-z` is a range
//!   (ends given in reverse are swapped), `\` escapes one byte (compared
//!   case-sensitively even with `nocase`), and a set left open runs to the
//!   end of the pattern;
//! - range ends compare as C `char`, which is signed on x86-64 where Redis is
//!   usually built, so bytes from 0x80 up sort below ASCII inside ranges;
//! - case folding (`nocase`) is ASCII only, as in the C locale; inside
//!   ranges it follows glibc's `tolower` table, which maps bytes 0x80..=0xfe
//!   (negative as `char`) back to 128..=254;
//! - an empty subject matches only the empty pattern (Redis's KEYS handles a
//!   lone `*` before calling the matcher, see `apply`);
//! - Redis gives up past [`STAR_GROUPS_MAX`] nested star groups: a pattern
//!   whose match must pass a later, non-final star group matches nothing.
//!
//! Invariants: no recursion, O(1) memory and O(pattern * subject) time. The
//! search is the two-pointer backtracking one (only the latest star is ever
//! revisited). It accepts exactly what Redis's recursive search accepts,
//! because every token other than `*` consumes exactly one byte, and Redis's
//! `skipLongerMatches` cut stops its search at the same point this one does.

/// Redis's `nesting > 1000` limit on recursive star groups.
pub const STAR_GROUPS_MAX: u32 = 1000;

/// The star group the search may return to.
#[derive(Clone, Copy)]
struct Backtrack {
    /// Pattern position just after the star group.
    pattern_at: usize,
    /// Subject position where the rest of the pattern was last tried.
    subject_at: usize,
    /// 1 for the first star group passed, 2 for the next, and so on.
    ordinal: u32,
}

/// True if `subject` matches the glob `pattern`, exactly as Redis's
/// `stringmatchlen(pattern, subject, nocase)`.
pub fn glob_match(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
    if subject.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut s) = (0usize, 0usize);
    let mut backtrack: Option<Backtrack> = None;
    loop {
        assert!(p <= pattern.len() && s <= subject.len());
        if s == subject.len() {
            // The subject is used up: only trailing stars may remain.
            while pattern.get(p) == Some(&b'*') {
                p += 1;
            }
            if p == pattern.len() {
                return true;
            }
        } else if p < pattern.len() {
            if pattern[p] == b'*' {
                while pattern.get(p + 1) == Some(&b'*') {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                let ordinal = backtrack.map_or(0, |b| b.ordinal) + 1;
                if ordinal > STAR_GROUPS_MAX {
                    return false;
                }
                p += 1;
                backtrack = Some(Backtrack {
                    pattern_at: p,
                    subject_at: s,
                    ordinal,
                });
                continue;
            }
            if let Some(next) = match_token(pattern, p, subject[s], nocase) {
                p = next;
                s += 1;
                continue;
            }
        }
        // Mismatch: let the latest star swallow one more byte. It never
        // swallows the last byte, as the rest of the pattern needs at least one.
        match backtrack.as_mut() {
            Some(b) if b.subject_at + 1 < subject.len() => {
                b.subject_at += 1;
                p = b.pattern_at;
                s = b.subject_at;
            }
            _ => return false,
        }
    }
}

/// Matches the single-byte token at `pattern[p]` (not `*`) against `byte`;
/// returns the position after the token on a match.
fn match_token(pattern: &[u8], p: usize, byte: u8, nocase: bool) -> Option<usize> {
    match pattern[p] {
        b'?' => Some(p + 1),
        b'[' => match_set(pattern, p + 1, byte, nocase),
        b'\\' if p + 1 < pattern.len() => same_byte(pattern[p + 1], byte, nocase).then_some(p + 2),
        literal => same_byte(literal, byte, nocase).then_some(p + 1),
    }
}

/// Matches a `[...]` set whose body starts at `start` (just after `[`).
/// Follows Redis's loop step by step, reading past the end as a NUL byte as
/// the C code does.
fn match_set(pattern: &[u8], start: usize, byte: u8, nocase: bool) -> Option<usize> {
    let at = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let mut i = start;
    let negate = at(i) == b'^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    loop {
        assert!(i <= pattern.len());
        let remaining = pattern.len() - i;
        if at(i) == b'\\' && remaining >= 2 {
            i += 1;
            matched |= at(i) == byte;
        } else if at(i) == b']' {
            break;
        } else if remaining == 0 {
            // An open set ends with the pattern.
            i -= 1;
            break;
        } else if remaining >= 3 && at(i + 1) == b'-' {
            matched |= in_range(at(i), at(i + 2), byte, nocase);
            i += 2;
        } else {
            matched |= same_byte(at(i), byte, nocase);
        }
        i += 1;
    }
    (matched != negate).then_some(i + 1)
}

fn in_range(start: u8, end: u8, byte: u8, nocase: bool) -> bool {
    let (mut low, mut high, mut c) = (c_char(start), c_char(end), c_char(byte));
    if low > high {
        std::mem::swap(&mut low, &mut high);
    }
    if nocase {
        (low, high, c) = (c_lower(low), c_lower(high), c_lower(c));
    }
    low <= c && c <= high
}

/// A byte as a signed C `char` widened to `int`.
fn c_char(byte: u8) -> i32 {
    i32::from(i8::from_ne_bytes([byte]))
}

/// glibc's `tolower` in the C locale, as Redis calls it on a C `char`: ASCII
/// letters fold, and the table maps a negative `char` other than EOF (-1) to
/// its unsigned byte value.
fn c_lower(c: i32) -> i32 {
    match c {
        -128..=-2 => c + 256,
        65..=90 => c + 32,
        _ => c,
    }
}

fn same_byte(a: u8, b: u8, nocase: bool) -> bool {
    if nocase {
        a.eq_ignore_ascii_case(&b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A line-by-line port of Redis's recursive `stringmatchlen_impl`, kept as
    /// the oracle for the iterative matcher. `at` reads past the end as NUL,
    /// like the C code reading the string's terminator.
    fn redis_reference(pattern: &[u8], subject: &[u8], nocase: bool) -> bool {
        let mut skip_longer = false;
        reference_impl(pattern, subject, nocase, &mut skip_longer, 0)
    }

    fn reference_impl(pat: &[u8], sub: &[u8], nocase: bool, skip: &mut bool, nesting: u32) -> bool {
        if nesting > 1000 {
            return false;
        }
        let at = |i: usize| pat.get(i).copied().unwrap_or(0);
        let (mut p, mut s) = (0usize, 0usize);
        let lower = |c: i32| c_lower(c);
        while pat.len() > p && sub.len() > s {
            match pat[p] {
                b'*' => {
                    while pat.len() > p && at(p + 1) == b'*' {
                        p += 1;
                    }
                    if pat.len() - p == 1 {
                        return true;
                    }
                    while sub.len() > s {
                        if reference_impl(&pat[p + 1..], &sub[s..], nocase, skip, nesting + 1) {
                            return true;
                        }
                        if *skip {
                            return false;
                        }
                        s += 1;
                    }
                    *skip = true;
                    return false;
                }
                b'?' => s += 1,
                b'[' => match reference_set(pat, p + 1, sub[s], nocase) {
                    Some(last) => {
                        p = last;
                        s += 1;
                    }
                    None => return false,
                },
                first => {
                    if first == b'\\' && pat.len() - p >= 2 {
                        p += 1;
                    }
                    let equal = if nocase {
                        lower(c_char(at(p))) == lower(c_char(sub[s]))
                    } else {
                        at(p) == sub[s]
                    };
                    if !equal {
                        return false;
                    }
                    s += 1;
                }
            }
            p += 1;
            if s == sub.len() {
                while at(p) == b'*' {
                    p += 1;
                }
                break;
            }
        }
        p == pat.len() && s == sub.len()
    }

    /// The `[` case of the port, from just after `[`: the position of the
    /// set's last byte if `byte` is accepted.
    fn reference_set(pat: &[u8], mut p: usize, byte: u8, nocase: bool) -> Option<usize> {
        let at = |i: usize| pat.get(i).copied().unwrap_or(0);
        let not = at(p) == b'^';
        if not {
            p += 1;
        }
        let mut matched = false;
        loop {
            let len = pat.len() - p;
            if at(p) == b'\\' && len >= 2 {
                p += 1;
                if at(p) == byte {
                    matched = true;
                }
            } else if at(p) == b']' {
                break;
            } else if len == 0 {
                p -= 1;
                break;
            } else if len >= 3 && at(p + 1) == b'-' {
                let (mut start, mut end) = (c_char(at(p)), c_char(at(p + 2)));
                let mut c = c_char(byte);
                if start > end {
                    std::mem::swap(&mut start, &mut end);
                }
                if nocase {
                    (start, end, c) = (c_lower(start), c_lower(end), c_lower(c));
                }
                p += 2;
                if c >= start && c <= end {
                    matched = true;
                }
            } else if !nocase {
                if at(p) == byte {
                    matched = true;
                }
            } else if c_lower(c_char(at(p))) == c_lower(c_char(byte)) {
                matched = true;
            }
            p += 1;
        }
        (matched != not).then_some(p)
    }

    fn check(pattern: &str, subject: &str, nocase: bool, expected: bool) {
        let (pattern, subject) = (pattern.as_bytes(), subject.as_bytes());
        assert_eq!(
            glob_match(pattern, subject, nocase),
            expected,
            "{pattern:?} vs {subject:?}"
        );
        assert_eq!(
            redis_reference(pattern, subject, nocase),
            expected,
            "reference disagrees"
        );
    }

    #[test]
    fn documented_keys_examples() {
        // Goal: the examples of Redis's KEYS documentation.
        check("h?llo", "hello", false, true);
        check("h?llo", "hallo", false, true);
        check("h?llo", "hllo", false, false);
        check("h*llo", "hllo", false, true);
        check("h*llo", "heeeello", false, true);
        check("h[ae]llo", "hello", false, true);
        check("h[ae]llo", "hillo", false, false);
        check("h[^e]llo", "hallo", false, true);
        check("h[^e]llo", "hello", false, false);
        check("h[a-b]llo", "hbllo", false, true);
        check("h[a-b]llo", "hcllo", false, false);
        check("h\\*llo", "h*llo", false, true);
        check("h\\*llo", "hello", false, false);
    }

    #[test]
    fn stars_and_empty_subjects() {
        // Goal: Redis's edge cases around `*` and the empty subject.
        check("*", "", false, false);
        check("", "", false, true);
        check("", "a", false, false);
        check("**", "", false, false);
        check("*", "anything", false, true);
        check("a*", "a", false, true);
        check("a**", "a", false, true);
        check("a*b*", "ab", false, true);
        check("*a", "a", false, true);
        check("*a*b", "xaxb", false, true);
        check("*a*b", "xaxbc", false, false);
        check("a*x", "a", false, false);
        check("?", "", false, false);
    }

    #[test]
    fn sets_ranges_and_escapes() {
        // Goal: the quirks of `[...]` and `\` that Redis has.
        check("[]a]", "]", false, false); // `]` first closes an empty set
        check("[a-]", "]", false, true); // range a..] reversed to ]..a
        check("[z-a]", "m", false, true); // reversed range
        check("[abc", "b", false, true); // open set runs to the end
        check("[", "x", false, false);
        check("[^", "x", false, true);
        check("[\\]]", "]", false, true);
        check("[\\a]", "A", true, false); // escaped set member ignores nocase
        check("\\", "\\", false, true); // a lone trailing backslash is literal
        check("a\\", "a\\", false, true);
        check("[A-Z]", "q", true, true);
        check("HeLLo", "hello", true, true);
        check("HeLLo", "hello", false, false);
    }

    #[test]
    fn high_bytes_compare_as_signed_chars() {
        // Goal: range ends compare as signed C chars, as in Redis on x86-64.
        assert!(glob_match(b"[a-\xff]", b"\xff", false)); // range is -1..=97
        assert!(glob_match(b"[a-\xff]", b"0", false));
        assert!(!glob_match(b"[a-\xff]", b"\x80", false)); // -128
        assert!(!glob_match(b"[a-\xff]", b"z", false));
        assert!(glob_match(b"[\x80-\x90]", b"\x85", false));
        assert!(glob_match(b"\xe9", b"\xe9", true));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        // Goal: many stars against a long non-matching subject finish quickly.
        let pattern = [b"*a".repeat(900), b"b".to_vec()].concat();
        let subject = vec![b'a'; 50_000];
        assert!(!glob_match(&pattern, &subject, false));
        let stars = vec![b'*'; 100_000];
        assert!(glob_match(&stars, &subject, false));
    }

    #[test]
    fn star_group_limit_matches_redis() {
        // Goal: past 1000 nested star groups Redis reports no match.
        let subject = vec![b'a'; 1100];
        let at_limit = b"*a".repeat(1000);
        assert!(glob_match(&at_limit, &subject, false));
        assert!(redis_reference(&at_limit, &subject, false));
        let over_limit = b"*a".repeat(1001);
        assert!(!glob_match(&over_limit, &subject, false));
        assert!(!redis_reference(&over_limit, &subject, false));
        // A trailing star group is taken without nesting, so it does not count.
        let trailing = [b"*a".repeat(1000), b"*".to_vec()].concat();
        assert!(glob_match(&trailing, &subject, false));
        assert!(redis_reference(&trailing, &subject, false));
    }

    fn pattern_bytes() -> impl Strategy<Value = Vec<u8>> {
        let alphabet = vec![
            b'a', b'b', b'A', b'*', b'?', b'[', b']', b'^', b'-', b'\\', 0x80, 0xff,
        ];
        proptest::collection::vec(proptest::sample::select(alphabet), 0..10)
    }

    fn subject_bytes() -> impl Strategy<Value = Vec<u8>> {
        let alphabet = vec![b'a', b'b', b'B', b'-', b']', b'\\', b'*', 0x80, 0xff];
        proptest::collection::vec(proptest::sample::select(alphabet), 0..8)
    }

    proptest! {
        #[test]
        fn agrees_with_redis_port(
            pattern in pattern_bytes(),
            subject in subject_bytes(),
            nocase in any::<bool>(),
        ) {
            // Goal: the iterative matcher accepts exactly what Redis's recursive one does.
            prop_assert_eq!(
                glob_match(&pattern, &subject, nocase),
                redis_reference(&pattern, &subject, nocase)
            );
        }
    }
}
