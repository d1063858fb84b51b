//! Retries: a delivery answered "later" (or timed out) is copied to the
//! retry queue of its next step, due after that step's delay, or to the
//! group's dead letter topic once the schedule is used up. The original is
//! done only once the copy is durable.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::cursor::Inflight;
use super::{SubEvent, Subscription};
use crate::message::{Message, RecordHeader, now_ms};
use crate::storage::Store;
use crate::storage::index::{DLQ_PREFIX, Topic};

impl Subscription {
    pub(super) fn retry_later(&mut self, queue: u32, offset: u64) {
        let c = &mut self.cursors[queue as usize];
        let Some(entry) = c.topic.entry(c.queue, offset) else {
            return self.mark_done(queue, offset);
        };
        c.inflight.insert(
            offset,
            Inflight {
                member: 0,
                deadline: Instant::now(),
                retrying: true,
            },
        );
        let store = self.store.clone();
        let (group, schedule, tx) = (self.group.clone(), self.schedule.clone(), self.tx.clone());
        let retry_topic = self.retry_topic.clone();
        tokio::spawn(async move {
            let ok = match store_retry_copy(
                &store,
                &group,
                &schedule,
                &retry_topic,
                entry.log_offset,
            )
            .await
            {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, group, "could not store a retry copy; redelivering");
                    false
                }
            };
            let _ = tx.send(SubEvent::RetryStored { queue, offset, ok });
        });
    }
}

/// Appends the next retry copy of the record at `log_offset`, or its dead
/// letter copy once the schedule is used up.
async fn store_retry_copy(
    store: &Store,
    group: &str,
    schedule: &[Duration],
    retry_topic: &Arc<Topic>,
    log_offset: u64,
) -> crate::Result<()> {
    let m = store.read(log_offset).await?;
    let retries_done = m.attempt.saturating_sub(1) as usize;
    let message = Message {
        topic: m.topic.clone(),
        tag: m.tag.clone(),
        keys: m.keys.clone(),
        body: m.body.clone(),
        properties: m.properties.clone(),
        sharding_key: m.sharding_key.clone(),
        deliver_at_ms: None,
        born_at_ms: m.born_at_ms,
    };
    let (topic, header) = if retries_done >= schedule.len() {
        metrics::counter!("mq_dead_letters_total").increment(1);
        tracing::warn!(group, id = %m.id, attempts = m.attempt, "message moved to the dead letter queue");
        let dlq = store.topic(&format!("{DLQ_PREFIX}{group}"));
        (
            dlq,
            RecordHeader {
                queue: 0,
                attempt: m.attempt,
                origin_offset: Some(m.id.offset),
                deliver_at_ms: 0,
            },
        )
    } else {
        metrics::counter!("mq_retries_total").increment(1);
        let delay = schedule[retries_done];
        let header = RecordHeader {
            queue: retries_done as u32,
            attempt: m.attempt + 1,
            origin_offset: Some(m.id.offset),
            deliver_at_ms: now_ms() + delay.as_millis() as u64,
        };
        (retry_topic.clone(), header)
    };
    let item = store.prepare(&topic, header, &message);
    store.append(vec![item]).await?;
    Ok(())
}
