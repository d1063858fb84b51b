//! Delayed messages. A message due later is stored in the `%DELAY%` topic
//! (its deliver-at time in the index) and registered here; one task sleeps
//! until the earliest due time — no polling, however many are pending —
//! then appends a copy to the message's own topic. The copy names the
//! delayed record as its origin, which keeps the message id and tells
//! recovery (see `storage::recovery`) that the delay is resolved; delays
//! still unresolved after a restart are registered again from the index.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use super::BrokerCore;
use crate::message::now_ms;
use crate::storage::index::DELAY_TOPIC;
use crate::storage::report_unreadable;

/// Most copies appended in one go.
const MAX_BATCH: usize = 512;

/// Pending delayed messages by due time.
#[derive(Default)]
pub struct DelayQueue {
    pending: Mutex<Pending>,
    wake: Notify,
}

#[derive(Default)]
struct Pending {
    /// (due ms, log offset), soonest first.
    by_due: BTreeSet<(u64, u64)>,
    /// log offset → due ms.
    by_offset: BTreeMap<u64, u64>,
}

impl DelayQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers the delayed record at `log_offset`, due at `due_ms`.
    pub fn add(&self, due_ms: u64, log_offset: u64) {
        let mut p = self.lock();
        let sooner = p.by_due.first().is_none_or(|&(d, _)| due_ms < d);
        p.by_due.insert((due_ms, log_offset));
        p.by_offset.insert(log_offset, due_ms);
        metrics::gauge!("mq_delayed_pending").set(p.by_due.len() as f64);
        drop(p);
        if sooner {
            self.wake.notify_one();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().by_due.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Lowest log offset still pending (retention must keep it).
    pub fn min_log_offset(&self) -> Option<u64> {
        self.lock().by_offset.keys().next().copied()
    }

    /// Pending (due ms, log offset) whose record lies below `log_offset`.
    pub fn below(&self, log_offset: u64) -> Vec<(u64, u64)> {
        self.lock()
            .by_offset
            .range(..log_offset)
            .map(|(&off, &due)| (due, off))
            .collect()
    }

    /// The record of a pending message moved from `from` to `to`.
    pub fn moved(&self, due_ms: u64, from: u64, to: u64) {
        let mut p = self.lock();
        if p.by_due.remove(&(due_ms, from)) {
            p.by_offset.remove(&from);
            p.by_due.insert((due_ms, to));
            p.by_offset.insert(to, due_ms);
        }
    }

    /// Forgets a pending message whose record cannot be read.
    pub fn forget(&self, due_ms: u64, log_offset: u64) {
        self.remove(&[(due_ms, log_offset)]);
    }

    /// Up to `limit` pending (log offset, due ms), soonest first.
    pub fn soonest(&self, limit: usize) -> Vec<(u64, u64)> {
        self.lock()
            .by_due
            .iter()
            .take(limit)
            .map(|&(due, off)| (off, due))
            .collect()
    }

    fn due(&self, now: u64) -> (Vec<(u64, u64)>, Option<u64>) {
        let p = self.lock();
        let due: Vec<(u64, u64)> = p
            .by_due
            .iter()
            .take_while(|(d, _)| *d <= now)
            .take(MAX_BATCH)
            .copied()
            .collect();
        (due, p.by_due.first().map(|&(d, _)| d))
    }

    fn remove(&self, done: &[(u64, u64)]) {
        let mut p = self.lock();
        for e in done {
            p.by_due.remove(e);
            p.by_offset.remove(&e.1);
        }
        metrics::gauge!("mq_delayed_pending").set(p.by_due.len() as f64);
    }
}

/// Registers the delays recovery found unresolved (id → log offset).
pub fn restore(core: &BrokerCore, unresolved: &BTreeMap<u64, u64>) {
    let Some(topic) = core.store.topics.get(DELAY_TOPIC) else {
        return;
    };
    let pending: HashSet<u64> = unresolved.values().copied().collect();
    let (min, max) = topic.queue_range(0);
    for e in (min..max).filter_map(|o| topic.entry(0, o)) {
        if pending.contains(&e.log_offset) {
            core.delays.add(e.deliver_at_ms, e.log_offset);
        }
    }
    if !core.delays.is_empty() {
        tracing::info!(pending = core.delays.len(), "delayed messages restored");
    }
}

/// Moves due messages to their topics until shutdown.
pub async fn run(core: Arc<BrokerCore>) {
    loop {
        let notified = core.delays.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = now_ms();
        // Retention's copying forward waits while due records are released.
        let moving = core.scheduling.read().await;
        let (due, next) = core.delays.due(now);
        if !due.is_empty() {
            let released = release(&core, &due).await;
            drop(moving);
            match released {
                Ok(()) => core.delays.remove(&due),
                Err(e) => {
                    tracing::error!(error = %e, "storing due delayed messages failed; retrying in 1 s");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = core.shutdown.cancelled() => break,
                    }
                }
            }
            continue;
        }
        drop(moving);
        let wait = next.map_or(Duration::from_secs(3600), |d| {
            Duration::from_millis(d.saturating_sub(now))
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = notified.as_mut() => {}
            _ = core.shutdown.cancelled() => break,
        }
    }
    tracing::debug!("delay scheduler stopped: shutdown");
}

/// Appends the copies of the due records (due ms, log offset); a record
/// that cannot be read is skipped (and so dropped from the queue).
async fn release(core: &BrokerCore, due: &[(u64, u64)]) -> crate::Result<()> {
    let offsets: Vec<u64> = due.iter().map(|d| d.1).collect();
    let read = core.store.read_each_decoded(offsets).await?;
    let mut items = Vec::with_capacity(read.len());
    for (m, &(due_ms, off)) in read.into_iter().zip(due) {
        match m {
            Ok(m) => items.push(core.release_item(m, due_ms)),
            Err(e) => report_unreadable(off, "delayed message", &e),
        }
    }
    let n = items.len() as u64;
    core.store.append(items).await?;
    metrics::counter!("mq_delayed_released_total").increment(n);
    Ok(())
}
