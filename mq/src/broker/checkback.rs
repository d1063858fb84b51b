//! The broker's side of transactional messages: storing half messages,
//! deciding them (commit, rollback, discard — each a durable record), the
//! check-back task, and restoring pending halves (with their check-back
//! counts) after a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::BrokerCore;
use super::txn::{Begin, Outcome};
use crate::error::{Error, ErrorCode, Result};
use crate::message::{Message, MessageId, PROPERTY_PRODUCER_GROUP, RecordHeader, now_ms};
use crate::protocol::{Frame, FrameBody, SendReceipt, TxnState};
use crate::storage::index::{HALF_TOPIC, TXN_OP_TOPIC};
use crate::storage::{report_unreadable, txn_checks};

impl BrokerCore {
    /// Stores a half message of `group`: invisible until committed.
    pub async fn send_half(&self, group: &str, mut m: Message) -> Result<SendReceipt> {
        if group.is_empty() {
            return Err(Error::Invalid(
                "a half message needs a producer group".into(),
            ));
        }
        crate::message::validate_topic(group)
            .map_err(|_| Error::Invalid(format!("bad producer group {group:?}")))?;
        m.validate()?;
        if m.deliver_at_ms.is_some() || m.properties.keys().any(|k| k.starts_with("MQ_DELAY")) {
            return Err(Error::Invalid(
                "transactional messages cannot be delayed".into(),
            ));
        }
        m.properties
            .insert(PROPERTY_PRODUCER_GROUP.into(), group.to_string());
        let now = now_ms();
        let first_check = now + self.config.txn_check_after.as_millis() as u64;
        let header = RecordHeader {
            queue: 0,
            attempt: 1,
            origin_offset: None,
            deliver_at_ms: first_check,
        };
        let item = self
            .store
            .prepare(&self.store.topic(HALF_TOPIC), header, &m);
        let a = self.store.append(vec![item]).await?;
        let at = a[0].log_offset;
        self.txns
            .add(at, at, group, a[0].stored_at_ms, first_check, 0);
        metrics::counter!("mq_txn_halves_total").increment(1);
        Ok(SendReceipt {
            id: self.store.message_id(a[0].log_offset).to_string(),
            queue: 0,
            queue_offset: a[0].queue_offset,
        })
    }

    /// Decides the half message `id`; `Unknown` changes nothing. A half
    /// decided the other way is refused with `Conflict`, one no longer known
    /// with `NotFound`; the same decision twice is done.
    pub async fn end_transaction(&self, id: &str, group: &str, state: TxnState) -> Result<()> {
        let id: MessageId = id.parse()?;
        if id.instance != self.store.instance {
            return Err(Error::Invalid(format!(
                "{id} is not a message of this broker"
            )));
        }
        match state {
            TxnState::Unknown => {
                tracing::debug!(%id, group, "transaction outcome unknown; asking again later");
                Ok(())
            }
            TxnState::Commit => self.resolve(id.offset, Some(group), Outcome::Commit).await,
            TxnState::Rollback => {
                self.resolve(id.offset, Some(group), Outcome::Rollback)
                    .await
            }
        }
    }

    /// Stores the outcome of a half — its copy in its topic (commit) or an
    /// op record — unless another resolution is under way: then waits for
    /// it and answers done if it decided the same, `Conflict` if not.
    async fn resolve(&self, log_offset: u64, group: Option<&str>, outcome: Outcome) -> Result<()> {
        loop {
            match self.txns.begin_resolve(log_offset, group, outcome)? {
                Begin::Started => break,
                Begin::Decided(other) => return agree(other, outcome),
                Begin::InProgress(other, mut done) => {
                    let stored = match done.wait_for(Option::is_some).await {
                        Ok(v) => *v == Some(true),
                        Err(_) => false,
                    };
                    if stored {
                        return agree(other, outcome);
                    }
                    // The other resolution failed: try again ourselves.
                }
            }
        }
        let stored = async {
            // Retention does not move the record while it is read and decided.
            let _moving = self.scheduling.read().await;
            let at = self.txns.location(log_offset).unwrap_or(log_offset);
            let half = self.store.read(at).await?;
            let item = match outcome {
                Outcome::Commit => self.release_item(half, 0),
                Outcome::Rollback | Outcome::Discard => {
                    let record = Message {
                        topic: half.topic,
                        tag: outcome.name().to_string(),
                        keys: half.keys,
                        properties: half.properties,
                        born_at_ms: now_ms(),
                        ..Default::default()
                    };
                    let header = RecordHeader {
                        queue: 0,
                        attempt: 1,
                        origin_offset: Some(log_offset),
                        deliver_at_ms: 0,
                    };
                    self.store
                        .prepare(&self.store.topic(TXN_OP_TOPIC), header, &record)
                }
            };
            self.store.append(vec![item]).await.map(|_| ())
        }
        .await;
        self.txns
            .finish_resolve(log_offset, outcome, stored.is_ok());
        if stored.is_ok() {
            metrics::counter!("mq_txn_outcomes_total", "outcome" => outcome.name()).increment(1);
        }
        stored
    }
}

/// The answer to a resolution that found the half decided as `decided`.
fn agree(decided: Outcome, wanted: Outcome) -> Result<()> {
    if decided == wanted {
        return Ok(());
    }
    Err(Error::Refused {
        code: ErrorCode::Conflict,
        message: format!(
            "the transaction was already decided ({}); {} refused",
            decided.name(),
            wanted.name()
        ),
    })
}

/// Registers the halves recovery found undecided (id → log offset), with
/// the check-back counts written before the restart. Records are read a
/// chunk at a time; one that cannot be read is skipped and reported.
pub async fn restore(core: &BrokerCore, unresolved: &BTreeMap<u64, u64>) -> Result<()> {
    let Some(topic) = core.store.topics.get(HALF_TOPIC) else {
        return Ok(());
    };
    let dir = core.store.config().dir.clone();
    let checks = tokio::task::spawn_blocking(move || txn_checks::load(&dir))
        .await
        .map_err(|e| Error::Io(std::io::Error::other(e)))??;
    let ids: HashMap<u64, u64> = unresolved.iter().map(|(&id, &at)| (at, id)).collect();
    let (min, max) = topic.queue_range(0);
    let mut restored = 0usize;
    let mut chunk: Vec<(u64, u64, u64)> = Vec::with_capacity(RESTORE_CHUNK);
    for o in min..max {
        if let Some(e) = topic.entry(0, o) {
            if let Some(&id) = ids.get(&e.log_offset) {
                chunk.push((id, e.log_offset, e.deliver_at_ms));
            }
        }
        if chunk.len() == RESTORE_CHUNK || (o + 1 == max && !chunk.is_empty()) {
            let read = core
                .store
                .read_each_decoded(chunk.iter().map(|c| c.1).collect())
                .await?;
            for (m, &(id, at, first_check)) in read.into_iter().zip(&chunk) {
                let m = match m {
                    Ok(m) => m,
                    Err(e) => {
                        report_unreadable(at, "half message", &e);
                        continue;
                    }
                };
                let group = m.properties.get(PROPERTY_PRODUCER_GROUP).cloned();
                core.txns.add(
                    id,
                    at,
                    &group.unwrap_or_default(),
                    m.stored_at_ms,
                    first_check,
                    checks.get(&id).copied().unwrap_or(0),
                );
                restored += 1;
            }
            chunk.clear();
        }
    }
    if restored > 0 {
        tracing::info!(pending = restored, "half messages restored");
    }
    Ok(())
}

/// Half messages read at a time on start.
const RESTORE_CHUNK: usize = 1024;

/// Sends due check-backs and discards halves asked too often, until shutdown.
pub async fn run(core: Arc<BrokerCore>) {
    let c = &core.config;
    let interval = c.txn_check_interval.as_millis() as u64;
    let retry = interval.min(c.txn_check_after.as_millis() as u64).max(1);
    loop {
        let notified = core.txns.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let now = now_ms();
        let plan = core.txns.plan(now, c.txn_check_max, interval, retry);
        for off in plan.discard {
            match core.resolve(off, None, Outcome::Discard).await {
                Ok(()) => {
                    tracing::warn!(id = %core.store.message_id(off), checks = c.txn_check_max,
                        "half message discarded: never decided");
                    metrics::counter!("mq_txn_discarded_total").increment(1);
                    core.txns.count_discard();
                }
                Err(e) if matches!(e.code(), ErrorCode::Conflict | ErrorCode::NotFound) => {
                    tracing::debug!(error = %e, "half message decided before its discard");
                }
                Err(e) => tracing::error!(error = %e, "discarding a half message failed"),
            }
        }
        if !plan.ask.is_empty() {
            persist_check_counts(&core).await;
            let offsets = plan.ask.iter().map(|a| a.1).collect();
            match core.store.read_each(offsets).await {
                Ok(raw) => {
                    for ((id, log_offset, out), record) in plan.ask.into_iter().zip(raw) {
                        let record = match record {
                            Ok(r) => r,
                            Err(e) => {
                                if !matches!(e, Error::Io(_)) {
                                    report_unreadable(log_offset, "half message", &e);
                                    core.txns.forget(id);
                                }
                                continue;
                            }
                        };
                        let body = FrameBody::CheckTxn {
                            instance: core.store.instance,
                            log_offset,
                            record,
                        };
                        let _ = out.send(Frame {
                            request_id: 0,
                            body,
                        });
                        metrics::counter!("mq_txn_checks_total").increment(1);
                    }
                }
                Err(e) => tracing::error!(error = %e, "reading half messages to check failed"),
            }
        }
        let wait = plan.next_ms.map_or(Duration::from_secs(3600), |t| {
            Duration::from_millis(t.saturating_sub(now))
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = notified.as_mut() => {}
            _ = core.shutdown.cancelled() => break,
        }
    }
    tracing::debug!("transaction check-back stopped: shutdown");
}

/// Writes the check-back counts (already raised for the round about to be
/// sent), so a restart cannot reset them. If the write fails the round is
/// still sent: a failing disk fails the log too, and an undercount there
/// only means extra check-backs.
async fn persist_check_counts(core: &BrokerCore) {
    let counts = core.txns.check_counts();
    let dir = core.store.config().dir.clone();
    match tokio::task::spawn_blocking(move || txn_checks::write(&dir, &counts)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "writing check-back counts failed"),
        Err(e) => tracing::error!(error = %e, "check-back count writer failed"),
    }
}
