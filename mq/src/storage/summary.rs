//! Segment summaries: for each sealed (full) segment, a small file in
//! `index/` listing every record's index data — store topic, queue, queue
//! offset, log offset, tag hash, deliver-at, store time, origin and keys — without
//! the bodies. Recovery loads the indexes of sealed segments from their
//! summaries and decodes only the active segment, so a restart does not
//! decode the whole log; it still reads each sealed segment once to check
//! that its records' checksums hold ([`checksums_hold`]), so that damage
//! inside a sealed segment is found at start, not at delivery. A missing or
//! damaged summary is rebuilt by scanning its segment. Each summary carries
//! a checksum over all of it.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{BufMut, Bytes, BytesMut};

use super::index::tag_hash;
use super::segment::{RECORD_HEADER, sync_dir};
use crate::error::{Error, Result};
use crate::message::decode_record;
use crate::wire::{WireReader, WireWrite};

const MAGIC: &[u8; 8] = b"MQSUM002";
/// Largest record payload a scan believes (a 4 MiB body plus headers).
const MAX_RECORD: usize = 8 * 1024 * 1024;

/// Index data of one record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordMeta {
    pub store_topic: String,
    pub queue: u32,
    pub queue_offset: u64,
    pub log_offset: u64,
    pub tag_hash: u32,
    pub deliver_at_ms: u64,
    pub stored_at_ms: u64,
    /// Log offset of the record this one copies (retry, dead letter, due
    /// delayed and committed half messages, transaction ops).
    pub origin_offset: Option<u64>,
    /// Keys to index (only for originals, not retry or dead letter copies).
    pub keys: Vec<String>,
}

/// Index data of one segment's valid prefix.
#[derive(Debug, Default)]
pub struct SegmentSummary {
    pub base: u64,
    /// Bytes of the segment covered (its valid length).
    pub len: u64,
    pub records: Vec<RecordMeta>,
}

impl SegmentSummary {
    pub fn newest_ms(&self) -> u64 {
        self.records
            .iter()
            .map(|r| r.stored_at_ms)
            .max()
            .unwrap_or(0)
    }
}

pub fn path(index_dir: &Path, base: u64) -> PathBuf {
    index_dir.join(format!("{base:020}.sum"))
}

/// The payload length of a valid record at `pos`, if there is one.
pub fn record_at(data: &[u8], pos: usize) -> Option<usize> {
    let head = data.get(pos..pos + RECORD_HEADER)?;
    let (len, _) =
        super::segment::split_length(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
    let crc = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if len == 0 || len > MAX_RECORD {
        return None;
    }
    let payload = data.get(pos + RECORD_HEADER..pos + RECORD_HEADER + len)?;
    (crc32c::crc32c(payload) == crc).then_some(len)
}

/// Whether the valid record at `pos` starts a write (see
/// [`super::segment::WRITE_START`]).
pub fn starts_write(data: &[u8], pos: usize) -> bool {
    data.get(pos..pos + 4).is_some_and(|w| {
        super::segment::split_length(u32::from_be_bytes([w[0], w[1], w[2], w[3]])).1
    })
}

/// Scans a segment's records up to the first invalid one (checksums
/// verified). Fails only on a record with a valid checksum that does not
/// decode, which no torn write explains.
pub fn scan(data: &Bytes, base: u64) -> Result<SegmentSummary> {
    let mut pos = 0usize;
    let mut records = Vec::new();
    while let Some(len) = record_at(data, pos) {
        records.push(meta_at(data, base, pos, len)?);
        pos += RECORD_HEADER + len;
    }
    Ok(SegmentSummary {
        base,
        len: pos as u64,
        records,
    })
}

/// The index data of the valid record (payload `len` bytes) at `pos` of
/// the segment at `base`. Fails on a record with a valid checksum that does
/// not decode, which no torn write explains.
pub fn meta_at(data: &Bytes, base: u64, pos: usize, len: usize) -> Result<RecordMeta> {
    let payload = data.slice(pos + RECORD_HEADER..pos + RECORD_HEADER + len);
    let log_offset = base + pos as u64;
    let m = decode_record(&payload, 0, log_offset).map_err(|e| {
        Error::UntrustedDataDir(format!(
            "record at log offset {log_offset} has a valid checksum but {e}"
        ))
    })?;
    let original = m.store_topic == m.topic;
    let origin_offset = (m.id.offset != log_offset).then_some(m.id.offset);
    Ok(RecordMeta {
        origin_offset,
        tag_hash: tag_hash(&m.tag),
        keys: if original { m.keys } else { Vec::new() },
        store_topic: m.store_topic,
        queue: m.queue,
        queue_offset: m.queue_offset,
        log_offset,
        deliver_at_ms: m.deliver_at_ms,
        stored_at_ms: m.stored_at_ms,
    })
}

/// Writes a summary durably (temporary file, fsync, rename, fsync dir).
pub fn write(index_dir: &Path, s: &SegmentSummary) -> Result<()> {
    let mut out = BytesMut::with_capacity(64 + s.records.len() * 64);
    out.put_slice(MAGIC);
    out.put_u64(s.base);
    out.put_u64(s.len);
    out.put_u32(s.records.len() as u32);
    for r in &s.records {
        out.put_str16(&r.store_topic);
        out.put_u32(r.queue);
        out.put_u64(r.queue_offset);
        out.put_u64(r.log_offset);
        out.put_u32(r.tag_hash);
        out.put_u64(r.deliver_at_ms);
        out.put_u64(r.stored_at_ms);
        out.put_u64(r.origin_offset.unwrap_or(u64::MAX));
        out.put_strings(&r.keys);
    }
    let crc = crc32c::crc32c(&out);
    out.put_u32(crc);
    fs::create_dir_all(index_dir)?;
    let final_path = path(index_dir, s.base);
    // A name of its own: two writers of one summary (a broker's background
    // thread and the recovery of a broker restarted in the same process)
    // must not rename each other's file away. Both write the same content.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = final_path.with_extension(format!("{}-{n}.tmp", std::process::id()));
    fs::write(&tmp, &out)?;
    fs::File::open(&tmp)?.sync_all()?;
    fs::rename(&tmp, &final_path)?;
    sync_dir(index_dir)
}

/// Whether the segment file holds exactly the records the summary lists,
/// back to back, each with a valid checksum. The summary spares recovery
/// decoding every record, not checking them: without this, damage inside a
/// sealed segment (a flipped bit, the same length) went unnoticed and its
/// records were indexed.
pub fn checksums_hold(segment_path: &Path, s: &SegmentSummary) -> bool {
    let Ok(data) = fs::read(segment_path) else {
        return false;
    };
    let mut pos = 0usize;
    for r in &s.records {
        if r.log_offset != s.base + pos as u64 {
            return false;
        }
        match record_at(&data, pos) {
            Some(len) => pos += RECORD_HEADER + len,
            None => return false,
        }
    }
    pos as u64 == s.len
}

/// Reads the summary of the segment at `base`; `None` if it is missing or
/// fails its checks (the caller then scans the segment).
pub fn read(index_dir: &Path, base: u64) -> Option<SegmentSummary> {
    let data = fs::read(path(index_dir, base)).ok()?;
    match decode(&data, base) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(base, error = %e, "segment summary unusable; scanning the segment instead");
            None
        }
    }
}

fn decode(data: &[u8], base: u64) -> Result<SegmentSummary> {
    let bad = |what: &str| Error::Malformed(format!("summary {what}"));
    if data.len() < MAGIC.len() + 4 || &data[..8] != MAGIC {
        return Err(bad("has no magic"));
    }
    let (body, crc) = data.split_at(data.len() - 4);
    if crc32c::crc32c(body) != u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]) {
        return Err(bad("checksum mismatch"));
    }
    let mut r = WireReader::new(&body[8..]);
    if r.u64()? != base {
        return Err(bad("is for another segment"));
    }
    let len = r.u64()?;
    let n = r.u32()? as usize;
    let mut records = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        records.push(RecordMeta {
            store_topic: r.str16()?,
            queue: r.u32()?,
            queue_offset: r.u64()?,
            log_offset: r.u64()?,
            tag_hash: r.u32()?,
            deliver_at_ms: r.u64()?,
            stored_at_ms: r.u64()?,
            origin_offset: Some(r.u64()?).filter(|&o| o != u64::MAX),
            keys: r.strings()?,
        });
    }
    r.finish()?;
    Ok(SegmentSummary { base, len, records })
}

/// Builds and writes the summary of a sealed segment file (run off the
/// writer thread when the writer moves on to a new segment).
pub fn build_for_sealed(segment_path: &Path, index_dir: &Path, base: u64) -> Result<()> {
    let data = Bytes::from(fs::read(segment_path)?);
    let s = scan(&data, base)?;
    write(index_dir, &s)
}
