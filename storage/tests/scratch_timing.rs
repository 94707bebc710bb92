use openraft::storage::RaftStateMachine;
use orbit_storage::{Disk, FsDisk, LogStore, ShardState, StateMachine};
use std::sync::Arc;
use std::time::Instant;

#[tokio::test]
async fn timing() {
    let t0 = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let disk: Arc<dyn Disk> = Arc::new(FsDisk::open(dir.path().join("log")).unwrap());
    let log = LogStore::open(disk.clone(), 4096).unwrap();
    println!("log open {:?}", t0.elapsed());
    let s = ShardState::open(&dir.path().join("st")).unwrap();
    println!("fjall open {:?}", t0.elapsed());
    let mut sm = StateMachine::new(s, disk.clone());
    let x = sm.applied_state().await.unwrap();
    println!("applied {:?} {:?}", t0.elapsed(), x.0);
    drop(sm);
    println!("sm drop {:?}", t0.elapsed());
    drop(log);
    println!("log drop {:?}", t0.elapsed());
    drop(dir);
    println!("dir drop {:?}", t0.elapsed());
}
