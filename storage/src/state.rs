//! The shard state machine over a [`KvEngine`] (fjall in production).
//!
//! Invariants:
//! - The data written by a batch of entries and the last applied log id (and
//!   membership) are committed in one engine batch: after any crash the store
//!   holds exactly the effects of the entries up to its applied log id, so the
//!   node replays the log from there.
//! - Before a snapshot is handed out (and the log behind it purged) the store
//!   is persisted with fsync.
//! - Snapshot bytes are checksummed frame by frame and verified completely
//!   before any of them touch the store; installation is one atomic batch.
//! - Each entry's changes and published messages go to the change log
//!   (`crate::changes`) in the same batch as its data; readers follow it
//!   with [`ShardState::read_changes`].

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::raft::types::{Entry, LogId, Snapshot, SnapshotMeta, StoredMembership};
use crate::raft::SnapshotData;
use crate::raft::TypeConfig;
use crate::watch;
use futures_util::StreamExt;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use openraft::EntryPayload;
use orbit_core::redis::keys;
use orbit_core::{ApplyCtx, Op, Reply, Store, StoreError};
use rkyv::{Archive, Deserialize, Serialize};

use crate::changes::{FeedError, FeedPage, PageLimit, Retention};
use crate::disk::{read_file, write_file_atomic, Disk};
use crate::engine::{BatchOp, KvEngine, KvView, Space};
use crate::long_keys::LongKeys;
use crate::record::{
    decode_framed, encode_framed, from_rkyv, membership_from_record, membership_to_record,
    read_frame, to_rkyv, write_frame, LogIdRecord, MembershipRecord,
};

const META_APPLIED: &[u8] = b"applied";
const META_MEMBERSHIP: &[u8] = b"membership";
/// Simulator only: the applied log id before the last batch.
#[cfg(madsim)]
const META_PREVIOUS_APPLIED: &[u8] = b"previous-applied";
const SNAPSHOT_FILE: &str = "snapshot";
const SNAPSHOT_MAGIC: &[u8; 8] = b"ORBSNAP1";
/// Key-value bytes per snapshot chunk (each chunk is one checksummed frame).
const SNAPSHOT_CHUNK_BYTES_MAX: usize = 1024 * 1024;

/// What the state machine remembers about itself, besides the data.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct StoredMembershipRecord {
    log_id: Option<LogIdRecord>,
    membership: MembershipRecord,
}

/// The first frame of a snapshot.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct SnapshotHeader {
    snapshot_id: String,
    last_applied: Option<LogIdRecord>,
    membership: StoredMembershipRecord,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq)]
struct SnapshotChunk {
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The last frame of a snapshot: lets the reader tell a complete one.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
struct SnapshotTrailer {
    chunk_count: u64,
    pair_count: u64,
}

fn sm_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(format!("state machine: {e}"))
}

fn encode_membership(m: &StoredMembership) -> StoredMembershipRecord {
    StoredMembershipRecord {
        log_id: m.log_id().as_ref().map(LogIdRecord::from_log_id),
        membership: membership_to_record(m.membership()),
    }
}

fn decode_membership(r: &StoredMembershipRecord) -> Result<StoredMembership, StoreError> {
    let membership = membership_from_record(&r.membership)
        .map_err(|e| StoreError(format!("metadata record: {e}")))?;
    Ok(StoredMembership::new(
        r.log_id.map(LogIdRecord::to_log_id),
        membership,
    ))
}

/// The shared, readable state of one shard.
pub struct ShardState {
    engine: Arc<dyn KvEngine>,
    applied_tx: watch::Sender<u64>,
    snapshots_built: std::sync::atomic::AtomicU64,
    /// The shard clock (the highest timestamp applied), kept beside the
    /// store so a read need not look it up. It moves forward before the
    /// engine write that carries it, so when it is loaded after a view is
    /// taken it is at least that view's clock.
    clock_ms: AtomicU64,
}

/// A message an applied entry published: (channel, message).
pub use orbit_core::family::Published;

/// The data keyspace of a view, as `orbit_core`'s read-only `Store`.
struct DataView(Box<dyn KvView>);

impl ShardState {
    /// Wraps an opened engine, with the default inline key limit for a new
    /// store.
    pub fn open(engine: Arc<dyn KvEngine>) -> Result<Arc<ShardState>, StoreError> {
        ShardState::open_with(engine, crate::long_keys::INLINE_KEY_LEN_DEFAULT)
    }

    /// Wraps an opened engine in [`LongKeys`], so keys of any length can
    /// be stored; a new store keeps keys up to `inline_key_len_new` inline.
    pub fn open_with(
        engine: Arc<dyn KvEngine>,
        inline_key_len_new: usize,
    ) -> Result<Arc<ShardState>, StoreError> {
        let engine: Arc<dyn KvEngine> = LongKeys::open(engine, inline_key_len_new)?;
        let state = ShardState {
            engine,
            applied_tx: watch::channel(0).0,
            snapshots_built: std::sync::atomic::AtomicU64::new(0),
            clock_ms: AtomicU64::new(0),
        };
        let clock_ms = orbit_core::clock::read_clock(&state.data_view())?;
        state.clock_ms.store(clock_ms, Ordering::SeqCst);
        let applied = state.applied()?.map_or(0, |id| id.index);
        if crate::changes::read_floor(&*state.engine.view())?.is_none() {
            // A new store, or one written before the change log existed:
            // the log starts with the next entry.
            state
                .engine
                .write(vec![crate::changes::floor_op(crate::changes::Floor {
                    floor: applied + 1,
                    held: 0,
                    as_of: applied,
                })])?;
        }
        // What a restarted replica reports as applied must survive a power
        // loss: when it is past the durable end of the log (entries applied
        // while their own log write failed), openraft purges the log up to
        // it at startup, and a state that later fell back behind that purge
        // could never be rebuilt (seed 12: applied 1393 from the page cache,
        // log purged to 1393, power loss, state back at 999).
        state.engine.persist()?;
        state.applied_tx.send_replace(applied);
        Ok(Arc::new(state))
    }

    /// Opens (or creates) a fjall store at `path`.
    pub fn open_fjall(path: &Path) -> Result<Arc<ShardState>, StoreError> {
        ShardState::open(crate::engine::FjallEngine::open(path)?)
    }

    fn data_view(&self) -> DataView {
        DataView(self.engine.view())
    }

    pub fn applied(&self) -> Result<Option<LogId>, StoreError> {
        read_applied(&*self.engine.view())
    }

    fn membership(&self) -> Result<StoredMembership, StoreError> {
        match self.engine.view().get(Space::Meta, META_MEMBERSHIP)? {
            None => Ok(StoredMembership::default()),
            Some(bytes) => decode_membership(&decode_one(&bytes)?),
        }
    }

    /// Reads the change log from index `from` (see `crate::changes`):
    /// what the entries applied from there changed and published, up to
    /// `limit`, or [`FeedError::Lagged`] when retention dropped `from`.
    pub fn read_changes(&self, from: u64, limit: PageLimit) -> Result<FeedPage, FeedError> {
        let view = self.engine.view();
        let applied = read_applied(&*view)?.map_or(0, |id| id.index);
        crate::changes::read(&*view, applied, from, limit)
    }

    /// Where a reader of the change log starts to see only what is applied
    /// from now on.
    pub fn changes_cursor_now(&self) -> Result<u64, StoreError> {
        Ok(self.applied()?.map_or(0, |id| id.index) + 1)
    }

    /// Watches the applied index (0 before anything is applied).
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    /// Answers a read-only op from the current applied state. The time
    /// judging expiry is never below the shard clock.
    pub fn read(&self, wall_ms: u64, op: &Op) -> Result<Reply, StoreError> {
        let view = self.data_view();
        let now_ms = wall_ms.max(self.clock_ms());
        orbit_core::machine::read(now_ms, op, &view)
    }

    /// Runs read-only `ops` against one consistent view at one time:
    /// `stamp(clock)` of the shard clock, which must not be below it; the
    /// clock is read after the view is taken, so it is at least the view's.
    pub fn read_ops(
        &self,
        stamp: impl FnOnce(u64) -> u64,
        ops: &[Op],
    ) -> Result<Vec<Reply>, StoreError> {
        let view = self.data_view();
        let clock_ms = self.clock_ms();
        let now_ms = stamp(clock_ms).max(clock_ms);
        ops.iter()
            .map(|op| orbit_core::machine::read(now_ms, op, &view))
            .collect()
    }

    /// The shard clock: the highest timestamp applied, or one about to be.
    pub fn clock_ms(&self) -> u64 {
        self.clock_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock up to `clock_ms`, ahead of the engine write that
    /// makes the state holding it visible.
    fn advance_clock(&self, clock_ms: u64) {
        self.clock_ms.fetch_max(clock_ms, Ordering::SeqCst);
    }

    /// The applied index and a hash of every data key and value, taken
    /// from one consistent view, for comparing replicas.
    pub fn content_hash(&self) -> Result<(u64, u64), StoreError> {
        let view = self.engine.view();
        let applied = read_applied(&*view)?.map_or(0, |id| id.index);
        let mut hasher = crc32fast::Hasher::new();
        let mut count = 0u64;
        view.scan(Space::Data, &[], &mut |k, v| {
            hasher.update(&(k.len() as u64).to_le_bytes());
            hasher.update(k);
            hasher.update(&(v.len() as u64).to_le_bytes());
            hasher.update(v);
            count += 1;
            true
        })?;
        Ok((applied, (u64::from(hasher.finalize()) << 32) ^ count))
    }

    /// The earliest deadline in the expiry index, if any key has one.
    pub fn earliest_deadline_ms(&self) -> Result<Option<u64>, StoreError> {
        let mut earliest = None;
        self.data_view().scan(&[keys::TAG_EXPIRY], &mut |key, _| {
            earliest = keys::parse_expiry_key(key).map(|(deadline, _, _)| deadline);
            false
        })?;
        Ok(earliest)
    }

    /// Keys stored in `db` (expired ones not yet swept included, as Redis
    /// counts them) and how many of them carry a deadline.
    pub fn key_counts(&self, db: u8) -> Result<(u64, u64), StoreError> {
        let view = self.data_view();
        let keys = keys::read_count(&view, db)?;
        let mut expires = 0u64;
        view.scan(&[keys::TAG_EXPIRY], &mut |key, _| {
            if keys::parse_expiry_key(key).is_some_and(|(_, key_db, _)| key_db == db) {
                expires += 1;
            }
            true
        })?;
        Ok((keys, expires))
    }
}

fn read_applied(view: &dyn KvView) -> Result<Option<LogId>, StoreError> {
    match view.get(Space::Meta, META_APPLIED)? {
        None => Ok(None),
        Some(bytes) => Ok(Some(decode_one::<LogIdRecord>(&bytes)?.to_log_id())),
    }
}

fn decode_one<T>(bytes: &[u8]) -> Result<T, StoreError>
where
    T: Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<rkyv::api::high::HighValidator<'a, rkyv::rancor::Error>>
        + rkyv::Deserialize<T, rkyv::rancor::Strategy<rkyv::de::Pool, rkyv::rancor::Error>>,
{
    decode_framed(bytes).map_err(|e| StoreError(format!("metadata record: {e}")))
}

impl Store for DataView {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(Space::Data, key)
    }

    fn put(&mut self, _key: &[u8], _value: &[u8]) -> Result<(), StoreError> {
        Err(StoreError("write through a read-only view".into()))
    }

    fn begin_op(&mut self) {}

    /// Nothing to undo: a view is never written.
    fn rollback_op(&mut self) {}

    fn delete(&mut self, _key: &[u8]) -> Result<(), StoreError> {
        Err(StoreError("write through a read-only view".into()))
    }

    fn scan_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.0.scan_from(Space::Data, prefix, from, visit)
    }

    fn scan_rev(
        &self,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.0.scan_rev(Space::Data, prefix, below, visit)
    }
}

/// The pending writes of one apply batch over the committed data, so that a
/// later entry in the batch sees what an earlier one wrote.
struct Overlay {
    base: Box<dyn KvView>,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Each key's pending state before the current op wrote it, newest
    /// last.
    undo: Vec<(Vec<u8>, PendingBefore)>,
}

/// A key's pending write before an op wrote it: `None` when it had none.
type PendingBefore = Option<Option<Vec<u8>>>;

impl Overlay {
    fn new(base: Box<dyn KvView>) -> Overlay {
        Overlay {
            base,
            writes: BTreeMap::new(),
            undo: Vec::new(),
        }
    }

    fn write(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        let previous = self.writes.insert(key.clone(), value);
        self.undo.push((key, previous));
    }
}

impl Store for Overlay {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(key) {
            Some(pending) => Ok(pending.clone()),
            None => self.base.get(Space::Data, key),
        }
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    fn put_owned(&mut self, key: Vec<u8>, value: Vec<u8>) -> Result<(), StoreError> {
        self.write(key, Some(value));
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.write(key.to_vec(), None);
        Ok(())
    }

    fn begin_op(&mut self) {
        self.undo.clear();
    }

    fn rollback_op(&mut self) {
        while let Some((key, previous)) = self.undo.pop() {
            match previous {
                Some(pending) => self.writes.insert(key, pending),
                None => self.writes.remove(&key),
            };
        }
    }

    /// Merges the pending writes into the base scan, in key order.
    fn scan_from(
        &self,
        prefix: &[u8],
        from: &[u8],
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let pending = self
            .writes
            .range(from.max(prefix).to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix));
        merge_scan(
            pending,
            |pending, base| pending < base,
            |merge| self.base.scan_from(Space::Data, prefix, from, merge),
            visit,
        )
    }

    /// `scan_from`'s merge, descending.
    fn scan_rev(
        &self,
        prefix: &[u8],
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let Some(range) = orbit_core::store::rev_range(prefix, below) else {
            return Ok(());
        };
        merge_scan(
            self.writes.range(range).rev(),
            |pending, base| pending > base,
            |merge| self.base.scan_rev(Space::Data, prefix, below, merge),
            visit,
        )
    }
}

/// Visits the merge of a base scan and the pending writes over the same
/// keys, both in the scan's order (`first(a, b)`: key `a` comes before
/// key `b`): a pending put replaces or adds its key, a pending delete
/// hides it. Stops when `visit` returns false.
fn merge_scan<'a>(
    pending: impl Iterator<Item = (&'a Vec<u8>, &'a Option<Vec<u8>>)>,
    first: impl Fn(&[u8], &[u8]) -> bool,
    base_scan: impl FnOnce(&mut dyn FnMut(&[u8], &[u8]) -> bool) -> Result<(), StoreError>,
    visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
) -> Result<(), StoreError> {
    let mut pending = pending.peekable();
    let mut stopped = false;
    base_scan(&mut |base_key, base_value| {
        while let Some((key, value)) = pending.next_if(|(key, _)| first(key, base_key)) {
            if let Some(value) = value {
                if !visit(key, value) {
                    stopped = true;
                    return false;
                }
            }
        }
        let keep_going = match pending.next_if(|(key, _)| key.as_slice() == base_key) {
            Some((_, Some(value))) => visit(base_key, value),
            Some((_, None)) => true,
            None => visit(base_key, base_value),
        };
        stopped = !keep_going;
        keep_going
    })?;
    if !stopped {
        for (key, value) in pending {
            if let Some(value) = value {
                if !visit(key, value) {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The openraft state machine for one shard.
pub struct StateMachine {
    state: Arc<ShardState>,
    disk: Arc<dyn Disk>,
    /// The last index applied (or installed) since this process opened the
    /// state: the next entry applied must follow it.
    applied_here: Option<u64>,
    /// The change log's floor and size, read at the first batch and kept
    /// here after (this is its only writer).
    change_log: Option<crate::changes::Log>,
    change_retention: Retention,
}

impl StateMachine {
    pub fn new(state: Arc<ShardState>, snapshot_disk: Arc<dyn Disk>) -> StateMachine {
        StateMachine {
            state,
            disk: snapshot_disk,
            applied_here: None,
            change_log: None,
            change_retention: Retention::default(),
        }
    }

    /// Keeps the change log within `retention` from the next batch on.
    pub fn with_change_retention(mut self, retention: Retention) -> StateMachine {
        assert!(retention.entries > 0, "a change log keeping no entry");
        self.change_retention = retention;
        self
    }

    fn change_log(&mut self) -> Result<crate::changes::Log, StoreError> {
        if let Some(log) = self.change_log {
            return Ok(log);
        }
        let view = self.state.engine.view();
        let applied = read_applied(&*view)?.map_or(0, |id| id.index);
        crate::changes::Log::load(&*view, applied)
    }

    /// Applies `entries` as one batch (one engine write) and returns each
    /// entry's outputs; `RaftStateMachine::apply` answers proposers with
    /// them. Tests call it directly.
    pub async fn apply_entries(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Vec<Vec<Reply>>, std::io::Error> {
        let state = self.state.clone();
        let mut overlay = Overlay::new(state.engine.view());
        let mut outputs = Vec::new();
        let mut last_applied = None;
        let mut membership = None;
        let mut change_log = self.change_log().map_err(sm_err)?;
        let mut change_ops: Vec<BatchOp> = Vec::new();
        let mut previous_in_batch: Option<u64> = None;
        for entry in entries {
            // Run in production too: an entry applied twice or out of order
            // would make this replica's state differ from the others'.
            // Within a batch openraft hands over a contiguous run; between
            // batches (openraft's own storage suite skips indices) only the
            // order is checked.
            let index = entry.log_id.index;
            if let Some(previous) = previous_in_batch {
                assert_eq!(index, previous + 1, "a batch of entries is contiguous");
            } else if let Some(previous) = self.applied_here {
                assert!(index > previous, "entry {index} applied after {previous}");
            }
            previous_in_batch = Some(index);
            self.applied_here = Some(index);
            let output = match &entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Normal(request) => {
                    #[cfg(madsim)]
                    let stamped;
                    #[cfg(madsim)]
                    let request = if orbit_core::fault::bug("expiry-by-apply-clock") {
                        let wall_ms = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
                        stamped = orbit_core::Entry {
                            ts_ms: wall_ms,
                            ..request.clone()
                        };
                        &stamped
                    } else {
                        request
                    };
                    let ctx = ApplyCtx {
                        index: entry.log_id.index,
                        term: entry.log_id.leader_id.term,
                    };
                    let applied = orbit_core::machine::apply(&ctx, request, &mut overlay)
                        .map_err(|e| sm_err(format!("applying entry {}: {e}", entry.log_id)))?;
                    change_log.append(index, &applied.changes, &applied.published, &mut change_ops);
                    applied.outputs
                }
                EntryPayload::Membership(m) => {
                    membership = Some(StoredMembership::new(Some(entry.log_id), m.clone()));
                    Vec::new()
                }
            };
            last_applied = Some(entry.log_id);
            outputs.push(output);
        }
        let Some(last_applied) = last_applied else {
            return Ok(outputs);
        };
        state.advance_clock(orbit_core::clock::read_clock(&overlay).map_err(sm_err)?);
        let mut batch: Vec<BatchOp> = overlay
            .writes
            .into_iter()
            .map(|(key, value)| (Space::Data, key, value))
            .collect();
        change_log
            .trim(
                || state.engine.view(),
                last_applied.index,
                self.change_retention,
                &mut change_ops,
            )
            .map_err(sm_err)?;
        batch.append(&mut change_ops);
        let record_applied = true;
        #[cfg(madsim)]
        let record_applied = record_applied && !orbit_core::fault::bug("drop-applied-index");
        #[cfg(madsim)]
        if let Some(previous) = state
            .engine
            .view()
            .get(Space::Meta, META_APPLIED)
            .map_err(sm_err)?
        {
            batch.push((Space::Meta, META_PREVIOUS_APPLIED.to_vec(), Some(previous)));
        }
        if record_applied {
            batch.push((
                Space::Meta,
                META_APPLIED.to_vec(),
                Some(encode_framed(&LogIdRecord::from_log_id(&last_applied))),
            ));
        }
        if let Some(m) = &membership {
            batch.push((
                Space::Meta,
                META_MEMBERSHIP.to_vec(),
                Some(encode_framed(&encode_membership(m))),
            ));
        }
        state.engine.write(batch).map_err(sm_err)?;
        self.change_log = Some(change_log);
        state.applied_tx.send_replace(last_applied.index);
        Ok(outputs)
    }
}

/// Builds snapshots from a consistent fjall snapshot.
pub struct SnapshotBuilder {
    state: Arc<ShardState>,
    disk: Arc<dyn Disk>,
}

/// Serializes the whole shard at one instant into snapshot bytes.
fn build_snapshot_bytes(state: &ShardState) -> Result<(SnapshotMeta, String, Vec<u8>), StoreError> {
    let view = state.engine.view();
    let applied = match view.get(Space::Meta, META_APPLIED)? {
        None => None,
        Some(bytes) => Some(decode_one::<LogIdRecord>(&bytes)?),
    };
    let membership = match view.get(Space::Meta, META_MEMBERSHIP)? {
        None => encode_membership(&StoredMembership::default()),
        Some(bytes) => decode_one::<StoredMembershipRecord>(&bytes)?,
    };
    let built = state
        .snapshots_built
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let snapshot_id = match applied {
        Some(id) => format!("{}-{}-{built}", id.term, id.index),
        None => format!("0-0-{built}"),
    };
    let header = SnapshotHeader {
        snapshot_id: snapshot_id.clone(),
        last_applied: applied,
        membership: membership.clone(),
    };
    let mut out = SNAPSHOT_MAGIC.to_vec();
    write_frame(&mut out, &to_rkyv(&header));
    let (mut chunk, mut chunk_bytes, mut chunk_count, mut pair_count) =
        (Vec::new(), 0usize, 0u64, 0u64);
    view.scan(Space::Data, &[], &mut |k, v| {
        chunk_bytes += k.len() + v.len();
        chunk.push((k.to_vec(), v.to_vec()));
        pair_count += 1;
        if chunk_bytes >= SNAPSHOT_CHUNK_BYTES_MAX {
            write_frame(
                &mut out,
                &to_rkyv(&SnapshotChunk {
                    pairs: std::mem::take(&mut chunk),
                }),
            );
            chunk_bytes = 0;
            chunk_count += 1;
        }
        true
    })?;
    if !chunk.is_empty() {
        write_frame(&mut out, &to_rkyv(&SnapshotChunk { pairs: chunk }));
        chunk_count += 1;
    }
    write_frame(
        &mut out,
        &to_rkyv(&SnapshotTrailer {
            chunk_count,
            pair_count,
        }),
    );
    let meta = SnapshotMeta {
        last_log_id: applied.map(LogIdRecord::to_log_id),
        last_membership: decode_membership(&membership)?,
    };
    Ok((meta, snapshot_id, out))
}

/// A parsed, fully verified snapshot.
struct ParsedSnapshot {
    header: SnapshotHeader,
    pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

fn parse_snapshot(bytes: &[u8]) -> Result<ParsedSnapshot, StoreError> {
    let bad = |offset: usize, why: String| {
        StoreError(format!("snapshot corrupted at byte {offset}: {why}"))
    };
    if bytes.len() < SNAPSHOT_MAGIC.len() || &bytes[..SNAPSHOT_MAGIC.len()] != SNAPSHOT_MAGIC {
        return Err(bad(0, "bad magic".into()));
    }
    let mut offset = SNAPSHOT_MAGIC.len();
    let (payload, used) = read_frame(&bytes[offset..]).map_err(|e| bad(offset, e.to_string()))?;
    let header: SnapshotHeader = from_rkyv(payload).map_err(|e| bad(offset, e.to_string()))?;
    offset += used;
    let mut frames = Vec::new();
    while offset < bytes.len() {
        let (payload, used) =
            read_frame(&bytes[offset..]).map_err(|e| bad(offset, e.to_string()))?;
        frames.push((offset, payload));
        offset += used;
    }
    let Some((trailer_at, trailer)) = frames.pop() else {
        return Err(bad(offset, "no trailer".into()));
    };
    let trailer: SnapshotTrailer =
        from_rkyv(trailer).map_err(|e| bad(trailer_at, e.to_string()))?;
    let mut pairs = Vec::new();
    for (at, payload) in &frames {
        let chunk: SnapshotChunk = from_rkyv(payload).map_err(|e| bad(*at, e.to_string()))?;
        pairs.extend(chunk.pairs);
    }
    if trailer.chunk_count != frames.len() as u64 || trailer.pair_count != pairs.len() as u64 {
        return Err(bad(
            trailer_at,
            format!("trailer says {trailer:?}, found {} chunks", frames.len()),
        ));
    }
    Ok(ParsedSnapshot { header, pairs })
}

fn meta_from_header(header: &SnapshotHeader) -> Result<SnapshotMeta, StoreError> {
    Ok(SnapshotMeta {
        last_log_id: header.last_applied.map(LogIdRecord::to_log_id),
        last_membership: decode_membership(&header.membership)?,
    })
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, std::io::Error> {
        // Everything the snapshot covers must be durable before openraft
        // purges the log behind it.
        self.state.engine.persist().map_err(sm_err)?;
        let (meta, snapshot_id, bytes) = build_snapshot_bytes(&self.state).map_err(sm_err)?;
        write_file_atomic(&*self.disk, SNAPSHOT_FILE, &bytes).map_err(sm_err)?;
        tracing::info!(snapshot = %snapshot_id, bytes = bytes.len(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(bytes),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), std::io::Error> {
        #[allow(unused_mut)]
        let mut applied = self.state.applied().map_err(sm_err)?;
        #[cfg(madsim)]
        if orbit_core::fault::bug("apply-twice-after-restart") {
            // Claim the batch before the last one is not applied yet.
            if let Some(bytes) = self
                .state
                .engine
                .view()
                .get(Space::Meta, META_PREVIOUS_APPLIED)
                .map_err(sm_err)?
            {
                applied = Some(
                    decode_one::<LogIdRecord>(&bytes)
                        .map_err(sm_err)?
                        .to_log_id(),
                );
            }
        }
        let membership = self.state.membership().map_err(sm_err)?;
        Ok((applied, membership))
    }

    /// Applies every entry the stream holds as one batch (one engine write),
    /// then answers each entry's proposer.
    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), std::io::Error>
    where
        Strm: futures_util::Stream<Item = Result<EntryResponder<TypeConfig>, std::io::Error>>
            + Unpin
            + Send,
    {
        let mut batch = Vec::new();
        let mut responders = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            batch.push(entry);
            responders.push(responder);
        }
        let outputs = self.apply_entries(batch).await?;
        for (responder, output) in responders.into_iter().zip(outputs) {
            if let Some(responder) = responder {
                responder.send(output);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            state: self.state.clone(),
            disk: self.disk.clone(),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: SnapshotData,
    ) -> Result<(), std::io::Error> {
        let bytes = snapshot.into_inner();
        let parsed = parse_snapshot(&bytes).map_err(sm_err)?;
        let parsed_id = parsed.header.snapshot_id.clone();
        if meta_from_header(&parsed.header)
            .map_err(sm_err)?
            .last_log_id
            != meta.last_log_id
        {
            return Err(sm_err(format!(
                "snapshot header disagrees with its meta {:?}",
                meta.last_log_id
            )));
        }
        let state = &self.state;
        if let Some((_, record)) = parsed
            .pairs
            .iter()
            .find(|(key, _)| key[..] == orbit_core::clock::CLOCK_KEY)
        {
            state.advance_clock(orbit_core::clock::clock_of(record).map_err(sm_err)?);
        }
        let mut batch: Vec<BatchOp> = Vec::new();
        state
            .engine
            .view()
            .scan(Space::Data, &[], &mut |key, _| {
                batch.push((Space::Data, key.to_vec(), None));
                true
            })
            .map_err(sm_err)?;
        batch.extend(
            parsed
                .pairs
                .into_iter()
                .map(|(key, value)| (Space::Data, key, Some(value))),
        );
        // The change log is this replica's history: what the snapshot
        // covers was never applied here, so the log restarts after it.
        state
            .engine
            .view()
            .scan(Space::Changes, &[], &mut |key, _| {
                batch.push((Space::Changes, key.to_vec(), None));
                true
            })
            .map_err(sm_err)?;
        let installed = meta.last_log_id.map_or(0, |id| id.index);
        let change_log = crate::changes::Log {
            floor: installed + 1,
            held: 0,
        };
        batch.push(crate::changes::floor_op(crate::changes::Floor {
            floor: installed + 1,
            held: 0,
            as_of: installed,
        }));
        let applied = parsed.header.last_applied.map(|id| encode_framed(&id));
        batch.push((Space::Meta, META_APPLIED.to_vec(), applied));
        batch.push((
            Space::Meta,
            META_MEMBERSHIP.to_vec(),
            Some(encode_framed(&parsed.header.membership)),
        ));
        state.engine.write(batch).map_err(sm_err)?;
        state.engine.persist().map_err(sm_err)?;
        write_file_atomic(&*self.disk, SNAPSHOT_FILE, &bytes).map_err(sm_err)?;
        state
            .applied_tx
            .send_replace(meta.last_log_id.map_or(0, |id| id.index));
        self.applied_here = meta.last_log_id.map(|id| id.index);
        self.change_log = Some(change_log);
        tracing::info!(snapshot = %parsed_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, std::io::Error> {
        let Some(bytes) = read_file(&*self.disk, SNAPSHOT_FILE).map_err(sm_err)? else {
            return Ok(None);
        };
        let parsed = parse_snapshot(&bytes).map_err(sm_err)?;
        let meta = meta_from_header(&parsed.header).map_err(sm_err)?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Cursor::new(bytes),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::engine::{FjallEngine, MemEngine};

    /// A byte of a tiny alphabet, so prefixes and bounds collide often;
    /// 0xFF tries the ends of prefix ranges.
    fn byte() -> impl Strategy<Value = u8> {
        prop_oneof![0u8..3, Just(0xFF)]
    }

    fn bound() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(byte(), 0..4)
    }

    /// A stored key: never empty (fjall refuses empty keys; ours never are).
    fn key() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(byte(), 1..4)
    }

    /// The first `limit` keys `scan_rev` visits, stopping it there.
    fn collect_rev(
        store: &impl Store,
        prefix: &[u8],
        below: Option<&[u8]>,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        store
            .scan_rev(prefix, below, &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                out.len() < limit
            })
            .expect("scan");
        out
    }

    fn merged(
        base: &BTreeMap<Vec<u8>, Vec<u8>>,
        pending: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> BTreeMap<Vec<u8>, Vec<u8>> {
        let mut model = base.clone();
        for (k, v) in pending {
            match v {
                Some(v) => model.insert(k.clone(), v.clone()),
                None => model.remove(k),
            };
        }
        model
    }

    /// Both engines holding `base` in the data space, with the same keys
    /// in the meta space too, which no data scan may visit.
    fn engines(dir: &Path, base: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<Arc<dyn KvEngine>> {
        let engines: Vec<Arc<dyn KvEngine>> = vec![
            Arc::new(MemEngine::new()),
            FjallEngine::open(dir).expect("fjall"),
        ];
        for engine in &engines {
            let batch = base
                .iter()
                .flat_map(|(k, v)| {
                    [
                        (Space::Data, k.clone(), Some(v.clone())),
                        (Space::Meta, k.clone(), Some(b"meta".to_vec())),
                    ]
                })
                .collect();
            engine.write(batch).expect("write");
        }
        engines
    }

    fn collect(store: &impl Store, prefix: &[u8], from: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        store
            .scan_from(prefix, from, &mut |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                true
            })
            .expect("scan");
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn overlay_scan_from_matches_a_merged_model(
            base in proptest::collection::btree_map(key(), bound(), 0..12),
            pending in proptest::collection::btree_map(key(), proptest::option::of(bound()), 0..12),
            prefix in bound(),
            from in bound(),
        ) {
            // Goal: a scan from any bound over committed data with pending
            // puts and deletes on top sees exactly the merged map's keys
            // under the prefix at or after the bound, in order, on both
            // engines.
            let expected: Vec<(Vec<u8>, Vec<u8>)> = merged(&base, &pending)
                .into_iter()
                .filter(|(k, _)| k.starts_with(&prefix) && k.as_slice() >= from.as_slice())
                .collect();
            let dir = tempfile::tempdir().expect("tempdir");
            for engine in engines(dir.path(), &base) {
                let overlay = Overlay { base: engine.view(), writes: pending.clone(), undo: Vec::new() };
                prop_assert_eq!(collect(&overlay, &prefix, &from), expected.clone());
            }
        }

        #[test]
        fn overlay_scan_rev_matches_a_merged_model(
            base in proptest::collection::btree_map(key(), bound(), 0..12),
            pending in proptest::collection::btree_map(key(), proptest::option::of(bound()), 0..12),
            prefix in bound(),
            below in proptest::option::of(bound()),
            limit in 1usize..16,
        ) {
            // Goal: a descending scan below any bound (or none) over
            // committed data with pending puts and deletes on top sees
            // exactly the merged map's keys under the prefix and below the
            // bound, in descending order, and stops when told, on both
            // engines and on their plain views.
            let descending = |map: BTreeMap<Vec<u8>, Vec<u8>>| -> Vec<(Vec<u8>, Vec<u8>)> {
                map.into_iter()
                    .rev()
                    .filter(|(k, _)| {
                        k.starts_with(&prefix) && below.as_ref().is_none_or(|b| k < b)
                    })
                    .take(limit)
                    .collect()
            };
            let expected = descending(merged(&base, &pending));
            let unmerged = descending(base.clone());
            let dir = tempfile::tempdir().expect("tempdir");
            for engine in engines(dir.path(), &base) {
                let view = DataView(engine.view());
                prop_assert_eq!(collect_rev(&view, &prefix, below.as_deref(), limit), unmerged.clone());
                let overlay = Overlay { base: engine.view(), writes: pending.clone(), undo: Vec::new() };
                prop_assert_eq!(collect_rev(&overlay, &prefix, below.as_deref(), limit), expected.clone());
            }
        }

        #[test]
        fn overlay_rollback_restores_what_the_op_found(
            base in proptest::collection::btree_map(key(), bound(), 0..12),
            pending in proptest::collection::btree_map(key(), proptest::option::of(bound()), 0..12),
            op_writes in proptest::collection::vec((key(), proptest::option::of(bound())), 0..12),
        ) {
            // Goal: the writes of one op (puts and deletes, the same key
            // several times included) over earlier pending writes vanish
            // on rollback: every scan reads as before the op.
            let engine = engines(tempfile::tempdir().expect("tempdir").path(), &base).remove(0);
            let mut overlay = Overlay { base: engine.view(), writes: pending.clone(), undo: Vec::new() };
            let before = collect(&overlay, &[], &[]);
            overlay.begin_op();
            for (key, value) in &op_writes {
                match value {
                    Some(value) => overlay.put(key, value).expect("put"),
                    None => overlay.delete(key).expect("delete"),
                }
            }
            overlay.rollback_op();
            prop_assert_eq!(&overlay.writes, &pending);
            prop_assert_eq!(collect(&overlay, &[], &[]), before);
        }
    }
}
