//! The local message table (`trade_mq_producer_temp`) and what empties it: a message to
//! publish is inserted by [`Outbox::insert`] in the same local transaction as the state
//! change that causes it; after the commit [`Outbox::send_soon`] hands the row to the
//! sender, which sends what has gathered as one batch (one read, one broker batch, one
//! delete for the lot: under load batches grow by themselves, at rest a row goes
//! alone, at once) and deletes the rows on the broker's acknowledgement; the relay
//! resends rows left behind (crash, broker down, sender queue full) with a doubling
//! backoff. [`Outbox::run`] runs both. A message is never lost; it may be sent twice
//! (a crash between acknowledgement and delete), which the idempotent consumers
//! absorb.
//!
//! A row is inserted due `retry_after` from now, so the relay leaves it to the
//! sender; the relay claims a due row by moving its due time (a conditional update),
//! so two instances do not both send it.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, MySqlConnection};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{
    bus::{Bus, Message},
    consumer_log::{REQUEST_ID_PROPERTY, wait_ready},
    db::Database,
    http::current_request_id,
    server::Runtime,
};

/// Rows the relay sends per round.
const RELAY_BATCH: u32 = 100;
/// Rows the sender sends in one batch at most.
pub const MAX_BATCH: usize = 256;
/// Rows waiting for the sender at most; beyond, the relay sends them.
const SENDER_QUEUE: usize = 16 * 1024;

/// A message to publish after the commit.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub topic: String,
    pub tag: String,
    pub key: String,
    pub body: Vec<u8>,
    /// Deliver this long after the message was written (delay message).
    pub delay: Option<Duration>,
}

impl OutboxMessage {
    pub fn new(topic: &str, tag: &str, key: impl Into<String>, body: Vec<u8>) -> Self {
        OutboxMessage {
            topic: topic.into(),
            tag: tag.into(),
            key: key.into(),
            body,
            delay: None,
        }
    }

    /// `body` as JSON.
    pub fn json<T: serde::Serialize>(
        topic: &str,
        tag: &str,
        key: impl Into<String>,
        body: &T,
    ) -> Self {
        let body = serde_json::to_vec(body).expect("message bodies serialize");
        OutboxMessage::new(topic, tag, key, body)
    }

    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// The service's local message table and the producer that empties it.
#[derive(Clone, Debug)]
pub struct Outbox {
    db: Database,
    bus: Bus,
    group: Arc<str>,
    retry_after: Duration,
    /// The longest wait between two resends of one row (`OUTBOX_RETRY_MAX`).
    retry_max: Duration,
    /// Committed rows for the sender.
    queue: mpsc::Sender<u64>,
    /// The sender's end, taken by [`Outbox::run`].
    rows: Arc<Mutex<Option<mpsc::Receiver<u64>>>>,
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    id: u64,
    msg_topic: String,
    msg_tag: String,
    msg_key: String,
    msg_body: Vec<u8>,
    properties: Option<String>,
    delay_ms: Option<u64>,
    attempts: u32,
    next_attempt_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
}

impl Outbox {
    /// The outbox of producer group `group` (a name for the log and the table): rows
    /// wait `retry_after` for their immediate send, then the relay resends them with a
    /// backoff doubling from `retry_after` up to `retry_max`.
    pub fn new(
        db: Database,
        bus: Bus,
        group: &str,
        retry_after: Duration,
        retry_max: Duration,
    ) -> Outbox {
        let (queue, rows) = mpsc::channel(SENDER_QUEUE);
        Outbox {
            db,
            bus,
            group: group.into(),
            retry_after,
            retry_max,
            queue,
            rows: Arc::new(Mutex::new(Some(rows))),
        }
    }

    /// The outbox of producer group `group` on `runtime`'s database and broker, with
    /// its sender and relay running as a background task until shutdown.
    pub fn start(runtime: &mut Runtime, group: &str) -> Outbox {
        let outbox = Outbox::new(
            runtime.db.clone(),
            runtime.bus.clone(),
            group,
            runtime.settings.outbox_retry_after,
            runtime.settings.outbox_retry_max,
        );
        let shutdown = runtime.shutdown.clone();
        runtime.spawn_task("outbox sender and relay", outbox.clone().run(shutdown));
        outbox
    }

    /// Writes `message` in the caller's transaction `tx`; returns the row id to give
    /// [`Outbox::send_soon`] after the commit. The same topic, tag and key written
    /// twice while the first is pending is one row.
    pub async fn insert(
        &self,
        tx: &mut MySqlConnection,
        message: &OutboxMessage,
    ) -> sqlx::Result<u64> {
        let mut properties = BTreeMap::new();
        if let Some(id) = current_request_id() {
            properties.insert(REQUEST_ID_PROPERTY.to_owned(), id);
        }
        // Sent later, from another task: the row keeps the writer's trace context, so
        // the send and its consumers belong to the writer's trace.
        crate::telemetry::inject_properties(&tracing::Span::current(), &mut properties);
        let properties = serde_json::to_string(&properties).expect("a map of strings");
        let done = sqlx::query(
            r"insert into trade_mq_producer_temp
                  (group_name, msg_topic, msg_tag, msg_key, msg_body, properties, delay_ms,
                   next_attempt_at)
              values (?, ?, ?, ?, ?, ?, ?, now(3) + interval ? microsecond)
              on duplicate key update id = last_insert_id(id)",
        )
        .bind(&*self.group)
        .bind(&message.topic)
        .bind(&message.tag)
        .bind(&message.key)
        .bind(&message.body)
        .bind(properties)
        .bind(message.delay.map(|d| d.as_millis() as u64))
        .bind(self.retry_after.as_micros() as u64)
        .execute(tx)
        .await?;
        Ok(done.last_insert_id())
    }

    /// Hands the rows `ids` (just committed) to the sender; never waits. What the
    /// sender does not send (queue full, broker down) the relay sends later.
    pub fn send_soon(&self, ids: Vec<u64>) {
        for id in ids {
            if self.queue.try_send(id).is_err() {
                tracing::debug!(id, "outbox sender queue full: the relay will send the row");
            }
        }
    }

    /// Runs the sender and the relay until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let rows = self.rows.lock().unwrap_or_else(|e| e.into_inner()).take();
        let sender = async {
            match rows {
                Some(rows) => self.run_sender(rows, shutdown.clone()).await,
                None => tracing::warn!(group = %self.group, "outbox sender runs already"),
            }
        };
        tokio::join!(sender, self.run_relay(shutdown.clone()));
    }

    async fn run_sender(&self, mut rows: mpsc::Receiver<u64>, shutdown: CancellationToken) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => 0,
                n = rows.recv_many(&mut batch, MAX_BATCH) => n,
            };
            if received == 0 {
                tracing::info!(group = %self.group, "outbox sender stopped: shutting down");
                return;
            }
            if let Err(error) = self.send_rows(&batch).await {
                tracing::warn!(group = %self.group, rows = batch.len(),
                    error = format!("{error:#}"), "messages not sent yet; the relay will resend them");
            }
            batch.clear();
        }
    }

    /// Sends the rows `ids` (just committed) now, a batch per topic, and deletes
    /// those the broker acknowledged, with one query each way instead of two per row;
    /// returns how many were sent. What fails is left to the relay.
    pub async fn send_rows(&self, ids: &[u64]) -> anyhow::Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        let pool = self.db.pool()?;
        let select = format!("{SELECT_ROWS} ({})", placeholders(ids.len()));
        let mut query = sqlx::query_as::<_, OutboxRow>(AssertSqlSafe(select));
        for id in ids {
            query = query.bind(id);
        }
        let mut by_topic: BTreeMap<String, Vec<OutboxRow>> = BTreeMap::new();
        for row in query.fetch_all(pool).await? {
            by_topic.entry(row.msg_topic.clone()).or_default().push(row);
        }
        let mut sent = Vec::with_capacity(ids.len());
        let mut failure = None;
        for rows in by_topic.into_values() {
            let row_ids: Vec<u64> = rows.iter().map(|r| r.id).collect();
            let messages = rows.into_iter().map(to_message).collect();
            match self.bus.send_batch(messages).await {
                Ok(_) => sent.extend(row_ids),
                Err(error) => failure = Some(error),
            }
        }
        if !sent.is_empty() {
            let delete = format!(
                "delete from trade_mq_producer_temp where id in ({})",
                placeholders(sent.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(delete));
            for id in &sent {
                query = query.bind(id);
            }
            query.execute(pool).await?;
        }
        match failure {
            Some(error) => Err(anyhow::Error::new(error).context(format!(
                "{} of {} messages not sent; the relay will resend them",
                ids.len() - sent.len(),
                ids.len()
            ))),
            None => Ok(sent.len()),
        }
    }

    /// Resends rows left behind, every `retry_after`, until `shutdown`.
    async fn run_relay(&self, shutdown: CancellationToken) {
        if !wait_ready(&self.db, &shutdown).await {
            return;
        }
        tracing::info!(group = %self.group, every = ?self.retry_after, "outbox relay running");
        loop {
            match self.relay_once().await {
                Ok(0) => {}
                Ok(sent) => tracing::info!(group = %self.group, sent, "relay resent messages"),
                Err(error) => tracing::warn!(group = %self.group, error = format!("{error:#}"),
                    "relay round failed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => {
                    tracing::info!(group = %self.group, "outbox relay stopped: shutting down");
                    return;
                }
                _ = tokio::time::sleep(self.retry_after) => {}
            }
        }
    }

    /// One round: sends every due row it can claim; returns how many were sent.
    pub async fn relay_once(&self) -> anyhow::Result<usize> {
        let due: Vec<OutboxRow> = sqlx::query_as(SELECT_DUE)
            .bind(RELAY_BATCH)
            .fetch_all(self.db.pool()?)
            .await?;
        let mut sent = 0;
        for row in due {
            if !self.claim(&row).await? {
                continue;
            }
            match self.deliver(row).await {
                Ok(()) => sent += 1,
                Err(error) => {
                    // The broker is likely down: the rest would fail alike.
                    tracing::debug!(error = format!("{error:#}"), "relay send failed");
                    break;
                }
            }
        }
        Ok(sent)
    }

    /// Moves a due row's next attempt out by the backoff; `false` when another sender
    /// claimed it first.
    async fn claim(&self, row: &OutboxRow) -> anyhow::Result<bool> {
        let backoff = backoff(self.retry_after, self.retry_max, row.attempts);
        let done = sqlx::query(
            r"update trade_mq_producer_temp
              set attempts = attempts + 1, next_attempt_at = now(3) + interval ? microsecond
              where id = ? and next_attempt_at = ?",
        )
        .bind(backoff.as_micros() as u64)
        .bind(row.id)
        .bind(row.next_attempt_at)
        .execute(self.db.pool()?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn deliver(&self, row: OutboxRow) -> anyhow::Result<()> {
        let id = row.id;
        let message = to_message(row);
        match self.bus.send(message).await {
            Ok(receipt) => {
                sqlx::query(r"delete from trade_mq_producer_temp where id = ?")
                    .bind(id)
                    .execute(self.db.pool()?)
                    .await?;
                tracing::debug!(id, msg_id = %receipt.id, "message sent");
                Ok(())
            }
            Err(error) => {
                let text: String = error.to_string().chars().take(1000).collect();
                let _ =
                    sqlx::query(r"update trade_mq_producer_temp set last_error = ? where id = ?")
                        .bind(text)
                        .bind(id)
                        .execute(self.db.pool()?)
                        .await;
                Err(error.into())
            }
        }
    }

    /// Rows still waiting to be sent (tests, operators).
    pub async fn pending(&self) -> anyhow::Result<i64> {
        Ok(
            sqlx::query_scalar(r"select count(*) from trade_mq_producer_temp where group_name = ?")
                .bind(&*self.group)
                .fetch_one(self.db.pool()?)
                .await?,
        )
    }
}

const SELECT_ROWS: &str = r"select id, msg_topic, msg_tag, msg_key, msg_body, properties, delay_ms,
        attempts, next_attempt_at, created_at
    from trade_mq_producer_temp where id in";

/// `?, ?, …` for an `in (…)` list of `n` bound values.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

const SELECT_DUE: &str = r"select id, msg_topic, msg_tag, msg_key, msg_body, properties, delay_ms,
        attempts, next_attempt_at, created_at
    from trade_mq_producer_temp
    where status = 'pending' and next_attempt_at <= now(3)
    order by next_attempt_at
    limit ?";

fn to_message(row: OutboxRow) -> Message {
    let mut message = Message::new(row.msg_topic, row.msg_body)
        .with_tag(row.msg_tag)
        .with_key(row.msg_key);
    let properties: BTreeMap<String, String> = row
        .properties
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    message.properties = properties;
    if let Some(delay_ms) = row.delay_ms {
        // The delay counts from when the message was written, not from this send.
        let due = row.created_at.timestamp_millis().max(0) as u64 + delay_ms;
        message.deliver_at_ms = Some(due);
    }
    message
}

/// The relay's wait after the `attempts`-th resend of a row: `retry_after` doubled per
/// attempt, at most `retry_max` (and never less than `retry_after`).
fn backoff(retry_after: Duration, retry_max: Duration, attempts: u32) -> Duration {
    retry_after
        .saturating_mul(2u32.saturating_pow(attempts.min(31)))
        .min(retry_max)
        .max(retry_after)
}

#[cfg(test)]
mod backoff_tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_retry_after_and_stops_at_retry_max() {
        let ms = Duration::from_millis;
        let waits: Vec<Duration> = (0..8).map(|n| backoff(ms(300), ms(2000), n)).collect();
        assert_eq!(
            waits,
            [300, 600, 1200, 2000, 2000, 2000, 2000, 2000].map(ms)
        );
        // However many attempts a long outage made, no overflow and no wait past the cap.
        assert_eq!(backoff(ms(300), ms(2000), u32::MAX), ms(2000));
        assert_eq!(
            backoff(Duration::from_secs(2), Duration::from_secs(120), 40),
            Duration::from_secs(120)
        );
        // A cap below the first wait leaves the first wait.
        assert_eq!(backoff(ms(300), ms(100), 3), ms(300));
    }
}
