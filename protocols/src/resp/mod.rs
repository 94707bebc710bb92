//! RESP: codec (bytes <-> frames).
pub mod codec;
