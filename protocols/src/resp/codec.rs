//! RESP2/RESP3 codec: bytes <-> frames, pure and std-only.
//!
//! This module owns Orbit's Redis wire format. `Decoder::decode` turns client
//! bytes into requests (RESP arrays of bulk strings, or inline commands split
//! with Redis's quoting rules), `Decoder::decode_frame` turns any RESP2/RESP3
//! value into a `Frame` (for clients and tests reading replies), and `encode`
//! writes a `Frame` for either protocol version, downgrading RESP3-only types
//! for RESP2 clients the way Redis does. It does no I/O and uses nothing but
//! `std`, so it compiles and is fuzzed on its own:
//! `rustc --edition 2021 --test protocols/src/resp/codec.rs`.
//!
//! Invariants:
//! - Decoding never panics and never recurses: aggregates are built on an
//!   explicit stack of at most `Limits::depth_max` entries, and every loop
//!   consumes input, so work is bounded by the buffer length.
//! - Nothing is allocated from an untrusted length. A bulk body is copied only
//!   once all of it is in the buffer; an aggregate reserves at most one slot
//!   per element that could fit in the bytes already received.
//! - Every length is checked against `Limits` as soon as its header line is
//!   complete, before any of the body is buffered.
//! - `Ok(Some((_, consumed)))` always has `0 < consumed <= buf.len()`, so a
//!   caller that drains `consumed` bytes and loops always makes progress.
//! - Decoding is incremental: after `Ok(None)` the decoder remembers how far
//!   it got, so a caller that re-presents the same bytes with more appended
//!   does work proportional to the new bytes (no quadratic rescans).
//! - The outcome does not depend on how the bytes were split across calls.
//! - `encode` always emits well-formed RESP: CR and LF inside simple strings,
//!   errors and big numbers become spaces, as Redis does for error replies.

use std::fmt;
use std::ops::Range;

/// One client command: its arguments, command name first.
///
/// A blank inline line, `*0` and `*-1` decode to an empty request so that the
/// caller can drop their bytes; like Redis, the session skips it silently.
pub type Request = Vec<Vec<u8>>;

/// A RESP2 or RESP3 value. RESP3 attributes (`|`) and streamed strings are not
/// supported: the decoder refuses them and the server never sends them.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+text\r\n`.
    SimpleString(Vec<u8>),
    /// `-text\r\n`; a RESP3 blob error (`!len\r\n...`) also decodes to this.
    Error(Vec<u8>),
    /// `:n\r\n`.
    Integer(i64),
    /// `$len\r\nbytes\r\n`.
    Bulk(Vec<u8>),
    /// The null value: `$-1\r\n` in RESP2, `_\r\n` in RESP3.
    Null,
    /// The null array: `*-1\r\n` in RESP2, `_\r\n` in RESP3.
    NullArray,
    /// `*n\r\n` then n frames.
    Array(Vec<Frame>),
    /// RESP3 `%n\r\n` then n key/value pairs; a flat array of 2n in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~n\r\n`; an array in RESP2.
    Set(Vec<Frame>),
    /// RESP3 `,repr\r\n`; a bulk string in RESP2.
    Double(f64),
    /// RESP3 `#t\r\n` / `#f\r\n`; `:1` / `:0` in RESP2.
    Boolean(bool),
    /// RESP3 `(digits\r\n`; a bulk string in RESP2.
    BigNumber(Vec<u8>),
    /// RESP3 `=len\r\nfmt:text\r\n`; a bulk string of `text` in RESP2.
    Verbatim { format: [u8; 3], text: Vec<u8> },
    /// RESP3 `>n\r\n` out-of-band data; an array in RESP2.
    Push(Vec<Frame>),
}

/// The protocol version a connection negotiated (`HELLO 3` switches to RESP3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// Bounds on what the decoder accepts; every one is checked before the bytes
/// it would admit are buffered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string, in bytes (Redis `proto-max-bulk-len`).
    pub bulk_len_max: usize,
    /// Most elements in one aggregate (pairs for a map). Redis accepts up to
    /// `INT_MAX` arguments; we cap lower because each element costs memory
    /// well beyond its wire size.
    pub array_len_max: usize,
    /// Longest inline command, simple line or length header, in bytes
    /// (Redis `PROTO_INLINE_MAX_SIZE`).
    pub inline_len_max: usize,
    /// Deepest aggregate nesting `decode_frame` accepts; requests are flat.
    pub depth_max: usize,
}

impl Limits {
    /// Redis's defaults where Redis has one.
    pub const DEFAULT: Limits = Limits {
        bulk_len_max: 512 * 1024 * 1024,
        array_len_max: 16 * 1024 * 1024,
        inline_len_max: 64 * 1024,
        depth_max: 32,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Why a byte stream is not valid RESP. The connection cannot be resynced
/// after one: the server replies with `message()` and closes it.
///
/// The house style asks for `thiserror`; this file stays std-only so that it
/// compiles alone under `rustc --test`, hence the hand-written `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// An aggregate count that is not an integer, below -1, or over the limit.
    InvalidMultibulkLength,
    /// A bulk length that is not an integer, negative where null is not
    /// allowed, or over `bulk_len_max`.
    InvalidBulkLength,
    /// A request array element that is not a bulk string.
    ExpectedBulk { got: u8 },
    /// An inline command longer than `inline_len_max`.
    TooBigInlineRequest,
    /// An aggregate count line longer than `inline_len_max`.
    TooBigMultibulkCount,
    /// A bulk length line longer than `inline_len_max`.
    TooBigBulkCount,
    /// An inline command with an unterminated quote, or a closing quote not
    /// followed by a space.
    UnbalancedQuotes,
    /// A bulk body not followed by `\r\n` (Redis skips these two bytes
    /// unchecked; we refuse, as the stream is surely out of sync).
    BulkNotTerminated,
    /// `decode_frame` only: an unknown type byte.
    InvalidType { got: u8 },
    /// `decode_frame` only: a scalar whose text does not parse as its type.
    InvalidValue { type_byte: u8 },
    /// `decode_frame` only: a simple line longer than `inline_len_max`.
    TooBigLine,
    /// `decode_frame` only: aggregates nested deeper than `depth_max`.
    TooDeep,
}

impl ProtocolError {
    /// The error reply text, without the leading `-`; Redis's exact wording
    /// where Redis has the error.
    pub fn message(&self) -> String {
        let text = match self {
            ProtocolError::InvalidMultibulkLength => "invalid multibulk length".to_string(),
            ProtocolError::InvalidBulkLength => "invalid bulk length".to_string(),
            ProtocolError::ExpectedBulk { got } => format!("expected '$', got '{}'", shown(*got)),
            ProtocolError::TooBigInlineRequest => "too big inline request".to_string(),
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string".to_string(),
            ProtocolError::TooBigBulkCount => "too big bulk count string".to_string(),
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in request".to_string(),
            ProtocolError::BulkNotTerminated => "expected CRLF after bulk".to_string(),
            ProtocolError::InvalidType { got } => format!("invalid type byte '{}'", shown(*got)),
            ProtocolError::InvalidValue { type_byte } => {
                format!("invalid value for type '{}'", shown(*type_byte))
            }
            ProtocolError::TooBigLine => "too big line".to_string(),
            ProtocolError::TooDeep => "nesting too deep".to_string(),
        };
        format!("ERR Protocol error: {text}")
    }
}

/// How a byte appears inside an error message. Redis prints it raw but turns
/// CR and LF into spaces so the reply stays one line; we also hide other
/// non-printables because the message is a `String`.
fn shown(byte: u8) -> char {
    match byte {
        b'\r' | b'\n' => ' ',
        b'\t' | b' '..=b'~' => char::from(byte),
        _ => '?',
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ProtocolError {}

/// Incremental RESP decoder for one connection.
///
/// Contract: pass the unconsumed bytes each time. After `Ok(Some((_, n)))`
/// drop the first `n` bytes; after `Ok(None)` call again with the same bytes
/// plus whatever arrived. The decoder then resumes where it stopped. A buffer
/// shorter than the last one is taken as a fresh stream and parsed from the
/// start. After an error the stream is dead; the decoder resets itself.
/// Use one of `decode` and `decode_frame` per stream, not both.
#[derive(Debug, Default)]
pub struct Decoder {
    limits: Limits,
    request: RequestProgress,
    frame: FrameProgress,
}

/// Where `decode` stopped inside an incomplete request.
#[derive(Debug, Default)]
struct RequestProgress {
    /// `buf.len()` at the last call; every saved position is within it.
    seen_len: usize,
    /// The current line has no terminator before this offset.
    scan_from: usize,
    /// Set once the `*count` header of a multibulk request is parsed.
    multibulk: Option<MultibulkProgress>,
}

#[derive(Debug)]
struct MultibulkProgress {
    /// Offset of the next unparsed byte.
    pos: usize,
    /// Arguments still to read.
    args_left: usize,
    /// Length of the argument whose `$len` header is parsed but body is not.
    bulk_len: Option<usize>,
    /// Arguments read so far, as ranges of the buffer; copied out at the end.
    args: Vec<Range<usize>>,
}

/// Where `decode_frame` stopped inside an incomplete frame.
#[derive(Debug, Default)]
struct FrameProgress {
    seen_len: usize,
    /// Offset of the next unparsed frame or header.
    pos: usize,
    /// The current line has no terminator before this offset.
    scan_from: usize,
    /// Aggregates opened but not yet full, outermost first.
    stack: Vec<Partial>,
}

#[derive(Debug)]
struct Partial {
    kind: Aggregate,
    /// Elements expected: the count, or twice the count for a map.
    items_len: usize,
    items: Vec<Frame>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Array,
    Map,
    Set,
    Push,
}

/// One parsed piece of a frame: a whole scalar, or an aggregate header.
enum Step {
    Value(Frame),
    Open(Aggregate, usize),
}

/// Smallest wire size of one frame (`_\r\n`) and of one request argument
/// (`$0\r\n\r\n`); reservations never exceed what the buffer could hold.
const FRAME_WIRE_LEN_MIN: usize = 3;
const ARG_WIRE_LEN_MIN: usize = 6;

impl Decoder {
    /// A decoder with no partial input, enforcing `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            ..Decoder::default()
        }
    }

    /// Enforces `limits` from the next request on (CONFIG SET changes
    /// them for open connections too).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Forgets any partially parsed input.
    pub fn reset(&mut self) {
        self.request = RequestProgress::default();
        self.frame = FrameProgress::default();
    }

    /// Decodes one client request from the front of `buf`: the arguments and
    /// the bytes they took, or `Ok(None)` if more bytes are needed.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Option<(Request, usize)>, ProtocolError> {
        let mut progress = std::mem::take(&mut self.request);
        if progress.seen_len > buf.len() {
            progress = RequestProgress::default();
        }
        let result = decode_request(&self.limits, buf, &mut progress);
        match &result {
            Ok(None) => {
                progress.seen_len = buf.len();
                self.request = progress;
            }
            Ok(Some((_, consumed))) => assert!(0 < *consumed && *consumed <= buf.len()),
            Err(_) => {}
        }
        result
    }

    /// Decodes one RESP2/RESP3 frame from the front of `buf`: the frame and
    /// the bytes it took, or `Ok(None)` if more bytes are needed.
    pub fn decode_frame(&mut self, buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
        let mut progress = std::mem::take(&mut self.frame);
        if progress.seen_len > buf.len() {
            progress = FrameProgress::default();
        }
        let result = decode_frame_from(&self.limits, buf, &mut progress);
        match &result {
            Ok(None) => {
                progress.seen_len = buf.len();
                self.frame = progress;
            }
            Ok(Some((_, consumed))) => assert!(0 < *consumed && *consumed <= buf.len()),
            Err(_) => {}
        }
        result
    }
}

// ---------------------------------------------------------------------------
// Requests.

fn decode_request(
    limits: &Limits,
    buf: &[u8],
    progress: &mut RequestProgress,
) -> Result<Option<(Request, usize)>, ProtocolError> {
    if progress.multibulk.is_none() {
        // Redis picks the request type from the first byte alone.
        let Some(&first) = buf.first() else {
            return Ok(None);
        };
        if first != b'*' {
            return decode_inline(limits, buf, &mut progress.scan_from);
        }
        let header = read_multibulk_header(limits, buf, &mut progress.scan_from)?;
        let Some((count, next)) = header else {
            return Ok(None);
        };
        if count == 0 {
            return Ok(Some((Vec::new(), next)));
        }
        progress.scan_from = next;
        progress.multibulk = Some(MultibulkProgress::new(count, next, buf.len()));
    }
    match progress.multibulk.as_mut() {
        Some(multibulk) => decode_args(limits, buf, multibulk, &mut progress.scan_from),
        None => Ok(None),
    }
}

/// Parses `*count\r\n` at the start of `buf`. `*0` and `*-1` give a count of
/// zero (Redis skips such requests); any other negative count is refused.
fn read_multibulk_header(
    limits: &Limits,
    buf: &[u8],
    scan_from: &mut usize,
) -> Result<Option<(usize, usize)>, ProtocolError> {
    let line = read_line(
        buf,
        1,
        scan_from,
        limits.inline_len_max,
        ProtocolError::TooBigMultibulkCount,
        ProtocolError::InvalidMultibulkLength,
    )?;
    let Some((digits, next)) = line else {
        return Ok(None);
    };
    let count = match parse_i64(digits) {
        Some(-1) => 0,
        Some(count) => usize::try_from(count).map_err(|_| ProtocolError::InvalidMultibulkLength)?,
        None => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if count > limits.array_len_max {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    Ok(Some((count, next)))
}

impl MultibulkProgress {
    fn new(count: usize, pos: usize, buf_len: usize) -> Self {
        let fits = buf_len.saturating_sub(pos) / ARG_WIRE_LEN_MIN;
        MultibulkProgress {
            pos,
            args_left: count,
            bulk_len: None,
            args: Vec::with_capacity(count.min(fits)),
        }
    }
}

fn decode_args(
    limits: &Limits,
    buf: &[u8],
    multibulk: &mut MultibulkProgress,
    scan_from: &mut usize,
) -> Result<Option<(Request, usize)>, ProtocolError> {
    while multibulk.args_left > 0 {
        let bulk_len = match multibulk.bulk_len {
            Some(bulk_len) => bulk_len,
            None => {
                let header = read_arg_header(limits, buf, multibulk.pos, scan_from)?;
                let Some((bulk_len, next)) = header else {
                    return Ok(None);
                };
                multibulk.pos = next;
                *scan_from = next;
                multibulk.bulk_len = Some(bulk_len);
                bulk_len
            }
        };
        let Some(body) = read_bulk_body(buf, multibulk.pos, bulk_len)? else {
            return Ok(None);
        };
        multibulk.pos = body.end + 2;
        *scan_from = multibulk.pos;
        multibulk.args.push(body);
        multibulk.bulk_len = None;
        multibulk.args_left -= 1;
    }
    let request = multibulk
        .args
        .iter()
        .map(|arg| buf[arg.clone()].to_vec())
        .collect();
    Ok(Some((request, multibulk.pos)))
}

/// Parses the `$len\r\n` header of one request argument at `pos`. The type
/// byte is checked as soon as it arrives (Redis waits for the whole line), so
/// garbage is refused without buffering up to `inline_len_max` of it.
fn read_arg_header(
    limits: &Limits,
    buf: &[u8],
    pos: usize,
    scan_from: &mut usize,
) -> Result<Option<(usize, usize)>, ProtocolError> {
    let Some(&type_byte) = buf.get(pos) else {
        return Ok(None);
    };
    if type_byte != b'$' {
        return Err(ProtocolError::ExpectedBulk { got: type_byte });
    }
    let line = read_line(
        buf,
        pos + 1,
        scan_from,
        limits.inline_len_max,
        ProtocolError::TooBigBulkCount,
        ProtocolError::InvalidBulkLength,
    )?;
    let Some((digits, next)) = line else {
        return Ok(None);
    };
    let bulk_len = parse_i64(digits)
        .and_then(|len| usize::try_from(len).ok())
        .filter(|&len| len <= limits.bulk_len_max)
        .ok_or(ProtocolError::InvalidBulkLength)?;
    Ok(Some((bulk_len, next)))
}

/// The range of a `bulk_len`-byte body starting at `start`, once it and its
/// `\r\n` are all in `buf`. Costs O(1): the body is neither scanned nor copied.
fn read_bulk_body(
    buf: &[u8],
    start: usize,
    bulk_len: usize,
) -> Result<Option<Range<usize>>, ProtocolError> {
    let end = start
        .checked_add(bulk_len)
        .ok_or(ProtocolError::InvalidBulkLength)?;
    let frame_end = end.checked_add(2).ok_or(ProtocolError::InvalidBulkLength)?;
    if buf.len() < frame_end {
        return Ok(None);
    }
    if &buf[end..frame_end] != b"\r\n" {
        return Err(ProtocolError::BulkNotTerminated);
    }
    Ok(Some(start..end))
}

/// An inline command: one line ended by `\n` (an `\r` before it is dropped),
/// split like Redis's `sdssplitargs`. Lines over `inline_len_max` are refused
/// whether or not their newline has arrived, so chunking cannot matter.
fn decode_inline(
    limits: &Limits,
    buf: &[u8],
    scan_from: &mut usize,
) -> Result<Option<(Request, usize)>, ProtocolError> {
    let limit = limits.inline_len_max.saturating_add(1).min(buf.len());
    let from = (*scan_from).min(limit);
    let newline = buf[from..limit].iter().position(|&byte| byte == b'\n');
    let Some(offset) = newline else {
        if buf.len() > limits.inline_len_max {
            return Err(ProtocolError::TooBigInlineRequest);
        }
        *scan_from = limit;
        return Ok(None);
    };
    let newline = from + offset;
    let line = &buf[..newline];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    Ok(Some((split_args(line)?, newline + 1)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    Bare,
    Double,
    Single,
}

/// Splits an inline command into arguments exactly as Redis's `sdssplitargs`
/// does, including its C-string view: a NUL byte ends the line.
fn split_args(line: &[u8]) -> Result<Request, ProtocolError> {
    let line = match line.iter().position(|&byte| byte == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while line.get(pos).is_some_and(|&byte| is_c_space(byte)) {
            pos += 1;
        }
        if pos >= line.len() {
            return Ok(args);
        }
        let (arg, next) = split_token(line, pos)?;
        args.push(arg);
        pos = next;
    }
}

/// Reads one token starting at `start` (not a space); returns it and the
/// offset after it. Quotes may open mid-token (`a"b c"` is `ab c`), but a
/// closing quote must be followed by a space or the end of the line.
fn split_token(line: &[u8], start: usize) -> Result<(Vec<u8>, usize), ProtocolError> {
    // Past the end reads as NUL, like the C string Redis walks.
    let at = |index: usize| line.get(index).copied().unwrap_or(0);
    let mut token = Vec::new();
    let mut quote = Quote::Bare;
    let mut pos = start;
    loop {
        let byte = at(pos);
        match quote {
            Quote::Bare => match byte {
                b' ' | b'\n' | b'\r' | b'\t' => return Ok((token, pos + 1)),
                0 => return Ok((token, pos)),
                b'"' => quote = Quote::Double,
                b'\'' => quote = Quote::Single,
                _ => token.push(byte),
            },
            Quote::Double => {
                let hex = match (byte, at(pos + 1)) {
                    (b'\\', b'x') => hex_pair(at(pos + 2), at(pos + 3)),
                    _ => None,
                };
                if let Some(value) = hex {
                    token.push(value);
                    pos += 3;
                } else if byte == b'\\' && at(pos + 1) != 0 {
                    pos += 1;
                    token.push(unescape(at(pos)));
                } else if byte == b'"' {
                    return close_quote(line, pos, token);
                } else if byte == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    token.push(byte);
                }
            }
            Quote::Single => {
                if byte == b'\\' && at(pos + 1) == b'\'' {
                    pos += 1;
                    token.push(b'\'');
                } else if byte == b'\'' {
                    return close_quote(line, pos, token);
                } else if byte == 0 {
                    return Err(ProtocolError::UnbalancedQuotes);
                } else {
                    token.push(byte);
                }
            }
        }
        pos += 1;
    }
}

/// A closing quote at `pos` ends the token only if a space or the end of the
/// line follows it.
fn close_quote(line: &[u8], pos: usize, token: Vec<u8>) -> Result<(Vec<u8>, usize), ProtocolError> {
    match line.get(pos + 1) {
        Some(&next) if !is_c_space(next) => Err(ProtocolError::UnbalancedQuotes),
        _ => Ok((token, pos + 1)),
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |byte: u8| char::from(byte).to_digit(16);
    let value = digit(high)? * 16 + digit(low)?;
    u8::try_from(value).ok()
}

fn unescape(byte: u8) -> u8 {
    match byte {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

// ---------------------------------------------------------------------------
// Frames.

fn decode_frame_from(
    limits: &Limits,
    buf: &[u8],
    progress: &mut FrameProgress,
) -> Result<Option<(Frame, usize)>, ProtocolError> {
    // Every step consumes at least one byte, so this loop is bounded by buf.
    loop {
        let step = parse_step(limits, buf, progress.pos, &mut progress.scan_from)?;
        let Some((step, next)) = step else {
            return Ok(None);
        };
        progress.pos = next;
        progress.scan_from = next;
        let value = match step {
            Step::Value(frame) => frame,
            Step::Open(kind, items_len) => {
                if progress.stack.len() >= limits.depth_max {
                    return Err(ProtocolError::TooDeep);
                }
                if items_len > 0 {
                    let fits = buf.len().saturating_sub(next) / FRAME_WIRE_LEN_MIN;
                    progress.stack.push(Partial::new(kind, items_len, fits));
                    continue;
                }
                kind.build(Vec::new())
            }
        };
        if let Some(frame) = attach(&mut progress.stack, value) {
            return Ok(Some((frame, progress.pos)));
        }
    }
}

/// Adds a finished value to the innermost open aggregate, closing every
/// aggregate it fills. Returns the top-level frame once nothing is open.
fn attach(stack: &mut Vec<Partial>, mut value: Frame) -> Option<Frame> {
    loop {
        let Some(mut top) = stack.pop() else {
            return Some(value);
        };
        top.items.push(value);
        if top.items.len() < top.items_len {
            stack.push(top);
            return None;
        }
        value = top.kind.build(top.items);
    }
}

impl Partial {
    fn new(kind: Aggregate, items_len: usize, fits: usize) -> Self {
        Partial {
            kind,
            items_len,
            items: Vec::with_capacity(items_len.min(fits)),
        }
    }
}

impl Aggregate {
    fn from_type(type_byte: u8) -> Self {
        match type_byte {
            b'%' => Aggregate::Map,
            b'~' => Aggregate::Set,
            b'>' => Aggregate::Push,
            _ => Aggregate::Array,
        }
    }

    fn build(self, items: Vec<Frame>) -> Frame {
        match self {
            Aggregate::Array => Frame::Array(items),
            Aggregate::Set => Frame::Set(items),
            Aggregate::Push => Frame::Push(items),
            Aggregate::Map => Frame::Map(pair_up(items)),
        }
    }
}

fn pair_up(items: Vec<Frame>) -> Vec<(Frame, Frame)> {
    let mut pairs = Vec::with_capacity(items.len() / 2);
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        pairs.push((key, value));
    }
    pairs
}

fn parse_step(
    limits: &Limits,
    buf: &[u8],
    pos: usize,
    scan_from: &mut usize,
) -> Result<Option<(Step, usize)>, ProtocolError> {
    let Some(&type_byte) = buf.get(pos) else {
        return Ok(None);
    };
    match type_byte {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
            parse_line_step(limits, buf, pos, type_byte, scan_from)
        }
        b'$' | b'=' | b'!' => parse_blob_step(limits, buf, pos, type_byte, scan_from),
        b'*' | b'%' | b'~' | b'>' => parse_aggregate_step(limits, buf, pos, type_byte, scan_from),
        got => Err(ProtocolError::InvalidType { got }),
    }
}

fn parse_line_step(
    limits: &Limits,
    buf: &[u8],
    pos: usize,
    type_byte: u8,
    scan_from: &mut usize,
) -> Result<Option<(Step, usize)>, ProtocolError> {
    let invalid = ProtocolError::InvalidValue { type_byte };
    let line = read_line(
        buf,
        pos + 1,
        scan_from,
        limits.inline_len_max,
        ProtocolError::TooBigLine,
        invalid,
    )?;
    let Some((text, next)) = line else {
        return Ok(None);
    };
    let frame = match type_byte {
        b'+' => Frame::SimpleString(text.to_vec()),
        b'-' => Frame::Error(text.to_vec()),
        b':' => Frame::Integer(parse_i64(text).ok_or(invalid)?),
        b'_' if text.is_empty() => Frame::Null,
        b',' => Frame::Double(parse_double(text).ok_or(invalid)?),
        b'#' if text == b"t" => Frame::Boolean(true),
        b'#' if text == b"f" => Frame::Boolean(false),
        b'(' if is_big_number(text) => Frame::BigNumber(text.to_vec()),
        _ => return Err(invalid),
    };
    Ok(Some((Step::Value(frame), next)))
}

/// `$` bulk strings, `=` verbatim strings and `!` blob errors. Until the body
/// arrives the header is re-read on each call, which costs O(1): it is short
/// (it parsed) and `scan_from` still points at its `\r`.
fn parse_blob_step(
    limits: &Limits,
    buf: &[u8],
    pos: usize,
    type_byte: u8,
    scan_from: &mut usize,
) -> Result<Option<(Step, usize)>, ProtocolError> {
    let line = read_line(
        buf,
        pos + 1,
        scan_from,
        limits.inline_len_max,
        ProtocolError::TooBigBulkCount,
        ProtocolError::InvalidBulkLength,
    )?;
    let Some((digits, body_start)) = line else {
        return Ok(None);
    };
    let declared = parse_i64(digits).ok_or(ProtocolError::InvalidBulkLength)?;
    if declared == -1 && type_byte == b'$' {
        return Ok(Some((Step::Value(Frame::Null), body_start)));
    }
    let bulk_len = usize::try_from(declared)
        .ok()
        .filter(|&len| len <= limits.bulk_len_max)
        .ok_or(ProtocolError::InvalidBulkLength)?;
    let Some(body) = read_bulk_body(buf, body_start, bulk_len)? else {
        return Ok(None);
    };
    let next = body.end + 2;
    Ok(Some((
        Step::Value(blob_value(type_byte, &buf[body])?),
        next,
    )))
}

fn blob_value(type_byte: u8, body: &[u8]) -> Result<Frame, ProtocolError> {
    match (type_byte, body) {
        (b'=', [a, b, c, b':', text @ ..]) => Ok(Frame::Verbatim {
            format: [*a, *b, *c],
            text: text.to_vec(),
        }),
        (b'=', _) => Err(ProtocolError::InvalidValue { type_byte }),
        (b'!', _) => Ok(Frame::Error(body.to_vec())),
        _ => Ok(Frame::Bulk(body.to_vec())),
    }
}

fn parse_aggregate_step(
    limits: &Limits,
    buf: &[u8],
    pos: usize,
    type_byte: u8,
    scan_from: &mut usize,
) -> Result<Option<(Step, usize)>, ProtocolError> {
    let line = read_line(
        buf,
        pos + 1,
        scan_from,
        limits.inline_len_max,
        ProtocolError::TooBigMultibulkCount,
        ProtocolError::InvalidMultibulkLength,
    )?;
    let Some((digits, next)) = line else {
        return Ok(None);
    };
    let declared = parse_i64(digits).ok_or(ProtocolError::InvalidMultibulkLength)?;
    if declared == -1 && type_byte == b'*' {
        return Ok(Some((Step::Value(Frame::NullArray), next)));
    }
    let count = usize::try_from(declared)
        .ok()
        .filter(|&count| count <= limits.array_len_max)
        .ok_or(ProtocolError::InvalidMultibulkLength)?;
    let kind = Aggregate::from_type(type_byte);
    let items_len = match kind {
        Aggregate::Map => count
            .checked_mul(2)
            .ok_or(ProtocolError::InvalidMultibulkLength)?,
        _ => count,
    };
    Ok(Some((Step::Open(kind, items_len), next)))
}

// ---------------------------------------------------------------------------
// Shared line and number parsing.

/// Finds the `\r\n`-terminated line whose text starts at `start`: returns the
/// text and the offset after the `\n`, or `Ok(None)` with `scan_from` moved
/// past the bytes already searched. Text over `len_max` bytes is `too_long`
/// as soon as `len_max + 1` bytes have arrived without a terminator; a bare
/// `\n`, or `\r` followed by anything but `\n`, is `malformed`.
fn read_line<'a>(
    buf: &'a [u8],
    start: usize,
    scan_from: &mut usize,
    len_max: usize,
    too_long: ProtocolError,
    malformed: ProtocolError,
) -> Result<Option<(&'a [u8], usize)>, ProtocolError> {
    let cap = start.saturating_add(len_max).saturating_add(1);
    let limit = cap.min(buf.len());
    let from = (*scan_from).max(start).min(limit);
    let region = buf.get(from..limit).unwrap_or(&[]);
    let Some(offset) = region
        .iter()
        .position(|&byte| byte == b'\r' || byte == b'\n')
    else {
        if buf.len() >= cap {
            return Err(too_long);
        }
        *scan_from = limit;
        return Ok(None);
    };
    let terminator = from + offset;
    match (buf[terminator], buf.get(terminator + 1)) {
        (b'\r', None) => {
            *scan_from = terminator;
            Ok(None)
        }
        (b'\r', Some(b'\n')) => Ok(Some((&buf[start..terminator], terminator + 2))),
        _ => Err(malformed),
    }
}

/// Parses a decimal `i64` as strictly as Redis's `string2ll`: an optional
/// `-`, no `+`, no spaces, no leading zeros, no `-0`, no overflow.
fn parse_i64(text: &[u8]) -> Option<i64> {
    let (negative, magnitude) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    match magnitude {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &byte in magnitude {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
    } else {
        i64::try_from(value).ok()
    }
}

/// Accepts `inf`, `-inf`, `nan` and anything Rust's `f64` parser accepts.
fn parse_double(text: &[u8]) -> Option<f64> {
    std::str::from_utf8(text).ok()?.parse().ok()
}

fn is_big_number(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

// ---------------------------------------------------------------------------
// Encoding.

/// Appends `frame` to `out` in `proto`, downgrading RESP3-only types for RESP2
/// the way Redis does. Iterative, so nesting depth cannot overflow the stack.
pub fn encode(frame: &Frame, proto: Protocol, out: &mut Vec<u8>) {
    // Frames still to write, next on top; children are pushed in reverse.
    let mut pending: Vec<&Frame> = vec![frame];
    while let Some(frame) = pending.pop() {
        encode_head(frame, proto, out);
        match frame {
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                pending.extend(items.iter().rev());
            }
            Frame::Map(pairs) => {
                for (key, value) in pairs.iter().rev() {
                    pending.push(value);
                    pending.push(key);
                }
            }
            _ => {}
        }
    }
}

/// Writes a scalar whole, or an aggregate's header only.
fn encode_head(frame: &Frame, proto: Protocol, out: &mut Vec<u8>) {
    let resp3 = proto == Protocol::Resp3;
    match frame {
        Frame::SimpleString(text) => encode_line(b'+', text, out),
        Frame::Error(text) => encode_line(b'-', text, out),
        Frame::Integer(value) => encode_integer(*value, out),
        Frame::Bulk(bytes) => encode_bulk(bytes, out),
        Frame::Null if resp3 => out.extend_from_slice(b"_\r\n"),
        Frame::Null => out.extend_from_slice(b"$-1\r\n"),
        Frame::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
        Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
        Frame::Array(items) => encode_header(b'*', items.len(), out),
        Frame::Map(pairs) if resp3 => encode_header(b'%', pairs.len(), out),
        Frame::Map(pairs) => encode_header(b'*', pairs.len().saturating_mul(2), out),
        Frame::Set(items) => encode_header(if resp3 { b'~' } else { b'*' }, items.len(), out),
        Frame::Push(items) => encode_header(if resp3 { b'>' } else { b'*' }, items.len(), out),
        Frame::Double(value) if resp3 => encode_line(b',', format_double(*value).as_bytes(), out),
        Frame::Double(value) => encode_bulk(format_double(*value).as_bytes(), out),
        Frame::Boolean(value) if resp3 => {
            out.extend_from_slice(if *value { b"#t\r\n" } else { b"#f\r\n" })
        }
        Frame::Boolean(value) => encode_integer(i64::from(*value), out),
        Frame::BigNumber(digits) if resp3 => encode_line(b'(', digits, out),
        Frame::BigNumber(digits) => encode_bulk(digits, out),
        Frame::Verbatim { format, text } if resp3 => encode_verbatim(format, text, out),
        Frame::Verbatim { text, .. } => encode_bulk(text, out),
    }
}

/// A one-line frame; CR and LF would end the line early, so they become
/// spaces (Redis does the same to error replies).
fn encode_line(type_byte: u8, text: &[u8], out: &mut Vec<u8>) {
    out.push(type_byte);
    out.extend(text.iter().map(|&byte| {
        if byte == b'\r' || byte == b'\n' {
            b' '
        } else {
            byte
        }
    }));
    out.extend_from_slice(b"\r\n");
}

fn encode_integer(value: i64, out: &mut Vec<u8>) {
    out.push(b':');
    if value < 0 {
        out.push(b'-');
    }
    push_decimal(value.unsigned_abs(), out);
    out.extend_from_slice(b"\r\n");
}

fn encode_header(type_byte: u8, len: usize, out: &mut Vec<u8>) {
    out.push(type_byte);
    push_decimal(len as u64, out);
    out.extend_from_slice(b"\r\n");
}

fn encode_bulk(bytes: &[u8], out: &mut Vec<u8>) {
    encode_header(b'$', bytes.len(), out);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn encode_verbatim(format: &[u8; 3], text: &[u8], out: &mut Vec<u8>) {
    encode_header(b'=', text.len().saturating_add(4), out);
    out.extend_from_slice(format);
    out.push(b':');
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

fn push_decimal(mut value: u64, out: &mut Vec<u8>) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Formats a double as Redis (before 7.2) does: `inf`, `-inf`, `nan`, and
/// otherwise C's `%.17g`, which always round-trips.
pub fn format_double(value: f64) -> String {
    if value.is_nan() {
        return "nan".to_string();
    }
    if value.is_infinite() {
        let text = if value < 0.0 { "-inf" } else { "inf" };
        return text.to_string();
    }
    format_g17(value)
}

/// C's `%.17g`: 17 significant digits, scientific notation when the decimal
/// exponent is below -4 or at least 17, trailing zeros removed.
fn format_g17(value: f64) -> String {
    const PRECISION: i32 = 17;
    // Rust rounds `{:e}` exactly, as glibc does, so the digits match.
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, value);
    let Some((mantissa, exponent)) = scientific.split_once('e') else {
        return scientific;
    };
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        let mantissa = trim_fraction(mantissa);
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let decimals = usize::try_from(PRECISION - 1 - exponent).unwrap_or(0);
    trim_fraction(&format!("{value:.decimals$}")).to_string()
}

fn trim_fraction(number: &str) -> &str {
    if !number.contains('.') {
        return number;
    }
    number.trim_end_matches('0').trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Frame {
        Frame::Bulk(text.as_bytes().to_vec())
    }

    fn args(texts: &[&str]) -> Request {
        texts.iter().map(|text| text.as_bytes().to_vec()).collect()
    }

    fn encoded(frame: &Frame, proto: Protocol) -> Vec<u8> {
        let mut out = Vec::new();
        encode(frame, proto, &mut out);
        out
    }

    fn encode_request(request: &Request) -> Vec<u8> {
        let frame = Frame::Array(request.iter().map(|arg| Frame::Bulk(arg.clone())).collect());
        encoded(&frame, Protocol::Resp2)
    }

    fn decode_once(input: &[u8]) -> Result<Option<(Request, usize)>, ProtocolError> {
        Decoder::default().decode(input)
    }

    fn decode_frame_once(input: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
        Decoder::default().decode_frame(input)
    }

    /// Feeds `input` in `chunk`-byte pieces, draining decoded requests, the
    /// way a session does.
    fn decode_in_chunks(input: &[u8], chunk: usize) -> Result<Vec<Request>, ProtocolError> {
        let mut decoder = Decoder::default();
        let mut buffer = Vec::new();
        let mut requests = Vec::new();
        for piece in input.chunks(chunk) {
            buffer.extend_from_slice(piece);
            while let Some((request, consumed)) = decoder.decode(&buffer)? {
                buffer.drain(..consumed);
                requests.push(request);
            }
        }
        Ok(requests)
    }

    fn sample_frames() -> Vec<Frame> {
        vec![
            Frame::SimpleString(b"OK".to_vec()),
            Frame::Error(b"ERR unknown command".to_vec()),
            Frame::Integer(0),
            Frame::Integer(i64::MIN),
            Frame::Integer(i64::MAX),
            bulk(""),
            Frame::Bulk(b"bin\r\n\0ary".to_vec()),
            Frame::Null,
            Frame::Array(vec![]),
            Frame::Array(vec![
                bulk("a"),
                Frame::Integer(-7),
                Frame::Array(vec![Frame::Null]),
            ]),
            Frame::Map(vec![
                (bulk("k"), Frame::Double(1.5)),
                (Frame::Integer(2), Frame::Map(vec![])),
            ]),
            Frame::Set(vec![bulk("x"), bulk("y")]),
            Frame::Double(1.1),
            Frame::Double(-0.0),
            Frame::Double(f64::INFINITY),
            Frame::Double(f64::NEG_INFINITY),
            Frame::Double(5e-324),
            Frame::Boolean(true),
            Frame::Boolean(false),
            Frame::BigNumber(b"-3492890328409238509324850943850943825024385".to_vec()),
            Frame::Verbatim {
                format: *b"txt",
                text: b"Some string".to_vec(),
            },
            Frame::Push(vec![bulk("message"), bulk("chan"), bulk("hi")]),
        ]
    }

    #[test]
    fn resp3_frames_round_trip_through_decode_frame() {
        // Goal: every frame type survives encode(RESP3) -> decode_frame unchanged.
        for frame in sample_frames() {
            let bytes = encoded(&frame, Protocol::Resp3);
            let decoded = decode_frame_once(&bytes);
            assert_eq!(decoded, Ok(Some((frame.clone(), bytes.len()))), "{frame:?}");
        }
    }

    #[test]
    fn resp2_encoding_downgrades_resp3_types_like_redis() {
        // Goal: RESP2 clients see RESP3-only types as Redis would send them.
        let cases: Vec<(Frame, &[u8])> = vec![
            (Frame::Null, b"$-1\r\n"),
            (Frame::NullArray, b"*-1\r\n"),
            (
                Frame::Map(vec![(bulk("a"), Frame::Integer(1))]),
                b"*2\r\n$1\r\na\r\n:1\r\n",
            ),
            (Frame::Set(vec![bulk("a")]), b"*1\r\n$1\r\na\r\n"),
            (Frame::Double(1.5), b"$3\r\n1.5\r\n"),
            (Frame::Double(f64::NAN), b"$3\r\nnan\r\n"),
            (Frame::Boolean(true), b":1\r\n"),
            (Frame::Boolean(false), b":0\r\n"),
            (Frame::BigNumber(b"123".to_vec()), b"$3\r\n123\r\n"),
            (
                Frame::Verbatim {
                    format: *b"txt",
                    text: b"hi".to_vec(),
                },
                b"$2\r\nhi\r\n",
            ),
            (Frame::Push(vec![bulk("m")]), b"*1\r\n$1\r\nm\r\n"),
        ];
        for (frame, expected) in cases {
            assert_eq!(encoded(&frame, Protocol::Resp2), expected, "{frame:?}");
        }
    }

    #[test]
    fn resp3_encoding_uses_resp3_types() {
        // Goal: pin the exact RESP3 bytes for the types RESP2 lacks.
        let cases: Vec<(Frame, &[u8])> = vec![
            (Frame::Null, b"_\r\n"),
            (Frame::NullArray, b"_\r\n"),
            (
                Frame::Map(vec![(bulk("a"), Frame::Boolean(false))]),
                b"%1\r\n$1\r\na\r\n#f\r\n",
            ),
            (Frame::Set(vec![]), b"~0\r\n"),
            (Frame::Double(f64::NEG_INFINITY), b",-inf\r\n"),
            (Frame::BigNumber(b"-12".to_vec()), b"(-12\r\n"),
            (
                Frame::Verbatim {
                    format: *b"mkd",
                    text: b"hi".to_vec(),
                },
                b"=6\r\nmkd:hi\r\n",
            ),
            (Frame::Push(vec![]), b">0\r\n"),
        ];
        for (frame, expected) in cases {
            assert_eq!(encoded(&frame, Protocol::Resp3), expected, "{frame:?}");
        }
    }

    #[test]
    fn encode_keeps_line_frames_on_one_line() {
        // Goal: CR/LF inside a simple string or error cannot break framing.
        let frame = Frame::Error(b"ERR bad\r\nthing".to_vec());
        assert_eq!(encoded(&frame, Protocol::Resp2), b"-ERR bad  thing\r\n");
    }

    #[test]
    fn doubles_format_like_printf_g17() {
        // Goal: doubles print as Redis's "%.17g" (expected values from printf).
        let cases = [
            (1.1, "1.1000000000000001"),
            (1.0, "1"),
            (0.1, "0.10000000000000001"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (1.5e-5, "1.5e-05"),
            (1e-4, "0.0001"),
            (123456789.0, "123456789"),
            (-2.5, "-2.5"),
            (1e300, "1.0000000000000001e+300"),
            (5e-324, "4.9406564584124654e-324"),
            (0.0001234, "0.00012339999999999999"),
            (1.0 / 3.0, "0.33333333333333331"),
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (value, expected) in cases {
            assert_eq!(format_double(value), expected, "{value:e}");
        }
    }

    #[test]
    fn multibulk_requests_decode_with_consumed_length() {
        // Goal: a RESP array of bulks decodes to its args and exact length.
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n";
        let first = decode_once(input);
        assert_eq!(
            first,
            Ok(Some((vec![b"SET".to_vec(), b"k".to_vec(), vec![]], 26)))
        );
        assert_eq!(decode_once(&input[26..]), Ok(Some((args(&["PING"]), 14))));
    }

    #[test]
    fn empty_requests_are_consumed_without_args() {
        // Goal: blank lines, `*0` and `*-1` are consumed and yield no command.
        for input in [&b"\r\n"[..], b"\n", b"   \t \n", b"*0\r\n", b"*-1\r\n"] {
            assert_eq!(
                decode_once(input),
                Ok(Some((vec![], input.len()))),
                "{input:?}"
            );
        }
    }

    #[test]
    fn inline_requests_split_like_sdssplitargs() {
        // Goal: inline commands follow Redis's quoting and escaping rules.
        let cases: Vec<(&[u8], Request)> = vec![
            (b"PING\r\n", args(&["PING"])),
            (
                b"  set  foo\t\"bar baz\"  \n",
                args(&["set", "foo", "bar baz"]),
            ),
            (
                b"\"\\x41\\x42\" '\\'x\\'' \"a\\nb\"\n",
                args(&["AB", "'x'", "a\nb"]),
            ),
            (b"\"\\q\\\\\\\"\"\n", args(&["q\\\""])),
            (b"\"\\x4g\"\n", args(&["x4g"])),
            (b"a\"b c\"\n", args(&["ab c"])),
            (b"'a\\b'\n", args(&["a\\b"])),
            (b"\"\" ''\n", args(&["", ""])),
            (b"get a\0b c\n", args(&["get", "a"])),
            (b"a\rb\n", args(&["a", "b"])),
            (b"\"\\t\\r\\b\\a\"\n", vec![b"\t\r\x08\x07".to_vec()]),
        ];
        for (input, expected) in cases {
            assert_eq!(
                decode_once(input),
                Ok(Some((expected, input.len()))),
                "{input:?}"
            );
        }
    }

    #[test]
    fn unbalanced_quotes_are_refused() {
        // Goal: unterminated quotes and junk after a closing quote are errors.
        for input in [
            &b"\"foo\n"[..],
            b"'foo\n",
            b"\"foo\"bar\n",
            b"'a'b\n",
            b"\"a\\\"\n",
        ] {
            let result = decode_once(input);
            assert_eq!(result, Err(ProtocolError::UnbalancedQuotes), "{input:?}");
        }
        let message = ProtocolError::UnbalancedQuotes.message();
        assert_eq!(message, "ERR Protocol error: unbalanced quotes in request");
    }

    #[test]
    fn invalid_multibulk_lengths_are_refused() {
        // Goal: bad, negative (other than -1) and over-limit counts are refused.
        let over = format!("*{}\r\n", Limits::DEFAULT.array_len_max + 1);
        for input in [
            &b"*abc\r\n"[..],
            b"*-2\r\n",
            b"*01\r\n",
            b"*+1\r\n",
            b"*\r\n",
            b"*1\rx",
            b"*1\n",
            over.as_bytes(),
        ] {
            assert_eq!(
                decode_once(input),
                Err(ProtocolError::InvalidMultibulkLength),
                "{input:?}"
            );
        }
        let message = ProtocolError::InvalidMultibulkLength.message();
        assert_eq!(message, "ERR Protocol error: invalid multibulk length");
    }

    #[test]
    fn invalid_bulk_lengths_are_refused() {
        // Goal: bad, negative (even -1) and over-limit bulk lengths are refused.
        let over = format!("*1\r\n${}\r\n", Limits::DEFAULT.bulk_len_max + 1);
        for input in [
            &b"*1\r\n$x\r\n"[..],
            b"*1\r\n$-1\r\n",
            b"*1\r\n$-5\r\n",
            b"*1\r\n$\r\n",
            over.as_bytes(),
        ] {
            assert_eq!(
                decode_once(input),
                Err(ProtocolError::InvalidBulkLength),
                "{input:?}"
            );
        }
        let message = ProtocolError::InvalidBulkLength.message();
        assert_eq!(message, "ERR Protocol error: invalid bulk length");
    }

    #[test]
    fn non_bulk_request_element_is_refused_at_once() {
        // Goal: a request element not starting with `$` fails on its first byte.
        assert_eq!(
            decode_once(b"*1\r\n:"),
            Err(ProtocolError::ExpectedBulk { got: b':' })
        );
        let message = ProtocolError::ExpectedBulk { got: b'X' }.message();
        assert_eq!(message, "ERR Protocol error: expected '$', got 'X'");
        assert_eq!(
            ProtocolError::ExpectedBulk { got: b'\r' }.message(),
            "ERR Protocol error: expected '$', got ' '"
        );
    }

    #[test]
    fn missing_crlf_after_bulk_is_refused() {
        // Goal: bytes other than CRLF after a bulk body are a protocol error.
        assert_eq!(
            decode_once(b"*1\r\n$3\r\nfooXY"),
            Err(ProtocolError::BulkNotTerminated)
        );
        assert_eq!(
            decode_frame_once(b"$3\r\nfoo\n\r"),
            Err(ProtocolError::BulkNotTerminated)
        );
        assert_eq!(decode_once(b"*1\r\n$3\r\nfoo\r"), Ok(None));
    }

    #[test]
    fn overlong_lines_are_refused_before_their_end() {
        // Goal: inline and header lines over inline_len_max fail without a terminator.
        let max = Limits::DEFAULT.inline_len_max;
        let inline = vec![b'a'; max];
        assert_eq!(decode_once(&inline), Ok(None));
        let inline = vec![b'a'; max + 1];
        assert_eq!(
            decode_once(&inline),
            Err(ProtocolError::TooBigInlineRequest)
        );
        let mut count = b"*".to_vec();
        count.resize(max + 2, b'1');
        assert_eq!(
            decode_once(&count),
            Err(ProtocolError::TooBigMultibulkCount)
        );
        let mut length = b"*1\r\n$".to_vec();
        length.resize(max + 6, b'1');
        assert_eq!(decode_once(&length), Err(ProtocolError::TooBigBulkCount));
        let messages = [
            (ProtocolError::TooBigInlineRequest, "too big inline request"),
            (
                ProtocolError::TooBigMultibulkCount,
                "too big mbulk count string",
            ),
            (ProtocolError::TooBigBulkCount, "too big bulk count string"),
        ];
        for (error, text) in messages {
            assert_eq!(error.message(), format!("ERR Protocol error: {text}"));
        }
    }

    #[test]
    fn inline_line_of_exactly_the_limit_is_accepted() {
        // Goal: the inline limit is inclusive, newline not counted.
        let limits = Limits {
            inline_len_max: 8,
            ..Limits::DEFAULT
        };
        let result = Decoder::new(limits).decode(b"GET abcd\r\n");
        assert_eq!(result, Err(ProtocolError::TooBigInlineRequest));
        let result = Decoder::new(limits).decode(b"GET abc\r\n");
        assert_eq!(result, Ok(Some((args(&["GET", "abc"]), 9))));
    }

    #[test]
    fn huge_declared_bulk_is_refused_before_its_body() {
        // Goal: an over-limit bulk fails at its header; one at the limit waits unreserved.
        let over = format!("*1\r\n${}\r\n", Limits::DEFAULT.bulk_len_max + 1);
        assert_eq!(
            decode_once(over.as_bytes()),
            Err(ProtocolError::InvalidBulkLength)
        );
        let mut decoder = Decoder::default();
        let at_limit = format!("*2\r\n${}\r\nab", Limits::DEFAULT.bulk_len_max);
        assert_eq!(decoder.decode(at_limit.as_bytes()), Ok(None));
        let multibulk = decoder
            .request
            .multibulk
            .as_ref()
            .expect("header was parsed");
        assert_eq!(multibulk.bulk_len, Some(Limits::DEFAULT.bulk_len_max));
        assert!(multibulk.args.capacity() <= at_limit.len() / ARG_WIRE_LEN_MIN);
        let frame_over = format!("${}\r\n", Limits::DEFAULT.bulk_len_max + 1);
        assert_eq!(
            decode_frame_once(frame_over.as_bytes()),
            Err(ProtocolError::InvalidBulkLength)
        );
    }

    #[test]
    fn huge_declared_count_reserves_only_what_fits() {
        // Goal: a big aggregate count does not reserve its slots up front.
        let mut decoder = Decoder::default();
        let input = format!("*{}\r\n$1\r\na\r\n", Limits::DEFAULT.array_len_max);
        assert_eq!(decoder.decode(input.as_bytes()), Ok(None));
        let multibulk = decoder
            .request
            .multibulk
            .as_ref()
            .expect("header was parsed");
        assert!(multibulk.args.capacity() <= input.len() / ARG_WIRE_LEN_MIN);
        let input = format!("*{}\r\n:1\r\n", Limits::DEFAULT.array_len_max);
        assert_eq!(decoder.decode_frame(input.as_bytes()), Ok(None));
        let fits = input.len() / FRAME_WIRE_LEN_MIN;
        assert!(decoder
            .frame
            .stack
            .iter()
            .all(|partial| partial.items.capacity() <= fits));
    }

    #[test]
    fn byte_at_a_time_matches_one_shot() {
        // Goal: splitting the stream anywhere yields the same requests.
        let mut input = Vec::new();
        input.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
        input.extend_from_slice(b"\r\nset k 'v w'\r\n*0\r\n");
        input.extend_from_slice(&encode_request(&vec![b"APPEND".to_vec(), vec![b'x'; 3000]]));
        input.extend_from_slice(b"PING\n");
        let whole = decode_in_chunks(&input, input.len()).expect("valid input");
        assert_eq!(whole.len(), 6);
        assert_eq!(whole[2], args(&["set", "k", "v w"]));
        for chunk in [1, 2, 3, 7, 64] {
            assert_eq!(
                decode_in_chunks(&input, chunk),
                Ok(whole.clone()),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn frames_byte_at_a_time_match_one_shot() {
        // Goal: decode_frame resumes correctly however the bytes are split.
        let frame = Frame::Array(sample_frames());
        let bytes = encoded(&frame, Protocol::Resp3);
        let mut decoder = Decoder::default();
        for end in 1..bytes.len() {
            assert_eq!(decoder.decode_frame(&bytes[..end]), Ok(None), "at {end}");
        }
        assert_eq!(decoder.decode_frame(&bytes), Ok(Some((frame, bytes.len()))));
    }

    #[test]
    fn many_small_args_decode_in_linear_time() {
        // Goal: a big request fed in small pieces costs O(n), not O(n^2) rescans.
        let request: Request = (0..200_000)
            .map(|i: u32| i.to_string().into_bytes())
            .collect();
        let input = encode_request(&request);
        assert_eq!(decode_in_chunks(&input, 16), Ok(vec![request]));
        let mut big = encode_request(&vec![vec![b'z'; 8 << 20]]);
        big.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(
            decode_in_chunks(&big, 64).map(|requests| requests.len()),
            Ok(2)
        );
    }

    #[test]
    fn frame_errors_are_reported() {
        // Goal: decode_frame refuses bad types, bad scalars, and deep nesting.
        let cases: Vec<(&[u8], ProtocolError)> = vec![
            (b"?x\r\n", ProtocolError::InvalidType { got: b'?' }),
            (b"|1\r\n", ProtocolError::InvalidType { got: b'|' }),
            (b":12a\r\n", ProtocolError::InvalidValue { type_byte: b':' }),
            (b"#x\r\n", ProtocolError::InvalidValue { type_byte: b'#' }),
            (b",\r\n", ProtocolError::InvalidValue { type_byte: b',' }),
            (b"(1x\r\n", ProtocolError::InvalidValue { type_byte: b'(' }),
            (b"_x\r\n", ProtocolError::InvalidValue { type_byte: b'_' }),
            (
                b"+a\nb\r\n",
                ProtocolError::InvalidValue { type_byte: b'+' },
            ),
            (
                b"=2\r\nab\r\n",
                ProtocolError::InvalidValue { type_byte: b'=' },
            ),
            (b"%-1\r\n", ProtocolError::InvalidMultibulkLength),
            (b"!-1\r\n", ProtocolError::InvalidBulkLength),
        ];
        for (input, error) in cases {
            assert_eq!(decode_frame_once(input), Err(error), "{input:?}");
        }
        let deep = |depth: usize| [b"*1\r\n".repeat(depth), b":1\r\n".to_vec()].concat();
        let depth_max = Limits::DEFAULT.depth_max;
        assert!(matches!(decode_frame_once(&deep(depth_max)), Ok(Some(_))));
        assert_eq!(
            decode_frame_once(&deep(depth_max + 1)),
            Err(ProtocolError::TooDeep)
        );
        assert_eq!(
            decode_frame_once(&deep(100_000)),
            Err(ProtocolError::TooDeep)
        );
    }

    #[test]
    fn resp2_nulls_and_blob_errors_decode() {
        // Goal: RESP2 nulls and RESP3 blob errors map onto Frame variants.
        assert_eq!(decode_frame_once(b"$-1\r\n"), Ok(Some((Frame::Null, 5))));
        assert_eq!(
            decode_frame_once(b"*-1\r\n"),
            Ok(Some((Frame::NullArray, 5)))
        );
        assert_eq!(
            decode_frame_once(b"!3\r\nERR\r\n"),
            Ok(Some((Frame::Error(b"ERR".to_vec()), 9)))
        );
    }

    #[test]
    fn shrunken_buffer_restarts_the_parse() {
        // Goal: a buffer shorter than the last one is parsed from scratch.
        let mut decoder = Decoder::default();
        assert_eq!(decoder.decode(b"*2\r\n$3\r\nGET\r\n"), Ok(None));
        assert_eq!(decoder.decode(b"PING\r\n"), Ok(Some((args(&["PING"]), 6))));
        assert_eq!(decoder.decode_frame(b"*2\r\n:1\r\n"), Ok(None));
        assert_eq!(
            decoder.decode_frame(b":7\r\n"),
            Ok(Some((Frame::Integer(7), 4)))
        );
        decoder.reset();
        assert_eq!(decoder.limits(), &Limits::DEFAULT);
    }

    #[test]
    fn integers_parse_like_string2ll() {
        // Goal: integer text is as strict as Redis's string2ll.
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
        ] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    // -----------------------------------------------------------------------
    // Deterministic fuzzing.

    /// xorshift64*: deterministic, seeded with constants, no dependencies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound.max(1) as u64) as usize
        }

        fn chance(&mut self, one_in: usize) -> bool {
            self.below(one_in) == 0
        }

        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    const INTERESTING_BYTES: &[u8] = b"\r\n*$+-:_,#(=!%~>|0123456789 \"'\\x\0";
    const INTERESTING_NUMBERS: &[&str] = &[
        "-1",
        "-2",
        "0",
        "1",
        "9",
        "536870913",
        "99999999999999999999",
        "",
        "x",
    ];

    fn random_bytes(rng: &mut Rng, len_max: usize) -> Vec<u8> {
        let len = rng.below(len_max + 1);
        (0..len)
            .map(|_| {
                if rng.chance(2) {
                    *rng.pick(INTERESTING_BYTES)
                } else {
                    b'a' + rng.below(26) as u8
                }
            })
            .collect()
    }

    fn random_frame(rng: &mut Rng, depth: usize) -> Frame {
        let kinds = if depth == 0 { 9 } else { 13 };
        match rng.below(kinds) {
            0 => Frame::SimpleString(random_bytes(rng, 8)),
            1 => Frame::Error(random_bytes(rng, 8)),
            2 => Frame::Integer(rng.next() as i64 >> rng.below(64)),
            3 => Frame::Bulk(random_bytes(rng, 12)),
            4 => rng.pick(&[Frame::Null, Frame::NullArray]).clone(),
            5 => Frame::Double(f64::from_bits(rng.next())),
            6 => Frame::Boolean(rng.chance(2)),
            7 => Frame::BigNumber(rng.next().to_string().into_bytes()),
            8 => Frame::Verbatim {
                format: *b"txt",
                text: random_bytes(rng, 8),
            },
            kind => random_aggregate(rng, depth - 1, kind),
        }
    }

    fn random_aggregate(rng: &mut Rng, depth: usize, kind: usize) -> Frame {
        let len = rng.below(4);
        let mut items = || {
            (0..len)
                .map(|_| random_frame(rng, depth))
                .collect::<Vec<_>>()
        };
        match kind {
            9 => Frame::Array(items()),
            10 => Frame::Set(items()),
            11 => Frame::Push(items()),
            _ => Frame::Map(pair_up([items(), items()].concat())),
        }
    }

    fn random_request_bytes(rng: &mut Rng) -> Vec<u8> {
        let request: Request = (0..rng.below(5)).map(|_| random_bytes(rng, 10)).collect();
        if rng.chance(3) {
            let mut line = request.join(&b' ');
            line.extend_from_slice(if rng.chance(2) { b"\r\n" } else { b"\n" });
            return line;
        }
        encode_request(&request)
    }

    fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
        for _ in 0..1 + rng.below(3) {
            let at = rng.below(bytes.len());
            match rng.below(7) {
                0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.below(8),
                1 if !bytes.is_empty() => bytes[at] = *rng.pick(INTERESTING_BYTES),
                2 => bytes.insert(at.min(bytes.len()), *rng.pick(INTERESTING_BYTES)),
                3 => drop(bytes.drain(at..(at + rng.below(8)).min(bytes.len()))),
                4 => bytes.truncate(at),
                5 => {
                    let end = (at + rng.below(16)).min(bytes.len());
                    let copy = bytes[at.min(end)..end].to_vec();
                    bytes.splice(at.min(end)..at.min(end), copy);
                }
                _ => {
                    let number = rng.pick(INTERESTING_NUMBERS).as_bytes();
                    bytes.splice(
                        at.min(bytes.len())..at.min(bytes.len()),
                        number.iter().copied(),
                    );
                }
            }
        }
    }

    /// Decodes requests until the buffer runs dry or errs, checking progress.
    fn drain_requests(limits: Limits, input: &[u8]) {
        let mut decoder = Decoder::new(limits);
        let mut rest = input;
        while let Ok(Some((_, consumed))) = decoder.decode(rest) {
            assert!(0 < consumed && consumed <= rest.len());
            rest = &rest[consumed..];
        }
    }

    /// A decode of a prefix, resumed on the whole input, must agree with a
    /// fresh decode of the whole input (the split-independence invariant).
    fn check_request_split(limits: Limits, input: &[u8], split: usize) {
        let whole = Decoder::new(limits).decode(input);
        let mut decoder = Decoder::new(limits);
        match decoder.decode(&input[..split]) {
            Ok(None) => assert_eq!(decoder.decode(input), whole, "{input:?} split {split}"),
            prefix => assert_eq!(prefix, whole, "{input:?} split {split}"),
        }
    }

    /// As `check_request_split`, for frames; compares Debug text since NaN != NaN.
    fn check_frame_split(limits: Limits, input: &[u8], split: usize) {
        let whole = format!("{:?}", Decoder::new(limits).decode_frame(input));
        let mut decoder = Decoder::new(limits);
        let prefix = decoder.decode_frame(&input[..split]);
        if let Ok(Some((_, consumed))) = &prefix {
            assert!(0 < *consumed && *consumed <= split);
        }
        let resumed = match prefix {
            Ok(None) => decoder.decode_frame(input),
            prefix => prefix,
        };
        assert_eq!(format!("{resumed:?}"), whole, "{input:?} split {split}");
    }

    #[test]
    fn fuzz_mutated_encodings_never_panic_and_agree_across_splits() {
        // Goal: mutated encodings never panic, consume in bounds, and ignore splits.
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let tiny = Limits {
            bulk_len_max: 8,
            array_len_max: 4,
            inline_len_max: 24,
            depth_max: 2,
        };
        for iteration in 0..100_000 {
            let limits = if iteration % 4 == 0 {
                tiny
            } else {
                Limits::DEFAULT
            };
            let mut input = if rng.chance(2) {
                random_request_bytes(&mut rng)
            } else {
                let frame = random_frame(&mut rng, 3);
                encoded(&frame, *rng.pick(&[Protocol::Resp2, Protocol::Resp3]))
            };
            if rng.below(8) != 0 {
                mutate(&mut rng, &mut input);
            }
            let split = rng.below(input.len() + 1);
            drain_requests(limits, &input);
            check_request_split(limits, &input, split);
            check_frame_split(limits, &input, split);
        }
    }

    #[test]
    fn fuzz_unmutated_encodings_round_trip() {
        // Goal: random frames and requests decode back to what was encoded.
        let mut rng = Rng(0x0123_4567_89AB_CDEF);
        for _ in 0..20_000 {
            let frame = random_frame(&mut rng, 3);
            let bytes = encoded(&frame, Protocol::Resp3);
            let decoded = decode_frame_once(&bytes).expect("valid encoding");
            let (decoded, consumed) = decoded.expect("complete encoding");
            assert_eq!(consumed, bytes.len());
            let mut again = Vec::new();
            encode(&decoded, Protocol::Resp3, &mut again);
            assert_eq!(again, bytes, "{frame:?}");
            let request: Request = (0..1 + rng.below(4))
                .map(|_| random_bytes(&mut rng, 10))
                .collect();
            let bytes = encode_request(&request);
            assert_eq!(decode_once(&bytes), Ok(Some((request, bytes.len()))));
        }
    }
}
