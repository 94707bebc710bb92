//! The change log: what each applied entry changed and published, kept on
//! disk beside the data so that readers (pub/sub delivery, blocking pops,
//! next change streams and intent resolution) follow one stream with a
//! cursor instead of side channels that drop what they cannot hold.
//!
//! One record per entry that changed or published anything, in the engine's
//! `Changes` space under the entry's log index (u64 BE), written in the same
//! batch as the entry's data, so a reader sees a change exactly when it
//! sees the data it describes, before and after a crash. The log keeps at
//! least the last [`Retention::entries`] entries (and at most a 64th more),
//! and its records total at most [`Retention::bytes`] (give or take a
//! 64th); the oldest go first, in chunks of a 64th of the bound so that
//! most batches write nothing but their record, and the floor (the lowest
//! index still held, kept in `Meta`) moves up in the batch that drops them. A reader whose cursor is below the floor gets
//! [`FeedError::Lagged`], which names the floor to resume from: nothing is
//! skipped without the reader being told.
//!
//! The change log is this replica's own history, not replicated state: a
//! snapshot does not carry it, and installing one empties it and moves the
//! floor past the snapshot.
//!
//! Record (format 1): `[1u8][changes u32 LE]` then per change
//! `[deleted u8][key len u32 LE][store key]`, then `[published u32 LE]` and
//! per message `[channel len u32 LE][channel][message len u32 LE][message]`.
//! Pinned by `storage/tests/golden_format.rs`.

use orbit_core::family::{Change, Changes, Published};
use orbit_core::StoreError;

use crate::engine::{BatchOp, KvView, Space};

const RECORD_FORMAT: u8 = 1;
/// `Meta` key of the floor: `[floor u64 LE][bytes held u64 LE][as of u64
/// LE]`: the bytes of the records up to log index `as of`; the records
/// after it (written since the floor last moved) are counted at open.
pub(crate) const META_CHANGE_FLOOR: &[u8] = b"change-floor";

/// How much of the change log a shard keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Entries kept at most, counted in log indexes (entries that changed
    /// nothing hold no record but still count).
    pub entries: u64,
    /// Bytes of records kept at most.
    pub bytes: u64,
}

impl Default for Retention {
    /// About a minute of writes at full speed, bounded to 256 MiB.
    fn default() -> Retention {
        Retention {
            entries: 100_000,
            bytes: 256 << 20,
        }
    }
}

/// What one applied entry changed and published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryChanges {
    pub index: u64,
    pub changes: Vec<Change>,
    pub published: Vec<Published>,
}

/// A run of the change log read from a cursor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedPage {
    /// The entries with records, in log order.
    pub entries: Vec<EntryChanges>,
    /// Where the next read starts: past the last entry returned when the
    /// page is full, else past the applied index the read saw.
    pub next: u64,
}

/// Why the change log could not be read from a cursor.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The entries from `from` on were dropped by retention; the log holds
    /// entries from `floor` on. Changes between the two are lost to this
    /// reader, which may resume from `floor`.
    #[error("LAGGED the change log no longer holds index {from}: it keeps entries from index {floor} on; changes in between are lost to this reader")]
    Lagged { from: u64, floor: u64 },
    #[error("the change log could not be read: {0}")]
    Store(StoreError),
    /// The shard stopped: nothing more will be applied here.
    #[error("the shard is shutting down")]
    Closed,
}

impl From<StoreError> for FeedError {
    fn from(e: StoreError) -> FeedError {
        FeedError::Store(e)
    }
}

/// Limits of one read, so that a reader far behind takes the log in pieces.
#[derive(Clone, Copy, Debug)]
pub struct PageLimit {
    pub entries: usize,
    pub bytes: usize,
}

impl Default for PageLimit {
    fn default() -> PageLimit {
        PageLimit {
            entries: 1024,
            bytes: 4 << 20,
        }
    }
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("a change is bounded by the entry size, under 4 GiB");
    out.extend_from_slice(&len.to_le_bytes());
}

/// Encodes one entry's record; `None` when it changed and published
/// nothing (no record is kept then).
pub fn encode(changes: &Changes, published: &[Published]) -> Option<Vec<u8>> {
    if changes.is_empty() && published.is_empty() {
        return None;
    }
    let key_bytes: usize = changes.iter().map(|(key, _)| key.len() + 5).sum();
    let message_bytes: usize = published.iter().map(|(c, m)| c.len() + m.len() + 8).sum();
    let mut out = Vec::with_capacity(9 + key_bytes + message_bytes);
    out.push(RECORD_FORMAT);
    put_len(&mut out, changes.len());
    for (key, deleted) in changes.iter() {
        out.push(u8::from(deleted));
        put_len(&mut out, key.len());
        out.extend_from_slice(key);
    }
    put_len(&mut out, published.len());
    for (channel, message) in published {
        put_len(&mut out, channel.len());
        out.extend_from_slice(channel);
        put_len(&mut out, message.len());
        out.extend_from_slice(message);
    }
    Some(out)
}

/// Reads a record back, refusing one cut short, padded or of another format.
struct Reader<'a> {
    bytes: &'a [u8],
    index: u64,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, what: &str) -> StoreError {
        StoreError(format!("change record of entry {}: {what}", self.index))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        if self.bytes.len() < n {
            return Err(self.corrupt("cut short"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn len(&mut self) -> Result<usize, StoreError> {
        let raw: [u8; 4] = self.take(4)?.try_into().expect("4 bytes");
        Ok(usize::try_from(u32::from_le_bytes(raw)).expect("u32 fits usize"))
    }

    fn field(&mut self) -> Result<Vec<u8>, StoreError> {
        let len = self.len()?;
        Ok(self.take(len)?.to_vec())
    }
}

pub fn decode(index: u64, bytes: &[u8]) -> Result<EntryChanges, StoreError> {
    let mut r = Reader { bytes, index };
    let format = r.take(1)?[0];
    if format != RECORD_FORMAT {
        return Err(r.corrupt(&format!(
            "format {format}, this build reads {RECORD_FORMAT}"
        )));
    }
    let count = r.len()?;
    // Each change takes at least 5 bytes: no count may promise more.
    let mut changes = Vec::with_capacity(count.min(r.bytes.len() / 5));
    for _ in 0..count {
        let deleted = match r.take(1)?[0] {
            0 => false,
            1 => true,
            other => return Err(r.corrupt(&format!("deleted flag {other}"))),
        };
        changes.push(Change {
            key: r.field()?,
            deleted,
        });
    }
    let count = r.len()?;
    let mut published = Vec::with_capacity(count.min(r.bytes.len() / 8));
    for _ in 0..count {
        published.push((r.field()?, r.field()?));
    }
    if !r.bytes.is_empty() {
        return Err(r.corrupt("bytes past its end"));
    }
    Ok(EntryChanges {
        index,
        changes,
        published,
    })
}

/// The change log's floor, as `Meta` keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Floor {
    /// The lowest index the log holds.
    pub floor: u64,
    /// The bytes of the records up to `as_of`.
    pub held: u64,
    pub as_of: u64,
}

/// The floor as of `view`; `None` for a store written before the change
/// log existed.
pub(crate) fn read_floor(view: &dyn KvView) -> Result<Option<Floor>, StoreError> {
    let Some(bytes) = view.get(Space::Meta, META_CHANGE_FLOOR)? else {
        return Ok(None);
    };
    let raw: [u8; 24] = bytes[..]
        .try_into()
        .map_err(|_| StoreError(format!("change floor record of {} bytes", bytes.len())))?;
    let word = |n: usize| u64::from_le_bytes(raw[n * 8..n * 8 + 8].try_into().expect("8 bytes"));
    Ok(Some(Floor {
        floor: word(0),
        held: word(1),
        as_of: word(2),
    }))
}

pub(crate) fn floor_op(floor: Floor) -> BatchOp {
    let mut value = Vec::with_capacity(24);
    for word in [floor.floor, floor.held, floor.as_of] {
        value.extend_from_slice(&word.to_le_bytes());
    }
    (Space::Meta, META_CHANGE_FLOOR.to_vec(), Some(value))
}

/// The writer's account of the log: kept by the state machine (the only
/// writer), so a batch need not read it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Log {
    pub floor: u64,
    /// The bytes of every record held.
    pub held: u64,
}

impl Log {
    /// The account of the log in `view`, which has applied up to
    /// `applied`: the floor as kept, plus the records written since it was
    /// (at most a 64th of the retention bound).
    pub fn load(view: &dyn KvView, applied: u64) -> Result<Log, StoreError> {
        let Some(kept) = read_floor(view)? else {
            return Ok(Log {
                floor: applied + 1,
                held: 0,
            });
        };
        let mut held = kept.held;
        view.scan_from(
            Space::Changes,
            &[],
            &(kept.as_of + 1).to_be_bytes(),
            &mut |_, value| {
                held += value.len() as u64;
                true
            },
        )?;
        Ok(Log {
            floor: kept.floor,
            held,
        })
    }

    /// Adds the record of entry `index` to `batch`, if it has one.
    pub fn append(
        &mut self,
        index: u64,
        changes: &Changes,
        published: &[Published],
        batch: &mut Vec<BatchOp>,
    ) {
        if let Some(record) = encode(changes, published) {
            self.held += record.len() as u64;
            batch.push((Space::Changes, index.to_be_bytes().to_vec(), Some(record)));
        }
    }

    /// Once the log is a 64th past `retention` after `last` is applied,
    /// drops the oldest records until it is within it, and records the
    /// floor in `batch`. Reads the records to drop from `view()` (the state
    /// before this batch); records of this batch itself are never dropped
    /// by it.
    pub fn trim(
        &mut self,
        view: impl FnOnce() -> Box<dyn KvView>,
        last: u64,
        retention: Retention,
        batch: &mut Vec<BatchOp>,
    ) -> Result<(), StoreError> {
        let by_count = (last + 1).saturating_sub(retention.entries);
        let slack_entries = (retention.entries / 64).max(1);
        let slack_bytes = retention.bytes / 64;
        if by_count < self.floor.saturating_add(slack_entries)
            && self.held <= retention.bytes.saturating_add(slack_bytes)
        {
            return Ok(());
        }
        let mut drop_below = by_count.max(self.floor);
        let mut held = self.held;
        view().scan_from(
            Space::Changes,
            &[],
            &self.floor.to_be_bytes(),
            &mut |key, value| {
                let index = u64::from_be_bytes(key.try_into().expect("change keys are 8 bytes"));
                if index >= drop_below && held <= retention.bytes {
                    return false;
                }
                held -= (value.len() as u64).min(held);
                drop_below = drop_below.max(index + 1);
                batch.push((Space::Changes, key.to_vec(), None));
                true
            },
        )?;
        self.floor = drop_below;
        self.held = held;
        batch.push(floor_op(Floor {
            floor: self.floor,
            held: self.held,
            as_of: last,
        }));
        Ok(())
    }
}

/// Reads the change log from `from` as of `view`.
pub(crate) fn read(
    view: &dyn KvView,
    applied: u64,
    from: u64,
    limit: PageLimit,
) -> Result<FeedPage, FeedError> {
    let floor = read_floor(view)?.map_or(applied + 1, |kept| kept.floor);
    if from < floor {
        return Err(FeedError::Lagged { from, floor });
    }
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    let mut full = false;
    let mut failed = None;
    view.scan_from(
        Space::Changes,
        &[],
        &from.to_be_bytes(),
        &mut |key, value| {
            let index = u64::from_be_bytes(key.try_into().expect("change keys are 8 bytes"));
            if index > applied {
                return false;
            }
            if entries.len() >= limit.entries || (bytes > 0 && bytes + value.len() > limit.bytes) {
                full = true;
                return false;
            }
            bytes += value.len();
            match decode(index, value) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    failed = Some(e);
                    return false;
                }
            }
            true
        },
    )?;
    if let Some(e) = failed {
        return Err(FeedError::Store(e));
    }
    let next = match entries.last() {
        Some(last) if full => last.index + 1,
        _ => (applied + 1).max(from),
    };
    Ok(FeedPage { entries, next })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{KvEngine, MemEngine};
    use orbit_core::family::Effects;

    fn effects(keys: &[(&[u8], bool)], published: &[(&[u8], &[u8])]) -> Effects {
        let mut effects = Effects::default();
        for (key, deleted) in keys {
            if *deleted {
                effects.deleted(key);
            } else {
                effects.wrote(key);
            }
        }
        effects.published = published
            .iter()
            .map(|(c, m)| (c.to_vec(), m.to_vec()))
            .collect();
        effects
    }

    #[test]
    fn a_record_reads_back_and_damage_is_refused() {
        // Goal: encode/decode round-trip (empty key and empty message
        // included); a record cut short, padded, or of another format is
        // an error, never a different set of changes.
        let e = effects(&[(b"\x01\x00k", false), (b"", true)], &[(b"ch", b"")]);
        let record = encode(&e.changes, &e.published).expect("a record");
        let back = decode(7, &record).expect("decodes");
        assert_eq!(back.index, 7);
        assert_eq!(back.changes, e.changes.to_vec());
        assert_eq!(back.published, e.published);
        for cut in 0..record.len() {
            assert!(decode(7, &record[..cut]).is_err(), "cut at {cut}");
        }
        let mut padded = record.clone();
        padded.push(0);
        assert!(decode(7, &padded).is_err());
        let mut other = record;
        other[0] = 2;
        assert!(decode(7, &other).unwrap_err().0.contains("format 2"));
        assert_eq!(encode(&Changes::default(), &[]), None);
    }

    /// Applies entries `1..=last` to `engine`, each writing one key (every
    /// third none), with `retention`, as the state machine does.
    fn run(
        engine: &MemEngine,
        log: &mut Log,
        range: std::ops::RangeInclusive<u64>,
        retention: Retention,
    ) {
        for index in range {
            let mut batch = Vec::new();
            let e = if index % 3 == 0 {
                Effects::default()
            } else {
                effects(&[(&index.to_be_bytes(), false)], &[])
            };
            log.append(index, &e.changes, &e.published, &mut batch);
            log.trim(|| engine.view(), index, retention, &mut batch)
                .expect("trim");
            engine.write(batch).expect("write");
        }
    }

    /// An empty store as the state machine opens it: the floor at 1.
    fn fresh() -> (MemEngine, Log) {
        let engine = MemEngine::new();
        let floor = Floor {
            floor: 1,
            held: 0,
            as_of: 0,
        };
        engine.write(vec![floor_op(floor)]).expect("write");
        (engine, Log { floor: 1, held: 0 })
    }

    fn indexes(page: &FeedPage) -> Vec<u64> {
        page.entries.iter().map(|e| e.index).collect()
    }

    #[test]
    fn retention_by_count_moves_the_floor_and_a_reader_below_it_is_told() {
        // Goal: with 10 entries kept, after 25 the log holds 16..=25, a
        // cursor at 15 gets Lagged naming 16, one at 16 reads the records
        // (none for multiples of 3) and ends past the applied index.
        let (engine, mut log) = fresh();
        let retention = Retention {
            entries: 10,
            bytes: u64::MAX,
        };
        run(&engine, &mut log, 1..=25, retention);
        assert_eq!(log.floor, 16);
        let view = engine.view();
        assert_eq!(
            read_floor(&*view).expect("floor").map(|kept| kept.floor),
            Some(16)
        );
        assert_eq!(Log::load(&*view, 25).expect("load"), log);
        let lagged = read(&*view, 25, 15, PageLimit::default()).unwrap_err();
        assert!(
            matches!(
                lagged,
                FeedError::Lagged {
                    from: 15,
                    floor: 16
                }
            ),
            "{lagged:?}"
        );
        assert!(lagged.to_string().starts_with("LAGGED "), "{lagged}");
        let page = read(&*view, 25, 16, PageLimit::default()).expect("read");
        assert_eq!(indexes(&page), vec![16, 17, 19, 20, 22, 23, 25]);
        assert_eq!(page.next, 26);
        // A page limit cuts the run and says where to go on.
        let limit = PageLimit {
            entries: 3,
            bytes: usize::MAX,
        };
        let page = read(&*view, 25, 16, limit).expect("read");
        assert_eq!((indexes(&page), page.next), (vec![16, 17, 19], 20));
        // Past the end: nothing, and the cursor stays.
        let page = read(&*view, 25, 40, PageLimit::default()).expect("read");
        assert_eq!((page.entries.len(), page.next), (0, 40));
        // A view that has applied less sees less.
        let page = read(&*view, 20, 16, PageLimit::default()).expect("read");
        assert_eq!((indexes(&page), page.next), (vec![16, 17, 19, 20], 21));
    }

    #[test]
    fn retention_by_bytes_drops_the_oldest_and_accounts_exactly() {
        // Goal: the bytes held never pass the bound after a batch, match
        // the records present, and the floor is past every dropped record.
        let (engine, mut log) = fresh();
        let retention = Retention {
            entries: u64::MAX,
            bytes: 100,
        };
        run(&engine, &mut log, 1..=60, retention);
        let view = engine.view();
        let mut present = Vec::new();
        let mut held = 0;
        view.scan(Space::Changes, &[], &mut |key, value| {
            present.push(u64::from_be_bytes(key.try_into().expect("8 bytes")));
            held += value.len() as u64;
            true
        })
        .expect("scan");
        // Trimmed once a 64th past the bound, back to it.
        assert!(
            held <= 101 && held == log.held,
            "held {held} vs {}",
            log.held
        );
        assert_eq!(Log::load(&*view, 60).expect("load"), log);
        assert!(present.iter().all(|&index| index >= log.floor));
        assert_eq!(present.last(), Some(&59));
        assert!(present.len() >= 3, "{present:?}");
    }

    #[test]
    fn trimming_waits_for_a_64th_of_slack_and_a_reopen_counts_what_came_since() {
        // Goal: with 640 entries kept, the floor stays put until the log is
        // 10 entries past the bound, then moves to the bound in one batch;
        // the account loaded after each batch (as at a reopen) matches.
        let (engine, mut log) = fresh();
        let retention = Retention {
            entries: 640,
            bytes: u64::MAX,
        };
        run(&engine, &mut log, 1..=649, retention);
        assert_eq!(log.floor, 1, "within the slack");
        assert_eq!(Log::load(&*engine.view(), 649).expect("load"), log);
        run(&engine, &mut log, 650..=650, retention);
        assert_eq!(log.floor, 11);
        assert_eq!(Log::load(&*engine.view(), 650).expect("load"), log);
        run(&engine, &mut log, 651..=655, retention);
        assert_eq!(log.floor, 11);
        assert_eq!(Log::load(&*engine.view(), 655).expect("load"), log);
    }
}
