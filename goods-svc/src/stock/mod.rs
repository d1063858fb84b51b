//! Stock reservation (docs/architecture.md, "Stock reservation"): the Redis
//! check-and-decrement, the journal written by the local transaction of the
//! `stock`/`deduct` message, and the rebuild of the Redis cache from MySQL when Redis
//! lost it.
//!
//! Timing is what keeps the rebuild from overselling: a reservation must commit its
//! journal within `STOCK_RESERVE_TIMEOUT` of its Redis decrement (else it rolls back
//! and gives the units back to the generation it took them from), and a rebuild waits
//! that long before it reads MySQL, so every decrement of the lost cache has by then
//! either a journal that MySQL counts or been abandoned.

pub mod hooks;
pub mod publisher;
pub mod reconciler;

use std::time::Duration;

use mq::Message;
use shop_kit::{
    cache::Cache,
    contracts::goods::{
        DEDUCT_TAG, Reservation, ReserveStock, STOCK_TOPIC, StockJournalCommitted, StockLogStatus,
    },
    db::Database,
    error::Unavailable,
    http::current_request_id,
    ids::Id,
};
use tokio::time::Instant;

use mq::LocalOutcome;

use self::publisher::JournalPublisher;
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
}

/// Rebuilds missing caches at most this many times for one reservation.
const REBUILD_TRIES: u32 = 3;
/// How often a reservation looks whether another one finished rebuilding.
const REBUILD_POLL: Duration = Duration::from_millis(20);

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
        let generation = self
            .take_from_cache(request.goods_id, request.quantity)
            .await?;
        let deadline = Instant::now() + self.reserve_timeout;
        self.hooks.before_half().await;
        let journal = Journal {
            journal_id: uuid::Uuid::new_v4().to_string(),
            order_id: request.order_id.0,
            goods_id: request.goods_id.0,
            quantity: request.quantity,
            status: "reserved".into(),
            cache_gen: Some(generation.clone()),
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
            .send_in_transaction(message, || self.write_journal(&journal, deadline))
            .await;
        let give_back =
            || stock_cache::give_back(&self.cache, request.goods_id, request.quantity, &generation);
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                // No half message, no journal: the units go back at once.
                tracing::warn!(%error, order_id = %request.order_id, "reservation not started");
                if let Err(error) = give_back().await {
                    tracing::warn!(%error, "stock not given back to redis; the reconciler will");
                }
                return Err(Unavailable::new("broker").into());
            }
        };
        match outcome {
            LocalOutcome::Commit(_) => {
                tracing::info!(journal_id = %journal.journal_id, order_id = %request.order_id,
                    goods_id = %request.goods_id, quantity = request.quantity, "stock reserved");
                Ok(reservation(&journal, StockLogStatus::Reserved))
            }
            LocalOutcome::Rollback(refusal) => {
                if let Err(error) = give_back().await {
                    tracing::warn!(%error, "reservation rolled back; stock not given back to redis");
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
            // The units stay taken: the reconciler repairs Redis if the journal never came.
            LocalOutcome::Unknown(_) => Err(Unavailable::new("database").into()),
        }
    }

    /// Decrements the cache, rebuilding it first when Redis lost it; the generation
    /// the units were taken from.
    async fn take_from_cache(&self, goods_id: Id, quantity: u32) -> Result<String, ReserveError> {
        for _ in 0..REBUILD_TRIES {
            match stock_cache::reserve(&self.cache, goods_id, quantity)
                .await
                .map_err(Unavailable::from)?
            {
                Reserved::Taken { generation } => return Ok(generation),
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
        match tokio::time::timeout_at(deadline, write).await {
            Ok(Ok(None)) => LocalOutcome::Commit(Refusal::Failed),
            Ok(Ok(Some(refusal))) => LocalOutcome::Rollback(refusal),
            Ok(Err(error)) => {
                tracing::warn!(%error, journal_id = %journal.journal_id, "journal not written");
                self.settle(journal).await
            }
            Err(_) => {
                tracing::warn!(journal_id = %journal.journal_id, "journal not written in time");
                self.settle(journal).await
            }
        }
    }

    /// After a failed or timed-out write: whether the journal exists decides.
    async fn settle(&self, journal: &Journal) -> LocalOutcome<Refusal> {
        let Ok(pool) = self.db.pool() else {
            return LocalOutcome::Unknown(Refusal::Failed);
        };
        match store::stock_logs::journal_exists(pool, &journal.journal_id).await {
            Ok(true) => LocalOutcome::Commit(Refusal::Failed),
            Ok(false) => LocalOutcome::Rollback(Refusal::Failed),
            Err(_) => LocalOutcome::Unknown(Refusal::Failed),
        }
    }

    /// Makes sure Redis holds `goods_id`'s stock: when it is missing, one caller
    /// (holding the rebuild lock) waits for reservations in flight to settle, then
    /// sets it from MySQL with a new generation; the others wait for that.
    pub async fn ensure_cached(&self, goods_id: Id) -> Result<(), ReserveError> {
        let settle = self.reserve_timeout;
        let give_up = Instant::now() + settle * 3 + Duration::from_secs(2);
        loop {
            let cached = stock_cache::available(&self.cache, goods_id)
                .await
                .map_err(Unavailable::from)?;
            if cached.is_some() {
                return Ok(());
            }
            if stock_cache::lock_rebuild(&self.cache, goods_id, settle * 3)
                .await
                .map_err(Unavailable::from)?
            {
                let rebuilt = self.rebuild(goods_id, settle).await;
                let _ = stock_cache::unlock_rebuild(&self.cache, goods_id).await;
                return rebuilt;
            }
            if Instant::now() >= give_up {
                return Err(Unavailable::new("redis").into());
            }
            tokio::time::sleep(REBUILD_POLL).await;
        }
    }

    async fn rebuild(&self, goods_id: Id, settle: Duration) -> Result<(), ReserveError> {
        tokio::time::sleep(settle).await;
        let expected = store::stock_logs::expected_available(self.db.pool()?, goods_id)
            .await?
            .ok_or(ReserveError::GoodsNotFound)?;
        let set = stock_cache::set_if_missing(&self.cache, goods_id, expected)
            .await
            .map_err(Unavailable::from)?;
        if set {
            tracing::warn!(%goods_id, available = expected, "redis stock was missing: rebuilt from mysql");
        }
        Ok(())
    }
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
