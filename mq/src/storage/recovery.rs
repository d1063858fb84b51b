//! Opening a data directory: checks its metadata, scans every segment,
//! verifies each record's checksum, cuts off a torn or corrupt tail of the
//! last segment, and rebuilds the queue and key indexes.
//!
//! A power loss can also persist a write's pages out of order: valid records
//! after a bad one. The first record of each write is marked (see
//! `segment::WRITE_START`), and a write only begins once the one before it
//! was fsynced; so when no valid record after the damage begins a write,
//! all of it belongs to the damaged write, which was never acknowledged,
//! and it is cut like a torn tail.
//!
//! A bad record in an older, sealed segment is damage (that segment was
//! written and fsynced in full): the records that still hold are kept, the
//! lost ones keep their queue offsets pointing at the damage, so delivery
//! skips and counts them, and the broker starts ([`salvage`]).
//!
//! Other damage — a bad record in the last segment followed by a later
//! write, overlapping segments, queue offsets out of sequence, an unknown
//! format — means the directory cannot be trusted: the broker refuses to
//! start and says why, rather than guess.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use bytes::Bytes;

use super::index::{IndexEntry, KeyIndex, QueueEntries, Topic, TopicTable, is_scheduling_topic};
use super::segment::{RECORD_HEADER, Segment, sync_dir};
use super::summary::{self, RecordMeta, record_at, starts_write};
use crate::error::{Error, Result};

const META_FILE: &str = "meta.json";
const FORMAT: u64 = 1;

/// What recovery found.
pub struct Recovered {
    pub instance: u64,
    pub segments: Vec<Segment>,
    pub topics: TopicTable,
    pub keys: KeyIndex,
    pub records: u64,
    /// Delayed and half messages that no later record resolved (no due
    /// copy, commit, rollback or discard yet): message id offset → log
    /// offset of its newest record (retention may have copied it forward).
    pub unresolved: BTreeMap<u64, u64>,
    /// Bytes cut off the tail of the last segment.
    pub truncated_bytes: u64,
    /// Where damage in sealed segments was found (log offsets): records
    /// there are lost. Queue offsets they held stay in the index pointing
    /// here, so that reading them fails and they are skipped and counted
    /// like any unreadable record.
    pub damaged: Vec<u64>,
}

fn untrusted(msg: impl Into<String>) -> Error {
    Error::UntrustedDataDir(msg.into())
}

/// Reads (or creates) `meta.json` and returns the store's instance id.
fn open_meta(dir: &Path, log_dir: &Path) -> Result<u64> {
    let path = dir.join(META_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|e| untrusted(format!("{} is not valid JSON: {e}", path.display())))?;
            if v["format"].as_u64() != Some(FORMAT) {
                return Err(untrusted(format!(
                    "{} has format {} but this broker reads format {FORMAT}",
                    path.display(),
                    v["format"]
                )));
            }
            v["instance"]
                .as_str()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(|| untrusted(format!("{} has no valid instance id", path.display())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let has_segments = fs::read_dir(log_dir)?.next().is_some();
            if has_segments {
                return Err(untrusted(format!(
                    "{} holds log segments but no {META_FILE}",
                    dir.display()
                )));
            }
            let instance: u64 = rand::random::<u64>() >> 1;
            let meta =
                serde_json::json!({ "format": FORMAT, "instance": format!("{instance:016X}") });
            let tmp = dir.join("meta.json.tmp");
            fs::write(&tmp, meta.to_string())?;
            fs::File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &path)?;
            sync_dir(dir)?;
            Ok(instance)
        }
        Err(e) => Err(e.into()),
    }
}

/// Recovers the store in `dir`; `queues_for` gives the queue count of a
/// topic. `cut_damaged_tail` (operator's choice, `MQ_RECOVERY=truncate`)
/// cuts the last segment at a bad record even when valid records follow,
/// as after a power loss that persisted an unsynced write out of order.
pub fn recover(
    dir: &Path,
    queues_for: &dyn Fn(&str) -> u32,
    cut_damaged_tail: bool,
) -> Result<Recovered> {
    let log_dir = dir.join("log");
    let index_dir = dir.join("index");
    fs::create_dir_all(&log_dir)?;
    fs::create_dir_all(&index_dir)?;
    let instance = open_meta(dir, &log_dir)?;

    let mut bases = Vec::new();
    for entry in fs::read_dir(&log_dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        match Segment::parse_name(&name) {
            Some(base) => bases.push(base),
            None => {
                return Err(untrusted(format!(
                    "unexpected file {name:?} in {}",
                    log_dir.display()
                )));
            }
        }
    }
    bases.sort_unstable();

    let mut state = IndexBuilder::default();
    let mut segments = Vec::new();
    let mut truncated_bytes = 0;
    let mut damaged = Vec::new();
    let mut prev_end = 0u64;
    for (i, &base) in bases.iter().enumerate() {
        let path = log_dir.join(Segment::file_name(base));
        if base < prev_end {
            return Err(untrusted(format!(
                "segment {} overlaps the one before it",
                path.display()
            )));
        }
        let last = i + 1 == bases.len();
        let file_len = fs::metadata(&path)?.len();
        // Sealed segments load from their summary when it matches the file
        // and every record's checksum holds; otherwise they are scanned.
        if !last {
            if let Some(sum) = summary::read(&index_dir, base)
                .filter(|s| s.len == file_len && summary::checksums_hold(&path, s))
            {
                let newest = sum.newest_ms();
                state
                    .apply(sum.records)
                    .map_err(|e| untrusted(format!("{}: {e}", path.display())))?;
                prev_end = base + file_len;
                segments.push(Segment::open(path, base, file_len, newest)?);
                continue;
            }
        }
        let data = Bytes::from(fs::read(&path)?);
        let sum = summary::scan(&data, base)
            .map_err(|e| untrusted(format!("{}: {e}", path.display())))?;
        let (good_len, newest) = (sum.len, sum.newest_ms());
        // Zeros after the data were written ahead by the writer (or a segment
        // was not sealed before a crash): dropping them loses nothing.
        let zero_tail = data[good_len as usize..].iter().all(|&b| b == 0);
        if good_len < data.len() as u64 && !zero_tail {
            let at = base + good_len;
            if !last {
                // A sealed segment was fully written and fsynced before the
                // writer moved on: this is damage (a failing disk), not a
                // torn write. Keep every record that still holds, skip the
                // rest, and start.
                let (records, lost_at) =
                    match summary::read(&index_dir, base).filter(|s| s.len == file_len) {
                        // The summary says what every record was, lost ones too.
                        Some(s) => from_summary(&data, s),
                        None => salvage(&data, base, sum.records, good_len as usize)?,
                    };
                tracing::error!(
                    segment = %path.display(),
                    at,
                    damaged_regions = lost_at.len(),
                    "damaged records in a sealed segment: skipped, the records around them kept"
                );
                let newest = records
                    .iter()
                    .map(|(r, _)| r.stored_at_ms)
                    .max()
                    .unwrap_or(0);
                state
                    .apply_salvaged(records, at)
                    .map_err(|e| untrusted(format!("{}: {e}", path.display())))?;
                damaged.extend(lost_at);
                prev_end = base + file_len;
                segments.push(Segment::open(path, base, file_len, newest)?);
                continue;
            }
            let later = valid_records_after(&data, good_len as usize + 1);
            let later_write = later.iter().find(|&&p| starts_write(&data, p));
            if let (Some(&p), None) = (later.first(), later_write) {
                // Valid records follow the damage but no later write began:
                // they belong to the write the damage is in, which was never
                // fsynced (the next write only starts after that) and so never
                // acknowledged — a power loss persisted its pages out of order.
                tracing::warn!(
                    at,
                    first_valid_after = base + p as u64,
                    "cutting a write torn by a power loss (valid records after the damage \
                     belong to the same unacknowledged write)"
                );
            } else if let Some(&p) = later_write {
                if !cut_damaged_tail {
                    return Err(untrusted(format!(
                        "corrupt record at log offset {at} in {} is followed by a valid record at {} \
                         that begins a later write: this is damage, not a torn write (a write starts \
                         only after the one before it was fsynced). Restart with MQ_RECOVERY=truncate \
                         to cut the log at {at} (records after it are lost)",
                        path.display(),
                        base + p as u64
                    )));
                }
                tracing::warn!(
                    at,
                    "MQ_RECOVERY=truncate: cutting valid records after a damaged one"
                );
            }
            tracing::warn!(segment = %path.display(), at, cut = data.len() as u64 - good_len,
                "cutting off a torn or corrupt tail");
            truncated_bytes += data.len() as u64 - good_len;
        }
        if good_len < data.len() as u64 {
            let f = fs::OpenOptions::new().write(true).open(&path)?;
            f.set_len(good_len)?;
            f.sync_all()?;
        }
        if !last {
            summary::write(&index_dir, &sum)?;
        }
        state
            .apply(sum.records)
            .map_err(|e| untrusted(format!("{}: {e}", path.display())))?;
        prev_end = base + good_len;
        segments.push(Segment::open(path, base, good_len, newest)?);
    }

    // Queues that retention emptied continue from where they had got to.
    for ((name, queue), next) in super::queue_floors::load(dir)? {
        let queues = state.queues.entry(name).or_default();
        if queues.len() <= queue as usize {
            queues.resize_with(queue as usize + 1, QueueEntries::default);
        }
        let q = &mut queues[queue as usize];
        if q.entries.is_empty() {
            q.base = q.base.max(next);
        }
    }

    let topics = TopicTable::default();
    for (name, queues) in state.queues {
        let mut topic = Topic::new(&name, queues_for(&name).max(queues.len() as u32));
        for (i, q) in queues.into_iter().enumerate() {
            topic.queues[i] = std::sync::RwLock::new(q);
        }
        topics.insert(topic);
    }
    Ok(Recovered {
        instance,
        segments,
        topics,
        keys: state.keys,
        records: state.records,
        unresolved: state.unresolved,
        truncated_bytes,
        damaged,
    })
}

#[derive(Default)]
struct IndexBuilder {
    queues: HashMap<String, Vec<QueueEntries>>,
    keys: KeyIndex,
    records: u64,
    unresolved: BTreeMap<u64, u64>,
}

impl IndexBuilder {
    /// Adds the records kept of a damaged sealed segment (see [`salvage`]):
    /// queue offsets that the lost records held point at `damaged_at`, so
    /// reading them fails and they are skipped; a record whose queue offset
    /// went backwards is not trusted and skipped too.
    fn apply_salvaged(&mut self, records: Vec<(RecordMeta, bool)>, damaged_at: u64) -> Result<()> {
        for (m, intact) in records {
            let queues = self.queues.entry(m.store_topic.clone()).or_default();
            if queues.len() <= m.queue as usize {
                queues.resize_with(m.queue as usize + 1, QueueEntries::default);
            }
            let q = &mut queues[m.queue as usize];
            if q.entries.is_empty() && q.base == 0 {
                q.base = m.queue_offset;
            }
            if m.queue_offset < q.end() {
                tracing::error!(
                    log_offset = m.log_offset,
                    "record after damage repeats a queue offset: skipped"
                );
                continue;
            }
            while q.end() < m.queue_offset {
                q.entries.push_back(IndexEntry {
                    log_offset: damaged_at,
                    tag_hash: 0,
                    deliver_at_ms: 0,
                });
            }
            if intact {
                self.apply(vec![m])?;
            } else {
                // Lost, but known from the summary: it keeps its place.
                q.entries.push_back(IndexEntry {
                    log_offset: m.log_offset,
                    tag_hash: m.tag_hash,
                    deliver_at_ms: m.deliver_at_ms,
                });
                self.records += 1;
            }
        }
        Ok(())
    }

    /// Adds records in log order, checking that queue offsets follow on.
    fn apply(&mut self, records: Vec<RecordMeta>) -> Result<()> {
        for m in records {
            let queues = self.queues.entry(m.store_topic.clone()).or_default();
            if queues.len() <= m.queue as usize {
                queues.resize_with(m.queue as usize + 1, QueueEntries::default);
            }
            let q = &mut queues[m.queue as usize];
            if q.entries.is_empty() && q.base == 0 {
                q.base = m.queue_offset;
            }
            if m.queue_offset != q.end() {
                return Err(untrusted(format!(
                    "record at log offset {} has queue offset {} in {}#{}, expected {}",
                    m.log_offset,
                    m.queue_offset,
                    m.store_topic,
                    m.queue,
                    q.end()
                )));
            }
            q.entries.push_back(IndexEntry {
                log_offset: m.log_offset,
                tag_hash: m.tag_hash,
                deliver_at_ms: m.deliver_at_ms,
            });
            for k in &m.keys {
                self.keys.add(&m.store_topic, k, m.log_offset);
            }
            if is_scheduling_topic(&m.store_topic) {
                // A copy moved forward by retention names the first record.
                let id = m.origin_offset.unwrap_or(m.log_offset);
                self.unresolved.insert(id, m.log_offset);
            } else if let Some(origin) = m.origin_offset {
                self.unresolved.remove(&origin);
            }
            self.records += 1;
        }
        Ok(())
    }
}

/// The records of a damaged sealed segment that still hold: the valid
/// prefix (`prefix`, ending at `good_len`) and every valid record found
/// after the damage; with the log offsets where damage begins.
/// What is kept of a damaged sealed segment: its records in log order, each
/// with whether it still holds, and where damage was found.
type Salvaged = (Vec<(RecordMeta, bool)>, Vec<u64>);

/// A damaged sealed segment whose summary still holds: each listed record
/// whose checksum holds is kept; the others are lost (returned with `false`
/// and their offsets).
fn from_summary(data: &Bytes, s: summary::SegmentSummary) -> Salvaged {
    let mut lost = Vec::new();
    let records = s
        .records
        .into_iter()
        .map(|r| {
            let intact = r
                .log_offset
                .checked_sub(s.base)
                .and_then(|pos| record_at(data, usize::try_from(pos).ok()?))
                .is_some();
            if !intact {
                lost.push(r.log_offset);
            }
            (r, intact)
        })
        .collect();
    (records, lost)
}

fn salvage(data: &Bytes, base: u64, prefix: Vec<RecordMeta>, good_len: usize) -> Result<Salvaged> {
    let mut records: Vec<(RecordMeta, bool)> = prefix.into_iter().map(|r| (r, true)).collect();
    let mut lost_at = vec![base + good_len as u64];
    let mut expected = good_len; // where the next record would start if intact
    for p in valid_records_after(data, good_len + 1) {
        if p != expected && expected != good_len {
            lost_at.push(base + expected as u64);
        }
        let len = record_at(data, p).unwrap_or_default();
        match summary::meta_at(data, base, p, len) {
            Ok(m) => records.push((m, true)),
            Err(e) => {
                tracing::error!(log_offset = base + p as u64, error = %e, "undecodable record skipped");
                lost_at.push(base + p as u64);
            }
        }
        expected = p + RECORD_HEADER + len;
    }
    if expected != data.len() && expected != good_len {
        lost_at.push(base + expected as u64);
    }
    Ok((records, lost_at))
}

/// Every valid record starting at or after `from`, found by trying each
/// position (slow; only run after a bad record was found, to tell a torn
/// write from damage).
fn valid_records_after(data: &[u8], from: usize) -> Vec<usize> {
    let mut found = Vec::new();
    let mut p = from;
    while p + RECORD_HEADER < data.len() {
        // Cheap pre-check on version and kind bytes before computing a checksum.
        let plausible = data.get(p + RECORD_HEADER..p + RECORD_HEADER + 2) == Some(&[1, 1]);
        match plausible.then(|| record_at(data, p)).flatten() {
            Some(len) => {
                found.push(p);
                p += RECORD_HEADER + len;
            }
            None => p += 1,
        }
    }
    found
}
