use std::sync::Arc;
use std::time::Instant;
use orbit_storage::{Disk, FsDisk, SegmentLog, ShardState};
use orbit_storage::record::log_id;
use openraft::{Entry, EntryPayload};

#[test]
fn timing() {
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let s = ShardState::open(&dir.path().join("st")).unwrap();
    println!("fjall open {:?}", t.elapsed());
    let t = Instant::now();
    drop(s);
    println!("fjall drop {:?}", t.elapsed());
    let disk: Arc<dyn Disk> = Arc::new(FsDisk::open(dir.path().join("log")).unwrap());
    let mut log = SegmentLog::open(disk.clone(), 4096).unwrap();
    for i in 0..10 {
        let t = Instant::now();
        log.append(&[Entry { log_id: log_id(1, 0, i), payload: EntryPayload::Blank }]).unwrap();
        let job = log.take_unsynced();
        SegmentLog::sync_job(&*disk, &job).unwrap();
        println!("append+sync {:?}", t.elapsed());
    }
}
