//! The SCAN family's walk over a key's elements (HSCAN, SSCAN, ZSCAN) and
//! its reply: cursors are positions in the element order, not a hash
//! table's buckets.

use super::Pair;
use crate::redis::glob::glob_match;
use crate::redis::output::Output;
use crate::store::{Store, StoreError};

/// One step of a SCAN-family walk over the elements under `prefix`, from
/// `cursor`: about `count` elements visited (more when elements share a
/// block, so that the walk always advances), those matching `pattern`
/// returned, and the cursor to continue with (0 when done).
pub(super) fn scan_elements(
    store: &impl Store,
    prefix: &[u8],
    cursor: u64,
    count: u64,
    pattern: Option<&[u8]>,
) -> Result<(u64, Vec<Pair>), StoreError> {
    let mut last_block = None;
    let mut next_cursor = 0;
    let mut visited = 0u64;
    let mut out = Vec::new();
    let mut start = prefix.to_vec();
    start.extend_from_slice(&scan_start(cursor));
    store.scan_from(prefix, &start, &mut |encoded, value| {
        let element = &encoded[prefix.len()..];
        let block = block_of(element);
        if visited >= count.max(1) && last_block != Some(block) {
            next_cursor = scan_cursor(block);
            return false;
        }
        visited += 1;
        last_block = Some(block);
        if pattern.is_none_or(|p| glob_match(p, element, false)) {
            out.push((element.to_vec(), value.to_vec()));
        }
        true
    })?;
    Ok((next_cursor, out))
}

/// The first 8 bytes of `bytes` (zero-padded) as a big-endian number: fields
/// in byte order have non-decreasing blocks.
fn block_of(bytes: &[u8]) -> u64 {
    let mut block = [0u8; 8];
    let len = bytes.len().min(8);
    block[..len].copy_from_slice(&bytes[..len]);
    u64::from_be_bytes(block)
}

/// The cursor that resumes a scan at the first element of `block`. Cursor 0
/// means "start" (and, returned, "done"), so blocks are shifted by one;
/// the last block shares its cursor with the one before, which at worst
/// returns some elements again.
pub(super) fn scan_cursor(block: u64) -> u64 {
    block.saturating_add(1)
}

/// Where a scan resumes for `cursor`: the block's bytes without trailing
/// zeros, which sorts at or before every element of the block (an element
/// shorter than 8 bytes has a zero-padded block) and after every element of
/// earlier blocks.
fn scan_start(cursor: u64) -> Vec<u8> {
    if cursor == 0 {
        return Vec::new();
    }
    let mut start = (cursor - 1).to_be_bytes().to_vec();
    while start.last() == Some(&0) {
        start.pop();
    }
    start
}

pub(super) fn scan_reply(cursor: u64, items: Vec<Output>) -> Output {
    Output::Array(vec![
        Output::Bytes(cursor.to_string().into_bytes()),
        Output::Array(items),
    ])
}
