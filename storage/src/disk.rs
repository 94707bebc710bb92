//! The file-access seam for everything the storage layer writes itself (the
//! Raft log segments, the vote and purge records, snapshots).
//!
//! Production uses [`FsDisk`] over one directory. The simulator replaces it
//! with a disk that keeps written-but-unsynced bytes apart, so a simulated
//! crash can lose them or tear the last write. Calls are blocking; callers
//! keep them short (page-cache writes) and run `sync` off the async runtime.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One directory of files.
pub trait Disk: Send + Sync + 'static {
    /// Names of the files in the directory, sorted.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Opens a file for reading and writing, creating it if `create`.
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn DiskFile>>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Atomically replaces `target` with `source`.
    fn rename(&self, source: &str, target: &str) -> io::Result<()>;
    /// Makes creations, removals and renames in the directory durable.
    fn sync_dir(&self) -> io::Result<()>;
    /// Where the files are, for error messages.
    fn describe(&self, name: &str) -> String;
    /// Whether the log should write its segments full of zeros before it
    /// uses them (see `log.rs`). On a real file system a write inside a file
    /// then leaves no size to update, so the fdatasync after it is cheaper.
    fn preallocates(&self) -> bool {
        false
    }
    /// A second handle on `name` for direct I/O (`O_DIRECT`: past the page
    /// cache), or `None` where the disk does not offer it. Its writes must
    /// start at a multiple of [`DIRECT_BLOCK`], be a multiple of it long, and
    /// come from memory aligned to it; the file's ordinary handle still reads
    /// and syncs. Offered only with [`Disk::preallocates`]: direct writes pad
    /// files to whole blocks, and only a preallocating log expects zeros
    /// after its last record.
    fn open_direct(&self, _name: &str) -> io::Result<Option<Arc<dyn DiskFile>>> {
        Ok(None)
    }
}

/// The alignment of direct I/O: offsets, lengths and buffers.
pub const DIRECT_BLOCK: usize = 4096;

/// One open file.
pub trait DiskFile: Send + Sync {
    fn size(&self) -> io::Result<u64>;
    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    fn truncate(&self, len: u64) -> io::Result<()>;
    /// fdatasync: the written bytes survive a crash once this returns.
    fn sync(&self) -> io::Result<()>;
}

/// A real directory on the local file system.
#[derive(Debug, Clone)]
pub struct FsDisk {
    dir: PathBuf,
    preallocate: bool,
}

impl FsDisk {
    /// The directory, created if missing; the log preallocates in it.
    pub fn open(dir: impl AsRef<Path>) -> io::Result<FsDisk> {
        std::fs::create_dir_all(dir.as_ref())?;
        Ok(FsDisk {
            dir: dir.as_ref().to_path_buf(),
            preallocate: true,
        })
    }

    /// The same directory with segments grown by appending instead (where
    /// zero-filling pays nothing, or to test the plain layout).
    pub fn without_preallocation(self) -> FsDisk {
        FsDisk {
            preallocate: false,
            ..self
        }
    }
}

struct FsFile {
    file: File,
}

impl Disk for FsDisk {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn DiskFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(self.dir.join(name))?;
        Ok(Arc::new(FsFile { file }))
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        match std::fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn rename(&self, source: &str, target: &str) -> io::Result<()> {
        std::fs::rename(self.dir.join(source), self.dir.join(target))
    }

    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }

    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn preallocates(&self) -> bool {
        self.preallocate
    }

    #[cfg(target_os = "linux")]
    fn open_direct(&self, name: &str) -> io::Result<Option<Arc<dyn DiskFile>>> {
        use std::os::unix::fs::OpenOptionsExt;
        if !self.preallocate {
            return Ok(None);
        }
        match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(self.dir.join(name))
        {
            Ok(file) => Ok(Some(Arc::new(FsFile { file }))),
            // The file system has no direct I/O (tmpfs, say).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl DiskFile for FsFile {
    fn size(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, offset)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.file, data, offset)
    }

    fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }
}

/// Writes `data` as the whole content of `name`, atomically and durably:
/// write a temporary file, sync it, rename it over the target, sync the dir.
pub fn write_file_atomic(disk: &dyn Disk, name: &str, data: &[u8]) -> io::Result<()> {
    let tmp = format!("{name}.tmp");
    disk.remove(&tmp)?;
    let file = disk.open(&tmp, true)?;
    file.truncate(0)?;
    file.write_at(0, data)?;
    file.sync()?;
    disk.rename(&tmp, name)?;
    disk.sync_dir()
}

/// Reads the whole content of `name`, or `None` if it does not exist.
pub fn read_file(disk: &dyn Disk, name: &str) -> io::Result<Option<Vec<u8>>> {
    let file = match disk.open(name, false) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = usize::try_from(file.size()?).map_err(|_| io::Error::other("file too large"))?;
    let mut buf = vec![0u8; len];
    file.read_at(0, &mut buf)?;
    Ok(Some(buf))
}
