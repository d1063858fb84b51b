//! One segment file of the commit log: a fixed-capacity, append-only file
//! named after the log offset of its first byte. Records are
//! `u32 length | u32 crc32c(payload) | payload`; a record never spans two
//! segments.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::error::{Error, Result};

/// Bytes in front of each record payload: length and checksum.
pub const RECORD_HEADER: usize = 8;
/// Set in the length word of the first record of each write the log writer
/// makes (after the previous one was fsynced): recovery tells a write torn by
/// a power loss from damage by it (see `recovery`). Payload lengths stay far
/// below this bit.
pub const WRITE_START: u32 = 0x8000_0000;

/// The payload length in a record's length word, and whether the record
/// starts a write.
pub fn split_length(word: u32) -> (usize, bool) {
    ((word & !WRITE_START) as usize, word & WRITE_START != 0)
}
/// Zeros written ahead of the data at a time.
const PREALLOC_CHUNK: u64 = 4 * 1024 * 1024;
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// An open segment file.
#[derive(Debug)]
pub struct Segment {
    pub base: u64,
    pub path: PathBuf,
    file: File,
    /// Bytes of records written (and, in sync mode, durable) so far.
    len: AtomicU64,
    /// File length: records plus zeros written ahead of them, so that an
    /// fdatasync after an append need not also persist a new file size.
    allocated: AtomicU64,
    /// Newest store time of any record in the segment (ms), for retention.
    newest_ms: AtomicU64,
    /// Bytes of records known durable (fsynced).
    synced: AtomicU64,
}

impl Segment {
    pub fn file_name(base: u64) -> String {
        format!("{base:020}.seg")
    }

    /// Parses a segment file name back into its base offset.
    pub fn parse_name(name: &str) -> Option<u64> {
        let digits = name.strip_suffix(".seg")?;
        (digits.len() == 20).then(|| digits.parse().ok()).flatten()
    }

    pub fn create(dir: &Path, base: u64) -> Result<Segment> {
        let path = dir.join(Self::file_name(base));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)?;
        sync_dir(dir)?;
        Ok(Segment {
            base,
            path,
            file,
            len: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
            newest_ms: AtomicU64::new(0),
            synced: AtomicU64::new(0),
        })
    }

    pub fn open(path: PathBuf, base: u64, len: u64, newest_ms: u64) -> Result<Segment> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let allocated = file.metadata()?.len().max(len);
        Ok(Segment {
            base,
            path,
            file,
            len: AtomicU64::new(len),
            allocated: AtomicU64::new(allocated),
            newest_ms: AtomicU64::new(newest_ms),
            synced: AtomicU64::new(len),
        })
    }

    pub fn len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn newest_ms(&self) -> u64 {
        self.newest_ms.load(Ordering::Relaxed)
    }

    /// Writes bytes at the current end; only the log writer calls this.
    /// Zeros are written ahead in chunks up to `capacity` (preallocation).
    pub fn append(&self, bytes: &[u8], newest_ms: u64, capacity: u64) -> Result<()> {
        let pos = self.len();
        let end = pos + bytes.len() as u64;
        let allocated = self.allocated.load(Ordering::Relaxed);
        if end > allocated {
            let target = (allocated + PREALLOC_CHUNK).min(capacity).max(end);
            let mut at = end;
            while at < target {
                let n = (target - at).min(ZEROS.len() as u64) as usize;
                self.file.write_all_at(&ZEROS[..n], at)?;
                at += n as u64;
            }
            self.allocated.store(target, Ordering::Relaxed);
        }
        self.file.write_all_at(bytes, pos)?;
        self.len.store(end, Ordering::Release);
        self.newest_ms.fetch_max(newest_ms, Ordering::Relaxed);
        Ok(())
    }

    /// Cuts the zeros written ahead and makes the file durable: called when
    /// the writer moves on, so a sealed segment's length is its data.
    pub fn seal(&self) -> Result<()> {
        let len = self.len();
        self.file.set_len(len)?;
        self.file.sync_all()?;
        self.allocated.store(len, Ordering::Relaxed);
        self.synced.fetch_max(len, Ordering::Relaxed);
        Ok(())
    }

    /// Cuts the segment back to `len` bytes of records and makes that
    /// durable (after a failed write or fsync, see `log`).
    pub fn cut_to(&self, len: u64) -> Result<()> {
        self.file.set_len(len)?;
        self.file.sync_all()?;
        self.len.store(len, Ordering::Release);
        self.allocated.store(len, Ordering::Relaxed);
        self.synced.store(len, Ordering::Relaxed);
        Ok(())
    }

    /// fdatasync: after it returns, everything appended so far is durable.
    pub fn sync(&self) -> Result<()> {
        let len = self.len();
        self.file.sync_data()?;
        self.synced.fetch_max(len, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes of records known durable.
    pub fn synced(&self) -> u64 {
        self.synced.load(Ordering::Relaxed)
    }

    /// Reads the record at `pos` (relative to the segment), checking its
    /// length and checksum; returns its payload.
    pub fn read_record(&self, pos: u64) -> Result<Bytes> {
        let end = self.len();
        if pos + RECORD_HEADER as u64 > end {
            return Err(Error::Invalid(format!(
                "no record at log offset {}",
                self.base + pos
            )));
        }
        let mut head = [0u8; RECORD_HEADER];
        self.file.read_exact_at(&mut head, pos)?;
        let (len, _) = split_length(u32::from_be_bytes(
            head[0..4].try_into().unwrap_or_default(),
        ));
        let len = len as u64;
        let crc = u32::from_be_bytes(head[4..8].try_into().unwrap_or_default());
        if len == 0 || pos + RECORD_HEADER as u64 + len > end {
            return Err(Error::Invalid(format!(
                "no record at log offset {}",
                self.base + pos
            )));
        }
        let mut payload = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut payload, pos + RECORD_HEADER as u64)?;
        if crc32c::crc32c(&payload) != crc {
            return Err(Error::Malformed(format!(
                "checksum mismatch in record at log offset {}",
                self.base + pos
            )));
        }
        Ok(Bytes::from(payload))
    }
}

/// fsyncs a directory so that created, renamed or removed entries are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)?.sync_all()?;
    Ok(())
}
