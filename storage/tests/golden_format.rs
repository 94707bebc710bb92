//! Pins the data format byte for byte: the frames this build writes for log
//! entries (a sample of every `Command` variant, a blank entry, a joint
//! membership), the `vote` file and the `purged` file are compared with the
//! checked-in `tests/golden/format-3.txt`, and every line of that file is
//! decoded back and compared with its sample. The files of older formats
//! are kept as they were: `format-1.txt` (the build before command
//! families) must still decode to the same samples, its vote and purged
//! records still written byte for byte; `format-2.txt` (before the change
//! log, which lives in the state store) decodes and is written byte for
//! byte. The change log's record is pinned here too
//! ([`the_change_record_is_pinned`]).
//!
//! Regenerate the file with
//! `ORBIT_BLESS_GOLDEN=1 cargo test -p orbit-storage --test golden_format`:
//! the test then rewrites it instead of comparing. A line that changes means
//! a new data format (see the failure message), not a file to bless.
//!
//! The samples ([`samples_of_every_record`], `golden/samples.rs`) are the
//! values every file must decode to: a format-1 entry reads as an entry of
//! entry format 1, which is what this build writes.

#[path = "golden/samples.rs"]
mod samples;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;

use openraft::BasicNode;
use orbit_core::redis::command::{
    Aggregate, ExpireCondition, Expiry, GetExExpiry, LexBound, ScoreBound, SetCondition, SetExpiry,
    SetOp, ZRangeSpec,
};
use orbit_core::redis::Command;
use orbit_core::Op;
use orbit_storage::format::FORMAT;
use orbit_storage::raft::types::{Entry, EntryPayload, Membership, Vote};
use orbit_storage::record::{
    decode_framed, encode_framed, from_rkyv, log_id, to_rkyv, write_entry_frame, FrameError,
    LogIdRecord, LogRecord, VoteRecord, FRAME_HEADER_LEN,
};
use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use samples::{command_samples, declaration_index};

/// Set to `1` to rewrite the golden file instead of comparing with it.
const BLESS_VAR: &str = "ORBIT_BLESS_GOLDEN";

/// The timestamp of every sample entry.
const TS_MS: u64 = 1_700_000_000_123;

const GOLDEN_HEADER: &str = "\
# Orbit data format 3 (storage/src/format.rs FORMAT = 3), pinned byte for byte.
# (format-1.txt and format-2.txt beside it are the formats before: read,
# never written; format 3 adds the change log to the state store and writes
# the same log, vote and purged bytes as format 2.)
# One line per record: name<TAB>the complete frame in hex, that is
# [len u32 LE][crc32 u32 LE][rkyv 0.8 payload] as this format writes it:
# log entries (write_entry_frame: blank, joint membership, one entry per
# Command sample, one of several ops), the vote file and the purged file.
# Checked and decoded back by storage/tests/golden_format.rs (see
# docs/LOG_FORMAT.md). Regenerate with
#   ORBIT_BLESS_GOLDEN=1 cargo test -p orbit-storage --test golden_format
# but a changed line is a new data format: bump FORMAT, keep a reader for
# format 3 or refuse it, and leave this file as it is.
";

/// What one golden line holds, as the code that writes it sees it.
#[derive(Debug)]
enum Record {
    /// A log entry: the segment files hold `write_entry_frame`'s frames.
    Entry(Entry),
    /// The `vote` file.
    Vote(VoteRecord),
    /// The `purged` file (and the state machine's `applied`).
    LogId(LogIdRecord),
}

#[derive(Debug)]
struct Sample {
    name: String,
    record: Record,
}

/// The records of the golden files, in their order.
fn samples_of_every_record() -> Vec<Sample> {
    let mut samples = vec![
        sample("entry blank", entry(1, 1, EntryPayload::Blank)),
        sample(
            "entry membership joint",
            entry(2, 1, EntryPayload::Membership(joint_membership())),
        ),
    ];
    for (i, command) in command_samples().into_iter().enumerate() {
        // Alternate the lowest and highest db, so `Op::db` is pinned too.
        let db = if i % 2 == 0 { 0 } else { 15 };
        let request = orbit_core::Entry::redis(TS_MS, db, command.cmd);
        let index = 3 + i as u64;
        samples.push(sample(
            &command.name,
            entry(index, 2, EntryPayload::Normal(request)),
        ));
    }
    // Blank at 1, the membership at 2, the commands from 3: the next index.
    let next_index = 1 + samples.len() as u64;
    samples.push(sample(
        "entry three ops",
        entry(next_index, 2, EntryPayload::Normal(three_ops())),
    ));
    samples.extend(vote_and_log_id_samples());
    samples
}

fn sample(name: &str, record: Record) -> Sample {
    Sample {
        name: name.to_string(),
        record,
    }
}

fn entry(index: u64, term: u64, payload: EntryPayload) -> Record {
    Record::Entry(Entry {
        log_id: log_id(term, index),
        payload,
    })
}

/// Joint consensus from {1, 2} to {2, 3}; one address longer than 8 bytes
/// (stored out of line), one short enough to be stored inline.
fn joint_membership() -> Membership {
    let nodes: BTreeMap<u64, BasicNode> =
        [(1, "10.0.0.1:7001"), (2, "b:2"), (3, "[2001:db8::3]:7003")]
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr: addr.into() }))
            .collect();
    let configs = vec![BTreeSet::from([1, 2]), BTreeSet::from([2, 3])];
    Membership::new(configs, nodes).expect("every voter has an address")
}

/// One entry of several ops, as group commit proposes them.
fn three_ops() -> orbit_core::Entry {
    let ops = vec![
        Op::redis(0, Command::Get { key: b"a".to_vec() }),
        Op::redis(7, Command::DbSize),
        Op::redis(
            15,
            Command::Del {
                keys: vec![b"b".to_vec(), b"cc".to_vec()],
            },
        ),
    ];
    orbit_core::Entry::new(TS_MS + 1, ops)
}

fn vote_and_log_id_samples() -> Vec<Sample> {
    let mut vote = Vote::new(5, 3);
    vote.committed = true;
    vec![
        sample(
            "vote voted_for 3 committed",
            Record::Vote(VoteRecord::from_vote(&vote)),
        ),
        // A record without a candidate: openraft 0.9 could write one.
        sample(
            "vote voted_for None",
            Record::Vote(VoteRecord {
                term: 6,
                voted_for: None,
                committed: false,
            }),
        ),
        sample(
            "purged log id",
            Record::LogId(LogIdRecord::from_log_id(&log_id(7, 4242))),
        ),
    ]
}

/// The frame this build writes for `record`, by the path the storage takes.
fn encode(record: &Record, scratch: &mut AlignedVec) -> Vec<u8> {
    match record {
        Record::Entry(entry) => {
            let mut frame = Vec::new();
            write_entry_frame(&mut frame, scratch, entry);
            // The log writes write_entry_frame's bytes; the generic encoder
            // must agree, or the two paths would be two formats.
            assert_eq!(frame, encode_framed(&LogRecord::from_entry(entry)));
            frame
        }
        Record::Vote(vote) => encode_framed(vote),
        Record::LogId(id) => encode_framed(id),
    }
}

/// Decodes `frame` by the path the storage reads it and checks it is `record`.
fn decode_check(record: &Record, frame: &[u8]) -> Result<(), String> {
    let err = |e: FrameError| e.to_string();
    match record {
        Record::Entry(entry) => {
            let decoded: LogRecord = decode_framed(frame).map_err(err)?;
            let back = decoded.into_entry().map_err(err)?;
            (back == *entry)
                .then_some(())
                .ok_or_else(|| format!("decodes to {back:?}, expected {entry:?}"))
        }
        Record::Vote(vote) => {
            let decoded: VoteRecord = decode_framed(frame).map_err(err)?;
            (decoded == *vote)
                .then_some(())
                .ok_or_else(|| format!("decodes to {decoded:?}, expected {vote:?}"))
        }
        Record::LogId(id) => {
            let decoded: LogIdRecord = decode_framed(frame).map_err(err)?;
            (decoded == *id)
                .then_some(())
                .ok_or_else(|| format!("decodes to {decoded:?}, expected {id:?}"))
        }
    }
}

/// Every sample's name and frame, in order.
fn encode_all(samples: &[Sample]) -> Vec<(String, Vec<u8>)> {
    let mut scratch = AlignedVec::new();
    samples
        .iter()
        .map(|s| (s.name.clone(), encode(&s.record, &mut scratch)))
        .collect()
}

/// One record line of a golden file.
#[derive(Debug)]
struct GoldenLine {
    line_number: usize,
    name: String,
    frame: Vec<u8>,
}

fn golden_path(format: u32) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/golden/format-{format}.txt"))
}

fn blessing() -> bool {
    std::env::var(BLESS_VAR).as_deref() == Ok("1")
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        write!(out, "{byte:02x}").expect("writing to a String cannot fail");
        out
    })
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair)
                .ok()
                .filter(|p| p.len() == 2 && p.bytes().all(|c| c.is_ascii_hexdigit()))?;
            u8::from_str_radix(pair, 16).ok()
        })
        .collect()
}

/// The golden file's text for these frames.
fn render_golden(frames: &[(String, Vec<u8>)]) -> String {
    let mut text = GOLDEN_HEADER.to_string();
    for (name, frame) in frames {
        assert!(!name.contains('\t') && !name.contains('\n'), "{name:?}");
        writeln!(text, "{name}\t{}", to_hex(frame)).expect("writing to a String cannot fail");
    }
    text
}

/// The record lines of a golden file: `#` comments and blank lines skipped,
/// every other line `name<TAB>hex`, names unique.
fn parse_golden(text: &str) -> Result<Vec<GoldenLine>, String> {
    let mut lines = Vec::new();
    let mut names = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line_number = i + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {line_number}: {why}");
        let (name, hex) = line.split_once('\t').ok_or_else(|| bad("no tab"))?;
        let frame = from_hex(hex.trim_end()).ok_or_else(|| bad("not hex bytes"))?;
        if name.is_empty() || frame.is_empty() || !names.insert(name.to_string()) {
            return Err(bad("an empty or repeated name, or no bytes"));
        }
        lines.push(GoldenLine {
            line_number,
            name: name.to_string(),
            frame,
        });
    }
    Ok(lines)
}

/// Where two frames first differ, with the bytes around it from each. The
/// payload is searched first: a payload that changed changes the checksum
/// too, and the checksum's bytes say nothing about what changed.
fn first_difference(golden: &[u8], written: &[u8]) -> String {
    let differ_from =
        |start: usize| (start..golden.len().min(written.len())).find(|i| golden[*i] != written[*i]);
    let at = differ_from(FRAME_HEADER_LEN)
        .or_else(|| differ_from(0))
        .unwrap_or(golden.len().min(written.len()));
    let window = |bytes: &[u8]| {
        let end = (at + 8).min(bytes.len());
        let start = at.saturating_sub(8).min(end);
        format!("[{start}..{end}] {}", to_hex(&bytes[start..end]))
    };
    format!(
        "  first difference at frame byte {at} (header {FRAME_HEADER_LEN} bytes; golden {} bytes, \
         written {} bytes)\n  golden  {}\n  written {}",
        golden.len(),
        written.len(),
        window(golden),
        window(written)
    )
}

/// Compares the frames this build writes with a golden file's lines: `Err`
/// names the first record that differs (or is missing on either side) and
/// says what a difference means.
fn compare_with_golden(golden: &[GoldenLine], written: &[(String, Vec<u8>)]) -> Result<(), String> {
    let by_name: HashMap<&str, &GoldenLine> = golden.iter().map(|l| (l.name.as_str(), l)).collect();
    let changed: Vec<(&GoldenLine, &[u8])> = written
        .iter()
        .filter_map(|(name, frame)| {
            let line = by_name.get(name.as_str())?;
            (line.frame != *frame).then_some((*line, frame.as_slice()))
        })
        .collect();
    if let Some((line, frame)) = changed.first() {
        return Err(format!(
            "the format drifted: record `{}` (golden line {}) is not what this build writes \
             ({} of {} records differ).\n{}\n\
             If the change is intended, it is a new data format: bump FORMAT in \
             storage/src/format.rs, and either keep a reader for the old format or refuse the old \
             format with a message; pin the new bytes in a new golden file. Do not just bless this \
             one ({BLESS_VAR}=1): this build would then misread the data already written.",
            line.name,
            line.line_number,
            changed.len(),
            written.len(),
            first_difference(&line.frame, frame),
        ));
    }
    let written_names: BTreeSet<&str> = written.iter().map(|(n, _)| n.as_str()).collect();
    if let Some((name, _)) = written
        .iter()
        .find(|(n, _)| !by_name.contains_key(n.as_str()))
    {
        return Err(format!(
            "record `{name}` has no golden line (a new sample, such as a new Command variant). \
             The existing lines are unchanged. Older builds cannot read the new record: if they \
             must refuse such data cleanly, bump FORMAT as for any format change; otherwise add \
             the line with {BLESS_VAR}=1."
        ));
    }
    if let Some(line) = golden
        .iter()
        .find(|l| !written_names.contains(l.name.as_str()))
    {
        return Err(format!(
            "golden line {} (`{}`) has no sample any more: a renamed sample can be blessed, but \
             a removed Command variant moves the tags after it, which is a new data format.",
            line.line_number, line.name
        ));
    }
    let order_same = golden
        .iter()
        .map(|l| &l.name)
        .eq(written.iter().map(|(n, _)| n));
    order_same
        .then_some(())
        .ok_or_else(|| format!("the golden lines are in another order; bless with {BLESS_VAR}=1"))
}

/// Decodes every golden line and compares it with the sample of its name;
/// one message per line that is not read back as its sample.
fn decode_failures(golden: &[GoldenLine], samples: &[Sample]) -> Vec<String> {
    let by_name: HashMap<&str, &Sample> = samples.iter().map(|s| (s.name.as_str(), s)).collect();
    golden
        .iter()
        .filter_map(|line| {
            let why = match by_name.get(line.name.as_str()) {
                None => "no sample of this name".to_string(),
                Some(sample) => decode_check(&sample.record, &line.frame).err()?,
            };
            Some(format!("line {} `{}`: {why}", line.line_number, line.name))
        })
        .collect()
}

/// The tag rkyv gives `value`: the first byte of the root object, which is
/// the last `size_of::<T::Archived>()` bytes of the archive.
fn archived_tag<T>(value: &T) -> u8
where
    T: for<'a> rkyv::Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, rancor::Error>>,
{
    let bytes = to_rkyv(value);
    bytes[bytes.len() - std::mem::size_of::<T::Archived>()]
}

/// How many variants the enum `T` has, as rkyv's validation sees it: the
/// first tag that an archive (zeros but the tag) is refused for as an
/// invalid discriminant of `T` itself. (Zeroed fields may be refused for
/// other reasons, such as an empty vector's pointer; those tags count as
/// valid.) A new variant is therefore counted even if nobody wrote a sample
/// for it.
fn variant_count<T>() -> usize
where
    T: rkyv::Archive,
    T::Archived: for<'a> rkyv::bytecheck::CheckBytes<HighValidator<'a, rancor::Error>>
        + rkyv::Deserialize<T, rancor::Strategy<rkyv::de::Pool, rancor::Error>>,
{
    let name = std::any::type_name::<T>()
        .rsplit("::")
        .next()
        .expect("a type has a name");
    let size = std::mem::size_of::<T::Archived>();
    let refused = |tag: u8| {
        let mut bytes = vec![0u8; size];
        bytes[0] = tag;
        let invalid = format!("invalid discriminant '{tag}' for enum 'Archived{name}'");
        from_rkyv::<T>(&bytes).is_err_and(|e| e.to_string().contains(&invalid))
    };
    (0..=u8::MAX)
        .find(|tag| refused(*tag))
        .map_or(256, usize::from)
}

/// Records the tag of every nested enum `cmd` holds (through EXEC's queued
/// commands too). Commands holding no nested enum fall to the wildcard.
fn nested_tags(cmd: &Command, seen: &mut BTreeSet<(&'static str, u8)>) {
    let expiry = |expiry: &Expiry, seen: &mut BTreeSet<(&'static str, u8)>| {
        seen.insert(("Expiry", archived_tag(expiry)));
    };
    match cmd {
        Command::Set {
            condition,
            expiry: e,
            ..
        } => {
            seen.insert(("SetCondition", archived_tag(condition)));
            seen.insert(("SetExpiry", archived_tag(e)));
            if let SetExpiry::At(at) = e {
                expiry(at, seen);
            }
        }
        Command::GetEx { expiry: e, .. } => {
            seen.insert(("GetExExpiry", archived_tag(e)));
            if let GetExExpiry::At(at) = e {
                expiry(at, seen);
            }
        }
        Command::Expire {
            expiry: e,
            condition,
            ..
        } => {
            seen.insert(("ExpireCondition", archived_tag(condition)));
            expiry(e, seen);
        }
        Command::SCombine { op, .. } | Command::SCombineStore { op, .. } => {
            seen.insert(("SetOp", archived_tag(op)));
        }
        Command::ZRange { spec, .. }
        | Command::ZRemRange { spec, .. }
        | Command::ZCount { spec, .. } => range_spec_tags(spec, seen),
        Command::ZCombineStore { aggregate, .. } => {
            seen.insert(("Aggregate", archived_tag(aggregate)));
        }
        Command::Exec { ops, .. } => ops.iter().for_each(|(_, cmd)| nested_tags(cmd, seen)),
        _ => {}
    }
}

fn range_spec_tags(spec: &ZRangeSpec, seen: &mut BTreeSet<(&'static str, u8)>) {
    seen.insert(("ZRangeSpec", archived_tag(spec)));
    match spec {
        ZRangeSpec::Rank { .. } => {}
        ZRangeSpec::Score { min, max } => {
            seen.insert(("ScoreBound", archived_tag(min)));
            seen.insert(("ScoreBound", archived_tag(max)));
        }
        ZRangeSpec::Lex { min, max } => {
            seen.insert(("LexBound", archived_tag(min)));
            seen.insert(("LexBound", archived_tag(max)));
        }
    }
}

#[test]
fn every_command_variant_has_a_sample_in_declaration_order() {
    // Goal: the samples hold every Command variant (as many as rkyv's
    // validation accepts tags), first samples in declaration order, and the
    // exhaustive match's tag and name agree with rkyv's tag and the variant.
    let samples = command_samples();
    let mut previous = 0u8;
    for sample in &samples {
        let (tag, variant) = declaration_index(&sample.cmd);
        assert_eq!(archived_tag(&sample.cmd), tag, "{}", sample.name);
        let debug = format!("{:?}", sample.cmd);
        assert!(debug.starts_with(variant), "{}: {debug}", sample.name);
        assert!(
            tag >= previous,
            "{} comes after tag {previous}",
            sample.name
        );
        previous = tag;
    }
    let sampled: BTreeSet<u8> = samples
        .iter()
        .map(|s| declaration_index(&s.cmd).0)
        .collect();
    let count = variant_count::<Command>();
    assert!(count < 256, "no tag refused: the count cannot be trusted");
    let expected: BTreeSet<u8> = (0..count)
        .map(|tag| u8::try_from(tag).expect("below 256"))
        .collect();
    let missing: Vec<u8> = expected.difference(&sampled).copied().collect();
    assert!(
        missing.is_empty(),
        "Command tags without a sample: {missing:?}; add one in tests/golden/samples.rs"
    );
    assert_eq!(
        sampled, expected,
        "tags sampled vs the {count} tags Command has"
    );
}

#[test]
fn every_nested_enum_variant_is_sampled() {
    // Goal: across the samples, every variant of every enum a Command holds
    // is archived at least once, so each nested tag is pinned too.
    let mut seen = BTreeSet::new();
    for sample in command_samples() {
        nested_tags(&sample.cmd, &mut seen);
    }
    let expected = [
        ("Expiry", variant_count::<Expiry>()),
        ("SetCondition", variant_count::<SetCondition>()),
        ("SetExpiry", variant_count::<SetExpiry>()),
        ("GetExExpiry", variant_count::<GetExExpiry>()),
        ("ExpireCondition", variant_count::<ExpireCondition>()),
        ("SetOp", variant_count::<SetOp>()),
        ("ScoreBound", variant_count::<ScoreBound>()),
        ("LexBound", variant_count::<LexBound>()),
        ("ZRangeSpec", variant_count::<ZRangeSpec>()),
        ("Aggregate", variant_count::<Aggregate>()),
    ];
    for (name, count) in expected {
        assert!(count >= 2, "{name}: {count} variants found");
        let highest = seen
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, t)| *t)
            .max();
        assert!(
            highest.is_some_and(|tag| usize::from(tag) < count),
            "{name}: {count} variants counted, tag {highest:?} sampled"
        );
        for tag in 0..count {
            let tag = u8::try_from(tag).expect("at most 256 tags");
            assert!(
                seen.contains(&(name, tag)),
                "no sample holds {name} tag {tag}"
            );
        }
    }
}

/// Reads a golden file, failing with how to make it.
fn read_golden(format: u32) -> Vec<GoldenLine> {
    let path = golden_path(format);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; generate it with {BLESS_VAR}=1", path.display()));
    parse_golden(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The first few lines not read back as their samples, as one message.
fn unread_message(unread: &[String]) -> String {
    // The first few are enough to see what changed; each can be long.
    format!(
        "{} golden lines this build does not read back as their samples, first:\n  {}",
        unread.len(),
        unread[..unread.len().min(3)].join("\n  ")
    )
}

/// With `ORBIT_BLESS_GOLDEN=1` the golden file is rewritten first; either
/// way it is then compared with what this build writes and decoded back.
#[test]
fn the_current_format_is_pinned_by_the_golden_file() {
    // Goal: this build writes format 3's exact bytes for every record, and
    // reads every golden line back as its sample.
    assert_eq!(
        FORMAT, 3,
        "this build writes format {FORMAT}: pin it in format-{FORMAT}.txt, \
         and keep checking that the older files are still read (or refused)"
    );
    let samples = samples_of_every_record();
    let written = encode_all(&samples);
    let path = golden_path(FORMAT);
    if blessing() {
        std::fs::write(&path, render_golden(&written)).expect("the golden file is writable");
    }
    let golden = read_golden(FORMAT);
    let mut problems = Vec::new();
    if let Err(drift) = compare_with_golden(&golden, &written) {
        problems.push(format!("{}: {drift}", path.display()));
    }
    let unread = decode_failures(&golden, &samples);
    if !unread.is_empty() {
        problems.push(unread_message(&unread));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn format_1_is_still_read() {
    // Goal: every record the build before command families wrote (format
    // 1, pinned when it was current) decodes to the same value: its entries
    // as entries of entry format 1 with the same Redis ops; the records that
    // did not change (blank, membership, vote, purged) are still written
    // byte for byte, and entries with ops are written anew.
    let samples = samples_of_every_record();
    let golden = read_golden(1);
    assert_eq!(golden.len(), samples.len(), "one format-1 line per sample");
    let unread = decode_failures(&golden, &samples);
    assert!(unread.is_empty(), "{}", unread_message(&unread));
    let written: BTreeMap<String, Vec<u8>> = encode_all(&samples).into_iter().collect();
    for line in &golden {
        let unchanged = ["vote", "purged", "entry blank", "entry membership"]
            .iter()
            .any(|prefix| line.name.starts_with(prefix));
        if unchanged {
            assert_eq!(written[&line.name], line.frame, "{} changed", line.name);
        } else {
            assert_ne!(
                written[&line.name], line.frame,
                "{} is written as format 2's Entry record",
                line.name
            );
        }
    }
}

#[test]
fn format_2_is_still_read_and_its_bytes_are_written_unchanged() {
    // Goal: format 3 changed only the state store (the change log): every
    // log, vote and purged record of format 2 decodes to its sample, and
    // this build writes the very same bytes.
    let samples = samples_of_every_record();
    let golden = read_golden(2);
    assert_eq!(golden.len(), samples.len(), "one format-2 line per sample");
    let unread = decode_failures(&golden, &samples);
    assert!(unread.is_empty(), "{}", unread_message(&unread));
    assert_eq!(compare_with_golden(&golden, &encode_all(&samples)), Ok(()));
}

/// A change-log record (`orbit_storage::changes`, record format 1): a
/// write of store key `\x01\x00k`, a deletion of `\x01\x00`, and the message
/// `m` on channel `ch`, byte for byte.
const CHANGE_RECORD_HEX: &str = "\
    01 02000000 \
    00 03000000 01006b \
    01 02000000 0100 \
    01000000 02000000 6368 01000000 6d";

#[test]
fn the_change_record_is_pinned() {
    // Goal: the change log's record layout cannot drift unnoticed: this
    // build writes the pinned bytes and reads them back to the same
    // changes (a new layout needs a new record format byte).
    let mut effects = orbit_core::family::Effects::default();
    effects.wrote(b"\x01\x00k");
    effects.deleted(b"\x01\x00");
    effects.published.push((b"ch".to_vec(), b"m".to_vec()));
    let record =
        orbit_storage::changes::encode(&effects.changes, &effects.published).expect("a record");
    assert_eq!(to_hex(&record), CHANGE_RECORD_HEX.replace(' ', ""));
    let back = orbit_storage::changes::decode(9, &record).expect("decodes");
    assert_eq!(back.changes, effects.changes.to_vec());
    assert_eq!(back.published, effects.published);
}
