//! Stock reservation (docs/architecture.md, "Stock reservation"): the Redis
//! check-and-decrement, the journal written by the local transaction of the
//! `stock`/`deduct` message, the give-back owed by a cancel, and the rebuild of the
//! Redis cache from MySQL.
//!
//! A reservation is in flight from its Redis decrement until its outcome is known;
//! the decrement records it in Redis with its deadline (`STOCK_RESERVE_TIMEOUT`
//! after the decrement: its journal commits before that or never). A rollback
//! gives the units back, a commit keeps them; an outcome that is not known (the
//! commit's answer lost) changes nothing: the broker's check-back answers from the
//! journal row, and the reconciler settles the reservation from that row once its
//! deadline and a margin for a commit still on its way have passed. A rebuild
//! counts the reservations in flight instead of waiting for them (see
//! [`rebuild`]); only a cache that Redis lost, whose record of them went with it,
//! makes the rebuild wait out that window.

pub mod giveback;
pub mod hooks;
pub mod publisher;
pub mod rebuild;
pub mod reconciler;

use std::time::Duration;

use shop_kit::{
    bus::{LocalOutcome, Message},
    cache::Cache,
    contracts::goods::{
        DEDUCT_TAG, Reservation, ReserveStock, STOCK_TOPIC, StockJournalCommitted, StockLogStatus,
    },
    db::{Database, transaction_span},
    error::Unavailable,
    http::current_request_id,
    ids::Id,
};
use tokio::time::Instant;
use tracing::Instrument;

use self::{publisher::JournalPublisher, rebuild::RedisIdentity};
use crate::store::{
    self,
    stock_cache::{self, Reserved},
    stock_logs::Journal,
};

/// Why a reservation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReserveError {
    #[error("no such goods")]
    GoodsNotFound,
    #[error("not enough stock")]
    StockNotEnough,
    #[error("the order was cancelled")]
    OrderCancelled,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What reservations need.
#[derive(Clone, Debug)]
pub struct Stock {
    pub db: Database,
    pub cache: Cache,
    pub publisher: JournalPublisher,
    /// `STOCK_RESERVE_TIMEOUT`.
    pub reserve_timeout: Duration,
    /// Fault points for tests; off by default.
    pub hooks: hooks::StockHooks,
    /// The Redis the reconciler saw last (a different one means a rebuild).
    redis_seen: RedisIdentity,
}

/// Rebuilds missing caches at most this many times for one reservation.
const REBUILD_TRIES: u32 = 3;

impl Stock {
    /// Reservations on `db` and `cache` whose journal messages go through `publisher`.
    pub fn new(
        db: Database,
        cache: Cache,
        publisher: JournalPublisher,
        reserve_timeout: Duration,
    ) -> Stock {
        Stock {
            db,
            cache,
            publisher,
            reserve_timeout,
            hooks: hooks::StockHooks::default(),
            redis_seen: RedisIdentity::default(),
        }
    }

    /// The same, with the fault points `hooks` (tests).
    pub fn with_hooks(mut self, hooks: hooks::StockHooks) -> Stock {
        self.hooks = hooks;
        self
    }

    /// Reserves `quantity` of `goods_id` for `order_id` (idempotent by order id).
    pub async fn reserve(&self, request: &ReserveStock) -> Result<Reservation, ReserveError> {
        let pool = self.db.pool()?;
        if let Some(journal) =
            store::stock_logs::find_for_order(pool, request.order_id, request.goods_id).await?
        {
            return existing(journal);
        }
        let journal_id = uuid::Uuid::new_v4().to_string();
        let (generation, deadline) = self
            .take_from_cache(request.goods_id, request.quantity, &journal_id)
            .await?;
        self.hooks.before_half().await;
        let journal = Journal {
            journal_id,
            order_id: request.order_id.0,
            goods_id: request.goods_id.0,
            quantity: request.quantity,
            status: "reserved".into(),
            cache_gen: Some(generation),
        };
        let body = StockJournalCommitted {
            journal_id: journal.journal_id.clone(),
            order_id: request.order_id,
            goods_id: request.goods_id,
            quantity: request.quantity,
        };
        let mut message = Message::new(STOCK_TOPIC, serde_json::to_vec(&body).expect("serializes"))
            .with_tag(DEDUCT_TAG)
            .with_key(journal.journal_id.clone());
        if let Some(id) = current_request_id() {
            message = message.with_property(shop_kit::consumer_log::REQUEST_ID_PROPERTY, id);
        }
        let outcome = self
            .publisher
            .send_in_transaction(message, || {
                self.write_journal(&journal, deadline)
                    .instrument(transaction_span("stock reservation"))
            })
            .await;
        let settle = |committed| {
            stock_cache::settle(
                &self.cache,
                request.goods_id,
                &journal.journal_id,
                committed,
            )
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                // No half message, no journal: the units go back at once.
                tracing::warn!(%error, order_id = %request.order_id, "reservation not started");
                if let Err(error) = settle(false).await {
                    tracing::warn!(%error, "stock not given back to redis; the reconciler will");
                }
                return Err(Unavailable::new("broker").into());
            }
        };
        match outcome {
            LocalOutcome::Commit(_) => {
                if let Err(error) = settle(true).await {
                    tracing::warn!(%error, "reservation committed; the reconciler settles redis");
                }
                tracing::info!(journal_id = %journal.journal_id, order_id = %request.order_id,
                    goods_id = %request.goods_id, quantity = request.quantity, "stock reserved");
                Ok(reservation(&journal, StockLogStatus::Reserved))
            }
            LocalOutcome::Rollback(refusal) => {
                if let Err(error) = settle(false).await {
                    tracing::warn!(%error, "reservation rolled back; the reconciler gives the stock back");
                }
                match refusal {
                    Refusal::Exists => {
                        // A concurrent call for the same order won: answer with its row.
                        let found = store::stock_logs::find_for_order(
                            pool,
                            request.order_id,
                            request.goods_id,
                        )
                        .await?;
                        found
                            .map(existing)
                            .unwrap_or(Err(ReserveError::OrderCancelled))
                    }
                    Refusal::Failed => Err(Unavailable::new("database").into()),
                }
            }
            // The units stay taken and the broker is not told: its check-back
            // answers from the journal row, and the reconciler settles Redis from it.
            LocalOutcome::Unknown(_) => {
                tracing::warn!(journal_id = %journal.journal_id,
                    "the journal's commit has no known outcome; left to the check-back");
                Err(Unavailable::new("database").into())
            }
        }
    }

    /// Decrements the cache, rebuilding it first when Redis lost it; the generation
    /// the units were taken from and the deadline of the journal's commit (the one
    /// Redis records, taken before the decrement).
    async fn take_from_cache(
        &self,
        goods_id: Id,
        quantity: u32,
        journal_id: &str,
    ) -> Result<(String, Instant), ReserveError> {
        for _ in 0..REBUILD_TRIES {
            let deadline = Instant::now() + self.reserve_timeout;
            let deadline_ms = now_ms() + self.reserve_timeout.as_millis() as u64;
            // A hint for the reconciler; set before, so a crash after the
            // decrement still leaves it.
            stock_cache::mark_changed(&self.cache, &[goods_id])
                .await
                .map_err(Unavailable::from)?;
            match stock_cache::reserve(&self.cache, goods_id, quantity, journal_id, deadline_ms)
                .await
                .map_err(Unavailable::from)?
            {
                Reserved::Taken { generation } => return Ok((generation, deadline)),
                Reserved::NotEnough => return Err(ReserveError::StockNotEnough),
                Reserved::Missing => self.ensure_cached(goods_id).await?,
            }
        }
        Err(Unavailable::new("redis").into())
    }

    /// The local transaction: refused after the order's cancel, or when the order
    /// has a journal row; bounded by `deadline` (see the module header).
    async fn write_journal(&self, journal: &Journal, deadline: Instant) -> LocalOutcome<Refusal> {
        let request_id = current_request_id();
        // Set once the COMMIT is on its way: from then on a failure or the deadline
        // leaves the outcome unknown; before, the transaction surely rolled back.
        let committing = std::sync::atomic::AtomicBool::new(false);
        let write = async {
            let pool = self.db.pool().map_err(|_| sqlx::Error::PoolClosed)?;
            let mut tx = pool.begin().await?;
            // A cancel that came first left a `cancelled` row under the same
            // (order_id, goods_id) unique key: the insert fails and the existing row
            // answers `ORDER_CANCELLED`. A cancel coming later waits on that key.
            if !store::stock_logs::insert_reservation(&mut tx, journal, request_id.as_deref())
                .await?
            {
                return Ok(Some(Refusal::Exists));
            }
            if Instant::now() >= deadline {
                return Ok(Some(Refusal::Failed));
            }
            committing.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Some(gate) = self.hooks.lose_commit_outcome.clone() {
                tokio::spawn(async move {
                    gate.pass().await;
                    tx.commit().await
                });
                return Err(sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()));
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(None)
        };
        if Instant::now() >= deadline {
            // Nothing was written, nothing will be: a certain rollback.
            tracing::warn!(journal_id = %journal.journal_id, "reservation past its deadline");
            return LocalOutcome::Rollback(Refusal::Failed);
        }
        let written = tokio::time::timeout_at(deadline, write).await;
        let uncertain = committing.load(std::sync::atomic::Ordering::SeqCst);
        match written {
            Ok(Ok(None)) => LocalOutcome::Commit(Refusal::Failed),
            Ok(Ok(Some(refusal))) => LocalOutcome::Rollback(refusal),
            // The COMMIT may have reached the server (an I/O error after it, or
            // the deadline cut it short): only the journal row can tell, later.
            Ok(Err(error)) if uncertain => {
                tracing::warn!(%error, journal_id = %journal.journal_id, "journal commit failed");
                LocalOutcome::Unknown(Refusal::Failed)
            }
            Err(_) if uncertain => {
                tracing::warn!(journal_id = %journal.journal_id, "journal commit not done in time");
                LocalOutcome::Unknown(Refusal::Failed)
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, journal_id = %journal.journal_id, "journal not written");
                LocalOutcome::Rollback(Refusal::Failed)
            }
            Err(_) => {
                tracing::warn!(journal_id = %journal.journal_id, "journal not written in time");
                LocalOutcome::Rollback(Refusal::Failed)
            }
        }
    }
}

/// Milliseconds since the Unix epoch (the deadlines kept in Redis).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why the local transaction did not commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The order has a journal row for these goods already (a concurrent call's, or
    /// the tombstone of a cancel that came first).
    Exists,
    /// The database failed or the deadline passed.
    Failed,
}

fn existing(journal: Journal) -> Result<Reservation, ReserveError> {
    let status = match journal.status.as_str() {
        "reserved" => StockLogStatus::Reserved,
        "applied" => StockLogStatus::Applied,
        _ => return Err(ReserveError::OrderCancelled),
    };
    Ok(reservation(&journal, status))
}

fn reservation(journal: &Journal, status: StockLogStatus) -> Reservation {
    Reservation {
        journal_id: journal.journal_id.clone(),
        order_id: Id(journal.order_id),
        goods_id: Id(journal.goods_id),
        quantity: journal.quantity,
        status,
    }
}
