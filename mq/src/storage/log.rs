//! The commit log: the ordered list of segments and the single writer thread
//! that appends to it with group commit.
//!
//! Appenders send batches of encoded records over a channel. The writer takes
//! every request waiting in the channel, assigns queue offsets, writes them
//! with one `write` and makes them durable with one `fdatasync`, then adds
//! them to the indexes (so consumers never see a record that is not durable)
//! and answers all the requests. Under load each fsync covers many sends.
//! In [`FlushMode::Async`] the writer skips the fsync and a flusher thread
//! syncs the active segment every interval instead.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::sync::{mpsc, oneshot};

use super::faults::{Fault, Faults};
use super::index::{IndexEntry, KeyIndex, Topic};
use super::segment::{RECORD_HEADER, Segment};
use crate::error::{Error, Result};
use crate::message::{now_ms, patch_record};

/// When an append is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushMode {
    /// After the record is on disk (fdatasync, shared by concurrent sends).
    Sync,
    /// ASYNC FLUSH: after the record is in the page cache; fsync runs every
    /// interval, so a machine crash can lose the last interval's messages.
    Async { interval: Duration },
}

/// One record to append.
pub struct AppendItem {
    pub topic: Arc<Topic>,
    pub queue: u32,
    /// Encoded record payload (queue offset and store time patched here).
    pub record: BytesMut,
    pub tag_hash: u32,
    pub deliver_at_ms: u64,
    /// Keys to index (empty for retry and dead letter copies).
    pub keys: Vec<String>,
}

/// Where an appended record landed.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    pub log_offset: u64,
    pub queue_offset: u64,
    pub stored_at_ms: u64,
}

struct AppendRequest {
    items: Vec<AppendItem>,
    reply: oneshot::Sender<Result<Vec<Appended>>>,
}

/// The log's segments, readable by anyone, appended to by the writer only.
#[derive(Debug)]
pub struct Segments {
    pub dir: PathBuf,
    /// Where segment summaries go (see `summary`).
    pub index_dir: PathBuf,
    pub capacity: u64,
    map: RwLock<BTreeMap<u64, Arc<Segment>>>,
    /// Injected write and fsync failures (tests and the checker).
    pub faults: Faults,
}

impl Segments {
    pub fn new(
        dir: PathBuf,
        index_dir: PathBuf,
        capacity: u64,
        segments: Vec<Segment>,
        faults: Faults,
    ) -> Segments {
        let map = segments
            .into_iter()
            .map(|s| (s.base, Arc::new(s)))
            .collect();
        Segments {
            dir,
            index_dir,
            capacity,
            map: RwLock::new(map),
            faults,
        }
    }

    pub fn all(&self) -> Vec<Arc<Segment>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn active(&self) -> Option<Arc<Segment>> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .next_back()
            .cloned()
    }

    fn push(&self, s: Segment) -> Arc<Segment> {
        let s = Arc::new(s);
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.base, s.clone());
        s
    }

    pub fn remove(&self, base: u64) -> Option<Arc<Segment>> {
        self.map
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&base)
    }

    /// First log offset still stored.
    pub fn first_offset(&self) -> u64 {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .next()
            .copied()
            .unwrap_or(0)
    }

    /// Reads the payload of the record at `log_offset`.
    pub fn read(&self, log_offset: u64) -> Result<Bytes> {
        let seg = {
            let map = self.map.read().unwrap_or_else(|e| e.into_inner());
            map.range(..=log_offset).next_back().map(|(_, s)| s.clone())
        };
        let seg =
            seg.ok_or_else(|| Error::Invalid(format!("log offset {log_offset} not stored")))?;
        seg.read_record(log_offset - seg.base)
    }
}

/// Handle for appending to the log.
#[derive(Clone)]
pub struct LogWriter {
    tx: mpsc::UnboundedSender<AppendRequest>,
}

impl LogWriter {
    /// Starts the writer thread (and, in async mode, the flusher thread).
    pub fn start(segments: Arc<Segments>, keys: Arc<KeyIndex>, mode: FlushMode) -> LogWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        let stop = Arc::new(AtomicBool::new(false));
        if let FlushMode::Async { interval } = mode {
            let (segments, stop) = (segments.clone(), stop.clone());
            std::thread::Builder::new()
                .name("mq-log-flusher".into())
                .spawn(move || flusher(segments, interval, stop))
                .expect("spawn flusher thread");
        }
        let writer = Writer {
            segments,
            keys,
            sync: mode == FlushMode::Sync,
            failed: None,
        };

        std::thread::Builder::new()
            .name("mq-log-writer".into())
            .spawn(move || {
                writer.run(rx);
                stop.store(true, Ordering::Relaxed);
            })
            .expect("spawn log writer thread");
        LogWriter { tx }
    }

    /// Appends records; resolves once they are durable (or written, in async
    /// flush mode). Records of one call are stored contiguously and in order.
    pub async fn append(&self, items: Vec<AppendItem>) -> Result<Vec<Appended>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(AppendRequest { items, reply })
            .map_err(|_| Error::ShuttingDown)?;
        rx.await.map_err(|_| Error::ShuttingDown)?
    }
}

struct Writer {
    segments: Arc<Segments>,
    keys: Arc<KeyIndex>,
    sync: bool,
    /// After a failed write or sync the tail of the log is in an unknown
    /// state: appends are refused until the writer has cut the log back to
    /// where the failed group began and moved on to a fresh segment (tried
    /// again every [`RECOVER_EVERY`], so it recovers once space returns).
    failed: Option<Failure>,
}

struct Failure {
    why: String,
    last_try: Instant,
    /// (segment base, length) where the failed group commit began.
    start: (u64, u64),
}

/// How often a failed writer tries to recover.
const RECOVER_EVERY: Duration = Duration::from_millis(100);

/// Upper bound of bytes written per group commit.
const MAX_BATCH_BYTES: usize = 8 * 1024 * 1024;

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<AppendRequest>) {
        let mut buf = BytesMut::with_capacity(1 << 20);
        while let Some(first) = rx.blocking_recv() {
            let mut batch = vec![first];
            let mut bytes: usize = batch[0].items.iter().map(|i| i.record.len()).sum();
            while bytes < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(r) => {
                        bytes += r.items.iter().map(|i| i.record.len()).sum::<usize>();
                        batch.push(r);
                    }
                    Err(_) => break,
                }
            }
            if let Some(f) = &mut self.failed {
                let recovered = f.last_try.elapsed() >= RECOVER_EVERY && {
                    f.last_try = Instant::now();
                    let start = f.start;
                    match recover(&self.segments, start) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(error = %e, "log writer still cannot recover");
                            false
                        }
                    }
                };
                if recovered {
                    tracing::info!("log writer recovered: appending again");
                    self.failed = None;
                } else {
                    let why = f.why.clone();
                    for r in batch {
                        let _ = r
                            .reply
                            .send(Err(Error::Io(std::io::Error::other(why.clone()))));
                    }
                    continue;
                }
            }
            let start = self.segments.active().map_or((0, 0), |s| (s.base, s.len()));
            match self.commit(&mut batch, &mut buf) {
                Ok(results) => {
                    for (r, res) in batch.into_iter().zip(results) {
                        let _ = r.reply.send(Ok(res));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "log write failed; refusing appends until the log is cut back");
                    metrics::counter!("mq_log_write_failures_total").increment(1);
                    self.failed = Some(Failure {
                        why: e.to_string(),
                        last_try: Instant::now() - RECOVER_EVERY,
                        start,
                    });
                    for r in batch {
                        let _ = r
                            .reply
                            .send(Err(Error::Io(std::io::Error::other(e.to_string()))));
                    }
                }
            }
            buf.clear();
        }
        if let Some(seg) = self.segments.active() {
            let _ = seg.sync();
        }
        tracing::info!("log writer stopped: all appenders gone");
    }

    /// Writes and syncs one group of requests; returns per-request results.
    fn commit(
        &mut self,
        batch: &mut [AppendRequest],
        buf: &mut BytesMut,
    ) -> Result<Vec<Vec<Appended>>> {
        let now = now_ms();
        let mut active = match self.segments.active() {
            Some(s) => s,
            None => self.segments.push(Segment::create(&self.segments.dir, 0)?),
        };
        // Next queue offsets handed out in this batch, per (topic, queue).
        let mut next: HashMap<(*const Topic, u32), u64> = HashMap::new();
        let mut results = Vec::with_capacity(batch.len());
        let mut entries = Vec::new();
        let mut msgs = 0u64;
        for req in batch.iter_mut() {
            let mut out = Vec::with_capacity(req.items.len());
            for item in req.items.iter_mut() {
                let rec_len = (RECORD_HEADER + item.record.len()) as u64;
                let pos = active.len() + buf.len() as u64;
                if pos + rec_len > self.segments.capacity && pos > 0 {
                    self.flush(&active, buf, now)?;
                    let base = active.base + self.segments.capacity.max(active.len());
                    active.seal()?;
                    let next = self
                        .segments
                        .push(Segment::create(&self.segments.dir, base)?);
                    let sealed = std::mem::replace(&mut active, next);
                    summarize_in_background(sealed, self.segments.index_dir.clone());
                }
                let log_offset = active.base + active.len() + buf.len() as u64;
                let key = (Arc::as_ptr(&item.topic), item.queue);
                let queue_offset = *next
                    .entry(key)
                    .or_insert_with(|| item.topic.queue_range(item.queue).1);
                next.insert(key, queue_offset + 1);
                patch_record(&mut item.record, queue_offset, now);
                // The first record of each write is marked (see `recovery`).
                let start = if buf.is_empty() {
                    super::segment::WRITE_START
                } else {
                    0
                };
                buf.put_u32(item.record.len() as u32 | start);
                buf.put_u32(crc32c::crc32c(&item.record));
                buf.put_slice(&item.record);
                out.push(Appended {
                    log_offset,
                    queue_offset,
                    stored_at_ms: now,
                });
                entries.push(log_offset);
                msgs += 1;
            }
            results.push(out);
        }
        self.flush(&active, buf, now)?;
        metrics::histogram!("mq_group_commit_messages").record(msgs as f64);
        // Durable: publish to the indexes, then wake the consumers.
        let mut touched: Vec<*const Topic> = Vec::new();
        for (req, out) in batch.iter().zip(&results) {
            for (item, a) in req.items.iter().zip(out) {
                let q = &item.topic.queues[item.queue as usize];
                let mut q = q.write().unwrap_or_else(|e| e.into_inner());
                q.entries.push_back(IndexEntry {
                    log_offset: a.log_offset,
                    tag_hash: item.tag_hash,
                    deliver_at_ms: item.deliver_at_ms,
                });
                drop(q);
                for k in &item.keys {
                    self.keys.add(&item.topic.name, k, a.log_offset);
                }
                let p = Arc::as_ptr(&item.topic);
                if !touched.contains(&p) {
                    touched.push(p);
                    item.topic.notify_appended();
                }
            }
        }
        Ok(results)
    }

    fn flush(&self, seg: &Segment, buf: &mut BytesMut, now: u64) -> Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        self.segments.faults.check(Fault::Write)?;
        seg.append(buf, now, self.segments.capacity)?;
        buf.clear();
        if self.sync {
            let t = Instant::now();
            self.segments.faults.check(Fault::Sync)?;
            seg.sync()?;
            metrics::histogram!("mq_fsync_seconds").record(t.elapsed().as_secs_f64());
        }
        Ok(())
    }
}

/// After a failed group commit that began at `start` (segment base,
/// length): removes the segments it created, cuts the one it began in back
/// to where it began (durably), and continues in a fresh segment past every
/// offset the failed group could have used. Nothing of the failed group was
/// acknowledged or indexed, so nothing acknowledged is cut.
fn recover(segments: &Segments, start: (u64, u64)) -> Result<()> {
    let (base, len) = start;
    let mut next = base + segments.capacity.max(len);
    let mut removed = false;
    for seg in segments.all() {
        if seg.base < base {
            continue;
        }
        next = next.max(seg.base + segments.capacity.max(seg.len()));
        if seg.base > base {
            std::fs::remove_file(&seg.path)?;
            segments.remove(seg.base);
            removed = true;
        } else {
            seg.cut_to(len)?;
        }
    }
    if removed {
        super::segment::sync_dir(&segments.dir)?;
    }
    segments.push(Segment::create(&segments.dir, next)?);
    Ok(())
}

/// Writes the summary of a sealed segment off the writer thread; if it
/// fails, recovery scans that segment instead.
fn summarize_in_background(sealed: Arc<Segment>, index_dir: PathBuf) {
    let spawned = std::thread::Builder::new().name("mq-summary".into()).spawn(move || {
        if let Err(e) = super::summary::build_for_sealed(&sealed.path, &index_dir, sealed.base) {
            tracing::warn!(segment = %sealed.path.display(), error = %e, "writing segment summary failed");
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the summary thread");
    }
}

fn flusher(segments: Arc<Segments>, interval: Duration, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(interval);
        if let Some(seg) = segments.active() {
            let t = Instant::now();
            let synced = segments.faults.check(Fault::Sync).map_err(Error::from);
            if let Err(e) = synced.and_then(|()| seg.sync()) {
                tracing::error!(error = %e, "async flush failed");
            }
            metrics::histogram!("mq_fsync_seconds").record(t.elapsed().as_secs_f64());
        }
    }
}
