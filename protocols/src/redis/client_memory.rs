//! What one client may make the server hold, and all of them together.
//!
//! - Input: a client's unparsed bytes (a request still arriving, requests
//!   read ahead) are its query buffer. One client's may hold at most
//!   [`QUERY_BUFFER_BYTES_MAX`] (Redis's `client-query-buffer-limit`), all
//!   clients' together at most [`Shared::query_buffers_bytes_max`]; a read
//!   that would pass either closes that client with an error, as Redis
//!   closes a client over its limit.
//! - Output: a pipeline runs in chunks, and each chunk's replies are written
//!   (and the write awaited) before the next chunk runs, so a client that
//!   does not read stops its own pipeline instead of growing our memory.
//!   A chunk shrinks when its replies were large ([`ReplyChunks`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::server::Shared;

/// One client's unparsed input, at most (Redis's default 1 GiB).
pub const QUERY_BUFFER_BYTES_MAX: usize = 1 << 30;
/// All clients' unparsed input together, by default.
pub const QUERY_BUFFERS_BYTES_MAX_DEFAULT: usize = 2 << 30;

/// A client's unparsed input, counted in the server's total.
pub struct QueryBuffer {
    bytes: Vec<u8>,
    shared: Arc<Shared>,
}

/// Why a client's input was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputRefused {
    /// Over [`QUERY_BUFFER_BYTES_MAX`].
    ThisClient,
    /// Over the total of every client's.
    AllClients,
}

impl InputRefused {
    pub fn message(self) -> &'static str {
        match self {
            InputRefused::ThisClient => "ERR Protocol error: the query buffer is over its limit (client-query-buffer-limit); closing the connection",
            InputRefused::AllClients => "ERR the query buffers of all clients are over their limit; closing the connection",
        }
    }
}

impl QueryBuffer {
    pub fn new(shared: Arc<Shared>) -> QueryBuffer {
        QueryBuffer {
            bytes: Vec::new(),
            shared,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Appends `more`, unless this client or all clients would hold more
    /// than they may.
    pub fn extend(&mut self, more: &[u8]) -> Result<(), InputRefused> {
        if self.bytes.len() + more.len() > QUERY_BUFFER_BYTES_MAX {
            return Err(InputRefused::ThisClient);
        }
        let total = &self.shared.query_buffers_bytes;
        let before = total.fetch_add(more.len(), Ordering::SeqCst);
        if before + more.len() > self.shared.query_buffers_bytes_max() {
            total.fetch_sub(more.len(), Ordering::SeqCst);
            return Err(InputRefused::AllClients);
        }
        self.bytes.extend_from_slice(more);
        Ok(())
    }

    /// Drops the first `used` bytes (parsed requests).
    pub fn consume(&mut self, used: usize) {
        assert!(used <= self.bytes.len());
        self.bytes.drain(..used);
        self.shared
            .query_buffers_bytes
            .fetch_sub(used, Ordering::SeqCst);
        // A huge request's buffer is not kept once it is parsed.
        if self.bytes.capacity() > 1 << 20 && self.bytes.len() < 1 << 16 {
            self.bytes.shrink_to(1 << 16);
        }
    }
}

impl Drop for QueryBuffer {
    fn drop(&mut self) {
        self.shared
            .query_buffers_bytes
            .fetch_sub(self.bytes.len(), Ordering::SeqCst);
    }
}

/// How many requests of a pipeline run before their replies are written.
#[derive(Debug)]
pub struct ReplyChunks {
    requests: usize,
}

/// Requests per chunk, at most.
const CHUNK_REQUESTS_MAX: usize = 1024;
/// Reply bytes a chunk aims at: past it the next chunk is smaller.
const CHUNK_REPLY_BYTES_TARGET: usize = 4 << 20;

impl Default for ReplyChunks {
    fn default() -> ReplyChunks {
        ReplyChunks {
            requests: CHUNK_REQUESTS_MAX,
        }
    }
}

impl ReplyChunks {
    /// Requests the next chunk takes.
    pub fn next_len(&self) -> usize {
        self.requests
    }

    /// A chunk of `requests` made `reply_bytes` of replies: aims the next
    /// one at the target, between one request and the maximum.
    pub fn observe(&mut self, requests: usize, reply_bytes: usize) {
        let per_request = reply_bytes / requests.max(1);
        self.requests =
            (CHUNK_REPLY_BYTES_TARGET / per_request.max(1)).clamp(1, CHUNK_REQUESTS_MAX);
        assert!((1..=CHUNK_REQUESTS_MAX).contains(&self.requests));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_shrink_for_large_replies_and_grow_back() {
        // Goal: 100 KB replies make chunks of about 40 requests; huge ones
        // one at a time; small ones the maximum again.
        let mut chunks = ReplyChunks::default();
        assert_eq!(chunks.next_len(), CHUNK_REQUESTS_MAX);
        chunks.observe(1024, 1024 * 100_000);
        assert_eq!(chunks.next_len(), CHUNK_REPLY_BYTES_TARGET / 100_000);
        chunks.observe(1, 512 << 20);
        assert_eq!(chunks.next_len(), 1);
        chunks.observe(1, 5);
        assert_eq!(chunks.next_len(), CHUNK_REQUESTS_MAX);
        chunks.observe(0, 0);
        assert_eq!(chunks.next_len(), CHUNK_REQUESTS_MAX);
    }
}
