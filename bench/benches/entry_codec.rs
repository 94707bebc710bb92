//! What one big log entry costs the CPU on its way through a node, per
//! step: the leader encodes it into its log (rkyv frame, as `SegmentLog`
//! does), encodes it for
//! each follower (bincode, `orbit_net::wire`), each follower decodes it and
//! encodes it into its own log; openraft clones entries between these steps.
//!
//! The entry is what `redis-benchmark -P 16 -c 50 -t set` makes: a few
//! hundred SETs of a 16-byte key and a 3-byte value in one entry.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use openraft::EntryPayload;
use orbit_core::redis::command::{SetCondition, SetExpiry};
use orbit_core::redis::Command;
use orbit_core::Op;
use orbit_storage::raft::types::{log_id, Entry};
use orbit_storage::record::{to_rkyv, write_entry_frame, LogRecord};

const OPS_PER_ENTRY: usize = 400;

fn entry() -> Entry {
    let ops = (0..OPS_PER_ENTRY)
        .map(|i| {
            Op::redis(
                0,
                Command::Set {
                    key: format!("key:{i:012}").into_bytes(),
                    value: b"xxx".to_vec(),
                    condition: SetCondition::Always,
                    expiry: SetExpiry::Clear,
                    get: false,
                },
            )
        })
        .collect();
    Entry {
        log_id: log_id(1, 7),
        payload: EntryPayload::Normal(orbit_core::Entry::new(1_700_000_000_000, ops)),
    }
}

fn bench_entry_codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("entry_codec");
    group
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
        .throughput(Throughput::Elements(OPS_PER_ENTRY as u64));
    let entry = entry();
    let wire = bincode::serialize(&entry).expect("encodes");
    eprintln!(
        "{OPS_PER_ENTRY} SETs: {} bytes on the wire, {} in the log",
        wire.len(),
        to_rkyv(&LogRecord::from_entry(&entry)).len()
    );
    group.bench_function("clone", |b| b.iter(|| entry.clone()));
    group.bench_function("log_frame", |b| {
        let mut buf = Vec::new();
        let mut scratch = rkyv::util::AlignedVec::new();
        b.iter(|| {
            buf.clear();
            write_entry_frame(&mut buf, &mut scratch, &entry);
            buf.len()
        })
    });
    group.bench_function("wire_encode", |b| {
        b.iter(|| bincode::serialize(&entry).expect("encodes"))
    });
    group.bench_function("wire_decode", |b| {
        b.iter(|| bincode::deserialize::<Entry>(&wire).expect("decodes"))
    });
    group.finish();
}

criterion_group!(benches, bench_entry_codec);
criterion_main!(benches);
