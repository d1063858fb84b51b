//! Idempotent consumers (docs/architecture.md, "Idempotent consumers"): [`ConsumerLog`]
//! runs a message's business effect and the `success` row of `trade_mq_consumer_log` in
//! one local transaction, and [`spawn_consumer`] keeps a broker consumer of one group
//! running for the life of the service.
//!
//! The row is keyed by (group, tag, message key). Its upsert takes the row lock first,
//! so two instances (or a redelivery racing the first delivery) handle a message one
//! after the other, and the second finds `success` and acknowledges without effect.
//! A message seen for the first time is inserted `success` straight away: the row
//! commits with the effect or not at all, so the upsert and the commit are the log's
//! only cost on the common path.
//! A failing effect rolls back, the failure is recorded (`failed`, attempts, last
//! error) and the handler answers `Later`: the broker retries on its schedule and
//! finally moves the message to the group's dead letter queue.
//!
//! ```ignore
//! struct ReleaseCoupon { /* its dependencies */ }
//! impl Consume for ReleaseCoupon {
//!     type Effect = ();
//!     async fn apply(&self, tx: &mut MySqlConnection, m: &Delivery) -> anyhow::Result<()> {
//!         …
//!     }
//! }
//! spawn_consumer(&mut runtime, "coupon-order-cancel", "order", "cancel", ReleaseCoupon { … });
//! ```

use std::{sync::Arc, time::Duration};

use sqlx::{Acquire, MySqlConnection};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{
    bus::{Bus, ConsumeResult, Delivery},
    db::Database,
    server::Runtime,
};

pub use crate::bus::{DEFAULT_CONCURRENCY, Subscription};

/// How often an effect that hit a deadlock or a lock wait timeout is run again at
/// once, before the message is handed back to the broker's retry schedule.
const LOCK_RETRIES: u32 = 3;

/// A consumer's business effect for one message.
pub trait Consume: Send + Sync + 'static {
    /// What [`Consume::apply`] hands to [`Consume::after_commit`].
    type Effect: Send + 'static;

    /// Applies the message inside the consumer log's transaction `tx`. An error rolls
    /// back the effect and the log row alike; the broker delivers the message again.
    fn apply(
        &self,
        tx: &mut MySqlConnection,
        message: &Delivery,
    ) -> impl Future<Output = anyhow::Result<Self::Effect>> + Send;

    /// Runs once the transaction committed, for what cannot be in it (Redis, the
    /// outbox's sender); best effort, since the message is acknowledged whatever
    /// happens here.
    fn after_commit(&self, effect: Self::Effect) -> impl Future<Output = ()> + Send {
        let _ = effect;
        async {}
    }
}

/// What became of one delivery.
#[derive(Debug)]
pub enum Handled {
    /// The effect was applied and logged `success`.
    Applied,
    /// The log already said `success`: acknowledged without effect.
    Duplicate,
    /// The effect failed (or the database did): retry later.
    Failed(anyhow::Error),
}

impl Handled {
    /// The answer to the broker.
    pub fn consume_result(&self) -> ConsumeResult {
        match self {
            Handled::Applied | Handled::Duplicate => ConsumeResult::Ack,
            Handled::Failed(_) => ConsumeResult::Later,
        }
    }
}

/// The consumer log of one consumer group in the service's database.
#[derive(Clone, Debug)]
pub struct ConsumerLog {
    db: Database,
    group: Arc<str>,
}

/// The log key of a message: its first key, else its broker id.
pub fn message_key(message: &Delivery) -> String {
    message.key().to_owned()
}

impl ConsumerLog {
    pub fn new(db: Database, group: &str) -> ConsumerLog {
        ConsumerLog {
            db,
            group: group.into(),
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// Applies `message` through `consumer` exactly once in effect.
    pub async fn handle<C: Consume>(&self, consumer: &C, message: &Delivery) -> Handled {
        let mut tries = 0;
        loop {
            tries += 1;
            let span = crate::db::transaction_span(&format!("consumer log {}", self.group));
            match self.try_once(consumer, message).instrument(span).await {
                Ok(Some(effect)) => {
                    consumer.after_commit(effect).await;
                    crate::cancelled_orders::observe_compensation(
                        &self.group,
                        &message.topic,
                        &message.tag,
                        message.born_at_ms,
                    );
                    return Handled::Applied;
                }
                Ok(None) => return Handled::Duplicate,
                Err(error) if tries < LOCK_RETRIES && is_lock_conflict(&error) => {
                    tracing::debug!(group = %self.group, %error, "lock conflict; running again");
                }
                Err(error) => {
                    tracing::warn!(group = %self.group, key = %message_key(message),
                        attempt = message.attempt, error = format!("{error:#}"),
                        "message failed; the broker will deliver it again");
                    if let Err(log_error) = self.record_failure(message, &error).await {
                        tracing::warn!(%log_error, "could not record the failure");
                    }
                    return Handled::Failed(error);
                }
            }
        }
    }

    /// One transaction: `None` when the log already said `success`.
    async fn try_once<C: Consume>(
        &self,
        consumer: &C,
        message: &Delivery,
    ) -> anyhow::Result<Option<C::Effect>> {
        let pool = self.db.pool()?;
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin().await?;
        let key = message_key(message);
        // Seen for the first time (the common case), the row goes in as `success`: it
        // commits only with the effect, so nothing else needs writing. Seen before (a
        // redelivery, a racing instance, an earlier failure), the upsert has locked
        // the row and its status decides.
        let logged = sqlx::query(
            r"insert into trade_mq_consumer_log
                  (group_name, msg_tag, msg_key, msg_topic, msg_id, msg_body, status, attempts,
                   request_id)
              values (?, ?, ?, ?, ?, ?, 'success', 1, ?)
              on duplicate key update attempts = attempts + 1, msg_id = values(msg_id)",
        )
        .bind(&*self.group)
        .bind(&message.tag)
        .bind(&key)
        .bind(&message.topic)
        .bind(&message.id)
        .bind(message.body.as_ref())
        .bind(message.properties.get(REQUEST_ID_PROPERTY))
        .execute(&mut *tx)
        .await?;
        // 1: inserted; 2: an existing row updated (the attempts always change).
        let first_time = logged.rows_affected() == 1;
        if !first_time {
            // A locking read, as before this path was the rare one: the upsert holds
            // the row already, and a plain read here would fix the transaction's
            // snapshot before the effect takes its own locks (effects read under
            // their locks expecting to see what committed before them).
            let status: String = sqlx::query_scalar(
                r"select status from trade_mq_consumer_log
                  where group_name = ? and msg_tag = ? and msg_key = ? for update",
            )
            .bind(&*self.group)
            .bind(&message.tag)
            .bind(&key)
            .fetch_one(&mut *tx)
            .await?;
            if status == "success" {
                tx.rollback().await?;
                tracing::debug!(group = %self.group, %key, "duplicate delivery acknowledged");
                return Ok(None);
            }
        }
        let effect = consumer.apply(&mut tx, message).await?;
        if !first_time {
            sqlx::query(
                r"update trade_mq_consumer_log set status = 'success', last_error = null
                  where group_name = ? and msg_tag = ? and msg_key = ?",
            )
            .bind(&*self.group)
            .bind(&message.tag)
            .bind(&key)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(effect))
    }

    async fn record_failure(
        &self,
        message: &Delivery,
        error: &anyhow::Error,
    ) -> anyhow::Result<()> {
        let text: String = format!("{error:#}").chars().take(1000).collect();
        sqlx::query(
            r"insert into trade_mq_consumer_log
                  (group_name, msg_tag, msg_key, msg_topic, msg_id, msg_body, status, attempts,
                   last_error, request_id)
              values (?, ?, ?, ?, ?, ?, 'failed', 1, ?, ?)
              on duplicate key update status = if(status = 'success', status, 'failed'),
                  attempts = attempts + 1, last_error = values(last_error)",
        )
        .bind(&*self.group)
        .bind(&message.tag)
        .bind(message_key(message))
        .bind(&message.topic)
        .bind(&message.id)
        .bind(message.body.as_ref())
        .bind(text)
        .bind(message.properties.get(REQUEST_ID_PROPERTY))
        .execute(self.db.pool()?)
        .await?;
        Ok(())
    }
}

/// The message property carrying the `x-request-id` of the request that caused it.
pub const REQUEST_ID_PROPERTY: &str = "request_id";

/// Whether the error is a deadlock (1213) or a lock wait timeout (1205).
pub fn is_lock_conflict(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<sqlx::Error>()
        .and_then(|e| match e {
            sqlx::Error::Database(db) => db
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|e| matches!(e.number(), 1205 | 1213)),
            _ => None,
        })
        .unwrap_or(false)
}

/// Runs `consumer` on `subscription` as a background task of `runtime`: it waits for
/// the database to be migrated, joins the group (retrying while the broker is down),
/// handles every delivery through the group's [`ConsumerLog`], and leaves the group on
/// shutdown.
pub fn spawn_consumer<C: Consume>(runtime: &mut Runtime, subscription: Subscription, consumer: C) {
    let db = runtime.db.clone();
    let bus = runtime.bus.clone();
    let shutdown = runtime.shutdown.clone();
    let name = format!("consumer {}", subscription.group);
    let service = runtime.service().binary();
    runtime.spawn_task(
        name,
        run_consumer(service, db, bus, subscription, consumer, shutdown),
    );
}

async fn run_consumer<C: Consume>(
    service: &'static str,
    db: Database,
    bus: Bus,
    subscription: Subscription,
    consumer: C,
    shutdown: CancellationToken,
) {
    let group = subscription.group.clone();
    if !wait_ready(&db, &shutdown).await {
        return;
    }
    let log = ConsumerLog::new(db, &group);
    let consumer = Arc::new(consumer);
    let handler = move |message: Delivery| {
        let (log, consumer) = (log.clone(), consumer.clone());
        async move {
            // The bus runs each delivery in its consume span.
            crate::telemetry::mark_service(&tracing::Span::current(), service);
            log.handle(&*consumer, &message).await.consume_result()
        }
    };
    let mut delay = Duration::from_millis(100);
    let running = loop {
        match bus.subscribe(subscription.clone(), handler.clone()).await {
            Ok(running) => break running,
            Err(error) => tracing::debug!(%group, %error, "cannot join the group yet; retrying"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => {
                tracing::info!(%group, "consumer stopped before it joined: shutting down");
                return;
            }
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    };
    tracing::info!(%group, topic = %subscription.topic, tags = %subscription.tags, "consuming");
    shutdown.cancelled().await;
    running.shutdown().await;
    tracing::info!(%group, "consumer stopped: shutting down");
}

/// Waits until the schema is migrated; `false` when shut down first.
pub async fn wait_ready(db: &Database, shutdown: &CancellationToken) -> bool {
    while !db.is_ready() {
        tokio::select! {
            _ = shutdown.cancelled() => return false,
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    true
}
