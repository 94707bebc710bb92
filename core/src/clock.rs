//! The shard clock and the applied index: the kernel's record in the
//! shard's keyspace (tag `0x04`, beside the families' tags; the whole
//! layout is tabled in `crate::redis::keys`).
//!
//! Record at [`CLOCK_KEY`]: `[clock ms u64 LE][applied index u64 LE]`,
//! written by every entry that has ops, in the same batch as its data.

use crate::store::{Store, StoreError};

pub const TAG_CLOCK: u8 = 0x04;
pub const CLOCK_KEY: [u8; 1] = [TAG_CLOCK];

/// The `n`-th u64 (LE) of `bytes`.
fn u64_at(bytes: &[u8], n: usize) -> Result<u64, StoreError> {
    let arr: [u8; 8] = bytes
        .get(n * 8..n * 8 + 8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| StoreError(format!("clock record of {} bytes", bytes.len())))?;
    Ok(u64::from_le_bytes(arr))
}

/// The `n`-th u64 of the clock record; 0 when there is none yet.
fn read_at(store: &impl Store, n: usize) -> Result<u64, StoreError> {
    match store.get(&CLOCK_KEY)? {
        None => Ok(0),
        Some(bytes) => u64_at(&bytes, n),
    }
}

/// The shard clock: the highest timestamp applied so far.
pub fn read_clock(store: &impl Store) -> Result<u64, StoreError> {
    read_at(store, 0)
}

/// The shard clock held by `record`, the value stored at `CLOCK_KEY`.
pub fn clock_of(record: &[u8]) -> Result<u64, StoreError> {
    u64_at(record, 0)
}

/// The log index of the last entry applied to this state (0 before any).
pub fn read_applied_index(store: &impl Store) -> Result<u64, StoreError> {
    read_at(store, 1)
}

pub fn write_clock(store: &mut impl Store, now_ms: u64, index: u64) -> Result<(), StoreError> {
    let mut value = now_ms.to_le_bytes().to_vec();
    value.extend_from_slice(&index.to_le_bytes());
    store.put(&CLOCK_KEY, &value)
}
