//! Throughput of the shard state machine alone: `orbit_core::apply` over the
//! in-memory `MemStore`, with no log, no fjall and no network.
//!
//! It measures SET (16-byte keys, 64-byte values), GET through the read path
//! (`orbit_core::apply::read`, which is how a linearizable read is answered
//! after ReadIndex) and INCR. Each command costs the clock read and write,
//! the expired-key purge of the keys it names, and the count and expiry-index
//! bookkeeping, so this is the ceiling apply puts on a shard's write rate
//! before storage is counted. Results are reported as commands per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use orbit_core::redis::apply::{apply, read};
use orbit_core::redis::command::{SetCondition, SetExpiry};
use orbit_core::redis::Command;
use orbit_core::{ApplyCtx, Entry, MemStore};

/// Distinct keys the benchmarks cycle over, so the store stops growing.
const KEY_COUNT: usize = 10_000;
/// Commands per measured iteration.
const COMMANDS_PER_ITERATION: usize = 1_000;
const KEY_LEN_BYTES: usize = 16;
const VALUE_LEN_BYTES: usize = 64;
const TS_MS: u64 = 1_700_000_000_000;

/// The `n`th key: exactly `KEY_LEN_BYTES` bytes.
fn key(n: usize) -> Vec<u8> {
    let key = format!("key:{:012}", n % KEY_COUNT).into_bytes();
    assert_eq!(key.len(), KEY_LEN_BYTES);
    key
}

fn set_request(n: usize) -> Entry {
    let cmd = Command::Set {
        key: key(n),
        value: vec![b'v'; VALUE_LEN_BYTES],
        condition: SetCondition::Always,
        expiry: SetExpiry::Clear,
        get: false,
    };
    Entry::redis(TS_MS, 0, cmd)
}

/// A store holding every key with a 64-byte value.
fn populated_store() -> MemStore {
    let mut store = MemStore::default();
    for n in 0..KEY_COUNT {
        let ctx = ApplyCtx {
            index: n as u64 + 1,
            term: 1,
        };
        apply(&ctx, &set_request(n), &mut store).expect("MemStore cannot fail");
    }
    store
}

/// Applies `requests` in order, as consecutive log entries after `index`.
fn apply_all(store: &mut MemStore, requests: &[Entry], index: &mut u64) {
    for request in requests {
        *index += 1;
        let ctx = ApplyCtx {
            index: *index,
            term: 1,
        };
        black_box(apply(&ctx, request, store).expect("MemStore cannot fail"));
    }
}

fn bench_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("apply");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    group.throughput(Throughput::Elements(COMMANDS_PER_ITERATION as u64));

    // SET over a store that already holds every key: steady-state overwrites.
    let sets: Vec<Entry> = (0..COMMANDS_PER_ITERATION)
        .map(|n| set_request(n * 7))
        .collect();
    let mut store = populated_store();
    let mut index = KEY_COUNT as u64;
    group.bench_function("set", |b| {
        b.iter(|| apply_all(&mut store, &sets, &mut index))
    });

    // SET into an empty store: every command also creates the key and bumps the count.
    group.bench_function("set_new_keys", |b| {
        b.iter_batched(
            MemStore::default,
            |mut store| {
                let mut index = 0;
                apply_all(&mut store, &sets, &mut index);
                store
            },
            BatchSize::LargeInput,
        )
    });

    // GET on the read path: no clock write, no log index.
    let gets: Vec<Command> = (0..COMMANDS_PER_ITERATION)
        .map(|n| Command::Get { key: key(n * 7) })
        .collect();
    let store = populated_store();
    group.bench_function("get", |b| {
        b.iter(|| {
            for cmd in &gets {
                black_box(read(TS_MS, 0, cmd, &store).expect("MemStore cannot fail"));
            }
        })
    });

    // INCR: parse the stored integer, add, format, write back.
    let incrs: Vec<Entry> = (0..COMMANDS_PER_ITERATION)
        .map(|n| {
            Entry::redis(
                TS_MS,
                0,
                Command::IncrBy {
                    key: key(n * 7),
                    delta: 1,
                },
            )
        })
        .collect();
    let mut store = MemStore::default();
    let mut index = 0;
    group.bench_function("incr", |b| {
        b.iter(|| apply_all(&mut store, &incrs, &mut index))
    });

    group.finish();
}

criterion_group!(benches, bench_apply);
criterion_main!(benches);
