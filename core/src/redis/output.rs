//! The result of executing a command, independent of any wire protocol.

use serde::{Deserialize, Serialize};

/// What a command returns. Protocol sessions encode it in their own form
/// (RESP replies; later PostgreSQL rows).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub enum Output {
    /// The `OK` status.
    Ok,
    /// Another simple status, such as `string` from TYPE.
    Status(String),
    /// No value (RESP null bulk string).
    Nil,
    /// No array (RESP2 `*-1`): an aborted EXEC.
    NilArray,
    Int(i64),
    Bytes(Vec<u8>),
    Array(Vec<Output>),
    /// Pairs: a RESP3 map, or a flat array of key, value, ... in RESP2.
    Map(Vec<(Output, Output)>),
    /// A floating-point number: a RESP3 double, a bulk string in RESP2
    /// (formatted as Redis does).
    Double(f64),
    /// Pairs in order: an array of 2-element arrays in RESP3, a flat array
    /// in RESP2 (ZRANGE ... WITHSCORES, ZPOPMIN with a count).
    Pairs(Vec<(Output, Output)>),
    /// A command error. The message starts with its Redis error code
    /// (`ERR ...`, `WRONGTYPE ...`), which other protocols map to their own.
    Error(String),
}

impl Output {
    pub fn err(msg: impl Into<String>) -> Self {
        let msg = msg.into();
        debug_assert!(msg.split(' ').next().is_some_and(|code| !code.is_empty()));
        Output::Error(msg)
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Output::Error(_))
    }
}

/// The most memory one reply may take, counted as the bytes of its
/// elements plus [`REPLY_ELEMENT_OVERHEAD_BYTES`] for each. Only commands
/// that can reply with more than the data they read (the random picks
/// with repeats) need counting: a command over it answers
/// [`errors::REPLY_TOO_LARGE`] instead of building the reply, the same on
/// every replica.
pub const REPLY_BYTES_MAX: usize = 256 * 1024 * 1024;
/// What one reply element costs beside its bytes.
pub const REPLY_ELEMENT_OVERHEAD_BYTES: usize = 48;

/// Redis's error texts, shared so every path says the same words.
pub mod errors {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NAN_OR_INF: &str = "ERR increment would produce NaN or Infinity";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const INVALID_EXPIRE: &str = "ERR invalid expire time in '{cmd}' command";
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
    pub const OFFSET_OUT_OF_RANGE: &str = "ERR offset is out of range";
    pub const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
    pub const RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
    /// Orbit's own: Redis builds such a reply (and can run out of memory).
    pub const REPLY_TOO_LARGE: &str =
        "ERR reply too large: it would take more than 268435456 bytes (ask for fewer elements)";
}
