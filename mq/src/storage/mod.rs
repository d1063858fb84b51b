//! The storage engine: an append-only commit log of fixed-capacity segments
//! (`log`, `segment`), in-memory queue and key indexes rebuilt from it on
//! start (`index`, `recovery`), committed consumer offsets (`offsets`),
//! check-back counts of pending half messages (`txn_checks`) and retention
//! by age.

pub mod faults;
pub mod index;
pub mod log;
pub mod offsets;
pub mod queue_floors;
pub mod recovery;
pub mod segment;
pub mod shutdown_mark;
pub mod summary;
pub mod txn_checks;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::message::{
    MAX_RECORD_BYTES, Message, MessageId, RecordHeader, StoredMessage, decode_record,
    encode_record, now_ms,
};
use index::{
    DLQ_PREFIX, KeyIndex, RETRY_PREFIX, TXN_OP_TOPIC, Topic, TopicTable, is_scheduling_topic,
    tag_hash,
};
pub use log::{AppendItem, Appended, FlushMode};
use log::{LogWriter, Segments};
use offsets::ConsumerOffsets;

/// Most messages one look-up by key answers (the newest ones).
pub const MAX_LOOKUP_MESSAGES: usize = 1000;

/// Storage settings.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub dir: PathBuf,
    /// Capacity of one segment file in bytes.
    pub segment_size: u64,
    pub flush: FlushMode,
    /// Segments whose newest record is older than this are deleted.
    pub retention: Duration,
    /// Queues of a newly created topic.
    pub default_queues: u32,
    /// Queues of a retry topic: one per step of the retry schedule.
    pub retry_levels: u32,
    /// Cut the last segment at a damaged record even if valid ones follow
    /// (`MQ_RECOVERY=truncate`); by default the broker refuses to start.
    pub cut_damaged_tail: bool,
    /// `MQ_FAULT_FILE`: see [`faults`] (testing only).
    pub fault_file: Option<PathBuf>,
}

/// The open store.
pub struct Store {
    pub instance: u64,
    pub topics: Arc<TopicTable>,
    pub keys: Arc<KeyIndex>,
    pub offsets: Arc<ConsumerOffsets>,
    segments: Arc<Segments>,
    writer: LogWriter,
    config: StoreConfig,
    /// Unresolved delayed and half messages found by recovery (id offset →
    /// log offset), until the broker takes them (see [`Store::take_unresolved`]).
    unresolved: Mutex<BTreeMap<u64, u64>>,
    /// Damaged regions of sealed segments recovery skipped (see
    /// `recovery::Recovered::damaged`).
    pub damaged_at_open: usize,
    /// Lowest log offset still needed by a pending delayed or half message:
    /// retention keeps the segment holding it.
    retention_floor: AtomicU64,
}

impl Store {
    /// Opens (recovering) or creates the store in `config.dir`.
    pub fn open(config: StoreConfig) -> Result<Store> {
        std::fs::create_dir_all(&config.dir)?;
        let cfg = config.clone();
        let rec = recovery::recover(
            &config.dir,
            &move |t| queues_for(&cfg, t),
            config.cut_damaged_tail,
        )?;
        tracing::info!(
            dir = %config.dir.display(),
            records = rec.records,
            segments = rec.segments.len(),
            truncated_bytes = rec.truncated_bytes,
            "store recovered"
        );
        let mut rec = rec;
        let clean_end = shutdown_mark::take(&config.dir)?;
        let log_end = rec.segments.last().map(|s| s.base + s.len());
        if rec.truncated_bytes > 0 || clean_end != log_end {
            roll_after_crash(&mut rec.segments, &config)?;
        }
        let segments = Arc::new(Segments::new(
            config.dir.join("log"),
            config.dir.join("index"),
            config.segment_size,
            rec.segments,
            faults::Faults::from_file(config.fault_file.clone()),
        ));
        let keys = Arc::new(rec.keys);
        let writer = LogWriter::start(segments.clone(), keys.clone(), config.flush);
        Ok(Store {
            instance: rec.instance,
            topics: Arc::new(rec.topics),
            keys,
            offsets: Arc::new(ConsumerOffsets::load(&config.dir)?),
            segments,
            writer,
            config,
            unresolved: Mutex::new(rec.unresolved),
            damaged_at_open: rec.damaged.len(),
            retention_floor: AtomicU64::new(u64::MAX),
        })
    }

    /// Injected write and fsync failures (tests and the checker).
    pub fn faults(&self) -> &faults::Faults {
        &self.segments.faults
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The delayed and half messages recovery found pending, id offset →
    /// log offset of their record (taken once; later calls get an empty map).
    pub fn take_unresolved(&self) -> BTreeMap<u64, u64> {
        std::mem::take(&mut *self.unresolved.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Sets the lowest log offset retention must keep (`u64::MAX`: none);
    /// pending delayed and half messages outlive the retention period.
    pub fn set_retention_floor(&self, log_offset: u64) {
        self.retention_floor.store(log_offset, Ordering::Relaxed);
    }

    /// The topic, created on first use.
    pub fn topic(&self, name: &str) -> Arc<Topic> {
        self.topics
            .get_or_create(name, queues_for(&self.config, name))
    }

    /// Encodes a message into an append item for `store_topic`'s `queue`.
    pub fn prepare(
        &self,
        store_topic: &Arc<Topic>,
        header: RecordHeader,
        m: &Message,
    ) -> AppendItem {
        // Every record's keys are indexed under the topic that stores it, as recovery
        // indexes them: retry, dead letter, delayed and half copies are found by key
        // in their own topics (a message's delivery history), never in the original's.
        AppendItem {
            topic: store_topic.clone(),
            queue: header.queue,
            record: encode_record(&header, &store_topic.name, m),
            tag_hash: tag_hash(&m.tag),
            deliver_at_ms: header.deliver_at_ms,
            keys: m.keys.clone(),
        }
    }

    /// Appends records durably (group commit); see [`log`].
    /// A record larger than [`MAX_RECORD_BYTES`] is refused, and with it the
    /// whole call: nothing is stored that recovery or a client could not read.
    pub async fn append(&self, items: Vec<AppendItem>) -> Result<Vec<Appended>> {
        if let Some(big) = items.iter().find(|i| i.record.len() > MAX_RECORD_BYTES) {
            return Err(Error::Refused {
                code: crate::error::ErrorCode::BodyTooLarge,
                message: format!(
                    "a record of {} bytes for {} exceeds the limit of {MAX_RECORD_BYTES} bytes",
                    big.record.len(),
                    big.topic.name
                ),
            });
        }
        self.writer.append(items).await
    }

    pub fn message_id(&self, log_offset: u64) -> MessageId {
        MessageId {
            instance: self.instance,
            offset: log_offset,
        }
    }

    /// Reads raw record payloads (blocking file reads, off the runtime).
    pub async fn read_raw(&self, log_offsets: Vec<u64>) -> Result<Vec<bytes::Bytes>> {
        let segments = self.segments.clone();
        tokio::task::spawn_blocking(move || log_offsets.iter().map(|&o| segments.read(o)).collect())
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))?
    }

    /// Reads raw record payloads one by one: a record that cannot be read
    /// fails alone (see [`report_unreadable`]).
    pub async fn read_each(&self, log_offsets: Vec<u64>) -> Result<Vec<Result<bytes::Bytes>>> {
        let segments = self.segments.clone();
        tokio::task::spawn_blocking(move || log_offsets.iter().map(|&o| segments.read(o)).collect())
            .await
            .map_err(|e| Error::Io(std::io::Error::other(e)))
    }

    /// Reads and decodes records one by one (see [`Store::read_each`]).
    pub async fn read_each_decoded(
        &self,
        log_offsets: Vec<u64>,
    ) -> Result<Vec<Result<StoredMessage>>> {
        let raw = self.read_each(log_offsets.clone()).await?;
        Ok(raw
            .into_iter()
            .zip(log_offsets)
            .map(|(r, o)| r.and_then(|r| decode_record(&r, self.instance, o)))
            .collect())
    }

    pub async fn read(&self, log_offset: u64) -> Result<StoredMessage> {
        let raw = self.read_raw(vec![log_offset]).await?;
        decode_record(&raw[0], self.instance, log_offset)
    }

    /// The raw record of the message with this id, if still stored and
    /// durable. The id must be where a record starts: one that points into
    /// another message's body, however record-like the bytes there, is not
    /// found (the index is asked whether a record lives at that offset).
    pub async fn find_raw_by_id(&self, id: &MessageId) -> Result<Option<bytes::Bytes>> {
        if id.instance != self.instance || id.offset < self.segments.first_offset() {
            return Ok(None);
        }
        let raw = match self.read_each(vec![id.offset]).await?.pop() {
            Some(Ok(raw)) => raw,
            Some(Err(Error::Io(e))) => return Err(Error::Io(e)),
            _ => return Ok(None),
        };
        let Ok(m) = decode_record(&raw, self.instance, id.offset) else {
            return Ok(None);
        };
        let indexed = self
            .topics
            .get(&m.store_topic)
            .and_then(|t| t.entry(m.queue, m.queue_offset))
            .is_some_and(|e| e.log_offset == id.offset);
        Ok(indexed.then_some(raw))
    }

    /// The message with this id, if still stored.
    pub async fn find_by_id(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        match self.find_raw_by_id(id).await? {
            Some(raw) => decode_record(&raw, self.instance, id.offset).map(Some),
            None => Ok(None),
        }
    }

    /// The newest messages of `topic` carrying `key` that fit one reply
    /// (at most [`MAX_LOOKUP_MESSAGES`] and [`MAX_RECORD_BYTES`] in all),
    /// oldest first, as (log offset, raw record). Unreadable ones are skipped.
    pub async fn find_raw_by_key(
        &self,
        topic: &str,
        key: &str,
    ) -> Result<Vec<(u64, bytes::Bytes)>> {
        let offsets = self.keys.find(topic, key, MAX_LOOKUP_MESSAGES);
        let mut found = Vec::new();
        let mut bytes = 0usize;
        // Newest first, a few at a time, until the reply is full.
        'pages: for page in offsets.rchunks(16) {
            let read = self.read_each(page.to_vec()).await?;
            for (raw, &off) in read.into_iter().zip(page).rev() {
                match raw {
                    Ok(raw) => {
                        if bytes + raw.len() > MAX_RECORD_BYTES {
                            break 'pages;
                        }
                        bytes += raw.len();
                        found.push((off, raw));
                    }
                    Err(e) => report_unreadable(off, "message by key", &e),
                }
            }
        }
        found.reverse();
        Ok(found)
    }

    /// One page of the messages of `topic` carrying `key`: the newest at
    /// most `limit` (capped at [`MAX_LOOKUP_MESSAGES`]) with a log offset
    /// below `before` that fit one reply ([`MAX_RECORD_BYTES`] in all),
    /// oldest first, as (log offset, raw record); and the `before` of the
    /// next, older page (0: none). Unreadable ones are skipped.
    pub async fn find_raw_by_key_page(
        &self,
        topic: &str,
        key: &str,
        before: u64,
        limit: usize,
    ) -> Result<(Vec<(u64, bytes::Bytes)>, u64)> {
        let limit = limit.clamp(1, MAX_LOOKUP_MESSAGES);
        let (offsets, older) = self.keys.find_before(topic, key, before, limit);
        let mut found = Vec::new();
        let mut bytes = 0usize;
        // Where the next page ends: below the oldest offset looked at.
        let mut next = if older {
            offsets.first().copied()
        } else {
            None
        };
        'pages: for page in offsets.rchunks(16) {
            let read = self.read_each(page.to_vec()).await?;
            for (raw, &off) in read.into_iter().zip(page).rev() {
                match raw {
                    Ok(raw) => {
                        if bytes + raw.len() > MAX_RECORD_BYTES && !found.is_empty() {
                            next = Some(off + 1); // full: this one starts the next page
                            break 'pages;
                        }
                        bytes += raw.len();
                        found.push((off, raw));
                    }
                    Err(e) => report_unreadable(off, "message by key", &e),
                }
            }
        }
        found.reverse();
        Ok((found, next.unwrap_or(0)))
    }

    /// Messages of `topic` carrying `key`, oldest first (bounded as
    /// [`Store::find_raw_by_key`]).
    pub async fn find_by_key(&self, topic: &str, key: &str) -> Result<Vec<StoredMessage>> {
        self.find_raw_by_key(topic, key)
            .await?
            .iter()
            .map(|(o, r)| decode_record(r, self.instance, *o))
            .collect()
    }

    /// The log offset below which every segment is old enough for
    /// retention (0: none); pending records below it are copied forward
    /// before retention runs (see `broker::forward`).
    pub fn retention_cut(&self) -> u64 {
        let cutoff = now_ms().saturating_sub(self.config.retention.as_millis() as u64);
        let all = self.segments.all();
        let mut cut = 0;
        for (i, seg) in all.iter().enumerate().take(all.len().saturating_sub(1)) {
            if seg.newest_ms() >= cutoff {
                break;
            }
            cut = all[i + 1].base;
        }
        cut
    }

    /// Deletes whole segments (never the active one) whose newest record is
    /// older than the retention; returns how many were deleted. The queues'
    /// next offsets are written first (see `queue_floors`), so a queue
    /// emptied here keeps its offsets across a restart.
    pub fn apply_retention(&self) -> Result<usize> {
        let cutoff = now_ms().saturating_sub(self.config.retention.as_millis() as u64);
        let floor = self.retention_floor.load(Ordering::Relaxed);
        let all = self.segments.all();
        let mut doomed = Vec::new();
        for (i, seg) in all.iter().enumerate().take(all.len().saturating_sub(1)) {
            let next_base = all[i + 1].base;
            if seg.newest_ms() >= cutoff || floor < next_base {
                break; // too new, or holds a pending delayed or half message
            }
            doomed.push((seg.clone(), next_base));
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        queue_floors::write(&self.config.dir, &self.topics.floors())?;
        for (seg, next_base) in &doomed {
            self.topics.trim_below(*next_base);
            self.keys.trim_below(*next_base);
            self.segments.remove(seg.base);
            std::fs::remove_file(&seg.path)?;
            let _ = std::fs::remove_file(summary::path(&self.segments.index_dir, seg.base));
            tracing::info!(segment = %seg.path.display(), "retention deleted segment");
        }
        segment::sync_dir(&self.segments.dir)?;
        Ok(doomed.len())
    }

    /// Syncs the log and writes the clean-shutdown mark (see
    /// `shutdown_mark`); called once the broker stopped serving.
    pub fn close(&self) -> Result<()> {
        let end = match self.segments.active() {
            Some(seg) => {
                seg.sync()?;
                seg.base + seg.len()
            }
            None => return Ok(()),
        };
        shutdown_mark::write(&self.config.dir, end)
    }

    pub fn flush_offsets(&self) -> Result<()> {
        self.offsets.flush()
    }

    /// Total bytes in the log (for the admin API).
    pub fn log_bytes(&self) -> u64 {
        self.segments.all().iter().map(|s| s.len()).sum()
    }
}

/// Logs a record that cannot be read or decoded, with its position, and
/// counts it (`mq_unreadable_records_total`): the caller skips it rather
/// than fail everything around it.
pub fn report_unreadable(log_offset: u64, what: &str, e: &Error) {
    tracing::error!(log_offset, what, error = %e, "unreadable record skipped");
    metrics::counter!("mq_unreadable_records_total", "what" => what.to_string()).increment(1);
}

/// After a crash, continues the log in a fresh segment past every offset
/// the last one could have handed out (a record never crosses a segment's
/// capacity), so no message id is handed out twice.
fn roll_after_crash(segments: &mut Vec<segment::Segment>, config: &StoreConfig) -> Result<()> {
    let Some(last) = segments.last() else {
        return Ok(());
    };
    let next = last.base + config.segment_size.max(last.len());
    last.seal()?;
    let fresh = segment::Segment::create(&config.dir.join("log"), next)?;
    if last.is_empty() {
        let empty = segments.pop().expect("a last segment");
        std::fs::remove_file(&empty.path)?;
        segment::sync_dir(&config.dir.join("log"))?;
    } else {
        summary::build_for_sealed(&last.path, &config.dir.join("index"), last.base)?;
    }
    tracing::info!(
        next,
        "unclean shutdown: continuing the log in a fresh segment"
    );
    segments.push(fresh);
    Ok(())
}

/// Queue count for a topic by its kind.
fn queues_for(config: &StoreConfig, topic: &str) -> u32 {
    if topic.starts_with(RETRY_PREFIX) {
        config.retry_levels.max(1)
    } else if topic.starts_with(DLQ_PREFIX) || is_scheduling_topic(topic) || topic == TXN_OP_TOPIC {
        1
    } else {
        config.default_queues.max(1)
    }
}
