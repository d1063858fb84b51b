//! [`JournalPublisher`]: the `stock`/`deduct` transactional message whose local
//! transaction writes the stock journal (docs/architecture.md, "Stock reservation"), and
//! [`JournalChecker`], the check-back that answers from the journal.
//!
//! The half message is stored first (invisible to consumers); the local transaction
//! then inserts the journal row; commit makes the message visible, rollback drops
//! it. A half left undecided (goods-svc died, or could not reach the broker in time)
//! is checked back by the broker: the journal row, keyed by the message key, decides.
//!
//! The producer is made on first use and made again after a failed connect, so
//! goods-svc starts (and answers `/health` naming `broker`) while the broker is down.

use std::{future::Future, time::Duration};

use shop_kit::{
    bus::{
        Bus, BusError, Delivery, LocalOutcome, Message, TransactionChecker, TransactionProducer,
        TxnState,
    },
    db::Database,
};

use crate::store;

/// The producer group of goods-svc's transactional messages.
pub const PRODUCER_GROUP: &str = "goods-stock";
/// How long storing the half message may take, connect included.
const HALF_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends journal messages as transactional messages of [`PRODUCER_GROUP`].
#[derive(Clone, Debug)]
pub struct JournalPublisher {
    producer: TransactionProducer,
}

impl JournalPublisher {
    /// A publisher on `bus` whose check-backs read `db`; nothing is contacted yet.
    pub fn new(bus: &Bus, db: Database) -> Self {
        JournalPublisher {
            producer: bus.transaction_producer(PRODUCER_GROUP, JournalChecker { db }),
        }
    }

    /// Connects now, so that check-backs of halves left by an earlier run of
    /// goods-svc are answered without waiting for the first reservation.
    pub async fn connect(&self) -> Result<(), BusError> {
        self.producer.connect().await
    }

    /// Runs `local` as the local transaction of `message`: the message becomes
    /// visible exactly when `local` committed. `Err` means the half message was not
    /// stored and `local` did not run.
    pub async fn send_in_transaction<T, F, Fut>(
        &self,
        message: Message,
        local: F,
    ) -> Result<LocalOutcome<T>, BusError>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = LocalOutcome<T>> + Send,
    {
        self.producer
            .send_in_transaction(message, HALF_TIMEOUT, local)
            .await
    }
}

/// Answers the broker's check-back on a half `stock`/`deduct` message: commit when
/// the journal row (the message key) exists, roll back when it does not, unknown
/// when the database cannot tell.
#[derive(Clone, Debug)]
pub struct JournalChecker {
    pub db: Database,
}

impl JournalChecker {
    pub async fn answer(&self, journal_id: &str) -> TxnState {
        let Ok(pool) = self.db.pool() else {
            return TxnState::Unknown;
        };
        match store::stock_logs::journal_exists(pool, journal_id).await {
            Ok(true) => TxnState::Commit,
            Ok(false) => TxnState::Rollback,
            Err(error) => {
                tracing::warn!(%journal_id, %error, "check-back could not read the journal");
                TxnState::Unknown
            }
        }
    }
}

impl TransactionChecker for JournalChecker {
    async fn check(&self, message: Delivery) -> TxnState {
        let Some(journal_id) = message.keys.first() else {
            return TxnState::Rollback;
        };
        let state = self.answer(journal_id).await;
        tracing::info!(%journal_id, state = state.name(), "check-back answered");
        state
    }
}
