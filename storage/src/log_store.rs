//! openraft's log storage over [`SegmentLog`], with group commit.
//!
//! `append` writes the entries into the segment (page cache) and returns at
//! once; a flusher thread collects every append queued while the previous
//! fsync ran, syncs the touched files once, and then reports all of them
//! flushed, in order. Many clients' writes thus share one fsync.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use std::io;

use crate::raft::types::{Entry, LogId, Vote};
use crate::raft::TypeConfig;
use crate::spawn::Spawner;
use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};

use crate::disk::Disk;
use crate::log::{Flusher, LogError, SegmentLog, SyncJob};

/// Appends waiting for the flusher, at most; `append` waits beyond that.
const FLUSH_QUEUE_MAX: usize = 4096;

/// Entries returned by one `limited_get_log_entries` call at most.
const READ_BATCH_ENTRIES_MAX: u64 = 4096;

enum FlushRequest {
    /// Run the append's writes, sync, then report it flushed.
    Append {
        job: SyncJob,
        callback: IOFlushed<TypeConfig>,
    },
    /// Answer once everything queued before it is written (truncation and
    /// purging wait for it: they must not race a deferred write).
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// The handle openraft owns; clones share one log.
#[derive(Clone)]
pub struct LogStore {
    log: Arc<Mutex<SegmentLog>>,
    flush_tx: tokio::sync::mpsc::Sender<FlushRequest>,
}

impl LogStore {
    /// Opens (recovering) the log and starts its flusher on a thread.
    pub fn open(disk: Arc<dyn Disk>, segment_size_max: u64) -> Result<LogStore, LogError> {
        LogStore::open_with(disk, segment_size_max, &crate::spawn::ThreadSpawner)
    }

    /// Opens (recovering) the log and starts its flusher with `spawner`.
    pub fn open_with(
        disk: Arc<dyn Disk>,
        segment_size_max: u64,
        spawner: &dyn Spawner,
    ) -> Result<LogStore, LogError> {
        let mut log = SegmentLog::open(disk.clone(), segment_size_max)?;
        // Appends only plan their writes; the flusher runs them, so the
        // caller (openraft's RaftCore, which shares the thread with client
        // I/O) does not wait for the device.
        log.defer_writes();
        let written = log.written_marker();
        let (flush_tx, flush_rx) = tokio::sync::mpsc::channel::<FlushRequest>(FLUSH_QUEUE_MAX);
        spawner
            .spawn_worker(
                "orbit-log-flush",
                Box::pin(run_flusher(disk, written, flush_rx)),
            )
            .map_err(|source| LogError::Io {
                file: "flusher".into(),
                source,
            })?;
        Ok(LogStore {
            log: Arc::new(Mutex::new(log)),
            flush_tx,
        })
    }

    /// Waits until the flusher has run every write queued so far.
    async fn writes_done(&self) -> Result<(), io::Error> {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let stopped = || io::Error::other("the log's flusher thread stopped");
        self.flush_tx
            .send(FlushRequest::Barrier(done_tx))
            .await
            .map_err(|_| stopped())?;
        done_rx.await.map_err(|_| stopped())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SegmentLog> {
        self.log
            .lock()
            .expect("a panic while holding the log lock is fatal anyway")
    }

    /// Every entry held as (index, term, crc32 of its record), for the
    /// simulator's log-matching check.
    pub fn digest(&self) -> Result<Vec<(u64, u64, u32)>, LogError> {
        let log = self.lock();
        let entries = log.entries(log.first_index(), log.next_index())?;
        Ok(entries
            .iter()
            .map(|entry| {
                let record = crate::record::to_rkyv(&crate::record::LogRecord::from_entry(entry));
                (
                    entry.log_id.index,
                    entry.log_id.leader_id.term,
                    crc32fast::hash(&record),
                )
            })
            .collect())
    }

    /// The last log id held (for status reports).
    pub fn last_log_id(&self) -> Option<LogId> {
        self.lock().last_log_id()
    }
}

/// The flusher: runs every flush round queued, in order, until the log
/// store is gone. It runs on its own (see `crate::spawn`): a thread in
/// production, because fsync blocks; a task in the simulator.
async fn run_flusher(
    disk: Arc<dyn Disk>,
    written: Arc<AtomicU64>,
    mut rx: tokio::sync::mpsc::Receiver<FlushRequest>,
) {
    let mut flusher = Flusher::default();
    while let Some(first) = rx.recv().await {
        flush_round(&*disk, &mut flusher, &written, first, &mut rx);
    }
}

/// Group commit: run the writes of everything queued since the last round,
/// in order, sync every file they touched once, then report.
fn flush_round(
    disk: &dyn Disk,
    flusher: &mut Flusher,
    written: &AtomicU64,
    first: FlushRequest,
    rx: &mut tokio::sync::mpsc::Receiver<FlushRequest>,
) {
    let mut batch = vec![first];
    while let Ok(more) = rx.try_recv() {
        batch.push(more);
    }
    let mut appends = Vec::new();
    let mut merged = SyncJob::default();
    for request in batch {
        match request {
            FlushRequest::Append { mut job, callback } => {
                // Once one fails, the flusher runs no more (see `Flusher`).
                if flusher.write(&job).is_ok() {
                    if let Some(to) = job.written_to {
                        written.store(to, Ordering::SeqCst);
                    }
                }
                merged.dir |= job.dir;
                for file in std::mem::take(&mut job.files) {
                    if !merged.files.iter().any(|f| Arc::ptr_eq(f, &file)) {
                        merged.files.push(file);
                    }
                }
                appends.push(callback);
            }
            // Everything before it is written (or failed, which stops Raft).
            FlushRequest::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
    if appends.is_empty() {
        return;
    }
    #[cfg(madsim)]
    if orbit_core::fault::bug("skip-fsync") {
        merged = SyncJob::default();
    }
    let result = flusher.sync(disk, &merged);
    for callback in appends {
        let outcome = match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        callback.io_completed(outcome);
    }
}

fn range_to_bounds(range: &impl RangeBounds<u64>) -> (u64, u64) {
    let start = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i + 1,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(i) => i + 1,
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    };
    (start, end)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let (start, end) = range_to_bounds(&range);
        Ok(self.lock().entries(start, end)?)
    }

    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, io::Error> {
        let mut end = end.min(start.saturating_add(READ_BATCH_ENTRIES_MAX));
        if orbit_core::buggify!() {
            // Tiny replication batches.
            end = end.min(start + 1 + orbit_core::fault::random_below(3));
        }
        Ok(self.lock().entries(start, end)?)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.lock().read_vote()?)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let log = self.lock();
        Ok(LogState {
            last_purged_log_id: log.purged(),
            last_log_id: log.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        Ok(self.lock().save_vote(vote)?)
    }

    /// Returns once the entries are in the segment (page cache, or the
    /// device for direct I/O) and queued for the flusher; the callback
    /// reports them durable. openraft goes on meanwhile: it replicates them
    /// and proposes the next entries while this flush runs.
    async fn append<I>(
        &mut self,
        entries: I,
        callback: IOFlushed<TypeConfig>,
    ) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let job = {
            let mut log = self.lock();
            log.append_owned(entries)?;
            log.take_unsynced()
        };
        self.flush_tx
            .send(FlushRequest::Append { job, callback })
            .await
            .map_err(|_| io::Error::other("the log's flusher thread stopped"))
    }

    /// Keeps the entries up to `last_log_id` and removes every later one.
    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        self.writes_done().await?;
        let mut log = self.lock();
        let from = match last_log_id {
            Some(id) => id.index + 1,
            None => log.first_index(),
        };
        Ok(log.truncate(from)?)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        self.writes_done().await?;
        Ok(self.lock().purge(log_id)?)
    }
}
