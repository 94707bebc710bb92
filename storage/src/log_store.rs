//! openraft's log storage over [`SegmentLog`], with group commit.
//!
//! `append` writes the entries into the segment (page cache) and returns at
//! once; a flusher thread collects every append queued while the previous
//! fsync ran, syncs the touched files once, and then reports all of them
//! flushed, in order. Many clients' writes thus share one fsync.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use std::io;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use orbit_core::raft::types::{Entry, LogId, Vote};
use orbit_core::TypeConfig;

use crate::disk::Disk;
use crate::log::{LogError, SegmentLog, SyncJob};

/// Appends waiting for the flusher, at most; `append` waits beyond that.
const FLUSH_QUEUE_MAX: usize = 4096;

/// Entries returned by one `limited_get_log_entries` call at most.
const READ_BATCH_ENTRIES_MAX: u64 = 4096;

struct FlushRequest {
    job: SyncJob,
    callback: IOFlushed<TypeConfig>,
}

/// The handle openraft owns; clones share one log.
#[derive(Clone)]
pub struct LogStore {
    log: Arc<Mutex<SegmentLog>>,
    flush_tx: tokio::sync::mpsc::Sender<FlushRequest>,
}

impl LogStore {
    /// Opens (recovering) the log and starts its flusher thread.
    pub fn open(disk: Arc<dyn Disk>, segment_size_max: u64) -> Result<LogStore, LogError> {
        let log = SegmentLog::open(disk.clone(), segment_size_max)?;
        let (flush_tx, flush_rx) = tokio::sync::mpsc::channel::<FlushRequest>(FLUSH_QUEUE_MAX);
        start_flusher(disk, flush_rx)?;
        Ok(LogStore {
            log: Arc::new(Mutex::new(log)),
            flush_tx,
        })
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

/// Production: a thread, because fsync blocks.
#[cfg(not(madsim))]
fn start_flusher(
    disk: Arc<dyn Disk>,
    mut rx: tokio::sync::mpsc::Receiver<FlushRequest>,
) -> Result<(), LogError> {
    std::thread::Builder::new()
        .name("orbit-log-flush".into())
        .spawn(move || {
            while let Some(first) = rx.blocking_recv() {
                flush_round(&*disk, first, &mut rx);
            }
        })
        .map(|_| ())
        .map_err(|source| LogError::Io {
            file: "flusher thread".into(),
            source,
        })
}

/// Simulation: a task (madsim forbids threads); the simulated disk's sync
/// does not block.
#[cfg(madsim)]
fn start_flusher(
    disk: Arc<dyn Disk>,
    mut rx: tokio::sync::mpsc::Receiver<FlushRequest>,
) -> Result<(), LogError> {
    madsim::task::spawn(async move {
        while let Some(first) = rx.recv().await {
            flush_round(&*disk, first, &mut rx);
        }
    });
    Ok(())
}

/// Group commit: sync everything queued since the last round, then report.
fn flush_round(
    disk: &dyn Disk,
    first: FlushRequest,
    rx: &mut tokio::sync::mpsc::Receiver<FlushRequest>,
) {
    let mut batch = vec![first];
    while let Ok(more) = rx.try_recv() {
        batch.push(more);
    }
    // One sync per touched file for the whole round, however many
    // appends touched it.
    let mut merged = SyncJob::default();
    for request in &mut batch {
        let job = std::mem::take(&mut request.job);
        merged.dir |= job.dir;
        for file in job.files {
            if !merged.files.iter().any(|f| Arc::ptr_eq(f, &file)) {
                merged.files.push(file);
            }
        }
    }
    #[cfg(madsim)]
    if orbit_core::fault::bug("skip-fsync") {
        merged = SyncJob::default();
    }
    let result = SegmentLog::sync_job(disk, &merged);
    for request in batch {
        let outcome = match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        };
        request.callback.io_completed(outcome);
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
            .send(FlushRequest { job, callback })
            .await
            .map_err(|_| io::Error::other("the log's flusher thread stopped"))
    }

    /// Keeps the entries up to `last_log_id` and removes every later one.
    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> Result<(), io::Error> {
        let mut log = self.lock();
        let from = match last_log_id {
            Some(id) => id.index + 1,
            None => log.first_index(),
        };
        Ok(log.truncate(from)?)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        Ok(self.lock().purge(log_id)?)
    }
}
