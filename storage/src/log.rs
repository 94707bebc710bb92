//! The Raft log: a directory of segment files of framed [`LogRecord`]s.
//!
//! Preallocation: where the disk asks for it ([`Disk::preallocates`]), a
//! background thread prepares a spare segment, written full of zeros and
//! synced, once the active segment is half full, and a rotation renames it
//! into place. An empty log prepares its first spare at open, before Raft
//! runs; nothing on the write path ever waits for a spare. Appends then write inside
//! the file, so the fdatasync after them has no file size to update
//! (bench/redis_compare.sh, 3 nodes on one machine: -P 16 SET 185k/s
//! without, 220-255k/s with). A segment therefore ends in zeros where it was
//! never written; recovery reads an all-zero rest of a segment as its end.
//!
//! Invariants:
//! - The entries held form one contiguous run of indexes `first..first+len`,
//!   and every index at or below the purge point is gone or ignored.
//! - Segment `NNNNNNNNNNNNNNNNNNNN.log` starts with the entry of index N.
//! - Every byte read back is checksum-verified before it is decoded.
//! - Recovery truncates a torn tail (an unsynced write cut short by a crash:
//!   damage with no valid frame after it, in its segment or any later one,
//!   where later segments are ones a rotation created but never filled) and
//!   refuses anything else that fails to verify, naming the file and byte
//!   offset. Segments must continue one another without a hole.
//!
//! This type does blocking I/O through [`Disk`] and never syncs on its own
//! except for truncation and metadata; [`SegmentLog::take_unsynced`] hands the
//! files written since the last sync to the group-commit flusher.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::raft::types::{Entry, LogId, Vote};

use rkyv::util::AlignedVec;

use crate::disk::{read_file, write_file_atomic, Disk, DiskFile, DIRECT_BLOCK};
use crate::record::{
    decode_framed, encode_framed, from_rkyv, log_id, read_frame, write_entry_frame, FrameError,
    LogIdRecord, LogRecord, VoteRecord,
};

pub const SEGMENT_SIZE_MAX_DEFAULT: u64 = 64 * 1024 * 1024;
const VOTE_FILE: &str = "vote";
/// The preallocated segment waiting for the next rotation. Not a segment
/// name, so recovery never reads it; `open` removes a leftover one.
const SPARE_FILE: &str = "spare.tmp";
/// Zeros written per call while preparing a spare.
const ZERO_CHUNK: usize = 1024 * 1024;
const PURGED_FILE: &str = "purged";
const SEGMENT_SUFFIX: &str = ".log";
/// Recently appended entries kept in memory, at most, and their frames'
/// bytes, at most: replication reads the entries it just appended, and
/// reading them back from the segment (a pread, the checksum, a decode, per
/// follower) was 7% of a loaded leader's time (perf, redis-benchmark -P 16).
const RECENT_ENTRIES_MAX: usize = 64;
const RECENT_BYTES_MAX: u64 = 8 * 1024 * 1024;
/// How far past a bad frame recovery looks for a valid one before it calls
/// the damage a torn tail.
const TORN_SCAN_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A failure of the log. `Corrupt` is fatal: the node must not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("log I/O error on {file}: {source}")]
    Io { file: String, source: io::Error },
    #[error("log corrupted in {file} at byte offset {offset}: {reason}")]
    Corrupt {
        file: String,
        offset: u64,
        reason: String,
    },
}

/// openraft 0.10's storage traits speak `io::Error`; the message keeps the
/// file and, for corruption, the offset.
impl From<LogError> for io::Error {
    fn from(e: LogError) -> io::Error {
        let kind = match &e {
            LogError::Io { source, .. } => source.kind(),
            LogError::Corrupt { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e.to_string())
    }
}

#[derive(Debug, Clone, Copy)]
struct Loc {
    segment: u64,
    offset: u64,
    frame_len: u32,
    term: u64,
}

struct Segment {
    name: String,
    file: Arc<dyn DiskFile>,
    len: u64,
    direct: Direct,
}

/// How appends reach a segment's file.
enum Direct {
    /// Not known until the first append (recovery and truncation leave it so).
    Unknown,
    /// Through the page cache, with `Segment::file`.
    Off,
    /// With direct I/O (see [`Disk::open_direct`]), in whole blocks: `tail`
    /// holds the bytes of the last, partly filled block, which the next
    /// append writes again, followed by its own bytes and zeros to the end
    /// of its last block. Beside a preallocated file the page cache only
    /// copied the bytes once more: an fdatasync after a 60 KB write took
    /// 0.13 ms direct and 0.20 ms buffered on the bench machine, and zeroing
    /// a spare took 8 ms of CPU direct where it took 34-210 ms buffered.
    On {
        file: Arc<dyn DiskFile>,
        tail: Vec<u8>,
    },
}

/// The flusher's memory from one round to the next. A deferred write or a
/// sync that fails leaves a hole of unknown extent in the log, and a later
/// job's write could still reach the disk after it (a crash would then
/// recover entries past a gap: the simulator found a follower that could
/// not restart, its log resuming at 305 after 260). So the flusher is
/// fail-stop: from the first failure on, every job fails without touching
/// the disk, Raft stops on the error, and the node restarts from what the
/// disk holds, whose tail ends before the hole.
#[derive(Debug, Default)]
pub struct Flusher {
    failed: Option<(io::ErrorKind, String)>,
}

impl Flusher {
    /// Runs `job`'s writes in order, unless an earlier write or sync failed.
    pub fn write(&mut self, job: &SyncJob) -> io::Result<()> {
        self.check()?;
        let result = SegmentLog::write_job(job);
        self.note(result)
    }

    /// Syncs `job`'s files, unless an earlier write or sync failed.
    pub fn sync(&mut self, disk: &dyn Disk, job: &SyncJob) -> io::Result<()> {
        self.check()?;
        let result = SegmentLog::sync_job(disk, job);
        self.note(result)
    }

    fn check(&self) -> io::Result<()> {
        match &self.failed {
            None => Ok(()),
            Some((kind, message)) => Err(io::Error::new(
                *kind,
                format!("an earlier log write or sync failed ({message}); the log takes no more"),
            )),
        }
    }

    fn note(&mut self, result: io::Result<()>) -> io::Result<()> {
        if let Err(e) = &result {
            self.failed.get_or_insert_with(|| (e.kind(), e.to_string()));
        }
        result
    }
}

/// What the flusher does for appends: the writes deferred to it (in
/// order), then a sync of the files written since the last sync.
#[derive(Default)]
pub struct SyncJob {
    pub writes: Vec<PendingWrite>,
    /// The log's next index once `writes` are done (with `writes`).
    pub written_to: Option<u64>,
    pub files: Vec<Arc<dyn DiskFile>>,
    pub dir: bool,
}

pub struct SegmentLog {
    disk: Arc<dyn Disk>,
    segments: BTreeMap<u64, Segment>,
    locs: VecDeque<Loc>,
    /// Index of `locs[0]` (or of the next entry when empty).
    first: u64,
    purged: Option<LogId>,
    segment_size_max: u64,
    unsynced: BTreeSet<u64>,
    dir_unsynced: bool,
    /// Entries as appended, with their frame sizes: `recent[i]` has index
    /// `recent_first + i`. A copy of what the segments hold, never more:
    /// whatever removes entries from the log removes them here too.
    recent: VecDeque<(Entry, u32)>,
    recent_first: u64,
    /// Frame bytes of the entries in `recent`.
    recent_bytes: u64,
    /// Where segments come preallocated from; `None` if the disk does not
    /// preallocate.
    spares: Option<Spares>,
    /// A spare was asked for since the last rotation. The next one is asked
    /// for when the active segment is half full: early enough to be ready,
    /// late enough that a small log never holds one.
    spare_requested: bool,
    /// Deferred writes (see [`SegmentLog::defer_writes`]) not yet taken by
    /// the flusher, in order.
    deferred: Option<Vec<PendingWrite>>,
    /// With deferred writes: the index below which every entry is on its
    /// file (the flusher moves it). Entries at or above it stay in `recent`.
    written: Arc<AtomicU64>,
    /// The buffer records are encoded in, kept between appends.
    encode_scratch: AlignedVec,
}

/// A spare, zero-filled to the segment size and synced, once ready. Empty
/// while one is prepared, when none was asked for, or when the last attempt
/// failed (a full disk, say): rotations then create plain segments.
type SpareSlot = Arc<std::sync::Mutex<Option<Arc<dyn DiskFile>>>>;

/// The log's side of the spare-segment thread.
struct Spares {
    ready: SpareSlot,
    /// Asks the thread for a spare; `None` once the log is closing.
    want: Option<std::sync::mpsc::Sender<()>>,
    /// Tells a spare in preparation to stop.
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The log owns its directory: when it closes, its spare thread stops and
/// is joined, so it can never write `SPARE_FILE` under the next owner (a
/// log reopened on the same directory found a segment emptied by the old
/// thread's spare).
impl Drop for Spares {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.want = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Spares {
    /// A thread that prepares spares on request. Only disks that
    /// preallocate (real files) have spares; the simulator's never do, so
    /// this thread exists in production only.
    fn start(disk: Arc<dyn Disk>, segment_size: u64) -> Result<Spares, LogError> {
        assert!(disk.preallocates(), "spares are for disks that preallocate");
        let ready: SpareSlot = Arc::default();
        let (want, wanted) = std::sync::mpsc::channel::<()>();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let slot = ready.clone();
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("orbit-log-spare".into())
            .spawn(move || {
                while wanted.recv().is_ok() {
                    if slot.lock().expect("spare lock").is_some() {
                        continue;
                    }
                    let outcome = spare_outcome(&*disk, segment_size, &stopping);
                    *slot.lock().expect("spare lock") = outcome;
                }
            })
            .map_err(|source| LogError::Io {
                file: "spare segment thread".into(),
                source,
            })?;
        Ok(Spares {
            ready,
            want: Some(want),
            stop,
            thread: Some(thread),
        })
    }

    /// The ready spare, if any, renamed to `name`. The slot stays locked
    /// until the rename is done: the thread checks the slot under the same
    /// lock before it creates the next spare under `SPARE_FILE`, so a request
    /// still queued from before can never reopen this spare's file (the
    /// preallocated model proptest found a segment zeroed that way).
    fn take_as(&self, disk: &dyn Disk, name: &str) -> Result<Option<Arc<dyn DiskFile>>, LogError> {
        let mut slot = self.ready.lock().expect("spare lock");
        let Some(file) = slot.take() else {
            return Ok(None);
        };
        disk.rename(SPARE_FILE, name).map_err(io_err(disk, name))?;
        Ok(Some(file))
    }

    /// Prepares a spare now, on the caller's thread: for an empty log at
    /// open, before Raft runs, so that its first segment comes preallocated
    /// without a wait on the write path. A failure leaves rotations plain.
    fn prepare_now(&self, disk: &dyn Disk, segment_size: u64) {
        let outcome = spare_outcome(disk, segment_size, &self.stop);
        *self.ready.lock().expect("spare lock") = outcome;
    }

    fn request(&self) {
        // The thread is gone only if it panicked; rotations then create
        // plain segments.
        if let Some(want) = &self.want {
            let _ = want.send(());
        }
    }
}

/// A spare, or `None` if it could not be made.
fn spare_outcome(
    disk: &dyn Disk,
    segment_size: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> Option<Arc<dyn DiskFile>> {
    match make_spare(disk, segment_size, stop) {
        Ok(file) => Some(file),
        // Closing: the next owner of the directory removes the leftover.
        Err(_) if stop.load(Ordering::SeqCst) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot preallocate a log segment; rotations create plain segments");
            // Give back the space of a half-written spare.
            let _ = disk.remove(SPARE_FILE);
            None
        }
    }
}

/// Writes `SPARE_FILE` full of zeros, `segment_size` bytes, syncing after
/// every chunk: one sync at the end made a 64 MiB burst of writeback that
/// stalled the log's own fsyncs on the same disk for hundreds of
/// milliseconds (a 3-node test lost its leader's quorum over it).
fn make_spare(
    disk: &dyn Disk,
    segment_size: u64,
    stop: &std::sync::atomic::AtomicBool,
) -> io::Result<Arc<dyn DiskFile>> {
    let file = disk.open(SPARE_FILE, true)?;
    file.truncate(0)?;
    let direct = disk.open_direct(SPARE_FILE)?;
    let mut zeros = AlignedVec::<DIRECT_BLOCK>::with_capacity(ZERO_CHUNK);
    zeros.resize(ZERO_CHUNK, 0);
    let mut at = 0u64;
    while at < segment_size {
        if stop.load(Ordering::SeqCst) {
            return Err(io::Error::other("the log is closing"));
        }
        let len = usize::try_from((segment_size - at).min(ZERO_CHUNK as u64)).expect("fits");
        match &direct {
            Some(direct) if len % DIRECT_BLOCK == 0 => direct.write_at(at, &zeros[..len])?,
            _ => file.write_at(at, &zeros[..len])?,
        }
        file.sync()?;
        at += len as u64;
    }
    Ok(file)
}

/// One write to a segment, ready to run: now, or on the flusher when writes
/// are deferred.
pub struct PendingWrite {
    file: Arc<dyn DiskFile>,
    offset: u64,
    bytes: PendingBytes,
}

enum PendingBytes {
    Plain(Vec<u8>),
    /// Whole blocks from an aligned buffer, for a direct-I/O file.
    Aligned(AlignedVec<DIRECT_BLOCK>),
}

impl PendingWrite {
    fn run(&self) -> io::Result<()> {
        match &self.bytes {
            PendingBytes::Plain(bytes) => self.file.write_at(self.offset, bytes),
            PendingBytes::Aligned(bytes) => self.file.write_at(self.offset, bytes),
        }
    }
}

/// Builds the write that appends `data` (taken) to `seg` (the whole blocks
/// from the partly filled one on, for direct I/O) and moves `seg`'s tail
/// past it; the caller then moves `seg.len`.
fn plan_segment_write(
    disk: &dyn Disk,
    seg: &mut Segment,
    data: &mut Vec<u8>,
) -> io::Result<PendingWrite> {
    if matches!(seg.direct, Direct::Unknown) {
        seg.direct = match disk.open_direct(&seg.name)? {
            None => Direct::Off,
            Some(file) => {
                let start = seg.len - seg.len % DIRECT_BLOCK as u64;
                let mut tail = vec![0u8; usize::try_from(seg.len - start).expect("below a block")];
                seg.file.read_at(start, &mut tail)?;
                Direct::On { file, tail }
            }
        };
    }
    let Direct::On { file, tail } = &mut seg.direct else {
        return Ok(PendingWrite {
            file: seg.file.clone(),
            offset: seg.len,
            bytes: PendingBytes::Plain(std::mem::take(data)),
        });
    };
    let start = seg.len - tail.len() as u64;
    let mut blocks = AlignedVec::<DIRECT_BLOCK>::with_capacity(
        (tail.len() + data.len()).next_multiple_of(DIRECT_BLOCK),
    );
    blocks.extend_from_slice(tail);
    blocks.extend_from_slice(data);
    data.clear();
    let end = blocks.len();
    blocks.resize(end.next_multiple_of(DIRECT_BLOCK), 0);
    tail.clear();
    tail.extend_from_slice(&blocks[end - end % DIRECT_BLOCK..end]);
    Ok(PendingWrite {
        file: file.clone(),
        offset: start,
        bytes: PendingBytes::Aligned(blocks),
    })
}

fn segment_name(first_index: u64) -> String {
    format!("{first_index:020}{SEGMENT_SUFFIX}")
}

fn io_err(disk: &dyn Disk, name: &str) -> impl FnOnce(io::Error) -> LogError {
    let file = disk.describe(name);
    move |source| LogError::Io { file, source }
}

impl SegmentLog {
    /// Opens the log in `disk`, recovering from a crash if needed.
    pub fn open(disk: Arc<dyn Disk>, segment_size_max: u64) -> Result<SegmentLog, LogError> {
        assert!(
            segment_size_max >= 4096,
            "segments must hold at least a page"
        );
        let purged = match read_file(&*disk, PURGED_FILE).map_err(io_err(&*disk, PURGED_FILE))? {
            None => None,
            Some(bytes) => {
                Some(decode_meta::<LogIdRecord>(&*disk, PURGED_FILE, &bytes)?.to_log_id())
            }
        };
        let mut log = SegmentLog {
            disk: disk.clone(),
            segments: BTreeMap::new(),
            locs: VecDeque::new(),
            first: purged.map_or(0, |p| p.index + 1),
            purged,
            segment_size_max,
            unsynced: BTreeSet::new(),
            dir_unsynced: false,
            recent: VecDeque::new(),
            recent_first: 0,
            recent_bytes: 0,
            spares: None,
            spare_requested: false,
            deferred: None,
            written: Arc::new(AtomicU64::new(0)),
            encode_scratch: AlignedVec::new(),
        };
        let names = disk.list().map_err(io_err(&*disk, "."))?;
        let mut firsts: Vec<(u64, String)> = names
            .into_iter()
            .filter_map(|name| {
                let stem = name.strip_suffix(SEGMENT_SUFFIX)?;
                Some((stem.parse::<u64>().ok()?, name))
            })
            .collect();
        firsts.sort();
        for (position, (first_index, name)) in firsts.iter().enumerate() {
            let later = &firsts[position + 1..];
            if log.recover_segment(*first_index, name, later)? == Recovered::TailCut {
                log.remove_unwritten(later)?;
                break;
            }
        }
        log.drop_purged_segments()?;
        // What recovery read may be only in the page cache: a process that
        // died after writing and before (or while failing at) syncing leaves
        // its last entries there, and they read back as if durable. Raft
        // counts them as stored, and later entries, synced into later
        // segments, would then survive a power loss that takes these,
        // leaving a hole (found by the simulator: a follower restarted
        // after failed syncs, then lost power, and its log resumed at 305
        // after 260). So recovery makes what it found durable first.
        let sync = true;
        #[cfg(madsim)]
        let sync = sync && !orbit_core::fault::bug("skip-recovery-sync");
        if sync {
            for seg in log.segments.values() {
                seg.file.sync().map_err(io_err(&*disk, &seg.name))?;
            }
            disk.sync_dir().map_err(io_err(&*disk, "."))?;
        }
        if disk.preallocates() {
            // A spare left by the last run may be half written.
            disk.remove(SPARE_FILE)
                .map_err(io_err(&*disk, SPARE_FILE))?;
            let spares = Spares::start(disk.clone(), segment_size_max)?;
            if log.segments.is_empty() {
                spares.prepare_now(&*disk, segment_size_max);
            }
            log.spares = Some(spares);
            log.request_spare_if_due();
        }
        Ok(log)
    }

    /// Indexes one segment's records. A record that fails to verify is a torn
    /// tail (cut off, reporting [`Recovered::TailCut`]) only if nothing valid
    /// follows it in this segment or any `later` one; otherwise it is corruption.
    fn recover_segment(
        &mut self,
        first_index: u64,
        name: &str,
        later: &[(u64, String)],
    ) -> Result<Recovered, LogError> {
        let disk = self.disk.clone();
        let file = disk.open(name, false).map_err(io_err(&*disk, name))?;
        let data = read_whole(&*disk, name, &*file)?;
        let corrupt = |offset: usize, reason: String| LogError::Corrupt {
            file: disk.describe(name),
            offset: offset as u64,
            reason,
        };
        let mut offset = 0usize;
        let mut expected = first_index;
        let mut recovered = Recovered::Whole;
        while offset < data.len() {
            let (payload, used) = match read_frame(&data[offset..]) {
                Ok(frame) => frame,
                // Preallocated space never written: the segment ends here.
                Err(_) if disk.preallocates() && data[offset..].iter().all(|b| *b == 0) => break,
                Err(e) => {
                    if !is_torn_tail(&data, offset, &e) || !holds_no_frame(&*disk, later)? {
                        return Err(corrupt(offset, e.to_string()));
                    }
                    tracing::warn!(file = %disk.describe(name), offset, error = %e, "truncating torn log tail");
                    file.truncate(offset as u64).map_err(io_err(&*disk, name))?;
                    file.sync().map_err(io_err(&*disk, name))?;
                    recovered = Recovered::TailCut;
                    break;
                }
            };
            let record: LogRecord =
                from_rkyv(payload).map_err(|e| corrupt(offset, e.to_string()))?;
            if record.index != expected {
                return Err(corrupt(
                    offset,
                    format!("expected entry {expected}, found {}", record.index),
                ));
            }
            self.push_recovered(first_index, offset, used, &record)
                .map_err(|r| corrupt(offset, r))?;
            expected += 1;
            offset += used;
        }
        if offset == 0 {
            if !holds_no_frame(&*disk, later)? {
                return Err(corrupt(0, "empty segment before the last one".into()));
            }
            // Created, then crashed before its first write reached the disk.
            disk.remove(name).map_err(io_err(&*disk, name))?;
            disk.sync_dir().map_err(io_err(&*disk, "."))?;
            return Ok(Recovered::TailCut);
        }
        if let Some((prev_first, _)) = self.segments.last_key_value() {
            if *prev_first >= first_index {
                return Err(corrupt(0, "segments out of order".into()));
            }
        }
        self.segments.insert(
            first_index,
            Segment {
                name: name.to_string(),
                file,
                len: offset as u64,
                direct: Direct::Unknown,
            },
        );
        Ok(recovered)
    }

    /// Removes the segments after a torn tail, newest first. They hold no
    /// valid record: a crash during a rotation created them before the older
    /// segment's tail reached the disk.
    fn remove_unwritten(&mut self, later: &[(u64, String)]) -> Result<(), LogError> {
        for (_, name) in later.iter().rev() {
            tracing::warn!(file = %self.disk.describe(name), "removing a segment left unwritten by a crash");
            self.disk.remove(name).map_err(io_err(&*self.disk, name))?;
        }
        self.disk.sync_dir().map_err(io_err(&*self.disk, "."))
    }

    fn push_recovered(
        &mut self,
        segment: u64,
        offset: usize,
        used: usize,
        record: &LogRecord,
    ) -> Result<(), String> {
        if self.purged.is_some_and(|p| record.index <= p.index) {
            return Ok(());
        }
        match self.locs.back() {
            Some(last) if record.term < last.term => {
                return Err(format!(
                    "term goes back from {} to {}",
                    last.term, record.term
                ));
            }
            // A segment lost from the middle of the log must not renumber
            // the entries after it.
            Some(_) if record.index != self.next_index() => {
                return Err(format!(
                    "log resumes at {}, expected {}",
                    record.index,
                    self.next_index()
                ));
            }
            Some(_) => {}
            None if self.purged.is_some() && record.index != self.first => {
                return Err(format!(
                    "log resumes at {}, expected {}",
                    record.index, self.first
                ));
            }
            None => self.first = record.index,
        }
        self.locs.push_back(Loc {
            segment,
            offset: offset as u64,
            frame_len: u32::try_from(used).expect("frames are below 4 GiB"),
            term: record.term,
        });
        Ok(())
    }

    /// Whether the last append wrote its segment with direct I/O.
    pub fn writes_direct(&self) -> bool {
        self.segments
            .last_key_value()
            .is_some_and(|(_, seg)| matches!(seg.direct, Direct::On { .. }))
    }

    /// Whether a spare segment was asked for since the last rotation.
    pub fn spare_requested(&self) -> bool {
        self.spare_requested
    }

    /// Whether a preallocated segment is ready for the next rotation.
    pub fn spare_ready(&self) -> bool {
        self.spares
            .as_ref()
            .is_some_and(|s| s.ready.lock().expect("spare lock").is_some())
    }

    /// Index of the first entry held (or the next to be appended).
    pub fn first_index(&self) -> u64 {
        self.first
    }

    /// One past the last entry held.
    pub fn next_index(&self) -> u64 {
        self.first + self.locs.len() as u64
    }

    pub fn purged(&self) -> Option<LogId> {
        self.purged
    }

    pub fn last_log_id(&self) -> Option<LogId> {
        match self.locs.back() {
            Some(loc) => Some(log_id(loc.term, self.next_index() - 1)),
            None => self.purged,
        }
    }

    /// [`Self::append`], keeping the newest entries in memory for the reads
    /// that follow (replication).
    pub fn append_owned(&mut self, entries: Vec<Entry>) -> Result<(), LogError> {
        let Some(first) = entries.first().map(|e| e.log_id.index) else {
            return Ok(());
        };
        if let Err(e) = self.append(&entries) {
            self.forget_recent();
            return Err(e);
        }
        if self.recent_first + self.recent.len() as u64 != first {
            self.forget_recent();
            self.recent_first = first;
        }
        let appended = entries.len();
        let locs_first = self.locs.len() - appended;
        for (i, entry) in entries.into_iter().enumerate() {
            let frame_len = self.locs[locs_first + i].frame_len;
            self.recent_bytes += u64::from(frame_len);
            self.recent.push_back((entry, frame_len));
        }
        let written = self.written_index();
        while (self.recent.len() > RECENT_ENTRIES_MAX || self.recent_bytes > RECENT_BYTES_MAX)
            && self.recent_first < written
        {
            self.forget_oldest_recent();
        }
        Ok(())
    }

    /// Drops the oldest entry kept in memory, if any.
    fn forget_oldest_recent(&mut self) {
        if let Some((_, frame_len)) = self.recent.pop_front() {
            self.recent_bytes -= u64::from(frame_len);
            self.recent_first += 1;
        }
    }

    fn forget_recent(&mut self) {
        self.recent.clear();
        self.recent_bytes = 0;
        self.recent_first = self.next_index();
    }

    /// The entry at `index` from memory, if it is there.
    fn recent_entry(&self, index: u64) -> Option<Entry> {
        let at = usize::try_from(index.checked_sub(self.recent_first)?).ok()?;
        self.recent.get(at).map(|(entry, _)| entry.clone())
    }

    /// Appends entries; they are readable at once and durable after the next
    /// sync of [`Self::take_unsynced`].
    pub fn append(&mut self, entries: &[Entry]) -> Result<(), LogError> {
        let mut buf = Vec::new();
        let mut staged: Vec<Loc> = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            if self.locs.is_empty() && staged.is_empty() && self.purged.is_none() {
                self.first = index;
            }
            assert_eq!(
                index,
                self.next_index() + staged.len() as u64,
                "the log must stay contiguous"
            );
            let full = self
                .segments
                .last_key_value()
                .is_none_or(|(_, s)| s.len + buf.len() as u64 >= self.segment_size_max);
            if full {
                self.write_staged(&mut buf, &mut staged)?;
                self.create_segment(index)?;
            }
            let (segment, seg) = self.segments.last_key_value().expect("a segment exists");
            let start = buf.len();
            write_entry_frame(&mut buf, &mut self.encode_scratch, entry);
            staged.push(Loc {
                segment: *segment,
                offset: seg.len + start as u64,
                frame_len: u32::try_from(buf.len() - start).expect("frames are below 4 GiB"),
                term: entry.log_id.leader_id.term,
            });
        }
        self.write_staged(&mut buf, &mut staged)
    }

    fn write_staged(&mut self, buf: &mut Vec<u8>, staged: &mut Vec<Loc>) -> Result<(), LogError> {
        if buf.is_empty() {
            return Ok(());
        }
        let mut last = self.segments.last_entry().expect("a segment exists");
        let first = *last.key();
        let seg = last.get_mut();
        let len = buf.len() as u64;
        match &mut self.deferred {
            Some(deferred) => deferred.push(
                plan_segment_write(&*self.disk, seg, buf)
                    .map_err(io_err(&*self.disk, &seg.name))?,
            ),
            None => plan_segment_write(&*self.disk, seg, buf)
                .and_then(|write| write.run())
                .map_err(io_err(&*self.disk, &seg.name))?,
        }
        seg.len += len;
        self.unsynced.insert(first);
        self.locs.extend(staged.drain(..));
        self.request_spare_if_due();
        Ok(())
    }

    /// Asks for the next spare once the active segment is half full.
    fn request_spare_if_due(&mut self) {
        let Some(spares) = &self.spares else {
            return;
        };
        let half_full = self
            .segments
            .last_key_value()
            .is_some_and(|(_, seg)| seg.len >= self.segment_size_max / 2);
        if half_full && !self.spare_requested {
            spares.request();
            self.spare_requested = true;
        }
    }

    fn create_segment(&mut self, first_index: u64) -> Result<(), LogError> {
        let name = segment_name(first_index);
        let spare = match &self.spares {
            Some(spares) => spares.take_as(&*self.disk, &name)?,
            None => None,
        };
        self.spare_requested = false;
        let file = match spare {
            Some(file) => file,
            None => {
                let file = self
                    .disk
                    .open(&name, true)
                    .map_err(io_err(&*self.disk, &name))?;
                file.truncate(0).map_err(io_err(&*self.disk, &name))?;
                file
            }
        };

        self.segments.insert(
            first_index,
            Segment {
                name,
                file,
                len: 0,
                direct: Direct::Unknown,
            },
        );
        self.dir_unsynced = true;
        Ok(())
    }

    /// The files written since the last call; syncing them makes every entry
    /// appended so far durable.
    pub fn take_unsynced(&mut self) -> SyncJob {
        let files = std::mem::take(&mut self.unsynced)
            .into_iter()
            .filter_map(|first| self.segments.get(&first).map(|s| s.file.clone()))
            .collect();
        let writes = self
            .deferred
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        SyncJob {
            written_to: (!writes.is_empty()).then(|| self.next_index()),
            writes,
            files,
            dir: std::mem::take(&mut self.dir_unsynced),
        }
    }

    /// From now on appends only plan their writes; [`Self::take_unsynced`]
    /// hands them to the flusher, which runs them (in order) before it
    /// syncs, off the caller's thread. Until a write has run, its entries are
    /// served from memory, so readers never see a hole. Whoever truncates or
    /// purges must first let the flusher finish what it was given.
    pub fn defer_writes(&mut self) {
        self.written.store(self.next_index(), Ordering::SeqCst);
        self.deferred = Some(Vec::new());
    }

    /// Where the flusher reports how far deferred writes reached.
    pub fn written_marker(&self) -> Arc<AtomicU64> {
        self.written.clone()
    }

    /// The index below which entries are on their files.
    fn written_index(&self) -> u64 {
        match self.deferred {
            Some(_) => self.written.load(Ordering::SeqCst),
            None => u64::MAX,
        }
    }

    /// Runs a job's deferred writes, in order (blocking; the flusher).
    pub fn write_job(job: &SyncJob) -> io::Result<()> {
        for write in &job.writes {
            write.run()?;
        }
        Ok(())
    }

    /// Syncs a job's files (blocking; called by the flusher).
    pub fn sync_job(disk: &dyn Disk, job: &SyncJob) -> io::Result<()> {
        for file in &job.files {
            file.sync()?;
        }
        if job.dir {
            disk.sync_dir()?;
        }
        Ok(())
    }

    pub fn disk(&self) -> Arc<dyn Disk> {
        self.disk.clone()
    }

    /// Reads the entry at `index`, verifying its checksum.
    pub fn entry(&self, index: u64) -> Result<Entry, LogError> {
        assert!(
            index >= self.first && index < self.next_index(),
            "entry {index} is not held"
        );
        if let Some(entry) = self.recent_entry(index) {
            return Ok(entry);
        }
        let loc = self.locs[usize::try_from(index - self.first).expect("fits")];
        let seg = self
            .segments
            .get(&loc.segment)
            .expect("a held entry's segment exists");
        let mut buf = vec![0u8; loc.frame_len as usize];
        seg.file
            .read_at(loc.offset, &mut buf)
            .map_err(io_err(&*self.disk, &seg.name))?;
        let corrupt = |reason: String| LogError::Corrupt {
            file: self.disk.describe(&seg.name),
            offset: loc.offset,
            reason,
        };
        let (payload, _) = read_frame(&buf).map_err(|e| corrupt(e.to_string()))?;
        let record: LogRecord = from_rkyv(payload).map_err(|e| corrupt(e.to_string()))?;
        if record.index != index || record.term != loc.term {
            return Err(corrupt(format!(
                "expected entry {index}/{}, found {}/{}",
                loc.term, record.index, record.term
            )));
        }
        record.into_entry().map_err(|e| corrupt(e.to_string()))
    }

    /// Reads entries in `start..end`, clamped to what is held.
    pub fn entries(&self, start: u64, end: u64) -> Result<Vec<Entry>, LogError> {
        let start = start.max(self.first);
        let end = end.min(self.next_index());
        (start..end).map(|index| self.entry(index)).collect()
    }

    /// Removes every entry at or after `index` (a conflicting suffix), durably.
    pub fn truncate(&mut self, index: u64) -> Result<(), LogError> {
        if index >= self.next_index() {
            return Ok(());
        }
        assert!(
            index >= self.first,
            "cannot truncate below the first held entry"
        );
        let keep = usize::try_from(index - self.first).expect("fits");
        let cut = self.locs[keep];
        self.locs.truncate(keep);
        // Truncations are rare (a leader change): start the copy afresh.
        // With deferred writes the caller let the flusher finish first, so
        // everything left is on its file.
        self.forget_recent();
        if self.deferred.is_some() {
            self.written.store(self.next_index(), Ordering::SeqCst);
        }
        // Newest first, so that a crash part-way leaves a contiguous prefix
        // (unlinks in one directory reach the disk in order) and not a hole.
        let doomed: Vec<u64> = self
            .segments
            .range(cut.segment + 1..)
            .rev()
            .map(|(first, _)| *first)
            .collect();
        for first in doomed {
            self.remove_segment(first)?;
        }
        if cut.offset == 0 {
            self.remove_segment(cut.segment)?;
        } else {
            let seg = self
                .segments
                .get_mut(&cut.segment)
                .expect("the cut segment exists");
            seg.file
                .truncate(cut.offset)
                .map_err(io_err(&*self.disk, &seg.name))?;
            seg.file.sync().map_err(io_err(&*self.disk, &seg.name))?;
            seg.len = cut.offset;
            seg.direct = Direct::Unknown;
        }
        self.disk.sync_dir().map_err(io_err(&*self.disk, "."))
    }

    fn remove_segment(&mut self, first: u64) -> Result<(), LogError> {
        if let Some(seg) = self.segments.remove(&first) {
            self.disk
                .remove(&seg.name)
                .map_err(io_err(&*self.disk, &seg.name))?;
            self.unsynced.remove(&first);
        }
        Ok(())
    }

    /// Forgets every entry up to and including `upto`, which the state
    /// machine already holds in a durable snapshot. The purge point is written
    /// first, so a crash in between only leaves extra files behind.
    pub fn purge(&mut self, upto: LogId) -> Result<(), LogError> {
        if self.purged.is_some_and(|p| p.index >= upto.index) {
            return Ok(());
        }
        let record = encode_framed(&LogIdRecord::from_log_id(&upto));
        write_file_atomic(&*self.disk, PURGED_FILE, &record)
            .map_err(io_err(&*self.disk, PURGED_FILE))?;
        self.purged = Some(upto);
        let drop_count = (upto.index + 1)
            .saturating_sub(self.first)
            .min(self.locs.len() as u64);
        self.locs
            .drain(..usize::try_from(drop_count).expect("fits"));
        while self.recent_first <= upto.index && !self.recent.is_empty() {
            self.forget_oldest_recent();
        }
        self.first = self.first.max(upto.index + 1);
        self.drop_purged_segments()
    }

    /// Removes segments whose every entry is at or below the purge point.
    fn drop_purged_segments(&mut self) -> Result<(), LogError> {
        let Some(purged) = self.purged else {
            return Ok(());
        };
        let firsts: Vec<u64> = self.segments.keys().copied().collect();
        for pair in firsts.windows(2) {
            if pair[1] <= purged.index + 1 {
                self.remove_segment(pair[0])?;
            }
        }
        if let Some(last) = firsts.last() {
            if self.locs.is_empty() && *last <= purged.index {
                // Everything held is purged: start afresh at the next append.
                self.remove_segment(*last)?;
            }
        }
        Ok(())
    }

    pub fn save_vote(&self, vote: &Vote) -> Result<(), LogError> {
        let record = encode_framed(&VoteRecord::from_vote(vote));
        write_file_atomic(&*self.disk, VOTE_FILE, &record).map_err(io_err(&*self.disk, VOTE_FILE))
    }

    pub fn read_vote(&self) -> Result<Option<Vote>, LogError> {
        match read_file(&*self.disk, VOTE_FILE).map_err(io_err(&*self.disk, VOTE_FILE))? {
            None => Ok(None),
            Some(bytes) => Ok(decode_meta::<VoteRecord>(&*self.disk, VOTE_FILE, &bytes)?.to_vote()),
        }
    }
}

/// What recovering one segment found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recovered {
    /// Every byte verified.
    Whole,
    /// The log's torn tail was cut off in this segment; later ones are unwritten.
    TailCut,
}

fn read_whole(disk: &dyn Disk, name: &str, file: &dyn DiskFile) -> Result<Vec<u8>, LogError> {
    let len = file.size().map_err(io_err(disk, name))?;
    let mut data = vec![0u8; usize::try_from(len).expect("segment fits in memory")];
    file.read_at(0, &mut data).map_err(io_err(disk, name))?;
    Ok(data)
}

/// True if none of `segments` holds a valid frame at any offset: a crash
/// created them, but none of their writes reached the disk whole.
fn holds_no_frame(disk: &dyn Disk, segments: &[(u64, String)]) -> Result<bool, LogError> {
    for (_, name) in segments {
        let file = disk.open(name, false).map_err(io_err(disk, name))?;
        let data = read_whole(disk, name, &*file)?;
        if (0..data.len().min(TORN_SCAN_BYTES_MAX)).any(|probe| read_frame(&data[probe..]).is_ok())
        {
            return Ok(false);
        }
    }
    Ok(true)
}

fn is_torn_tail(data: &[u8], offset: usize, error: &FrameError) -> bool {
    if matches!(error, FrameError::Decode(_)) {
        return false;
    }
    let end = data.len().min(offset.saturating_add(TORN_SCAN_BYTES_MAX));
    // A valid frame anywhere after the damage means the damage is not the tail.
    !(offset + 1..end).any(|probe| read_frame(&data[probe..]).is_ok())
}

fn decode_meta<T>(disk: &dyn Disk, name: &str, bytes: &[u8]) -> Result<T, LogError>
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::rancor::Strategy<rkyv::de::Pool, rkyv::rancor::Error>>,
{
    decode_framed(bytes).map_err(|e| LogError::Corrupt {
        file: disk.describe(name),
        offset: 0,
        reason: e.to_string(),
    })
}
