//! Fuzzes log recovery: a segment file of arbitrary bytes must either open
//! (holding only records that verify) or be refused with an error; never panic.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use orbit_storage::{FsDisk, SegmentLog};

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("orbit-fuzz-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("00000000000000000001.log"), data).expect("write segment");
    let disk = Arc::new(FsDisk::open(&dir).expect("disk"));
    if let Ok(log) = SegmentLog::open(disk, 1 << 20) {
        for index in log.first_index()..log.next_index() {
            let _ = log.entry(index);
        }
    }
});
