//! The format version of a shard's files (its log, its state store and its
//! snapshots), kept in a small `format` file beside the log segments.
//!
//! A node opens only data whose format it knows: a newer format is refused
//! with a message that says what to do, before anything is read or written.
//!
//! | format | what changed |
//! |---|---|
//! | 1 | the first; a shard directory from before the version existed holds it (the bytes did not change when the version was added) |
//! | 2 | log entries are `orbit_core::Entry{version, ts_ms, ops}` with ops from command families, in a new record variant |
//! | 3 | the state store keeps the change log (`crate::changes`: keyspace `changes`, meta `change-floor`); log, vote, purged and snapshot bytes as in 2 |
//!
//! Formats 1 and 2 are read. Format 1's entries (`RecordPayload::Normal`)
//! decode in place and convert to entries of entry format 1, which mean
//! the same. A format-2 state store has no change log: it starts with the
//! next entry applied (readers from before it are told they lagged).
//! Opening an older (or unversioned) directory stamps it format 3 before
//! anything is written, since what this build writes an older build would
//! misread (format 2 would apply entries without recording their changes,
//! leaving a silent gap in the change log).
//! The byte layouts are in `docs/LOG_FORMAT.md`, pinned by
//! `storage/tests/golden_format.rs`.

use std::io;

use crate::disk::{read_file, write_file_atomic, Disk};

/// The format this build writes and the newest it reads.
pub const FORMAT: u32 = 3;

/// The file holding the version, in the log's directory.
pub const FORMAT_FILE: &str = "format";

const PREFIX: &str = "orbit-format ";

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(
        "{where_}: written by a newer Orbit (data format {found}; this build reads format {FORMAT} at most). \
         Run the newer build on it, or give this node a fresh data directory and let it catch up from the cluster"
    )]
    Newer { where_: String, found: u32 },
    #[error(
        "{where_}: the format file is unreadable ({text:?}); it should read \"{PREFIX}{FORMAT}\""
    )]
    Unreadable { where_: String, text: String },
    #[error("{where_}: {source}")]
    Io { where_: String, source: io::Error },
}

/// Checks the format of the shard whose log lives on `disk`, stamping
/// [`FORMAT`] where none or an older one is recorded; returns the format
/// the data was written in ([`FORMAT`] for a new directory).
pub fn check_and_stamp(disk: &dyn Disk) -> Result<u32, FormatError> {
    let where_ = disk.describe(FORMAT_FILE);
    let io_err = |source| FormatError::Io {
        where_: where_.clone(),
        source,
    };
    let Some(bytes) = read_file(disk, FORMAT_FILE).map_err(io_err)? else {
        let stamp = format!("{PREFIX}{FORMAT}\n");
        write_file_atomic(disk, FORMAT_FILE, stamp.as_bytes()).map_err(io_err)?;
        return Ok(FORMAT);
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let found = text
        .trim_end()
        .strip_prefix(PREFIX)
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| FormatError::Unreadable {
            where_: where_.clone(),
            text: text.chars().take(64).collect(),
        })?;
    if found > FORMAT {
        return Err(FormatError::Newer { where_, found });
    }
    if found < FORMAT {
        let stamp = format!("{PREFIX}{FORMAT}\n");
        write_file_atomic(disk, FORMAT_FILE, stamp.as_bytes()).map_err(io_err)?;
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::FsDisk;

    fn disk() -> (tempfile::TempDir, FsDisk) {
        let dir = tempfile::tempdir().expect("tempdir");
        let disk = FsDisk::open(dir.path()).expect("open");
        (dir, disk)
    }

    #[test]
    fn a_new_or_unversioned_shard_is_stamped_with_this_format() {
        // Goal: a directory without a format file (new, or written before
        // versions existed, which is format 1 and read) is stamped with this
        // format; opening again reads it.
        let (dir, disk) = disk();
        assert_eq!(check_and_stamp(&disk).expect("stamped"), FORMAT);
        let text = std::fs::read_to_string(dir.path().join(FORMAT_FILE)).expect("read");
        assert_eq!(text, format!("orbit-format {FORMAT}\n"));
        assert_eq!(check_and_stamp(&disk).expect("read"), FORMAT);
    }

    #[test]
    fn format_1_is_read_and_restamped() {
        // Goal: a format-1 directory is accepted (its records are read) and
        // stamped with this format, so that an older build refuses it once
        // this one may have appended records it cannot read.
        let (dir, disk) = disk();
        let path = dir.path().join(FORMAT_FILE);
        std::fs::write(&path, "orbit-format 1\n").expect("write");
        assert_eq!(check_and_stamp(&disk).expect("format 1 is read"), 1);
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text, format!("orbit-format {FORMAT}\n"));
        assert_eq!(check_and_stamp(&disk).expect("read"), FORMAT);
    }

    #[test]
    fn a_newer_format_is_refused_and_left_alone() {
        // Goal: the next format (or u32::MAX) is refused with a message naming the
        // format and what to do, and the file is not rewritten.
        for newer in [FORMAT + 1, u32::MAX] {
            let (dir, disk) = disk();
            let path = dir.path().join(FORMAT_FILE);
            std::fs::write(&path, format!("orbit-format {newer}\n")).expect("write");
            let refused = check_and_stamp(&disk).expect_err("newer").to_string();
            assert!(
                refused.contains(&format!("data format {newer}")),
                "{refused}"
            );
            assert!(refused.contains("newer Orbit"), "{refused}");
            assert!(refused.contains("fresh data directory"), "{refused}");
            let kept = std::fs::read_to_string(&path).expect("read");
            assert_eq!(kept, format!("orbit-format {newer}\n"));
        }
    }

    #[test]
    fn a_damaged_format_file_is_refused() {
        // Goal: garbage, an empty file, format 0, a negative or overflowing
        // number are refused as unreadable, never guessed.
        for text in [
            "",
            "orbit-format",
            "orbit-format 0",
            "orbit-format -1",
            "orbit-format 4294967296",
            "\u{0}\u{1}",
        ] {
            let (dir, disk) = disk();
            std::fs::write(dir.path().join(FORMAT_FILE), text).expect("write");
            let refused = check_and_stamp(&disk).expect_err(text).to_string();
            assert!(refused.contains("unreadable"), "{text:?}: {refused}");
        }
    }
}
