//! Integration tests of the Raft log: segment files on a real directory,
//! crash recovery, truncation, purging, votes, group-commit jobs, and
//! openraft's log-storage API (including openraft's own conformance suite).
//!
//! Expected entries are rebuilt from `(index, term)` by [`entry`], so a model
//! of the log is just the term of every index it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftLogReader, RaftLogStorage};
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::{BasicNode, EntryPayload, StorageError};
use orbit_core::redis::command::{SetCondition, SetExpiry};
use orbit_core::redis::Command;
use orbit_storage::disk::DiskFile;
use orbit_storage::raft::types::{Entry, LogId, Membership, Vote};
use orbit_storage::raft::TypeConfig;
use orbit_storage::record::{from_rkyv, log_id, read_frame, LogRecord};
use orbit_storage::{Disk, FsDisk, LogError, LogStore, SegmentLog, StateMachine};
use proptest::prelude::*;
use tempfile::TempDir;

/// Small segments, so a few hundred entries span several of them.
const SEGMENT_SIZE_MAX: u64 = 4096;

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory can be created")
}

thread_local! {
    /// Whether this test's logs preallocate their segments (most tests check
    /// the plain layout byte by byte).
    static PREALLOCATE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn disk(dir: &Path) -> Arc<dyn Disk> {
    let disk = FsDisk::open(dir).expect("the directory opens");
    if PREALLOCATE.get() {
        Arc::new(disk)
    } else {
        Arc::new(disk.without_preallocation())
    }
}

fn open(dir: &Path) -> SegmentLog {
    SegmentLog::open(disk(dir), SEGMENT_SIZE_MAX).expect("the log opens")
}

fn membership(index: u64) -> Membership {
    let nodes: BTreeMap<u64, BasicNode> = (1..=5)
        .map(|id| {
            (
                id,
                BasicNode {
                    addr: format!("10.0.0.{id}:{}", 7000 + index % 100),
                },
            )
        })
        .collect();
    // Every other membership entry is a joint configuration; node 5 is a learner.
    let configs = if index % 10 == 1 {
        vec![BTreeSet::from([1, 2, 3]), BTreeSet::from([2, 3, 4])]
    } else {
        vec![BTreeSet::from([1, 2, 3])]
    };
    Membership::new(configs, nodes).expect("a valid membership")
}

fn request(index: u64, term: u64) -> orbit_core::Entry {
    let key = format!("key-{index}").into_bytes();
    let cmd = match index % 4 {
        0 => Command::Del {
            keys: vec![key, b"other".to_vec()],
        },
        1 => Command::IncrBy {
            key,
            delta: -(index as i64),
        },
        // Values of varied length make records of varied size.
        _ => Command::Set {
            key,
            value: vec![(index % 251) as u8; (index * 37 % 300) as usize],
            condition: SetCondition::Always,
            expiry: SetExpiry::Clear,
            get: false,
        },
    };
    orbit_core::Entry::redis(
        1_700_000_000_000 + index * 10 + term,
        (index % 3) as u8,
        cmd,
    )
}

/// The entry at `index` written in `term`: its payload kind and size follow
/// from the index, so every kind appears and records differ in length.
fn entry(index: u64, term: u64) -> Entry {
    let payload = match index % 5 {
        0 => EntryPayload::Blank,
        1 => EntryPayload::Membership(membership(index)),
        _ => EntryPayload::Normal(request(index, term)),
    };
    Entry {
        log_id: log_id(term, index),
        payload,
    }
}

fn entries(indexes: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
    indexes.map(|index| entry(index, term)).collect()
}

/// One record found by parsing a segment file independently of the log.
#[derive(Debug, Clone, Copy)]
struct Frame {
    index: u64,
    term: u64,
    start: u64,
    end: u64,
}

struct SegmentFile {
    path: PathBuf,
    frames: Vec<Frame>,
    len: u64,
}

/// Parses a segment file up to its first unreadable frame.
fn parse_segment(path: &Path) -> SegmentFile {
    let data = std::fs::read(path).expect("segment is readable");
    let mut frames = Vec::new();
    let mut offset = 0usize;
    while let Ok((payload, used)) = read_frame(&data[offset..]) {
        let record: LogRecord = from_rkyv(payload).expect("a verified frame decodes");
        frames.push(Frame {
            index: record.index,
            term: record.term,
            start: offset as u64,
            end: (offset + used) as u64,
        });
        offset += used;
    }
    SegmentFile {
        path: path.to_path_buf(),
        frames,
        len: data.len() as u64,
    }
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("dir lists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    paths.sort();
    paths
}

fn segments(dir: &Path) -> Vec<SegmentFile> {
    segment_paths(dir)
        .iter()
        .map(|p| parse_segment(p))
        .collect()
}

/// Checks the on-disk shape: every segment is named after its first record,
/// holds only whole verified frames, and the records run contiguously.
fn assert_layout(dir: &Path) {
    let mut next: Option<u64> = None;
    for seg in segments(dir) {
        let first = seg
            .frames
            .first()
            .unwrap_or_else(|| panic!("{} holds no record", seg.path.display()));
        let name = seg
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 name");
        assert_eq!(
            name,
            format!("{:020}.log", first.index),
            "segment named after its first record"
        );
        let end = seg.frames.last().map_or(0, |f| f.end);
        if PREALLOCATE.get() {
            let bytes = std::fs::read(&seg.path).expect("segment reads");
            assert!(
                bytes[end as usize..].iter().all(|b| *b == 0),
                "{name} holds only zeros after its last frame"
            );
        } else {
            assert_eq!(end, seg.len, "{name} ends with a whole frame");
        }
        for pair in seg.frames.windows(2) {
            assert_eq!(pair[1].index, pair[0].index + 1, "{name} is contiguous");
            assert!(pair[1].term >= pair[0].term, "{name} terms never go back");
        }
        if let Some(next) = next {
            assert_eq!(first.index, next, "{name} continues the previous segment");
        }
        next = Some(seg.frames.last().expect("non-empty").index + 1);
    }
}

fn read_all(log: &SegmentLog) -> Vec<Entry> {
    log.entries(0, u64::MAX)
        .expect("every held entry reads back")
}

/// The files of a directory, to put back after a simulated crash.
fn save_dir(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("dir lists")
        .map(|e| e.expect("dir entry").path())
        .map(|p| {
            let bytes = std::fs::read(&p).expect("file reads");
            (p, bytes)
        })
        .collect()
}

fn restore_dir(dir: &Path, saved: &BTreeMap<PathBuf, Vec<u8>>) {
    for entry in std::fs::read_dir(dir).expect("dir lists") {
        std::fs::remove_file(entry.expect("dir entry").path()).expect("file removes");
    }
    for (path, bytes) in saved {
        std::fs::write(path, bytes).expect("file writes");
    }
}

fn xor_byte(path: &Path, offset: u64, mask: u8) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("file opens");
    let mut byte = [0u8];
    file.read_exact_at(&mut byte, offset).expect("byte reads");
    byte[0] ^= mask;
    file.write_all_at(&byte, offset).expect("byte writes");
}

fn set_len(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("file opens")
        .set_len(len)
        .expect("set_len");
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("file opens");
    let len = file.metadata().expect("metadata").len();
    file.write_all_at(bytes, len).expect("bytes append");
}

/// Deterministic bytes that are not frames (splitmix64).
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn expect_corrupt(result: Result<SegmentLog, LogError>) -> (String, u64) {
    match result {
        Err(LogError::Corrupt { file, offset, .. }) => (file, offset),
        Err(other) => panic!("expected LogError::Corrupt, got {other}"),
        Ok(log) => panic!(
            "corruption accepted; log holds up to {:?}",
            log.last_log_id()
        ),
    }
}

/// A log of entries `1..=last` in `term`, appended in batches of 7.
fn build_log(dir: &Path, last: u64, term: u64) -> SegmentLog {
    let mut log = open(dir);
    let all = entries(1..=last, term);
    for batch in all.chunks(7) {
        log.append(batch).expect("append");
    }
    log
}

#[test]
fn round_trip_across_segment_rotations() {
    // Goal: entries of every payload kind, appended in batches of varied size across several segment rotations, read back identical before and after reopening.
    let dir = tempdir();
    let expected: Vec<Entry> = (1..=150).map(|i| entry(i, 1 + i / 50)).collect();
    let mut log = open(dir.path());
    assert_eq!(
        (log.last_log_id(), log.purged(), log.next_index()),
        (None, None, 0)
    );
    let mut at = 0;
    for batch in [1usize, 2, 7, 30, 3, 50, 1, 56] {
        log.append(&expected[at..at + batch]).expect("append");
        at += batch;
        assert_eq!(log.last_log_id(), Some(expected[at - 1].log_id));
    }
    assert_eq!(at, expected.len());
    let kinds: BTreeSet<&str> = expected
        .iter()
        .map(|e| match e.payload {
            EntryPayload::Blank => "blank",
            EntryPayload::Normal(_) => "normal",
            EntryPayload::Membership(_) => "membership",
        })
        .collect();
    assert_eq!(kinds.len(), 3, "every payload kind is covered");
    assert!(
        segments(dir.path()).len() >= 4,
        "the log rotated several times"
    );
    assert_layout(dir.path());
    for log in [log, open(dir.path())] {
        assert_eq!((log.first_index(), log.next_index()), (1, 151));
        assert_eq!(log.last_log_id(), Some(log_id(4, 150)));
        assert_eq!(read_all(&log), expected);
        assert_eq!(
            log.entries(40, 60).expect("range"),
            expected[39..59].to_vec()
        );
        assert_eq!(
            log.entries(140, 1000).expect("clamped range"),
            expected[139..].to_vec()
        );
        for e in &expected {
            assert_eq!(&log.entry(e.log_id.index).expect("entry"), e);
        }
    }
}

/// Builds 1..=120, truncates at the index `choose` picks from the segment
/// files, appends 40 entries of term 2 from there, and checks before and
/// after reopening.
fn truncate_then_append(choose: impl Fn(&[SegmentFile]) -> u64) {
    let dir = tempdir();
    let mut log = build_log(dir.path(), 120, 1);
    let at = choose(&segments(dir.path()));
    log.truncate(at).expect("truncate");
    let kept = at.clamp(1, 121);
    assert_eq!(log.next_index(), kept);
    let expected_last = (kept > 1).then(|| log_id(1, kept - 1));
    assert_eq!(log.last_log_id(), expected_last);
    assert_eq!(read_all(&log), entries(1..=kept - 1, 1));
    assert_layout(dir.path());
    // The truncation is durable on its own: a reopen sees the same log.
    let mut log = open(dir.path());
    assert_eq!(
        (log.last_log_id(), read_all(&log)),
        (expected_last, entries(1..=kept - 1, 1))
    );
    let fresh = entries(kept..=kept + 39, 2);
    log.append(&fresh[..1]).expect("append");
    log.append(&fresh[1..]).expect("append");
    let mut expected = entries(1..=kept - 1, 1);
    expected.extend(fresh);
    for log in [log, open(dir.path())] {
        assert_eq!(log.first_index(), 1);
        assert_eq!(log.last_log_id(), Some(log_id(2, kept + 39)));
        assert_eq!(read_all(&log), expected);
    }
    assert_layout(dir.path());
}

#[test]
fn truncate_at_a_segment_boundary() {
    // Goal: truncating at the first entry of a segment removes that segment and all later ones; new entries of a new term follow.
    truncate_then_append(|segs| {
        assert!(segs.len() >= 3);
        segs[1].frames[0].index
    });
}

#[test]
fn truncate_mid_segment() {
    // Goal: truncating inside a segment cuts that file at the record's offset; new entries of a new term follow.
    truncate_then_append(|segs| {
        assert!(segs.len() >= 3 && segs[1].frames.len() >= 4);
        segs[1].frames[2].index
    });
}

#[test]
fn truncate_at_the_first_entry() {
    // Goal: truncating at the first entry empties the log; it restarts at the same index in a new term.
    truncate_then_append(|_| 1);
}

#[test]
fn truncate_beyond_the_end_is_a_no_op() {
    // Goal: truncating past the last entry changes nothing; appends continue after the last entry.
    truncate_then_append(|_| 200);
}

#[test]
fn purge_deletes_segments_wholly_below_the_point() {
    // Goal: purge records its point, deletes exactly the segments whose every entry is at or below it, and keeps that across reopening.
    let dir = tempdir();
    let mut log = build_log(dir.path(), 120, 1);
    let before = segments(dir.path());
    assert!(before.len() >= 4);
    let check = |log: &SegmentLog, upto: u64| {
        assert_eq!(log.purged(), Some(log_id(1, upto)));
        assert_eq!((log.first_index(), log.next_index()), (upto + 1, 121));
        assert_eq!(log.last_log_id(), Some(log_id(1, 120)));
        assert_eq!(read_all(log), entries(upto + 1..=120, 1));
        let kept: Vec<PathBuf> = segment_paths(dir.path());
        for seg in &before {
            let last = seg.frames.last().expect("non-empty").index;
            assert_eq!(
                kept.contains(&seg.path),
                last > upto,
                "{} kept iff it holds an entry above {upto}",
                seg.path.display()
            );
        }
        assert_layout(dir.path());
    };
    // Inside the third segment: the first two go.
    let upto = before[2].frames[2].index;
    log.purge(log_id(1, upto)).expect("purge");
    check(&log, upto);
    let mut log = open(dir.path());
    check(&log, upto);
    // The last entry of the third segment: that segment goes too.
    let upto = before[2].frames.last().expect("non-empty").index;
    log.purge(log_id(1, upto)).expect("purge");
    check(&log, upto);
    // A lower purge point is ignored.
    log.purge(log_id(1, 3)).expect("purge");
    check(&log, upto);
    let mut log = open(dir.path());
    check(&log, upto);
    // Appends continue after a purge.
    log.append(&entries(121..=130, 1)).expect("append");
    let log = open(dir.path());
    assert_eq!(read_all(&log), entries(upto + 1..=130, 1));
}

#[test]
fn purge_beyond_the_end_leaves_an_empty_log() {
    // Goal: purging past the last entry removes every segment; the log reports the purge point as its last id and the next append starts right after it, across reopening.
    let dir = tempdir();
    let mut log = build_log(dir.path(), 50, 1);
    let purged = log_id(3, 80);
    log.purge(purged).expect("purge");
    let check_empty = |log: &SegmentLog| {
        assert_eq!(
            (log.purged(), log.last_log_id()),
            (Some(purged), Some(purged))
        );
        assert_eq!((log.first_index(), log.next_index()), (81, 81));
        assert!(read_all(log).is_empty());
        assert!(segment_paths(dir.path()).is_empty(), "no segment is left");
    };
    check_empty(&log);
    let mut log = open(dir.path());
    check_empty(&log);
    log.append(&entries(81..=100, 3)).expect("append");
    for log in [log, open(dir.path())] {
        assert_eq!(log.purged(), Some(purged));
        assert_eq!(log.first_index(), 81);
        assert_eq!(log.last_log_id(), Some(log_id(3, 100)));
        assert_eq!(read_all(&log), entries(81..=100, 3));
    }
    assert_eq!(segments(dir.path())[0].frames[0].index, 81);
}

#[test]
fn corrupt_purge_record_is_refused() {
    // Goal: a damaged purge record stops the log from opening instead of being ignored.
    let dir = tempdir();
    let mut log = build_log(dir.path(), 30, 1);
    log.purge(log_id(1, 10)).expect("purge");
    drop(log);
    let path = dir.path().join("purged");
    let len = std::fs::metadata(&path).expect("purged exists").len();
    for offset in 0..len {
        xor_byte(&path, offset, 0x10);
        let (file, at) = expect_corrupt(SegmentLog::open(disk(dir.path()), SEGMENT_SIZE_MAX));
        assert_eq!((file, at), (path.display().to_string(), 0));
        xor_byte(&path, offset, 0x10);
    }
    assert_eq!(open(dir.path()).purged(), Some(log_id(1, 10)));
}

/// Builds 1..=last and returns it with the saved directory.
fn crash_fixture(dir: &Path, last: u64) -> BTreeMap<PathBuf, Vec<u8>> {
    drop(build_log(dir, last, 1));
    assert!(segments(dir).len() >= 3);
    save_dir(dir)
}

/// After a simulated crash: the log opens holding exactly `1..=held`, the
/// damaged segment is cut back to `good_len` (or gone when that is zero), and
/// a new entry appends and survives a reopen.
fn assert_recovers(dir: &Path, path: &Path, held: u64, good_len: u64) {
    let mut log = open(dir);
    assert_eq!(log.last_log_id(), Some(log_id(1, held)));
    assert_eq!(read_all(&log), entries(1..=held, 1));
    match good_len {
        0 => assert!(!path.exists(), "the emptied segment was removed"),
        len => assert_eq!(
            std::fs::metadata(path).expect("segment").len(),
            len,
            "damage truncated"
        ),
    }
    assert_layout(dir);
    log.append(&[entry(held + 1, 2)])
        .expect("append after recovery");
    let log = open(dir);
    assert_eq!(log.last_log_id(), Some(log_id(2, held + 1)));
    assert_eq!(log.entry(held + 1).expect("new entry"), entry(held + 1, 2));
}

#[test]
fn torn_tail_cut_at_every_offset_inside_the_last_record() {
    // Goal: a crash that cuts the last segment anywhere inside its last record recovers to exactly the records before it.
    let dir = tempdir();
    let saved = crash_fixture(dir.path(), 100);
    let last = segments(dir.path()).pop().expect("a segment");
    assert!(last.frames.len() >= 3);
    let torn = *last.frames.last().expect("a record");
    for cut in torn.start..torn.end {
        restore_dir(dir.path(), &saved);
        set_len(&last.path, cut);
        assert_recovers(dir.path(), &last.path, torn.index - 1, torn.start);
    }
}

#[test]
fn torn_tail_of_a_segment_holding_one_record() {
    // Goal: when the torn record is the only one in the newest segment, recovery removes that segment and the next append recreates it.
    let dir = tempdir();
    let mut log = open(dir.path());
    let mut index = 1;
    while segments(dir.path()).len() < 3 {
        log.append(&[entry(index, 1)]).expect("append");
        index += 1;
    }
    drop(log);
    let saved = save_dir(dir.path());
    let last = segments(dir.path()).pop().expect("a segment");
    assert_eq!(last.frames.len(), 1);
    for cut in 0..last.len {
        restore_dir(dir.path(), &saved);
        set_len(&last.path, cut);
        assert_recovers(dir.path(), &last.path, index - 2, 0);
    }
}

#[test]
fn torn_tail_zeroed_or_followed_by_garbage() {
    // Goal: a last record whose bytes are zeroed, zeros preallocated after the last record, or garbage after it, are all cut off as a torn tail.
    let dir = tempdir();
    let saved = crash_fixture(dir.path(), 100);
    let last = segments(dir.path()).pop().expect("a segment");
    let torn = *last.frames.last().expect("a record");
    let size = (torn.end - torn.start) as usize;
    // The last record zeroed from its start, its checksum, its payload, or
    // its second half (a lost sector), wherever that changes its bytes.
    let bytes = &saved[&last.path][torn.start as usize..torn.end as usize];
    for zero_from in [
        torn.start,
        torn.start + 4,
        torn.start + 8,
        torn.start + size as u64 / 2,
    ] {
        if bytes[(zero_from - torn.start) as usize..]
            .iter()
            .all(|b| *b == 0)
        {
            continue;
        }
        restore_dir(dir.path(), &saved);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(&last.path)
            .expect("open");
        file.write_all_at(&vec![0u8; (torn.end - zero_from) as usize], zero_from)
            .expect("zero");
        assert_recovers(dir.path(), &last.path, torn.index - 1, torn.start);
    }
    // Zeros after the last good record (a file extended but never written).
    restore_dir(dir.path(), &saved);
    append_bytes(&last.path, &[0u8; 4096]);
    assert_recovers(dir.path(), &last.path, torn.index, torn.end);
    // Garbage of many lengths after the last good record.
    for (seed, len) in [
        1usize,
        3,
        7,
        8,
        9,
        size - 1,
        size,
        size + 1,
        100,
        1000,
        5000,
    ]
    .into_iter()
    .enumerate()
    {
        restore_dir(dir.path(), &saved);
        append_bytes(&last.path, &garbage(seed as u64, len));
        assert_recovers(dir.path(), &last.path, torn.index, torn.end);
    }
    // A frame header that promises a small payload which never arrived.
    restore_dir(dir.path(), &saved);
    let mut header = 40u32.to_le_bytes().to_vec();
    header.extend_from_slice(&[0xAB; 4 + 17]);
    append_bytes(&last.path, &header);
    assert_recovers(dir.path(), &last.path, torn.index, torn.end);
}

/// Flips each byte of `frame` in `path` in turn and checks that opening fails
/// naming that file and the record's start, and changes nothing on disk.
fn assert_every_flip_refused(dir: &Path, path: &Path, frame: Frame) {
    let saved = save_dir(dir);
    for offset in frame.start..frame.end {
        xor_byte(path, offset, 0x01);
        let (file, at) = expect_corrupt(SegmentLog::open(disk(dir), SEGMENT_SIZE_MAX));
        assert_eq!(file, path.display().to_string(), "flip at {offset}");
        assert_eq!(
            at, frame.start,
            "flip at {offset} reported at the record's start"
        );
        xor_byte(path, offset, 0x01);
        assert_eq!(
            save_dir(dir),
            saved,
            "a refused open leaves the files alone"
        );
    }
}

#[test]
fn mid_log_corruption_in_the_last_segment_is_refused() {
    // Goal: a damaged record followed by valid ones in the last segment is corruption, not a torn tail: open fails with its file and offset.
    let dir = tempdir();
    crash_fixture(dir.path(), 100);
    let last = segments(dir.path()).pop().expect("a segment");
    let n = last.frames.len();
    assert!(n >= 3);
    assert_every_flip_refused(dir.path(), &last.path, last.frames[0]);
    assert_every_flip_refused(dir.path(), &last.path, last.frames[n - 2]);
}

#[test]
fn mid_log_corruption_in_an_earlier_segment_is_refused() {
    // Goal: a damaged record in an earlier segment, in its middle or at its end, fails open with its file and offset.
    let dir = tempdir();
    crash_fixture(dir.path(), 100);
    let first = segments(dir.path()).remove(0);
    let n = first.frames.len();
    assert!(n >= 3);
    assert_every_flip_refused(dir.path(), &first.path, first.frames[n / 2]);
    assert_every_flip_refused(dir.path(), &first.path, first.frames[n - 1]);
}

#[test]
fn missing_middle_segment_is_refused() {
    // Goal: a hole in the log (a lost segment file) fails open instead of renumbering the entries after it.
    let dir = tempdir();
    crash_fixture(dir.path(), 120);
    let segs = segments(dir.path());
    std::fs::remove_file(&segs[1].path).expect("remove");
    let (file, offset) = expect_corrupt(SegmentLog::open(disk(dir.path()), SEGMENT_SIZE_MAX));
    assert_eq!((file, offset), (segs[2].path.display().to_string(), 0));
}

#[test]
fn torn_tail_before_an_unwritten_segment() {
    // Goal: a crash during a segment rotation (the older segment's tail torn, the new segment created but holding no whole record) recovers to the records before the tear; a new segment with a valid record behind the tear is refused.
    let dir = tempdir();
    let saved = crash_fixture(dir.path(), 100);
    let segs = segments(dir.path());
    let (prev, last) = (&segs[segs.len() - 2], &segs[segs.len() - 1]);
    let torn = *prev.frames.last().expect("a record");
    let newest_states: [&dyn Fn(&Path); 3] = [&|p| set_len(p, 0), &|p| set_len(p, 5), &|p| {
        set_len(p, 0);
        append_bytes(p, &garbage(9, 300));
    }];
    for damage in newest_states {
        for cut in [torn.start, torn.start + 3, torn.end - 1] {
            restore_dir(dir.path(), &saved);
            damage(&last.path);
            set_len(&prev.path, cut);
            assert_recovers(dir.path(), &prev.path, torn.index - 1, torn.start);
            assert!(!last.path.exists(), "the unwritten segment was removed");
        }
    }
    // With a whole record behind the tear, the damage is not the log's tail.
    restore_dir(dir.path(), &saved);
    set_len(&prev.path, torn.end - 1);
    let (file, offset) = expect_corrupt(SegmentLog::open(disk(dir.path()), SEGMENT_SIZE_MAX));
    assert_eq!(
        (file, offset),
        (prev.path.display().to_string(), torn.start)
    );
}

#[test]
fn checksums_are_verified_on_every_read() {
    // Goal: a record damaged on disk after the log opened is refused by `entry` with its file and offset; its neighbours still read.
    let dir = tempdir();
    let log = build_log(dir.path(), 100, 1);
    let seg = segments(dir.path()).remove(1);
    let frame = seg.frames[2];
    let index = frame.index;
    for offset in frame.start..frame.end {
        xor_byte(&seg.path, offset, 0x80);
        match log.entry(index) {
            Err(LogError::Corrupt {
                file, offset: at, ..
            }) => {
                assert_eq!(
                    (file, at),
                    (seg.path.display().to_string(), frame.start),
                    "flip at {offset}"
                );
            }
            other => panic!("flip at {offset} not refused: {other:?}"),
        }
        assert!(matches!(
            log.entries(index - 1, index + 2),
            Err(LogError::Corrupt { .. })
        ));
        assert_eq!(
            log.entry(index - 1).expect("neighbour"),
            entry(index - 1, 1)
        );
        assert_eq!(
            log.entry(index + 1).expect("neighbour"),
            entry(index + 1, 1)
        );
        xor_byte(&seg.path, offset, 0x80);
    }
    assert_eq!(read_all(&log), entries(1..=100, 1));
}

#[test]
fn vote_round_trip() {
    // Goal: votes read back as saved, the latest one wins, and they survive reopening; a stale temporary file from a crashed save is harmless.
    let dir = tempdir();
    let log = open(dir.path());
    assert_eq!(log.read_vote().expect("read"), None);
    let votes = [
        Vote::new(1, 2),
        Vote::new(3, 2),
        Vote::new_committed(3, 2),
        Vote::new_committed(9, 1),
    ];
    for vote in votes {
        log.save_vote(&vote).expect("save");
        assert_eq!(log.read_vote().expect("read"), Some(vote));
    }
    drop(log);
    std::fs::write(dir.path().join("vote.tmp"), garbage(3, 17)).expect("stale tmp");
    let log = open(dir.path());
    assert_eq!(
        log.read_vote().expect("read"),
        Some(Vote::new_committed(9, 1))
    );
    log.save_vote(&Vote::new(10, 3))
        .expect("save over a stale tmp");
    assert_eq!(
        open(dir.path()).read_vote().expect("read"),
        Some(Vote::new(10, 3))
    );
}

#[test]
fn corrupt_vote_is_refused() {
    // Goal: a vote file with any flipped byte, cut short, or with trailing bytes is refused as corrupt, never read as some other vote.
    let dir = tempdir();
    let log = open(dir.path());
    log.save_vote(&Vote::new_committed(5, 3)).expect("save");
    let path = dir.path().join("vote");
    let good = std::fs::read(&path).expect("vote file");
    let refused = |log: &SegmentLog| match log.read_vote() {
        Err(LogError::Corrupt { file, offset, .. }) => {
            assert_eq!((file, offset), (path.display().to_string(), 0))
        }
        other => panic!("damaged vote not refused: {other:?}"),
    };
    for offset in 0..good.len() {
        let mut bad = good.clone();
        bad[offset] ^= 0x04;
        std::fs::write(&path, &bad).expect("write");
        refused(&log);
    }
    for len in 0..good.len() {
        std::fs::write(&path, &good[..len]).expect("write");
        refused(&log);
    }
    let mut long = good.clone();
    long.push(0);
    std::fs::write(&path, &long).expect("write");
    refused(&log);
    std::fs::write(&path, &good).expect("write");
    assert_eq!(
        log.read_vote().expect("read"),
        Some(Vote::new_committed(5, 3))
    );
}

#[test]
fn group_commit_jobs_name_the_written_segments() {
    // Goal: `take_unsynced` hands over exactly the segments written since the last call (and the directory after a segment was created), and `sync_job` syncs them.
    let dir = tempdir();
    let mut log = open(dir.path());
    let job = log.take_unsynced();
    assert!(job.files.is_empty() && !job.dir);
    log.append(&[entry(1, 1)]).expect("append");
    let job = log.take_unsynced();
    assert_eq!((job.files.len(), job.dir), (1, true), "one new segment");
    SegmentLog::sync_job(&*log.disk(), &job).expect("sync");
    let job = log.take_unsynced();
    assert!(
        job.files.is_empty() && !job.dir,
        "nothing left after a take"
    );
    log.append(&[entry(2, 1)]).expect("append");
    let job = log.take_unsynced();
    assert_eq!(
        (job.files.len(), job.dir),
        (1, false),
        "an existing segment"
    );
    // One append that rotates twice touches three segments.
    let before = segments(dir.path()).len();
    log.append(&entries(3..=100, 1)).expect("append");
    let touched = segments(dir.path()).len() - before + 1;
    assert!(touched >= 3);
    let job = log.take_unsynced();
    assert_eq!((job.files.len(), job.dir), (touched, true));
    SegmentLog::sync_job(&*log.disk(), &job).expect("sync");
    // Segments removed by a truncation are not handed to the flusher.
    log.append(&entries(101..=200, 1)).expect("append");
    let first_new = segments(dir.path())
        .iter()
        .position(|s| s.frames[0].index > 100)
        .expect("new segment");
    let cut = segments(dir.path())[first_new].frames[0].index;
    log.truncate(cut + 1).expect("truncate");
    let written = segments(dir.path())
        .iter()
        .filter(|s| s.frames.iter().any(|f| f.index > 100))
        .count();
    let job = log.take_unsynced();
    assert_eq!(
        job.files.len(),
        written,
        "the segments still holding entries of the last append"
    );
    SegmentLog::sync_job(&*log.disk(), &job).expect("sync");
}

/// A directory whose removal of segment files fails after a budget, to stop
/// a truncation or purge half-way as a crash would; it records the segments
/// removed. With `no_room_for_spares` it preallocates but cannot create a
/// spare segment, as on a full disk.
struct FaultyDisk {
    inner: FsDisk,
    removed: Mutex<Vec<String>>,
    removes_left: Mutex<usize>,
    no_room_for_spares: bool,
}

impl Disk for FaultyDisk {
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn DiskFile>> {
        if self.no_room_for_spares && name == "spare.tmp" && create {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device",
            ));
        }
        self.inner.open(name, create)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        if !name.ends_with(".log") {
            return self.inner.remove(name);
        }
        let mut left = self.removes_left.lock().expect("lock");
        if *left == 0 {
            return Err(io::Error::other("injected crash"));
        }
        *left -= 1;
        self.removed.lock().expect("lock").push(name.to_string());
        self.inner.remove(name)
    }
    fn rename(&self, source: &str, target: &str) -> io::Result<()> {
        self.inner.rename(source, target)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.inner.sync_dir()
    }
    fn describe(&self, name: &str) -> String {
        self.inner.describe(name)
    }
    fn preallocates(&self) -> bool {
        self.no_room_for_spares
    }
}

fn faulty(dir: &Path, removes_allowed: usize) -> Arc<FaultyDisk> {
    Arc::new(FaultyDisk {
        inner: FsDisk::open(dir).expect("dir"),
        removed: Mutex::new(Vec::new()),
        removes_left: Mutex::new(removes_allowed),
        no_room_for_spares: false,
    })
}

#[test]
fn truncation_interrupted_after_any_removal_leaves_a_prefix() {
    // Goal: a truncation stopped after any number of file removals (as by a crash) leaves a log that opens as a contiguous prefix of the old one.
    let dir = tempdir();
    let saved = crash_fixture(dir.path(), 150);
    let segs = segments(dir.path());
    assert!(segs.len() >= 5);
    let cut = segs[1].frames[2].index;
    for removes_allowed in 0..segs.len() {
        restore_dir(dir.path(), &saved);
        let disk = faulty(dir.path(), removes_allowed);
        let mut log = SegmentLog::open(disk.clone(), SEGMENT_SIZE_MAX).expect("open");
        let result = log.truncate(cut);
        assert_eq!(
            result.is_ok(),
            removes_allowed >= segs.len() - 2,
            "{:?}",
            disk.removed
        );
        drop(log);
        let log = open(dir.path());
        let held = log.next_index() - 1;
        assert!(held >= cut - 1, "nothing below the cut is lost");
        assert_eq!(read_all(&log), entries(1..=held, 1));
        assert_layout(dir.path());
    }
}

#[test]
fn purge_interrupted_after_any_removal_keeps_the_purge_point() {
    // Goal: a purge stopped after any number of file removals leaves a log that opens at the purge point with every later entry.
    let dir = tempdir();
    let saved = crash_fixture(dir.path(), 150);
    let segs = segments(dir.path());
    let upto = segs[segs.len() - 2].frames[1].index;
    for removes_allowed in 0..segs.len() {
        restore_dir(dir.path(), &saved);
        let disk = faulty(dir.path(), removes_allowed);
        let mut log = SegmentLog::open(disk.clone(), SEGMENT_SIZE_MAX).expect("open");
        let _ = log.purge(log_id(1, upto));
        drop(log);
        let log = open(dir.path());
        assert_eq!(log.purged(), Some(log_id(1, upto)));
        assert_eq!(read_all(&log), entries(upto + 1..=150, 1));
        assert_eq!(
            segments(dir.path()).len(),
            2,
            "reopening finishes the purge"
        );
    }
}

/// The model of the log for the property test.
#[derive(Debug, Default)]
struct Model {
    first: u64,
    /// The term of every held index from `first` on.
    terms: Vec<u64>,
    purged: Option<LogId>,
    term: u64,
}

impl Model {
    fn next(&self) -> u64 {
        self.first + self.terms.len() as u64
    }

    fn last_log_id(&self) -> Option<LogId> {
        match self.terms.last() {
            Some(term) => Some(log_id(*term, self.next() - 1)),
            None => self.purged,
        }
    }

    fn term_at(&self, index: u64) -> Option<u64> {
        let offset = index.checked_sub(self.first)?;
        self.terms.get(usize::try_from(offset).ok()?).copied()
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// `owned`: through `append_owned`, which keeps the newest entries in
    /// memory; reads must not tell the two apart.
    Append {
        count: u64,
        new_term: bool,
        owned: bool,
    },
    /// Truncate `back` entries from the end (0 is a no-op past the end).
    Truncate {
        back: u64,
    },
    /// Purge up to `first - 1 + ahead`, possibly past the end.
    Purge {
        ahead: u64,
    },
    Reopen,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (1u64..12, any::<bool>(), prop::bool::weighted(0.8))
            .prop_map(|(count, new_term, owned)| Op::Append { count, new_term, owned }),
        2 => (0u64..15).prop_map(|back| Op::Truncate { back }),
        2 => (0u64..20).prop_map(|ahead| Op::Purge { ahead }),
        1 => Just(Op::Reopen),
    ]
}

fn step(dir: &Path, log: &mut SegmentLog, model: &mut Model, op: &Op) {
    match *op {
        Op::Append {
            count,
            new_term,
            owned,
        } => {
            model.term += u64::from(new_term);
            let start = model.next();
            let batch = entries(start..=start + count - 1, model.term);
            if owned {
                log.append_owned(batch).expect("append");
            } else {
                log.append(&batch).expect("append");
            }
            model
                .terms
                .extend(std::iter::repeat_n(model.term, count as usize));
        }
        Op::Truncate { back } => {
            let at = model.next().saturating_sub(back).max(model.first);
            log.truncate(at).expect("truncate");
            model.terms.truncate((at - model.first) as usize);
            // Whoever appends next leads a later term.
            model.term += 1;
        }
        Op::Purge { ahead } => {
            let Some(upto) = (model.first + ahead).checked_sub(1) else {
                return;
            };
            let term = match model.term_at(upto) {
                Some(term) => term,
                None if upto < model.first => return,
                None => model.term,
            };
            let id = log_id(term, upto);
            log.purge(id).expect("purge");
            let dropped = (upto + 1 - model.first).min(model.terms.len() as u64);
            model.terms.drain(..dropped as usize);
            model.first = upto + 1;
            model.purged = Some(id);
            assert_purged_segments_gone(dir, upto);
        }
        Op::Reopen => {
            // One owner per directory: close the log before reopening it.
            let scratch = tempdir();
            drop(std::mem::replace(log, open(scratch.path())));
            *log = open(dir);
            if let Some(purged) = model.purged {
                assert_purged_segments_gone(dir, purged.index);
            }
        }
    }
}

fn assert_purged_segments_gone(dir: &Path, upto: u64) {
    for seg in segments(dir) {
        let last = seg.frames.last().expect("non-empty").index;
        assert!(
            last > upto,
            "{} lies wholly at or below the purge point {upto}",
            seg.path.display()
        );
    }
}

fn check(log: &SegmentLog, model: &Model) {
    assert_eq!(log.last_log_id(), model.last_log_id());
    assert_eq!(log.purged(), model.purged);
    assert_eq!(
        (log.first_index(), log.next_index()),
        (model.first, model.next())
    );
    let expected: Vec<Entry> = model
        .terms
        .iter()
        .enumerate()
        .map(|(i, term)| entry(model.first + i as u64, *term))
        .collect();
    assert_eq!(read_all(log), expected);
}

/// Runs `ops` against a log and the Vec model, checking after each.
fn run_model(ops: &[Op], preallocate: bool) {
    PREALLOCATE.set(preallocate);
    let dir = tempdir();
    let mut log = open(dir.path());
    let mut model = Model {
        term: 1,
        ..Model::default()
    };
    for op in ops {
        step(dir.path(), &mut log, &mut model, op);
        check(&log, &model);
        assert_layout(dir.path());
    }
    let log = open(dir.path());
    check(&log, &model);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_a_model(ops in prop::collection::vec(op_strategy(), 1..40)) {
        // Goal: any sequence of appends (kept in memory or not), truncations, purges and reopens leaves the log equal to a Vec model: last id, purge point, and every entry.
        run_model(&ops, false);
    }

    #[test]
    fn preallocated_log_matches_a_model(ops in prop::collection::vec(op_strategy(), 1..40)) {
        // Goal: the same with segments preallocated full of zeros: zero tails read as the end of a segment, through rotations, truncations, purges and reopens.
        run_model(&ops, true);
    }
}

#[tokio::test]
async fn log_store_through_openraft_traits() {
    // Goal: LogStore answers openraft's reader and storage calls (log state, ranged reads, truncate, purge, votes) and keeps them across reopening.
    let dir = tempdir();
    let all = entries(0..=60, 1);
    {
        let mut log = open(dir.path());
        log.append(&all).expect("append");
    }
    let mut store = LogStore::open(disk(dir.path()), SEGMENT_SIZE_MAX).expect("open");
    let state = store.get_log_state().await.expect("state");
    assert_eq!(
        (state.last_purged_log_id, state.last_log_id),
        (None, Some(log_id(1, 60)))
    );
    assert_eq!(store.last_log_id(), Some(log_id(1, 60)));
    assert_eq!(store.try_get_log_entries(..).await.expect("read"), all);
    assert_eq!(
        store.try_get_log_entries(10..20).await.expect("read"),
        all[10..20].to_vec()
    );
    assert_eq!(
        store.try_get_log_entries(10..=20).await.expect("read"),
        all[10..=20].to_vec()
    );
    assert_eq!(
        store.try_get_log_entries(55..).await.expect("read"),
        all[55..].to_vec()
    );
    assert_eq!(
        store.try_get_log_entries(..5).await.expect("read"),
        all[..5].to_vec()
    );
    assert!(store
        .try_get_log_entries(100..200)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(
        store.limited_get_log_entries(3, 9).await.expect("read"),
        all[3..9].to_vec()
    );
    let mut reader = store.get_log_reader().await;
    assert_eq!(reader.try_get_log_entries(..).await.expect("read"), all);

    store
        .truncate_after(Some(log_id(1, 49)))
        .await
        .expect("truncate");
    assert_eq!(
        store.get_log_state().await.expect("state").last_log_id,
        Some(log_id(1, 49))
    );
    assert_eq!(
        reader.try_get_log_entries(..).await.expect("read"),
        all[..50].to_vec(),
        "readers share the log"
    );
    store.purge(log_id(1, 20)).await.expect("purge");
    let state = store.get_log_state().await.expect("state");
    assert_eq!(
        (state.last_purged_log_id, state.last_log_id),
        (Some(log_id(1, 20)), Some(log_id(1, 49)))
    );
    assert_eq!(
        store.try_get_log_entries(..).await.expect("read"),
        all[21..50].to_vec()
    );

    assert_eq!(store.read_vote().await.expect("vote"), None);
    store.save_vote(&Vote::new(4, 2)).await.expect("vote");
    store
        .save_vote(&Vote::new_committed(4, 2))
        .await
        .expect("vote");
    assert_eq!(
        store.read_vote().await.expect("vote"),
        Some(Vote::new_committed(4, 2))
    );
    drop((store, reader));

    let mut store = LogStore::open(disk(dir.path()), SEGMENT_SIZE_MAX).expect("reopen");
    let state = store.get_log_state().await.expect("state");
    assert_eq!(
        (state.last_purged_log_id, state.last_log_id),
        (Some(log_id(1, 20)), Some(log_id(1, 49)))
    );
    assert_eq!(
        store.try_get_log_entries(..).await.expect("read"),
        all[21..50].to_vec()
    );
    assert_eq!(
        store.read_vote().await.expect("vote"),
        Some(Vote::new_committed(4, 2))
    );
}

/// Builds a fresh log store and state machine in a temporary directory.
struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<TypeConfig>> {
        let dir = tempdir();
        let log =
            LogStore::open(disk(&dir.path().join("log")), SEGMENT_SIZE_MAX).expect("log opens");
        let state =
            orbit_storage::ShardState::open_fjall(&dir.path().join("state")).expect("state opens");
        let sm = StateMachine::new(state, disk(&dir.path().join("snapshot")));
        Ok((dir, log, sm))
    }
}

/// openraft's storage conformance suite, one test per case. Its appends go
/// through `LogStore::append` with a real flush callback (which only
/// openraft can construct).
mod openraft_suite {
    use super::*;

    type Cases = Suite<TypeConfig, LogStore, StateMachine, Builder, TempDir>;

    macro_rules! suite_cases {
        ($($case:ident),* $(,)?) => {$(
            #[tokio::test(start_paused = true)]
            async fn $case() {
                // Goal: openraft's suite case of this name passes on LogStore and StateMachine.
                let (_dir, store, sm) = Builder.build().await.expect("stores build");
                Cases::$case(store, sm).await.expect("suite case passes");
            }
        )*};
    }

    suite_cases!(
        last_membership_in_log_initial,
        last_membership_in_log,
        last_membership_in_log_multi_step,
        get_membership_initial,
        get_membership_from_log_and_empty_sm,
        get_membership_from_empty_log_and_sm,
        get_membership_from_log_le_sm_last_applied,
        get_membership_from_log_gt_sm_last_applied_1,
        get_membership_from_log_gt_sm_last_applied_2,
        get_initial_state_without_init,
        // Not `get_initial_state_membership_from_log_and_sm`: it appends entry 3
        // right after entry 1. SegmentLog asserts that appends are contiguous,
        // which openraft guarantees outside this suite.
        get_initial_state_with_state,
        get_initial_state_last_log_gt_sm,
        get_initial_state_last_log_lt_sm,
        get_initial_state_membership_from_empty_log_and_sm,
        get_initial_state_membership_from_sm_inlog_is_smaller,
        get_initial_state_membership_from_log_insm_is_smaller,
        get_initial_state_inverted_log_order,
        get_initial_state_conflict_at_same_index,
        get_initial_state_log_ids,
        get_initial_state_re_apply_committed,
        save_vote,
        get_log_entries,
        limited_get_log_entries,
        leader_bounded_stream,
        entries_stream,
        log_reader_reads_new_entries,
        try_get_log_entry,
        initial_logs,
        get_log_state,
        get_log_id,
        last_id_in_log,
        last_applied_state,
        purge_logs_upto_0,
        purge_logs_upto_5,
        purge_logs_upto_20,
        delete_logs_after_11,
        delete_logs_after_5,
        delete_logs_after_0,
        delete_logs_after_none,
        append_to_log,
        snapshot_meta,
        snapshot_meta_optional,
        apply_single,
        apply_multiple,
    );

    #[tokio::test(start_paused = true)]
    async fn transfer_snapshot() {
        // Goal: openraft's snapshot transfer case passes between two fresh state machines.
        Cases::transfer_snapshot(&Builder)
            .await
            .expect("suite case passes");
    }
}

#[test]
fn recent_entries_are_served_from_memory() {
    // Goal: entries appended through append_owned read back from memory (a
    // damaged copy on disk goes unnoticed for them), older ones from the
    // segment, checksum-verified; after a reopen everything comes from disk.
    let dir = tempdir();
    let mut log = SegmentLog::open(disk(dir.path()), 1 << 20).expect("the log opens");
    log.append_owned(entries(0..=99, 1)).expect("append");
    let seg = segments(dir.path()).remove(0);
    let newest = seg.frames.last().expect("frames").start;
    let oldest = seg.frames.first().expect("frames").start;
    xor_byte(&seg.path, newest + 12, 0xff);
    xor_byte(&seg.path, oldest + 12, 0xff);
    assert_eq!(log.entry(99).expect("from memory"), entry(99, 1));
    assert!(matches!(log.entry(0), Err(LogError::Corrupt { .. })));
    drop(log);
    let reopened = SegmentLog::open(disk(dir.path()), 1 << 20);
    assert!(reopened.is_err(), "the damage is found on disk");
}

/// Waits for the spare segment the log asked for, if it asked.
fn wait_for_spare(log: &SegmentLog) {
    if !log.spare_requested() {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !log.spare_ready() {
        assert!(
            std::time::Instant::now() < deadline,
            "no spare segment was prepared"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn preallocated_segments_recover_and_continue() {
    // Goal: a spare is asked for when a segment is half full and is ready by the rotation, so segments are zero-filled files of the full segment size; a fresh log prepares its first spare at open; the log reads back whole after reopening, appends continue where the zeros begin, and a small log holds no spare.
    PREALLOCATE.set(true);
    let dir = tempdir();
    let all = entries(1..=120, 1);
    let mut log = open(dir.path());
    // One entry per append, so that no append crosses both the half-full
    // mark (where the spare is asked for) and the end of a segment.
    for batch in all[..80].chunks(1) {
        wait_for_spare(&log);
        log.append_owned(batch.to_vec()).expect("append");
    }
    let segs = segments(dir.path());
    assert!(segs.len() >= 3, "rotations happened");
    for seg in &segs {
        // A segment may end past its size by its last record.
        assert!(
            seg.len >= SEGMENT_SIZE_MAX,
            "{} came preallocated",
            seg.path.display()
        );
    }
    assert_layout(dir.path());
    drop(log);
    let mut log = open(dir.path());
    assert_eq!(read_all(&log), all[..80].to_vec());
    for batch in all[80..].chunks(1) {
        wait_for_spare(&log);
        log.append_owned(batch.to_vec()).expect("append");
    }
    drop(log);
    let log = open(dir.path());
    assert_eq!(read_all(&log), all);
    assert_layout(dir.path());
    assert!(
        std::fs::read_dir(dir.path())
            .expect("dir lists")
            .all(|e| e.expect("entry").file_name() != "00000000000000000000.log"),
        "no segment before the first entry"
    );
    // A log that never reaches half a segment asks for no spare.
    let small = tempdir();
    let mut log = open(small.path());
    log.append_owned(entries(1..=2, 1)).expect("append");
    assert!(
        segments(small.path())[0].len >= SEGMENT_SIZE_MAX,
        "the first segment came preallocated"
    );
    assert!(!log.spare_requested());
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        !small.path().join("spare.tmp").exists(),
        "no spare for a small log"
    );
}

#[test]
fn preallocated_segments_are_written_direct_where_the_file_system_can() {
    // Goal: on a file system with O_DIRECT, a preallocating log appends with direct I/O in whole blocks, records straddling block boundaries read back after reopening and after a truncation inside a block; where direct I/O is refused (tmpfs on older kernels, say), the log falls back to the page cache and works the same.
    PREALLOCATE.set(true);
    let target_tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory");
    let shm = Path::new("/dev/shm");
    let shm_tmp = shm
        .is_dir()
        .then(|| tempfile::tempdir_in(shm).expect("a directory in /dev/shm"));
    let mut dirs: Vec<&Path> = vec![target_tmp.path()];
    dirs.extend(shm_tmp.as_ref().map(|d| d.path()));
    for dir in dirs {
        std::fs::write(dir.join("probe"), b"").expect("a file");
        let can_direct = disk(dir)
            .open_direct("probe")
            .expect("direct I/O is offered or declined")
            .is_some();
        std::fs::remove_file(dir.join("probe")).expect("removed");
        let segment_size = 64 * 1024;
        let log_at = |dir: &Path| SegmentLog::open(disk(dir), segment_size).expect("the log opens");
        let all = entries(1..=400, 1);
        let mut log = log_at(dir);
        for batch in all[..250].chunks(7) {
            log.append_owned(batch.to_vec()).expect("append");
        }
        assert_eq!(log.writes_direct(), can_direct, "{}", dir.display());
        drop(log);
        let mut log = log_at(dir);
        assert_eq!(read_all(&log), all[..250].to_vec());
        log.truncate(201).expect("truncate");
        for batch in all[200..].chunks(3) {
            log.append_owned(batch.to_vec()).expect("append");
        }
        assert_eq!(log.writes_direct(), can_direct);
        drop(log);
        let log = log_at(dir);
        assert_eq!(read_all(&log), all, "{}", dir.display());
        assert_layout(dir);
    }
}

#[test]
fn torn_frame_before_preallocated_zeros_is_cut() {
    // Goal: a record cut short inside a preallocated segment (its header written, the payload still zeros) is a torn tail: recovery drops it and keeps every record before it.
    PREALLOCATE.set(true);
    let dir = tempdir();
    let mut log = open(dir.path());
    for batch in entries(1..=60, 1).chunks(1) {
        wait_for_spare(&log);
        log.append_owned(batch.to_vec()).expect("append");
    }
    drop(log);
    let seg = segments(dir.path()).pop().expect("a segment");
    assert!(
        seg.len >= SEGMENT_SIZE_MAX,
        "the last segment came preallocated"
    );
    let last = *seg.frames.last().expect("frames");
    // Zero the last record's payload: its header survives.
    let keep = 8;
    let zeros = vec![0u8; (last.end - last.start - keep) as usize];
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg.path)
        .expect("open");
    file.write_all_at(&zeros, last.start + keep).expect("write");
    let log = open(dir.path());
    assert_eq!(
        log.next_index(),
        last.index,
        "{last:?} of {} bytes",
        seg.len
    );
    assert_eq!(read_all(&log), entries(1..=last.index - 1, 1));
}

#[test]
fn a_failed_spare_falls_back_to_plain_segments() {
    // Goal: when no spare can be written (a full disk), the log still opens, appends do not wait, every rotation creates a plain segment, and no half-written spare is left; the log works as without preallocation.
    let dir = tempdir();
    let disk: Arc<dyn Disk> = Arc::new(FaultyDisk {
        no_room_for_spares: true,
        ..Arc::into_inner(faulty(dir.path(), usize::MAX)).expect("sole owner")
    });
    let mut log = SegmentLog::open(disk.clone(), SEGMENT_SIZE_MAX).expect("the log opens");
    let started = std::time::Instant::now();
    let all = entries(1..=60, 1);
    for batch in all.chunks(4) {
        log.append_owned(batch.to_vec()).expect("append");
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the first segment waited {:?} for a spare that failed",
        started.elapsed()
    );
    assert!(segments(dir.path()).len() >= 3, "rotations happened");
    assert_layout(dir.path());
    drop(log);
    let log = SegmentLog::open(disk, SEGMENT_SIZE_MAX).expect("the log reopens");
    assert_eq!(read_all(&log), all);
    assert!(!dir.path().join("spare.tmp").exists());
}

#[test]
fn deferred_writes_reach_the_file_only_through_the_flusher_and_stay_readable() {
    // Goal: with deferred writes an append touches no file (a crash before
    // the flusher ran loses the entries, as it would lose unsynced ones),
    // every entry reads back meanwhile (from memory, past the usual limit),
    // and once the job ran and synced they are on disk after a reopen.
    let dir = tempdir();
    let mut log = SegmentLog::open(disk(dir.path()), 1 << 20).expect("the log opens");
    log.defer_writes();
    let written = log.written_marker();
    log.append_owned(entries(0..=199, 1)).expect("append");
    let job = log.take_unsynced();
    assert_eq!(job.written_to, Some(200));
    // 200 entries, beyond the 64 kept in memory: none is written yet.
    assert_eq!(read_all(&log), entries(0..=199, 1));
    // A crash now: recover from a copy of the files (recovery rewrites them).
    let crashed = tempdir();
    for file in std::fs::read_dir(dir.path()).expect("list") {
        let path = file.expect("entry").path();
        std::fs::copy(&path, crashed.path().join(path.file_name().expect("name"))).expect("copy");
    }
    let unwritten = SegmentLog::open(disk(crashed.path()), 1 << 20).expect("reopens");
    assert_eq!(unwritten.next_index(), 0, "nothing reached the file");
    drop(unwritten);

    SegmentLog::write_job(&job).expect("the writes run");
    written.store(200, std::sync::atomic::Ordering::SeqCst);
    SegmentLog::sync_job(&*log.disk(), &job).expect("sync");
    // Now older entries may leave memory; they read back from the file.
    log.append_owned(entries(200..=209, 1)).expect("append");
    let job = log.take_unsynced();
    SegmentLog::write_job(&job).expect("the writes run");
    SegmentLog::sync_job(&*log.disk(), &job).expect("sync");
    assert_eq!(read_all(&log), entries(0..=209, 1));
    drop(log);
    let reopened = SegmentLog::open(disk(dir.path()), 1 << 20).expect("reopens");
    assert_eq!(read_all(&reopened), entries(0..=209, 1));
}

/// A directory whose files refuse writes while `failing` is set, as a disk
/// with errors does (no direct I/O, so every write goes through `open`),
/// and which records the files synced.
struct FailingWrites {
    inner: FsDisk,
    failing: Arc<std::sync::atomic::AtomicBool>,
    synced: Arc<Mutex<Vec<String>>>,
}

struct FailingFile {
    inner: Arc<dyn DiskFile>,
    name: String,
    failing: Arc<std::sync::atomic::AtomicBool>,
    synced: Arc<Mutex<Vec<String>>>,
}

impl DiskFile for FailingFile {
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_at(offset, buf)
    }
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(io::Error::other("injected write error"));
        }
        self.inner.write_at(offset, data)
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.inner.truncate(len)
    }
    fn sync(&self) -> io::Result<()> {
        self.synced.lock().expect("lock").push(self.name.clone());
        self.inner.sync()
    }
}

impl Disk for FailingWrites {
    fn list(&self) -> io::Result<Vec<String>> {
        self.inner.list()
    }
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn DiskFile>> {
        Ok(Arc::new(FailingFile {
            inner: self.inner.open(name, create)?,
            name: name.to_string(),
            failing: self.failing.clone(),
            synced: self.synced.clone(),
        }))
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }
    fn rename(&self, source: &str, target: &str) -> io::Result<()> {
        self.inner.rename(source, target)
    }
    fn sync_dir(&self) -> io::Result<()> {
        self.inner.sync_dir()
    }
    fn describe(&self, name: &str) -> String {
        self.inner.describe(name)
    }
}

#[test]
fn after_a_failed_write_the_flusher_writes_and_syncs_nothing_more() {
    // Goal: a deferred write that fails stops the flusher for good, so no
    // later entry reaches the disk past the hole it left (a log that resumes
    // after a gap cannot be opened again).
    let dir = tempdir();
    let faulty = failing_writes(dir.path());
    let failing = faulty.failing.clone();
    let mut log = SegmentLog::open(faulty.clone(), 4096).expect("the log opens");
    log.defer_writes();
    let mut flusher = orbit_storage::log::Flusher::default();
    log.append_owned(entries(0..=9, 1)).expect("append");
    let first = log.take_unsynced();
    flusher.write(&first).expect("written");
    flusher.sync(&*faulty, &first).expect("synced");
    // Enough for a new segment, so the later job writes other files.
    log.append_owned(entries(10..=59, 1)).expect("append");
    let failed = log.take_unsynced();
    log.append_owned(entries(60..=119, 1)).expect("append");
    let later = log.take_unsynced();
    failing.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(flusher.write(&failed).is_err());
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        flusher.write(&later).is_err(),
        "nothing runs after a failure"
    );
    assert!(flusher.sync(&*faulty, &later).is_err());
    drop(log);
    let reopened = SegmentLog::open(disk(dir.path()), 4096).expect("the log reopens");
    assert_eq!(read_all(&reopened), entries(0..=9, 1));
}

fn failing_writes(dir: &Path) -> Arc<FailingWrites> {
    Arc::new(FailingWrites {
        inner: FsDisk::open(dir)
            .expect("the directory opens")
            .without_preallocation(),
        failing: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        synced: Arc::new(Mutex::new(Vec::new())),
    })
}

#[test]
fn recovery_syncs_every_segment_it_keeps() {
    // Goal: entries a dead process wrote and never synced read back at the
    // next open from the page cache; the open makes them durable before
    // Raft counts them as stored, or later synced segments could outlive
    // them in a power loss and leave a hole in the log.
    let dir = tempdir();
    let mut log = SegmentLog::open(disk(dir.path()), 4096).expect("the log opens");
    log.append(&entries(0..=119, 1)).expect("append");
    let held = segments(dir.path()).len();
    assert!(held >= 2, "several segments");
    drop(log); // never synced
    let recording = failing_writes(dir.path());
    let reopened = SegmentLog::open(recording.clone(), 4096).expect("the log reopens");
    assert_eq!(read_all(&reopened), entries(0..=119, 1));
    let synced: BTreeSet<String> = recording
        .synced
        .lock()
        .expect("lock")
        .iter()
        .cloned()
        .collect();
    assert_eq!(
        synced.len(),
        held,
        "every segment synced at open: {synced:?}"
    );
}

/// Goal: a log written in data format 1 (entries as `Request{ts_ms, ops}`,
/// record variant `Normal`) opens and reads as entries of entry format 1
/// with the same ops; entries appended after it (format 2's `Entry`
/// variant) follow in the same segment, and both read back after a reopen.
#[test]
fn a_format_1_log_is_read_and_grows_in_format_2() {
    use orbit_storage::record::{encode_framed, OpV1, RecordPayload, RequestV1};
    let dir = tempfile::tempdir().expect("tempdir");
    let old: Vec<(u64, RequestV1)> = (1..=3)
        .map(|index| {
            let request = RequestV1 {
                ts_ms: 1_700_000_000_000 + index,
                ops: vec![OpV1 {
                    db: (index % 3) as u8,
                    cmd: Command::Set {
                        key: format!("old-{index}").into_bytes(),
                        value: vec![b'v'; index as usize],
                        condition: SetCondition::Always,
                        expiry: SetExpiry::Clear,
                        get: false,
                    },
                }],
            };
            (index, request)
        })
        .collect();
    let mut segment = Vec::new();
    for (index, request) in &old {
        segment.extend(encode_framed(&LogRecord {
            index: *index,
            term: 1,
            payload: RecordPayload::Normal(request.clone()),
        }));
    }
    std::fs::write(dir.path().join(format!("{:020}.log", 1)), &segment).expect("segment");

    let expected_old: Vec<Entry> = old
        .iter()
        .map(|(index, request)| Entry {
            log_id: log_id(1, *index),
            payload: EntryPayload::Normal(request.clone().into_entry()),
        })
        .collect();
    for (_, request) in &old {
        let entry = request.clone().into_entry();
        assert_eq!(entry.version, 1);
        assert_eq!(entry.ts_ms, request.ts_ms);
        assert_eq!(
            *entry.ops,
            vec![orbit_core::Op::redis(
                request.ops[0].db,
                request.ops[0].cmd.clone()
            )]
        );
    }
    let mut log = open(dir.path());
    assert_eq!(read_all(&log), expected_old);
    let new = entries(4..=6, 2);
    log.append(&new).expect("appends");
    drop(log);
    let log = open(dir.path());
    let mut expected = expected_old;
    expected.extend(new);
    assert_eq!(read_all(&log), expected);
}
