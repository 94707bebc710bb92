//! orbit-protocols: the client-facing protocols and the `orbit-server` binary.
//!
//! Each protocol is split into a codec (bytes <-> frames, pure and fuzzed), a
//! session (connection state) and lowering (frames -> `orbit_core::Command`).
//! Execution sees only `Command`s, through `orbit_net::Node`.

pub mod config;
pub mod identity;
pub mod redis;
pub mod resp;
