//! A simulated disk: the `orbit_storage::Disk` seam with crash semantics.
//!
//! Each file keeps two images: what reads see (every write so far) and what
//! survives a crash (the image at the file's last sync). [`SimDisk::crash`]
//! throws the unsynced part away, except that the last unsynced write may
//! survive torn: a seeded prefix of its bytes reaches the durable image.
//! Creations, renames and removals are durable at once (a simplification:
//! real file systems need a directory fsync, which the log also does).
//! Reads, writes and syncs fail at a seeded rate when error injection is on,
//! and a read may return a flipped bit, which the log's checksums must catch.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use orbit_storage::{Disk, DiskFile};

/// Fault rates, in parts per million of calls, and a full disk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiskFaults {
    pub io_error_ppm: u64,
    pub bit_flip_ppm: u64,
    /// No space left: a write that would grow a file fails with ENOSPC
    /// (writes inside a file's length, as into a preallocated segment,
    /// still succeed).
    pub full: bool,
}

/// ENOSPC, as the kernel reports it.
const NO_SPACE: i32 = 28;

#[derive(Default)]
struct File {
    /// What reads see.
    current: Vec<u8>,
    /// What a crash leaves.
    durable: Vec<u8>,
    /// Offset and length of the last write not yet synced, for tearing.
    last_unsynced_write: Option<(u64, usize)>,
}

#[derive(Default)]
struct Inner {
    files: BTreeMap<String, File>,
    faults: DiskFaults,
}

/// One directory of simulated files. Clones share it; it outlives the
/// simulated node, so a restarted node finds what survived.
#[derive(Clone)]
pub struct SimDisk {
    name: String,
    inner: Arc<Mutex<Inner>>,
    random: Arc<dyn Fn(u64) -> u64 + Send + Sync>,
}

impl SimDisk {
    /// `random(n)` returns a seeded number below `n`.
    pub fn new(name: impl Into<String>, random: Arc<dyn Fn(u64) -> u64 + Send + Sync>) -> SimDisk {
        SimDisk {
            name: name.into(),
            inner: Arc::default(),
            random,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_faults(&self, faults: DiskFaults) {
        self.lock().faults = faults;
    }

    /// Power loss: every file falls back to its durable image, plus maybe a
    /// torn piece of its last unsynced write.
    pub fn crash(&self) {
        let random = self.random.clone();
        let mut inner = self.lock();
        for file in inner.files.values_mut() {
            let mut survivor = file.durable.clone();
            if let Some((offset, len)) = file.last_unsynced_write.take() {
                let kept = usize::try_from(random(len as u64 + 1)).unwrap_or(0);
                let offset = usize::try_from(offset).unwrap_or(usize::MAX);
                if kept > 0 && offset <= survivor.len() && offset + kept <= file.current.len() {
                    survivor.truncate(offset);
                    survivor.extend_from_slice(&file.current[offset..offset + kept]);
                }
            }
            file.current = survivor.clone();
            file.durable = survivor;
        }
    }

    /// Total bytes held, for reports.
    pub fn bytes(&self) -> usize {
        self.lock().files.values().map(|f| f.current.len()).sum()
    }

    fn injected(&self, what: &str) -> io::Result<()> {
        let ppm = self.lock().faults.io_error_ppm;
        if ppm > 0 && (self.random)(1_000_000) < ppm {
            return Err(io::Error::other(format!(
                "injected {what} error on {}",
                self.name
            )));
        }
        Ok(())
    }
}

struct SimFile {
    disk: SimDisk,
    name: String,
}

impl SimFile {
    fn with<T>(&self, f: impl FnOnce(&mut File) -> io::Result<T>) -> io::Result<T> {
        let mut inner = self.disk.lock();
        let file = inner.files.get_mut(&self.name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} was removed", self.name),
            )
        })?;
        f(file)
    }
}

impl Disk for SimDisk {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(self.lock().files.keys().cloned().collect())
    }

    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn DiskFile>> {
        let mut inner = self.lock();
        if !inner.files.contains_key(name) {
            if !create {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{name} does not exist"),
                ));
            }
            inner.files.insert(name.to_string(), File::default());
        }
        Ok(Arc::new(SimFile {
            disk: self.clone(),
            name: name.to_string(),
        }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.lock().files.remove(name);
        Ok(())
    }

    fn rename(&self, source: &str, target: &str) -> io::Result<()> {
        let mut inner = self.lock();
        let file = inner.files.remove(source).ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{source} does not exist"))
        })?;
        inner.files.insert(target.to_string(), file);
        Ok(())
    }

    fn sync_dir(&self) -> io::Result<()> {
        self.injected("directory sync")
    }

    fn describe(&self, name: &str) -> String {
        format!("{}:{name}", self.name)
    }
}

impl DiskFile for SimFile {
    fn size(&self) -> io::Result<u64> {
        self.with(|f| Ok(f.current.len() as u64))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.disk.injected("read")?;
        let flip_ppm = self.disk.lock().faults.bit_flip_ppm;
        let flip = flip_ppm > 0 && (self.disk.random)(1_000_000) < flip_ppm;
        let bit = (self.disk.random)(buf.len() as u64 * 8);
        self.with(|f| {
            let start = usize::try_from(offset).map_err(|_| io::Error::other("offset"))?;
            let end = start
                .checked_add(buf.len())
                .filter(|end| *end <= f.current.len());
            let end = end
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past the end"))?;
            buf.copy_from_slice(&f.current[start..end]);
            if flip && !buf.is_empty() {
                let bit = usize::try_from(bit).unwrap_or(0);
                buf[bit / 8] ^= 1 << (bit % 8);
            }
            Ok(())
        })
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.disk.injected("write")?;
        let full = self.disk.lock().faults.full;
        self.with(|f| {
            let start = usize::try_from(offset).map_err(|_| io::Error::other("offset"))?;
            if f.current.len() < start + data.len() {
                if full {
                    return Err(io::Error::from_raw_os_error(NO_SPACE));
                }
                f.current.resize(start + data.len(), 0);
            }
            f.current[start..start + data.len()].copy_from_slice(data);
            f.last_unsynced_write = Some((offset, data.len()));
            Ok(())
        })
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.with(|f| {
            f.current
                .truncate(usize::try_from(len).map_err(|_| io::Error::other("length"))?);
            Ok(())
        })
    }

    fn sync(&self) -> io::Result<()> {
        self.disk.injected("sync")?;
        self.with(|f| {
            f.durable = f.current.clone();
            f.last_unsynced_write = None;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk() -> SimDisk {
        SimDisk::new("test", Arc::new(|bound| bound / 2))
    }

    #[test]
    fn unsynced_writes_are_lost_on_crash() {
        // Goal: synced bytes survive a crash, unsynced ones do not (but a
        // torn prefix of the last write may).
        let disk = disk();
        let file = disk.open("f", true).expect("open");
        file.write_at(0, b"durable").expect("write");
        file.sync().expect("sync");
        file.write_at(7, b"-lost-").expect("write");
        disk.crash();
        let file = disk.open("f", false).expect("reopen");
        let len = file.size().expect("size");
        let mut buf = vec![0; usize::try_from(len).expect("len")];
        file.read_at(0, &mut buf).expect("read");
        assert!(buf.starts_with(b"durable"));
        assert!(
            b"durable-lost-".starts_with(&buf[..]),
            "only a prefix of the torn write survives: {buf:?}"
        );
    }

    #[test]
    fn injected_errors_and_flips() {
        // Goal: with fault rates at 100% every call fails or flips a bit.
        let disk = SimDisk::new("faulty", Arc::new(|_| 0));
        let file = disk.open("f", true).expect("open");
        file.write_at(0, b"abc").expect("write before faults");
        disk.set_faults(DiskFaults {
            io_error_ppm: 0,
            bit_flip_ppm: 1_000_000,
            full: false,
        });
        let mut buf = [0u8; 3];
        file.read_at(0, &mut buf).expect("read");
        assert_ne!(&buf, b"abc");
        disk.set_faults(DiskFaults {
            io_error_ppm: 1_000_000,
            bit_flip_ppm: 0,
            full: false,
        });
        assert!(file.sync().is_err());
    }

    #[test]
    fn a_full_disk_refuses_growth_but_not_writes_in_place() {
        // Goal: while full, a write past a file's end fails with ENOSPC and
        // changes nothing; a write inside it succeeds; freed, it grows.
        let disk = disk();
        let file = disk.open("f", true).expect("open");
        file.write_at(0, b"0123").expect("write");
        disk.set_faults(DiskFaults {
            full: true,
            ..DiskFaults::default()
        });
        let error = file.write_at(2, b"xyz").expect_err("no space");
        assert_eq!(error.raw_os_error(), Some(NO_SPACE));
        assert_eq!(file.size().expect("size"), 4);
        file.write_at(0, b"ab").expect("in place");
        disk.set_faults(DiskFaults::default());
        file.write_at(4, b"45").expect("room again");
        assert_eq!(file.size().expect("size"), 6);
    }
}
