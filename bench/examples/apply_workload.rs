//! A fixed workload for instruction counts, which stay stable on a noisy
//! machine where times do not: 2,000 log entries of 8 SETs each (16,000
//! SETs over 4,000 keys, 64-byte values) applied through the shard state
//! machine (`StateMachine::apply_entries`, one entry per call) over fjall,
//! as in production. No log, no network; apply does not fsync.
//!
//!     cargo build --release -p orbit-bench --example apply_workload
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!         target/release/examples/apply_workload
//!
//! The "refs" line callgrind prints is the figure to compare.

use std::sync::Arc;

use openraft::EntryPayload;
use orbit_core::redis::command::{SetCondition, SetExpiry};
use orbit_core::redis::Command;
use orbit_core::Op;
use orbit_storage::raft::types::{log_id, Entry};
use orbit_storage::{Disk, FsDisk, ShardState, StateMachine};

const ENTRIES: u64 = 2_000;
const SETS_PER_ENTRY: u64 = 8;
const KEYS: u64 = 4_000;

fn entry(index: u64) -> Entry {
    let ops = (0..SETS_PER_ENTRY)
        .map(|n| {
            Op::redis(
                0,
                Command::Set {
                    key: format!("key:{:012}", (index * SETS_PER_ENTRY + n) % KEYS).into_bytes(),
                    value: vec![b'v'; 64],
                    condition: SetCondition::Always,
                    expiry: SetExpiry::Clear,
                    get: false,
                },
            )
        })
        .collect();
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(orbit_core::Entry::new(1_700_000_000_000 + index, ops)),
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let disk: Arc<dyn Disk> =
        Arc::new(FsDisk::open(dir.path().join("snapshot")).expect("snapshot dir"));
    let state = ShardState::open_fjall(&dir.path().join("state")).expect("state");
    let mut machine = StateMachine::new(state.clone(), disk);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for index in 1..=ENTRIES {
            let outputs = machine.apply_entries([entry(index)]).await.expect("apply");
            assert_eq!(outputs[0].len() as u64, SETS_PER_ENTRY);
        }
    });
    let applied = state.applied().expect("applied").map(|id| id.index);
    assert_eq!(applied, Some(ENTRIES));
    println!("applied {ENTRIES} entries of {SETS_PER_ENTRY} SETs");
}
