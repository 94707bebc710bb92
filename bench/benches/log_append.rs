//! Group commit in the Raft log: `SegmentLog::append` of a batch of entries
//! followed by one `take_unsynced` + `SegmentLog::sync_job`, which is one
//! fdatasync per batch (plus a directory sync when a segment rolls over).
//!
//! This is what `LogStore`'s flusher does: every append queued while the
//! previous fsync ran shares the next one. With batches of 1, 16 and 256
//! entries (SET requests with 64-byte values) and throughput counted in
//! entries, the figures show how far sharing an fsync lifts the entries a
//! node can make durable per second. The log lives on the real disk (under
//! cargo's target tmp directory), because an fsync on tmpfs costs nothing.
//!
//! The directory preallocates like a node's, so appends use direct I/O
//! where the file system has it. A loaded leader packs many client writes
//! into one entry (`commit_writes`, docs/ARCHITECTURE.md, "Group commit"),
//! and a follower gets many entries per append.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use openraft::EntryPayload;
use orbit_core::redis::command::{SetCondition, SetExpiry};
use orbit_core::redis::Command;
use orbit_storage::log::SEGMENT_SIZE_MAX_DEFAULT;
use orbit_storage::raft::types::{log_id, Entry};
use orbit_storage::{Disk, FsDisk, SegmentLog};

const BATCH_SIZES: [usize; 3] = [1, 16, 256];
const VALUE_LEN_BYTES: usize = 64;
const TERM: u64 = 1;

fn entry(index: u64) -> Entry {
    let cmd = Command::Set {
        key: format!("key:{:012}", index % 10_000).into_bytes(),
        value: vec![b'v'; VALUE_LEN_BYTES],
        condition: SetCondition::Always,
        expiry: SetExpiry::Clear,
        get: false,
    };
    let request = orbit_core::Entry::redis(1_700_000_000_000 + index, 0, cmd);
    Entry {
        log_id: log_id(TERM, index),
        payload: EntryPayload::Normal(request),
    }
}

fn bench_log_append(c: &mut Criterion) {
    let mut group = c.benchmark_group("log_append_fsync");
    group
        .measurement_time(Duration::from_secs(3))
        .sample_size(20);
    for batch_size in BATCH_SIZES {
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .expect("a temporary directory can be created");
        let disk: Arc<dyn Disk> = Arc::new(FsDisk::open(dir.path()).expect("the directory opens"));
        let mut log =
            SegmentLog::open(disk.clone(), SEGMENT_SIZE_MAX_DEFAULT).expect("an empty log opens");
        let mut next_index = 1u64;
        group.throughput(Throughput::Elements(batch_size as u64));
        group.bench_function(BenchmarkId::from_parameter(batch_size), |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    // Building the entries is the proposer's work, not the log's.
                    let batch: Vec<Entry> = (next_index..next_index + batch_size as u64)
                        .map(entry)
                        .collect();
                    next_index += batch_size as u64;
                    let start = Instant::now();
                    log.append(&batch).expect("append to a healthy disk");
                    let job = log.take_unsynced();
                    SegmentLog::sync_job(&*disk, &job).expect("fsync on a healthy disk");
                    elapsed += start.elapsed();
                }
                elapsed
            })
        });
        drop(log);
        drop(dir);
    }
    group.finish();
}

criterion_group!(benches, bench_log_append);
criterion_main!(benches);
