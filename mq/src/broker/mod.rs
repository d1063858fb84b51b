//! The broker's shared state and its life cycle: the store, the live
//! subscriptions, sending (queue choice and validation), dead letter
//! handling, and [`Broker::start`] which runs the TCP server, the admin API
//! and the background tasks (offset flushing, retention) until shutdown.

mod checkback;
pub mod delay;
mod forward;
pub mod rebalance;
mod start;
pub mod subscription;
pub mod tags;
pub mod txn;

pub use start::{Broker, BrokerHandle};

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::error::{Error, ErrorCode, Result};
use crate::message::{
    Message, MessageId, PROPERTY_DELAY_LEVEL, PROPERTY_DELAY_MS, RecordHeader, StoredMessage,
    body_too_large, now_ms, validate_topic,
};
use crate::protocol::{ConsumeFrom, SendReceipt};
use crate::storage::index::{DELAY_TOPIC, DLQ_PREFIX, RETRY_PREFIX, Topic};
use crate::storage::{AppendItem, Store};
use delay::DelayQueue;
use subscription::{SubSettings, Subscription, SubscriptionHandle};

/// Joins a group and a broadcast instance name into the name under which
/// that member's subscription and offsets are kept (`group@instance`; `@`
/// cannot occur in group names).
pub const BROADCAST_SEPARATOR: &str = "@";

/// Dead letters read at a time when looking for one.
const DLQ_PAGE: usize = 256;

/// Most messages in one batch: its acknowledgement (one receipt each) must
/// fit a frame the client accepts.
pub const MAX_BATCH_MESSAGES: usize = 65_536;

/// State shared by every connection and background task.
pub struct BrokerCore {
    pub store: Arc<Store>,
    pub config: BrokerConfig,
    subs: Mutex<HashMap<(String, String), SubscriptionHandle>>,
    /// Broadcast members known only from their offsets, since when.
    broadcast_seen: Mutex<HashMap<String, std::time::Instant>>,
    next_id: AtomicU64,
    next_sub: AtomicU32,
    pub shutdown: CancellationToken,
    /// Delayed messages waiting for their time.
    pub delays: DelayQueue,
    /// Undecided half messages and the producers to ask about them.
    pub txns: txn::Transactions,
    /// Held shared while a delayed or half record is read and released or
    /// decided, exclusively while retention copies such records forward.
    pub scheduling: tokio::sync::RwLock<()>,
}

impl BrokerCore {
    /// A fresh id for a connection or member.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Joins a member to the subscription of `group` to `topic` (started on
    /// first use), or refuses it when the group's live members subscribe
    /// with another filter or mode (see [`SubscriptionHandle::admit`]).
    pub fn join(
        &self,
        group: &str,
        topic: &str,
        from: ConsumeFrom,
        filter: &crate::filter::Filter,
        orderly: bool,
    ) -> Result<SubscriptionHandle> {
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let handle = self.subscription_locked(&mut subs, group, topic, from);
        handle.admit(filter, orderly)?;
        Ok(handle)
    }

    /// Forgets broadcast members (`group@instance`) that had no live
    /// connection for `MQ_BROADCAST_FORGET_AFTER`: their subscriptions stop
    /// and their offsets are deleted. Members known only from the offsets
    /// (after a restart) count from when this first saw them.
    pub fn forget_broadcast_members(&self) -> Vec<String> {
        let ttl = self.config.broadcast_forget_after;
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = self
            .broadcast_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut groups: Vec<String> = self
            .store
            .offsets
            .groups()
            .into_iter()
            .chain(subs.keys().map(|(g, _)| g.clone()))
            .filter(|g| g.contains(BROADCAST_SEPARATOR))
            .collect();
        groups.sort();
        groups.dedup();
        let mut forgotten = Vec::new();
        for g in groups {
            let handles: Vec<&SubscriptionHandle> =
                subs.values().filter(|h| h.group == g).collect();
            let gone = if handles.is_empty() {
                let since = seen
                    .entry(g.clone())
                    .or_insert_with(std::time::Instant::now);
                since.elapsed() >= ttl
            } else {
                seen.remove(&g);
                handles
                    .iter()
                    .all(|h| h.unattended_for().is_some_and(|d| d >= ttl))
            };
            if !gone {
                continue;
            }
            subs.retain(|_, h| {
                let keep = h.group != g;
                if !keep {
                    h.send(subscription::SubEvent::Forget);
                }
                keep
            });
            seen.remove(&g);
            let rows = self.store.offsets.remove_group(&g);
            tracing::info!(member = %g, rows, "broadcast member gone for {}: forgotten", humantime::format_duration(ttl));
            metrics::counter!("mq_broadcast_members_forgotten_total").increment(1);
            forgotten.push(g);
        }
        forgotten
    }

    /// The subscription of `group` to `topic`, started on first use.
    fn subscription_locked(
        &self,
        subs: &mut HashMap<(String, String), SubscriptionHandle>,
        group: &str,
        topic: &str,
        from: ConsumeFrom,
    ) -> SubscriptionHandle {
        subs.entry((group.to_string(), topic.to_string()))
            .or_insert_with(|| {
                let id = self.next_sub.fetch_add(1, Ordering::Relaxed) + 1;
                let settings = SubSettings {
                    schedule: self.config.retry_schedule.clone(),
                    visibility: self.config.visibility_timeout,
                    from,
                };
                Subscription::spawn(
                    id,
                    self.store.clone(),
                    group,
                    topic,
                    settings,
                    self.shutdown.clone(),
                )
            })
            .clone()
    }

    /// Live subscriptions, optionally of one group.
    pub fn subscriptions(&self, group: Option<&str>) -> Vec<SubscriptionHandle> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = subs
            .values()
            .filter(|s| group.is_none_or(|g| s.group == g))
            .cloned()
            .collect();
        v.sort_by(|a, b| (&a.group, &a.topic).cmp(&(&b.group, &b.topic)));
        v
    }

    /// Stores messages of one topic durably; answers where each landed.
    pub async fn send(&self, messages: Vec<Message>) -> Result<Vec<SendReceipt>> {
        let Some(first) = messages.first() else {
            return Ok(Vec::new());
        };
        if messages.len() > MAX_BATCH_MESSAGES {
            return Err(Error::Invalid(format!(
                "a batch of {} messages: the limit is {MAX_BATCH_MESSAGES}",
                messages.len()
            )));
        }
        let topic_name = first.topic.clone();
        for m in &messages {
            if m.body.len() > crate::message::MAX_BODY_BYTES {
                return Err(Error::Refused {
                    code: ErrorCode::BodyTooLarge,
                    message: body_too_large(m.body.len()),
                });
            }
            validate_topic(&m.topic)?;
            m.validate_headers()?;
            if m.topic != topic_name {
                return Err(Error::Invalid(
                    "a batch holds messages of one topic only".into(),
                ));
            }
        }
        let topic = self.store.topic(&topic_name);
        let now = now_ms();
        let mut items = Vec::with_capacity(messages.len());
        let mut delayed = Vec::with_capacity(messages.len());
        for mut m in messages {
            let header = match self.resolve_delay(&mut m, now)? {
                Some(at) => {
                    delayed.push(Some(at));
                    items.push(self.store.prepare(
                        &self.store.topic(DELAY_TOPIC),
                        RecordHeader {
                            queue: 0,
                            attempt: 1,
                            origin_offset: None,
                            deliver_at_ms: at,
                        },
                        &m,
                    ));
                    continue;
                }
                None => RecordHeader {
                    queue: self.pick_queue(&topic, m.sharding_key.as_deref()),
                    attempt: 1,
                    origin_offset: None,
                    deliver_at_ms: 0,
                },
            };
            delayed.push(None);
            items.push(self.store.prepare(&topic, header, &m));
        }
        let queues: Vec<u32> = items.iter().map(|i| i.queue).collect();
        let appended = self.store.append(items).await?;
        metrics::counter!("mq_sends_total").increment(appended.len() as u64);
        for (a, at) in appended.iter().zip(&delayed) {
            if let Some(at) = at {
                self.delays.add(*at, a.log_offset);
            }
        }
        Ok(appended
            .iter()
            .zip(queues)
            .map(|(a, queue)| SendReceipt {
                id: self.store.message_id(a.log_offset).to_string(),
                queue,
                queue_offset: a.queue_offset,
            })
            .collect())
    }

    /// The queue of `topic` for a message: fixed by its sharding key, else
    /// round robin.
    pub fn pick_queue(&self, topic: &Topic, sharding_key: Option<&str>) -> u32 {
        let n = topic.queue_count();
        match sharding_key {
            Some(k) => crc32c::crc32c(k.as_bytes()) % n,
            None => topic.next_queue.fetch_add(1, Ordering::Relaxed) % n,
        }
    }

    /// When a message asks to be delivered, if later than `now`: from its
    /// delay level, delay or deliver-at time (the delay properties are
    /// consumed here, and the time written into the message).
    fn resolve_delay(&self, m: &mut Message, now: u64) -> Result<Option<u64>> {
        let mut at = m.deliver_at_ms;
        if let Some(level) = m.properties.remove(PROPERTY_DELAY_LEVEL) {
            let levels = &self.config.delay_levels;
            let n: usize = level.trim().parse().map_err(|_| {
                Error::Invalid(format!("bad delay level {level:?}: use 0-{}", levels.len()))
            })?;
            if n > levels.len() {
                return Err(Error::Invalid(format!(
                    "delay level {n} does not exist: the broker has levels 1-{}",
                    levels.len()
                )));
            }
            if n > 0 {
                at = Some(now.saturating_add(levels[n - 1].as_millis() as u64));
            }
        }
        if let Some(ms) = m.properties.remove(PROPERTY_DELAY_MS) {
            let delay: u64 = ms
                .trim()
                .parse()
                .map_err(|_| Error::Invalid(format!("bad delay {ms:?}: milliseconds")))?;
            at = Some(now.checked_add(delay).ok_or_else(|| {
                Error::Invalid(format!("delay {ms:?} ms reaches past the year 584 million"))
            })?);
        }
        let at = at.filter(|&t| t > now);
        m.deliver_at_ms = at;
        Ok(at)
    }

    /// The copy of a delayed (or committed half) message `m` that goes to its
    /// own topic, naming `m` as its origin so that it keeps `m`'s id.
    pub fn release_item(&self, m: StoredMessage, deliver_at_ms: u64) -> AppendItem {
        let topic = self.store.topic(&m.topic);
        let header = RecordHeader {
            queue: self.pick_queue(&topic, m.sharding_key.as_deref()),
            attempt: 1,
            origin_offset: Some(m.id.offset),
            deliver_at_ms,
        };
        let message = Message {
            topic: m.topic,
            tag: m.tag,
            keys: m.keys,
            body: m.body,
            properties: m.properties,
            sharding_key: m.sharding_key,
            deliver_at_ms: Some(deliver_at_ms).filter(|&t| t > 0),
            born_at_ms: m.born_at_ms,
        };
        self.store.prepare(&topic, header, &message)
    }

    /// How many messages `group`'s dead letter queue holds (from the index;
    /// nothing is read).
    pub fn dead_letter_count(&self, group: &str) -> u64 {
        self.store
            .topics
            .get(&format!("{DLQ_PREFIX}{group}"))
            .map_or(0, |dlq| {
                let (min, max) = dlq.queue_range(0);
                max - min
            })
    }

    /// Up to `limit` messages of `group`'s dead letter queue from its queue
    /// offset `from`, oldest first (unreadable ones skipped and reported).
    pub async fn dead_letters(
        &self,
        group: &str,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let Some(dlq) = self.store.topics.get(&format!("{DLQ_PREFIX}{group}")) else {
            return Ok(Vec::new());
        };
        let (min, max) = dlq.queue_range(0);
        let offsets: Vec<u64> = (from.max(min)..max)
            .take(limit)
            .filter_map(|o| dlq.entry(0, o))
            .map(|e| e.log_offset)
            .collect();
        let read = self.store.read_each_decoded(offsets.clone()).await?;
        let mut found = Vec::with_capacity(read.len());
        for (m, off) in read.into_iter().zip(offsets) {
            match m {
                Ok(m) => found.push(m),
                Err(e) => crate::storage::report_unreadable(off, "dead letter", &e),
            }
        }
        Ok(found)
    }

    /// Sends a dead letter back to its group (at once, through the retry
    /// topic, so only that group sees it again). Returns the copy's receipt.
    pub async fn resend_dead_letter(&self, group: &str, id: &MessageId) -> Result<SendReceipt> {
        // Newest first, a page at a time.
        let (min, mut end) = self
            .store
            .topics
            .get(&format!("{DLQ_PREFIX}{group}"))
            .map_or((0, 0), |dlq| dlq.queue_range(0));
        let mut found = None;
        while found.is_none() && end > min {
            let from = end.saturating_sub(DLQ_PAGE as u64).max(min);
            let page = self.dead_letters(group, from, DLQ_PAGE).await?;
            found = page.into_iter().rev().find(|m| m.id == *id);
            end = from;
        }
        let m = found.ok_or_else(|| Error::Refused {
            code: ErrorCode::NotFound,
            message: format!("no dead letter {id} in group {group}"),
        })?;
        let retry = self
            .store
            .topic(&format!("{RETRY_PREFIX}{group}%{}", m.topic));
        let header = RecordHeader {
            // The last retry queue is kept for immediate resends.
            queue: retry.queue_count() - 1,
            attempt: m.attempt + 1,
            origin_offset: Some(m.id.offset),
            deliver_at_ms: now_ms(),
        };
        let message = Message {
            topic: m.topic,
            tag: m.tag,
            keys: m.keys,
            body: m.body,
            properties: m.properties,
            sharding_key: m.sharding_key,
            deliver_at_ms: None,
            born_at_ms: m.born_at_ms,
        };
        let item = self.store.prepare(&retry, header, &message);
        let a = self.store.append(vec![item]).await?;
        Ok(SendReceipt {
            id: id.to_string(),
            queue: header.queue,
            queue_offset: a[0].queue_offset,
        })
    }
}
