//! In-memory indexes over the commit log: per topic, one index per queue
//! mapping queue offsets to log offsets (with the tag hash for filtering and
//! the deliver-at time for retry and delayed queues), and a key index for
//! look-up by key. They are rebuilt from the log on start (see `recovery`),
//! extended by the log writer once records are durable, and trimmed by
//! retention.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

/// Prefix of the per-group retry topics (`%RETRY%group%topic`).
pub const RETRY_PREFIX: &str = "%RETRY%";
/// Prefix of the per-group dead letter topics (`%DLQ%group`).
pub const DLQ_PREFIX: &str = "%DLQ%";
/// Delayed messages wait here until due; then a copy goes to their topic.
pub const DELAY_TOPIC: &str = "%DELAY%";
/// Half (transactional) messages wait here until committed or rolled back.
pub const HALF_TOPIC: &str = "%HALF%";
/// Transaction ops (rollback, discard) that resolve a half message.
pub const TXN_OP_TOPIC: &str = "%TXN_OP%";

/// Whether records of `topic` wait to be resolved by a later record that
/// names them as its origin (delayed and half messages).
pub fn is_scheduling_topic(topic: &str) -> bool {
    topic == DELAY_TOPIC || topic == HALF_TOPIC
}

/// Where one message of a queue lives in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    pub log_offset: u64,
    pub tag_hash: u32,
    /// Not to be delivered before (ms since the epoch); 0 for at once.
    pub deliver_at_ms: u64,
}

/// The entries of one queue; offsets below `base` were removed by retention.
#[derive(Debug, Default)]
pub struct QueueEntries {
    pub base: u64,
    pub entries: VecDeque<IndexEntry>,
}

impl QueueEntries {
    /// The offset the next message of this queue will get.
    pub fn end(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    pub fn get(&self, offset: u64) -> Option<IndexEntry> {
        let i = offset.checked_sub(self.base)?;
        self.entries.get(usize::try_from(i).ok()?).copied()
    }
}

/// A topic: its queues and a signal that ticks whenever messages are added.
#[derive(Debug)]
pub struct Topic {
    pub name: String,
    pub queues: Vec<RwLock<QueueEntries>>,
    /// Round-robin counter for picking a queue.
    pub next_queue: AtomicU32,
    /// Counts appends; subscriptions wait on it for new messages.
    pub appended: watch::Sender<u64>,
}

impl Topic {
    pub fn new(name: &str, queue_count: u32) -> Topic {
        Topic {
            name: name.to_string(),
            queues: (0..queue_count.max(1)).map(|_| RwLock::default()).collect(),
            next_queue: AtomicU32::new(0),
            appended: watch::channel(0).0,
        }
    }

    pub fn queue_count(&self) -> u32 {
        self.queues.len() as u32
    }

    /// (min, max) offsets of a queue: max is the next offset to be written.
    pub fn queue_range(&self, queue: u32) -> (u64, u64) {
        self.queues
            .get(queue as usize)
            .map(|q| {
                let q = q.read().unwrap_or_else(|e| e.into_inner());
                (q.base, q.end())
            })
            .unwrap_or((0, 0))
    }

    pub fn entry(&self, queue: u32, offset: u64) -> Option<IndexEntry> {
        let q = self.queues.get(queue as usize)?;
        q.read().unwrap_or_else(|e| e.into_inner()).get(offset)
    }

    /// Wakes everyone waiting for new messages.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n += 1);
    }
}

/// All topics by name.
#[derive(Debug, Default)]
pub struct TopicTable {
    topics: RwLock<HashMap<String, Arc<Topic>>>,
}

impl TopicTable {
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// The topic, created with `queue_count` queues if it does not exist yet.
    pub fn get_or_create(&self, name: &str, queue_count: u32) -> Arc<Topic> {
        if let Some(t) = self.get(name) {
            return t;
        }
        let mut map = self.topics.write().unwrap_or_else(|e| e.into_inner());
        map.entry(name.to_string())
            .or_insert_with(|| Arc::new(Topic::new(name, queue_count)))
            .clone()
    }

    pub fn insert(&self, topic: Topic) {
        let mut map = self.topics.write().unwrap_or_else(|e| e.into_inner());
        map.insert(topic.name.clone(), Arc::new(topic));
    }

    /// All topics, sorted by name.
    pub fn all(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self
            .topics
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// The next offset of every queue (see `queue_floors`).
    pub fn floors(&self) -> super::queue_floors::Floors {
        let mut floors = super::queue_floors::Floors::new();
        for topic in self.all() {
            for (i, q) in topic.queues.iter().enumerate() {
                let end = q.read().unwrap_or_else(|e| e.into_inner()).end();
                if end > 0 {
                    floors.insert((topic.name.clone(), i as u32), end);
                }
            }
        }
        floors
    }

    /// Drops index entries that point below `first_offset` (removed segments).
    pub fn trim_below(&self, first_offset: u64) {
        for topic in self.all() {
            for q in &topic.queues {
                let mut q = q.write().unwrap_or_else(|e| e.into_inner());
                while q
                    .entries
                    .front()
                    .is_some_and(|e| e.log_offset < first_offset)
                {
                    q.entries.pop_front();
                    q.base += 1;
                }
            }
        }
    }
}

/// Log offsets of messages by (topic, key), in shards, each behind its own
/// mutex: the writer adds keys to one shard at a time, and retention trims
/// one shard at a time, so a trim never holds up the writer for a scan of
/// every key.
#[derive(Debug)]
pub struct KeyIndex {
    shards: Vec<Mutex<KeyShard>>,
}

/// One shard: (topic, key) → log offsets, oldest first.
type KeyShard = HashMap<(String, String), Vec<u64>>;

/// Shards of the key index.
const KEY_SHARDS: usize = 64;

impl Default for KeyIndex {
    fn default() -> Self {
        KeyIndex {
            shards: (0..KEY_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl KeyIndex {
    fn shard(&self, topic: &str, key: &str) -> &Mutex<KeyShard> {
        let h = crc32c::crc32c_append(crc32c::crc32c(topic.as_bytes()), key.as_bytes());
        &self.shards[h as usize % KEY_SHARDS]
    }

    pub fn add(&self, topic: &str, key: &str, log_offset: u64) {
        let mut map = self
            .shard(topic, key)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.entry((topic.to_string(), key.to_string()))
            .or_default()
            .push(log_offset);
    }

    /// The newest `limit` log offsets of messages of `topic` with `key`,
    /// oldest first.
    pub fn find(&self, topic: &str, key: &str, limit: usize) -> Vec<u64> {
        let map = self
            .shard(topic, key)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        map.get(&(topic.to_string(), key.to_string()))
            .map(|v| v[v.len().saturating_sub(limit)..].to_vec())
            .unwrap_or_default()
    }

    /// The newest `limit` log offsets below `before` of messages of `topic`
    /// with `key`, oldest first, and whether older ones remain.
    pub fn find_before(
        &self,
        topic: &str,
        key: &str,
        before: u64,
        limit: usize,
    ) -> (Vec<u64>, bool) {
        let map = self
            .shard(topic, key)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match map.get(&(topic.to_string(), key.to_string())) {
            Some(v) => {
                let end = v.partition_point(|&o| o < before);
                let start = end.saturating_sub(limit);
                (v[start..end].to_vec(), start > 0)
            }
            None => (Vec::new(), false),
        }
    }

    /// Drops offsets below `first_offset`, one shard at a time.
    pub fn trim_below(&self, first_offset: u64) {
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, offsets| {
                let keep = offsets.partition_point(|&o| o < first_offset);
                offsets.drain(..keep);
                !offsets.is_empty()
            });
        }
    }
}

/// A cheap, stable hash of a tag, stored in the index so that filtering does
/// not need to read the log (a match is confirmed on the real tag).
pub fn tag_hash(tag: &str) -> u32 {
    crc32c::crc32c(tag.as_bytes())
}
