//! Integration tests of the shard state machine over fjall: applying
//! entries, reads from applied state, durability across reopening, and
//! snapshots (build, install, refusal of damaged ones, the current one).
//!
//! Commands are checked against Redis semantics, whatever `orbit_core::apply`
//! currently implements.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{BasicNode, EntryPayload};
use orbit_core::redis::command::{SetCondition, SetExpiry};
use orbit_core::redis::{Command, Output};
use orbit_core::{Op, Reply, StoreError};
use orbit_storage::raft::types::{
    Entry, LogId, Membership, Snapshot, SnapshotMeta, StoredMembership,
};
use orbit_storage::record::log_id;
use orbit_storage::{Disk, FsDisk, ShardState, StateMachine};
use tempfile::TempDir;

const TERM: u64 = 3;
/// Proposal time of entry `index`: a fixed epoch plus ten ms per index.
const TS_MS_BASE: u64 = 1_700_000_000_000;

fn tempdir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory can be created")
}

/// Opens the store in `dir/state` and the snapshot files in `dir/snapshot`.
fn open(dir: &Path) -> (Arc<ShardState>, StateMachine) {
    let state = ShardState::open_fjall(&dir.join("state")).expect("the state store opens");
    let disk: Arc<dyn Disk> =
        Arc::new(FsDisk::open(dir.join("snapshot")).expect("snapshot dir opens"));
    (state.clone(), StateMachine::new(state, disk))
}

fn membership(voters: &[u64]) -> Membership {
    let nodes: BTreeMap<u64, BasicNode> = voters
        .iter()
        .map(|id| {
            (
                *id,
                BasicNode {
                    addr: format!("node-{id}:7000"),
                },
            )
        })
        .collect();
    Membership::new(
        vec![voters.iter().copied().collect::<BTreeSet<u64>>()],
        nodes,
    )
    .expect("a valid membership")
}

fn normal(index: u64, db: u8, cmd: Command) -> Entry {
    let request = orbit_core::Entry::redis(TS_MS_BASE + index * 10, db, cmd);
    Entry {
        log_id: log_id(TERM, index),
        payload: EntryPayload::Normal(request),
    }
}

fn blank(index: u64) -> Entry {
    Entry {
        log_id: log_id(TERM, index),
        payload: EntryPayload::Blank,
    }
}

fn member(index: u64, voters: &[u64]) -> Entry {
    Entry {
        log_id: log_id(TERM, index),
        payload: EntryPayload::Membership(membership(voters)),
    }
}

fn set(key: &str, value: &str) -> Command {
    Command::Set {
        key: key.into(),
        value: value.into(),
        condition: SetCondition::Always,
        expiry: SetExpiry::Clear,
        get: false,
    }
}

fn get(key: &str) -> Command {
    Command::Get { key: key.into() }
}

fn text(value: &str) -> Output {
    Output::Bytes(value.into())
}

/// The names in a KEYS reply, sorted (Redis leaves their order open).
fn key_names(output: Output) -> Vec<String> {
    let Output::Array(items) = output else {
        panic!("KEYS replies with an array, got {output:?}")
    };
    let mut names: Vec<String> = items
        .into_iter()
        .map(|item| match item {
            Output::Bytes(name) => String::from_utf8(name).expect("utf-8 key"),
            other => panic!("KEYS item is not a name: {other:?}"),
        })
        .collect();
    names.sort();
    names
}

/// Everything a test compares between two stores, or one store over time.
#[derive(Debug, PartialEq)]
struct Summary {
    /// The applied index and a hash of every data key and value.
    content_hash: (u64, u64),
    applied: Option<LogId>,
    membership: StoredMembership,
    current_snapshot: Option<SnapshotMeta>,
}

async fn summary(state: &ShardState, sm: &mut StateMachine) -> Summary {
    let (applied, membership) = sm.applied_state().await.expect("applied state");
    assert_eq!(applied, state.applied().expect("applied"));
    let current_snapshot = sm
        .get_current_snapshot()
        .await
        .expect("current snapshot")
        .map(|s| s.meta);
    Summary {
        content_hash: state.content_hash().expect("hash"),
        applied,
        membership,
        current_snapshot,
    }
}

/// The first batch of the apply test: every payload kind, and reads inside
/// the batch that must see the writes before them.
fn first_batch() -> (Vec<Entry>, Vec<Output>) {
    let steps: Vec<(Entry, Output)> = vec![
        (blank(1), Output::Ok),
        (member(2, &[1, 2, 3]), Output::Ok),
        (normal(3, 0, set("a", "1")), Output::Ok),
        (normal(4, 0, set("b", "2")), Output::Ok),
        (normal(5, 0, get("a")), text("1")),
        (
            normal(
                6,
                0,
                Command::Del {
                    keys: vec![b"b".to_vec(), b"nope".to_vec()],
                },
            ),
            Output::Int(1),
        ),
        (normal(7, 0, get("b")), Output::Nil),
        (
            normal(
                8,
                0,
                Command::IncrBy {
                    key: b"c".to_vec(),
                    delta: 5,
                },
            ),
            Output::Int(5),
        ),
        (
            normal(
                9,
                0,
                Command::Append {
                    key: b"a".to_vec(),
                    value: b"x".to_vec(),
                },
            ),
            Output::Int(2),
        ),
        (
            normal(
                10,
                0,
                Command::MSet {
                    pairs: vec![
                        (b"d".to_vec(), b"4".to_vec()),
                        (b"e".to_vec(), b"5".to_vec()),
                    ],
                },
            ),
            Output::Ok,
        ),
        (
            normal(
                11,
                0,
                Command::MGet {
                    keys: vec![b"a".to_vec(), b"b".to_vec(), b"d".to_vec()],
                },
            ),
            Output::Array(vec![text("1x"), Output::Nil, text("4")]),
        ),
        (normal(12, 1, set("a", "other-db")), Output::Ok),
        (normal(13, 0, Command::DbSize), Output::Int(4)),
        (member(14, &[1, 2, 3, 4]), Output::Ok),
        (blank(15), Output::Ok),
    ];
    steps.into_iter().unzip()
}

#[tokio::test]
async fn apply_batch_then_reopen() {
    // Goal: a batch of Blank, Membership and Normal entries yields one Redis-correct output per entry, advances applied and membership, and all of it survives reopening the database.
    let dir = tempdir();
    let (state, mut sm) = open(dir.path());
    let applied_rx = state.subscribe_applied();
    assert_eq!(summary(&state, &mut sm).await.applied, None);
    assert!(sm
        .apply_entries(Vec::new())
        .await
        .expect("empty batch")
        .is_empty());
    assert_eq!(
        state.applied().expect("applied"),
        None,
        "an empty batch applies nothing"
    );

    let (entries, expected) = first_batch();
    let outputs = per_entry(sm.apply_entries(entries).await.expect("apply"));
    assert_eq!(outputs, expected);
    assert_eq!(state.applied().expect("applied"), Some(log_id(TERM, 15)));
    assert_eq!(*applied_rx.borrow(), 15);
    let (_, stored) = sm.applied_state().await.expect("applied state");
    assert_eq!(
        stored,
        StoredMembership::new(Some(log_id(TERM, 14)), membership(&[1, 2, 3, 4]))
    );

    // A second batch: its KEYS sees committed keys, its own pending writes and deletes.
    let outputs = per_entry(
        sm.apply_entries(vec![
            normal(
                16,
                0,
                Command::Set {
                    key: b"a".to_vec(),
                    value: b"2".to_vec(),
                    condition: SetCondition::Always,
                    expiry: SetExpiry::Clear,
                    get: true,
                },
            ),
            normal(
                17,
                0,
                Command::IncrBy {
                    key: b"c".to_vec(),
                    delta: -7,
                },
            ),
            normal(18, 0, set("f", "6")),
            normal(
                19,
                0,
                Command::Del {
                    keys: vec![b"d".to_vec()],
                },
            ),
            normal(
                20,
                0,
                Command::Keys {
                    pattern: b"*".to_vec(),
                },
            ),
        ])
        .await
        .expect("apply"),
    );
    assert_eq!(
        outputs[..4],
        [text("1x"), Output::Int(-2), Output::Ok, Output::Int(1)]
    );
    assert_eq!(key_names(outputs[4].clone()), ["a", "c", "e", "f"]);
    assert_eq!(
        state.clock_ms(),
        TS_MS_BASE + 200,
        "the shard clock is the last entry's time"
    );

    let before = summary(&state, &mut sm).await;
    assert_eq!(before.applied, Some(log_id(TERM, 20)));
    drop((state, sm, applied_rx));
    let (state, mut sm) = open(dir.path());
    assert_eq!(summary(&state, &mut sm).await, before);
    assert_eq!(
        state.clock_ms(),
        TS_MS_BASE + 200,
        "reopening restores the clock"
    );
    assert_eq!(*state.subscribe_applied().borrow(), 20);
    assert_eq!(state.read_redis(0, 0, &get("a")).expect("read"), text("2"));
    assert_eq!(
        state.read_redis(0, 1, &get("a")).expect("read"),
        text("other-db")
    );
    assert_eq!(state.read_redis(0, 0, &get("c")).expect("read"), text("-2"));
    assert_eq!(
        key_names(
            state
                .read_redis(
                    0,
                    0,
                    &Command::Keys {
                        pattern: b"*".to_vec()
                    }
                )
                .expect("read")
        ),
        ["a", "c", "e", "f"]
    );
}

#[tokio::test]
async fn read_answers_from_applied_state() {
    // Goal: `ShardState::read` answers every kind of read-only command from what has been applied, and sees later batches once applied.
    let dir = tempdir();
    let (state, mut sm) = open(dir.path());
    let (entries, _) = first_batch();
    sm.apply_entries(entries).await.expect("apply");
    let read = |db: u8, cmd: Command| state.read_redis(0, db, &cmd).expect("read");
    assert_eq!(read(0, get("a")), text("1x"));
    assert_eq!(read(0, get("b")), Output::Nil);
    assert_eq!(read(1, get("a")), text("other-db"));
    assert_eq!(read(2, get("a")), Output::Nil, "databases are separate");
    assert_eq!(
        read(
            0,
            Command::MGet {
                keys: vec![b"c".to_vec(), b"zz".to_vec(), b"e".to_vec()]
            }
        ),
        Output::Array(vec![text("5"), Output::Nil, text("5")])
    );
    assert_eq!(
        read(
            0,
            Command::Exists {
                keys: vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
            }
        ),
        Output::Int(2)
    );
    assert_eq!(
        read(0, Command::StrLen { key: b"a".to_vec() }),
        Output::Int(2)
    );
    assert_eq!(
        read(
            0,
            Command::GetRange {
                key: b"a".to_vec(),
                start: 1,
                end: -1
            }
        ),
        text("x")
    );
    assert_eq!(
        read(0, Command::Type { key: b"a".to_vec() }),
        Output::Status("string".into())
    );
    assert_eq!(
        read(0, Command::Type { key: b"b".to_vec() }),
        Output::Status("none".into())
    );
    assert_eq!(
        read(
            0,
            Command::Ttl {
                key: b"a".to_vec(),
                millis: false
            }
        ),
        Output::Int(-1)
    );
    assert_eq!(
        read(
            0,
            Command::Ttl {
                key: b"b".to_vec(),
                millis: true
            }
        ),
        Output::Int(-2)
    );
    assert_eq!(read(0, Command::DbSize), Output::Int(4));
    assert_eq!(read(1, Command::DbSize), Output::Int(1));
    assert_eq!(
        key_names(read(
            0,
            Command::Keys {
                pattern: b"*".to_vec()
            }
        )),
        ["a", "c", "d", "e"]
    );

    // A write command on the read path changes nothing.
    let hash = state.content_hash().expect("hash");
    if let Ok(output) = state.read_redis(0, 0, &set("a", "sneaky")) {
        assert!(
            output.is_error(),
            "a write on the read path must not succeed: {output:?}"
        );
    }
    assert_eq!(state.content_hash().expect("hash"), hash);

    sm.apply_entries(vec![normal(16, 0, set("b", "back"))])
        .await
        .expect("apply");
    assert_eq!(read(0, get("b")), text("back"));
    assert_eq!(read(0, Command::DbSize), Output::Int(5));
}

#[tokio::test]
async fn read_time_never_runs_behind_the_shard_clock() {
    // Goal: expiry on the read path is judged at max(wall clock, shard clock), so a lagging wall clock cannot revive an expired key.
    let dir = tempdir();
    let (state, mut sm) = open(dir.path());
    let expiring = Command::Set {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        condition: SetCondition::Always,
        expiry: SetExpiry::At(orbit_core::redis::command::Expiry::RelativeMs(1_000)),
        get: false,
    };
    // Entry 1 at TS_MS_BASE + 10 sets a deadline of TS_MS_BASE + 1010.
    sm.apply_entries(vec![normal(1, 0, expiring)])
        .await
        .expect("apply");
    let deadline_ms = TS_MS_BASE + 1_010;
    assert_eq!(
        state.read_redis(0, 0, &get("k")).expect("read"),
        text("v"),
        "a wall clock of 0 reads at the shard clock"
    );
    assert_eq!(
        state
            .read_redis(deadline_ms - 1, 0, &get("k"))
            .expect("read"),
        text("v")
    );
    assert_eq!(
        state
            .read_redis(deadline_ms + 1, 0, &get("k"))
            .expect("read"),
        Output::Nil
    );
    // A later entry moves the shard clock past the deadline: a lagging wall clock no longer sees the key.
    let late = orbit_core::Entry::redis(deadline_ms + 5_000, 0, set("other", "x"));
    sm.apply_entries(vec![Entry {
        log_id: log_id(TERM, 2),
        payload: EntryPayload::Normal(late),
    }])
    .await
    .expect("apply");
    assert_eq!(state.clock_ms(), deadline_ms + 5_000);
    assert_eq!(
        state.read_redis(0, 0, &get("k")).expect("read"),
        Output::Nil
    );
}

/// One output per entry: a normal entry here holds one op and replies with
/// one output; blank and membership entries hold none, shown as `OK`.
fn per_entry(outputs: Vec<Vec<Reply>>) -> Vec<Output> {
    outputs
        .into_iter()
        .map(|mut output| {
            assert!(output.len() <= 1, "one op per entry in these tests");
            output.pop().map_or(Output::Ok, Reply::into_redis)
        })
        .collect()
}

/// Reads with a Redis command, as the sessions do through the node.
trait ReadRedis {
    fn read_redis(&self, now_ms: u64, db: u8, cmd: &Command) -> Result<Output, StoreError>;
}

impl ReadRedis for ShardState {
    fn read_redis(&self, now_ms: u64, db: u8, cmd: &Command) -> Result<Output, StoreError> {
        self.read(now_ms, &Op::redis(db, cmd.clone()))
            .map(Reply::into_redis)
    }
}

/// Builds a snapshot and returns its meta and bytes.
async fn build(sm: &mut StateMachine) -> (SnapshotMeta, Vec<u8>) {
    let Snapshot { meta, snapshot } = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .expect("snapshot builds");
    (meta, snapshot.into_inner())
}

/// Sends `bytes` to `sm` the way openraft does and installs them.
async fn install(sm: &mut StateMachine, meta: &SnapshotMeta, bytes: &[u8]) -> Result<(), String> {
    let cursor = std::io::Cursor::new(bytes.to_vec());
    sm.install_snapshot(meta, cursor)
        .await
        .map_err(|e| e.to_string())
}

/// A source store: the first batch applied.
async fn source(dir: &Path) -> (Arc<ShardState>, StateMachine) {
    let (state, mut sm) = open(dir);
    let (entries, _) = first_batch();
    sm.apply_entries(entries).await.expect("apply");
    (state, sm)
}

/// A target store holding other data: an overlapping key with another
/// value, keys the source lacks, and a later applied index.
async fn busy_target(dir: &Path) -> (Arc<ShardState>, StateMachine) {
    let (state, mut sm) = open(dir);
    let mut entries = vec![member(1, &[7, 8])];
    entries.extend((2..=30).map(|i| normal(i, (i % 3) as u8, set(&format!("t{i}"), "target"))));
    entries.push(normal(31, 0, set("a", "target's a")));
    sm.apply_entries(entries).await.expect("apply");
    (state, sm)
}

#[tokio::test]
async fn snapshot_round_trip_into_a_fresh_store() {
    // Goal: a built snapshot installed into a fresh store elsewhere reproduces its data, applied id and membership exactly, and persists there.
    let (source_dir, target_dir) = (tempdir(), tempdir());
    let (source_state, mut source_sm) = source(source_dir.path()).await;
    let (meta, bytes) = build(&mut source_sm).await;
    assert_eq!(meta.last_log_id, Some(log_id(TERM, 15)));
    assert_eq!(
        meta.last_membership,
        StoredMembership::new(Some(log_id(TERM, 14)), membership(&[1, 2, 3, 4]))
    );

    let (target_state, mut target_sm) = open(target_dir.path());
    install(&mut target_sm, &meta, &bytes)
        .await
        .expect("install");
    let expected = summary(&source_state, &mut source_sm).await;
    assert_eq!(summary(&target_state, &mut target_sm).await, expected);
    assert_eq!(*target_state.subscribe_applied().borrow(), 15);
    assert_eq!(
        target_state.clock_ms(),
        source_state.clock_ms(),
        "the installed store takes the snapshot's shard clock"
    );
    assert_eq!(
        target_state.read_redis(0, 0, &get("a")).expect("read"),
        text("1x")
    );
    assert_eq!(
        target_state.read_redis(0, 1, &get("a")).expect("read"),
        text("other-db")
    );

    drop((target_state, target_sm));
    let (target_state, mut target_sm) = open(target_dir.path());
    assert_eq!(summary(&target_state, &mut target_sm).await, expected);
    assert_eq!(target_state.clock_ms(), source_state.clock_ms());
    // The installed store keeps applying where the snapshot ended.
    target_sm
        .apply_entries(vec![normal(16, 0, get("a"))])
        .await
        .expect("apply after install");
    assert_eq!(
        target_state.applied().expect("applied"),
        Some(log_id(TERM, 16))
    );
}

#[tokio::test]
async fn snapshot_install_replaces_existing_data() {
    // Goal: installing over a store with other data (an overlapping key, extra keys, a later applied id) leaves exactly the snapshot's state.
    let (source_dir, target_dir) = (tempdir(), tempdir());
    let (source_state, mut source_sm) = source(source_dir.path()).await;
    let (meta, bytes) = build(&mut source_sm).await;
    let (target_state, mut target_sm) = busy_target(target_dir.path()).await;
    assert_ne!(
        target_state.content_hash().expect("hash"),
        source_state.content_hash().expect("hash")
    );

    install(&mut target_sm, &meta, &bytes)
        .await
        .expect("install");
    let expected = summary(&source_state, &mut source_sm).await;
    assert_eq!(summary(&target_state, &mut target_sm).await, expected);
    assert_eq!(
        target_state.read_redis(0, 0, &get("a")).expect("read"),
        text("1x")
    );
    assert_eq!(
        target_state.read_redis(0, 0, &get("t3")).expect("read"),
        Output::Nil
    );
    for (db, keys) in [(0u8, 4), (1, 1), (2, 0)] {
        assert_eq!(
            target_state
                .read_redis(0, db, &Command::DbSize)
                .expect("read"),
            Output::Int(keys)
        );
    }
    drop((target_state, target_sm));
    let (target_state, mut target_sm) = open(target_dir.path());
    assert_eq!(summary(&target_state, &mut target_sm).await, expected);
}

#[tokio::test]
async fn snapshot_of_an_empty_store_empties_the_target() {
    // Goal: a snapshot of a store with no data (only Blank and Membership applied) installed over a busy store leaves it with no data.
    let (source_dir, target_dir, fresh_dir) = (tempdir(), tempdir(), tempdir());
    let (source_state, mut source_sm) = open(source_dir.path());
    source_sm
        .apply_entries(vec![blank(1), member(2, &[4, 5, 6]), blank(3)])
        .await
        .expect("apply");
    let (meta, bytes) = build(&mut source_sm).await;
    let (target_state, mut target_sm) = busy_target(target_dir.path()).await;
    install(&mut target_sm, &meta, &bytes)
        .await
        .expect("install");
    assert_eq!(
        summary(&target_state, &mut target_sm).await,
        summary(&source_state, &mut source_sm).await
    );
    let (fresh_state, _) = open(fresh_dir.path());
    let data_hash = |state: &ShardState| state.content_hash().expect("hash").1;
    assert_eq!(
        data_hash(&target_state),
        data_hash(&fresh_state),
        "no data is left"
    );
}

#[tokio::test]
async fn snapshot_with_any_flipped_byte_is_refused() {
    // Goal: a snapshot with any single byte flipped, or cut short anywhere, is refused by install, and the target keeps its data, applied id, membership and current snapshot.
    let (source_dir, target_dir) = (tempdir(), tempdir());
    let (_source_state, mut source_sm) = source(source_dir.path()).await;
    let (meta, bytes) = build(&mut source_sm).await;
    let (target_state, mut target_sm) = busy_target(target_dir.path()).await;
    build(&mut target_sm).await;
    let before = summary(&target_state, &mut target_sm).await;
    for offset in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[offset] ^= 0x20;
        assert!(
            install(&mut target_sm, &meta, &bad).await.is_err(),
            "flip at byte {offset} accepted"
        );
    }
    for len in 0..bytes.len() {
        assert!(
            install(&mut target_sm, &meta, &bytes[..len]).await.is_err(),
            "snapshot cut at {len} accepted"
        );
    }
    let mut long = bytes.clone();
    long.extend_from_slice(&[0u8; 9]);
    assert!(
        install(&mut target_sm, &meta, &long).await.is_err(),
        "trailing bytes accepted"
    );
    // Bytes that verify but disagree with the meta they came with.
    let mut wrong_meta = meta.clone();
    wrong_meta.last_log_id = Some(log_id(TERM, 99));
    assert!(
        install(&mut target_sm, &wrong_meta, &bytes).await.is_err(),
        "meta mismatch accepted"
    );
    assert_eq!(summary(&target_state, &mut target_sm).await, before);
    assert_eq!(
        target_state.read_redis(0, 0, &get("a")).expect("read"),
        text("target's a")
    );
    // The untouched bytes still install.
    install(&mut target_sm, &meta, &bytes)
        .await
        .expect("install");
}

#[tokio::test]
async fn snapshot_spanning_several_chunks() {
    // Goal: a snapshot larger than one chunk (1 MiB of pairs) round-trips, and a flip in a later chunk is refused.
    let (source_dir, target_dir) = (tempdir(), tempdir());
    let (source_state, mut source_sm) = open(source_dir.path());
    let value = "v".repeat(64 * 1024);
    let entries: Vec<Entry> = (1..=24)
        .map(|i| normal(i, 0, set(&format!("big{i:02}"), &value)))
        .collect();
    source_sm.apply_entries(entries).await.expect("apply");
    let (meta, bytes) = build(&mut source_sm).await;
    assert!(bytes.len() > 3 * 512 * 1024);
    let (target_state, mut target_sm) = open(target_dir.path());
    for offset in [bytes.len() * 3 / 4, bytes.len() - 30] {
        let mut bad = bytes.clone();
        bad[offset] ^= 0x01;
        assert!(
            install(&mut target_sm, &meta, &bad).await.is_err(),
            "flip at byte {offset} accepted"
        );
    }
    assert_eq!(target_state.applied().expect("applied"), None);
    install(&mut target_sm, &meta, &bytes)
        .await
        .expect("install");
    assert_eq!(
        summary(&target_state, &mut target_sm).await,
        summary(&source_state, &mut source_sm).await
    );
    assert_eq!(
        target_state.read_redis(0, 0, &get("big24")).expect("read"),
        Output::Bytes(value.into_bytes())
    );
}

#[tokio::test]
async fn current_snapshot_survives_reopening() {
    // Goal: `get_current_snapshot` returns nothing before the first snapshot, then the last built or installed one, bytes and meta, also after reopening.
    let (source_dir, target_dir) = (tempdir(), tempdir());
    let (_, mut source_sm) = source(source_dir.path()).await;
    assert!(source_sm
        .get_current_snapshot()
        .await
        .expect("current")
        .is_none());
    let (_, first_bytes) = build(&mut source_sm).await;
    source_sm
        .apply_entries(vec![normal(16, 0, set("late", "1"))])
        .await
        .expect("apply");
    let (meta, bytes) = build(&mut source_sm).await;
    assert_ne!(
        bytes, first_bytes,
        "the later snapshot holds the later entry"
    );
    assert_eq!(meta.last_log_id, Some(log_id(TERM, 16)));
    drop(source_sm);
    let (_, mut source_sm) = open(source_dir.path());
    let current = source_sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!(
        (current.meta, current.snapshot.into_inner()),
        (meta.clone(), bytes.clone())
    );

    let (_, mut target_sm) = busy_target(target_dir.path()).await;
    assert!(target_sm
        .get_current_snapshot()
        .await
        .expect("current")
        .is_none());
    install(&mut target_sm, &meta, &bytes)
        .await
        .expect("install");
    drop(target_sm);
    let (_, mut target_sm) = open(target_dir.path());
    let current = target_sm
        .get_current_snapshot()
        .await
        .expect("current")
        .expect("a snapshot");
    assert_eq!((current.meta, current.snapshot.into_inner()), (meta, bytes));
}

#[tokio::test]
#[should_panic(expected = "entry 2 applied after 3")]
async fn an_entry_applied_again_stops_the_replica() {
    // Goal: applying an index at or below the last one applied (a repeat,
    // which would make this replica differ from the others) fails loudly,
    // in production builds too.
    let dir = tempdir();
    let (_state, mut sm) = open(dir.path());
    sm.apply_entries(vec![blank(1), normal(2, 0, set("a", "1")), blank(3)])
        .await
        .expect("apply");
    let _ = sm.apply_entries(vec![normal(2, 0, set("a", "1"))]).await;
}

#[tokio::test]
#[should_panic(expected = "a batch of entries is contiguous")]
async fn a_gap_inside_a_batch_stops_the_replica() {
    // Goal: a batch that skips an index fails loudly.
    let dir = tempdir();
    let (_state, mut sm) = open(dir.path());
    let _ = sm.apply_entries(vec![blank(1), blank(3)]).await;
}

/// The change log from `from`, as (index, changes, published) with
/// changes as (store key, deleted).
type ChangeRow = (u64, Vec<(Vec<u8>, bool)>, Vec<(Vec<u8>, Vec<u8>)>);

fn changes_from(state: &ShardState, from: u64) -> Result<(Vec<ChangeRow>, u64), String> {
    let page = state
        .read_changes(from, orbit_storage::changes::PageLimit::default())
        .map_err(|e| e.to_string())?;
    let rows = page
        .entries
        .into_iter()
        .map(|e| {
            let changes = e.changes.into_iter().map(|c| (c.key, c.deleted)).collect();
            (e.index, changes, e.published)
        })
        .collect();
    Ok((rows, page.next))
}

#[tokio::test]
async fn the_change_log_follows_applied_entries_and_survives_reopening() {
    // Goal: each entry's changes and messages land in the change log with
    // its data (entries that changed nothing hold no record), a reader
    // resumes from any index, the log outlives a reopen, and retention
    // tells a reader it lagged instead of skipping silently.
    let dir = tempdir();
    let key_a = orbit_core::redis::keys::data_key(0, b"a");
    let expected: Vec<ChangeRow> = vec![
        (2, vec![(key_a.clone(), false)], vec![]),
        (3, vec![], vec![(b"ch".to_vec(), b"m".to_vec())]),
        (4, vec![(key_a.clone(), true)], vec![]),
    ];
    {
        let (state, mut sm) = open(dir.path());
        assert_eq!(state.changes_cursor_now().expect("cursor"), 1);
        let publish = Command::Publish {
            channel: b"ch".to_vec(),
            message: b"m".to_vec(),
        };
        let del = |key: &str| Command::Del {
            keys: vec![key.into()],
        };
        let entries = vec![
            member(1, &[1]),
            normal(2, 0, set("a", "1")),
            normal(3, 0, publish),
            normal(4, 0, del("a")),
            normal(5, 0, del("missing")),
            blank(6),
        ];
        sm.apply_entries(entries).await.expect("apply");
        assert_eq!(changes_from(&state, 1), Ok((expected.clone(), 7)));
        assert_eq!(changes_from(&state, 3), Ok((expected[1..].to_vec(), 7)));
        assert_eq!(state.changes_cursor_now().expect("cursor"), 7);
    }
    let (state, sm) = open(dir.path());
    assert_eq!(changes_from(&state, 1), Ok((expected, 7)));
    let mut sm = sm.with_change_retention(orbit_storage::changes::Retention {
        entries: 3,
        bytes: u64::MAX,
    });
    sm.apply_entries([normal(7, 0, set("b", "2")), normal(8, 0, set("c", "3"))])
        .await
        .expect("apply");
    let lagged = changes_from(&state, 1).unwrap_err();
    assert!(
        lagged.starts_with("LAGGED ") && lagged.contains("from index 6"),
        "{lagged}"
    );
    let (rows, next) = changes_from(&state, 6).expect("read");
    assert_eq!(
        (rows.iter().map(|r| r.0).collect::<Vec<_>>(), next),
        (vec![7, 8], 9)
    );
}

#[tokio::test]
async fn installing_a_snapshot_restarts_the_change_log_after_it() {
    // Goal: a replica that catches up by snapshot never applied what the
    // snapshot covers: its old change log is gone, a reader below the
    // snapshot is told it lagged, and the log goes on after it.
    let (source_dir, target_dir) = (tempdir(), tempdir());
    let (_, mut source_sm) = source(source_dir.path()).await;
    let (meta, bytes) = build(&mut source_sm).await;
    let (target_state, mut target_sm) = busy_target(target_dir.path()).await;
    assert_eq!(changes_from(&target_state, 2).expect("read").0.len(), 30);
    install(&mut target_sm, &meta, &bytes)
        .await
        .expect("install");
    let lagged = changes_from(&target_state, 2).unwrap_err();
    assert!(lagged.contains("from index 16"), "{lagged}");
    assert_eq!(changes_from(&target_state, 16), Ok((vec![], 16)));
    target_sm
        .apply_entries([normal(16, 0, set("z", "1"))])
        .await
        .expect("apply");
    let key_z = orbit_core::redis::keys::data_key(0, b"z");
    assert_eq!(
        changes_from(&target_state, 16),
        Ok((vec![(16, vec![(key_z, false)], vec![])], 17))
    );
}

#[tokio::test]
async fn a_store_from_before_the_change_log_starts_it_after_what_it_applied() {
    // Goal: a format-2 state store (data and applied index, no change log,
    // no floor) opens, tells a reader from before it that it lagged, and
    // records the entries applied from then on.
    use orbit_storage::engine::{FjallEngine, KvEngine, Space};
    let dir = tempdir();
    let path = dir.path().join("state");
    {
        let engine = FjallEngine::open(&path).expect("fjall opens");
        let state = ShardState::open(engine.clone()).expect("state opens");
        let disk: Arc<dyn Disk> =
            Arc::new(FsDisk::open(dir.path().join("snapshot")).expect("snapshot dir opens"));
        let mut sm = StateMachine::new(state, disk);
        sm.apply_entries([member(1, &[1]), normal(2, 0, set("a", "1"))])
            .await
            .expect("apply");
        // What format 2 left behind: no change records, no floor.
        let mut strip = vec![(Space::Meta, b"change-floor".to_vec(), None)];
        engine
            .view()
            .scan(Space::Changes, &[], &mut |key, _| {
                strip.push((Space::Changes, key.to_vec(), None));
                true
            })
            .expect("scan");
        engine.write(strip).expect("strip");
        engine.persist().expect("persist");
    }
    let (state, mut sm) = open(dir.path());
    let lagged = changes_from(&state, 2).unwrap_err();
    assert!(lagged.contains("from index 3"), "{lagged}");
    sm.apply_entries([normal(3, 0, set("b", "2"))])
        .await
        .expect("apply");
    let key_b = orbit_core::redis::keys::data_key(0, b"b");
    assert_eq!(
        changes_from(&state, 3),
        Ok((vec![(3, vec![(key_b, false)], vec![])], 4))
    );
}

#[tokio::test]
async fn a_change_feed_waits_for_the_next_entry_and_reads_in_pages() {
    // Goal: ChangeFeed::next waits until something is applied past its
    // cursor, returns it, and moves on; entries that changed nothing move
    // the cursor without a record; a seek below the floor is told.
    let dir = tempdir();
    let (state, mut sm) = open(dir.path());
    let mut feed = orbit_storage::feed::ChangeFeed::now(state.clone()).expect("feed");
    assert_eq!(feed.cursor(), 1);
    let limit = orbit_storage::changes::PageLimit::default();
    let waiting = tokio::spawn(async move {
        let page = feed.next(limit).await.expect("a page");
        (feed, page)
    });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!waiting.is_finished(), "nothing applied yet");
    sm.apply_entries([member(1, &[1]), normal(2, 0, set("a", "1"))])
        .await
        .expect("apply");
    let (mut feed, page) = waiting.await.expect("joined");
    assert_eq!(
        page.entries.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![2]
    );
    assert_eq!(feed.cursor(), 3);
    sm.apply_entries([blank(3)]).await.expect("apply");
    let page = feed.next(limit).await.expect("a page");
    assert!(page.entries.is_empty());
    assert_eq!(feed.cursor(), 4);
    feed.seek(0);
    let lagged = feed.next(limit).await.unwrap_err();
    assert!(lagged.to_string().contains("from index 1"), "{lagged}");
}
