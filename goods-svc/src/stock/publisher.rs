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

use std::{future::Future, sync::Arc, time::Duration};

use mq::{LocalOutcome, Message, StoredMessage, TransactionProducer, TxnState};
use shop_kit::db::Database;
use tokio::sync::OnceCell;

use crate::store;

/// The producer group of goods-svc's transactional messages.
pub const PRODUCER_GROUP: &str = "goods-stock";
/// How long storing the half message may take, connect included.
const HALF_TIMEOUT: Duration = Duration::from_secs(3);

/// Why no transaction ran.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The half message was not stored; the local transaction did not run.
    #[error("broker: {0}")]
    Broker(#[from] mq::Error),
    #[error("the broker did not store the half message within {0:?}")]
    Timeout(Duration),
}

/// Sends journal messages as transactional messages of [`PRODUCER_GROUP`].
#[derive(Clone)]
pub struct JournalPublisher {
    addr: Arc<str>,
    checker: JournalChecker,
    producer: Arc<OnceCell<TransactionProducer>>,
}

impl std::fmt::Debug for JournalPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalPublisher")
            .field("addr", &self.addr)
            .finish()
    }
}

impl JournalPublisher {
    /// A publisher to the broker at `addr` whose check-backs read `db`; nothing is
    /// contacted yet.
    pub fn new(addr: &str, db: Database) -> Self {
        JournalPublisher {
            addr: addr.into(),
            checker: JournalChecker { db },
            producer: Arc::new(OnceCell::new()),
        }
    }

    /// Connects now, so that check-backs of halves left by an earlier run of
    /// goods-svc are answered without waiting for the first reservation.
    pub async fn connect(&self) -> Result<(), mq::Error> {
        self.producer().await.map(|_| ())
    }

    async fn producer(&self) -> Result<&TransactionProducer, mq::Error> {
        self.producer
            .get_or_try_init(|| {
                TransactionProducer::connect(&self.addr, PRODUCER_GROUP, self.checker.clone())
            })
            .await
    }

    /// Runs `local` as the local transaction of `message`: the message becomes
    /// visible exactly when `local` committed. `Err` means the half message was not
    /// stored and `local` did not run.
    pub async fn send_in_transaction<T, F, Fut>(
        &self,
        message: Message,
        local: F,
    ) -> Result<LocalOutcome<T>, PublishError>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = LocalOutcome<T>> + Send,
    {
        let half = async {
            let producer = self.producer().await?;
            let receipt = producer.send_half(message).await?;
            Ok::<_, mq::Error>((producer, receipt))
        };
        let (producer, receipt) = tokio::time::timeout(HALF_TIMEOUT, half)
            .await
            .map_err(|_| PublishError::Timeout(HALF_TIMEOUT))??;
        // `local` bounds itself; cutting it short here after its commit would
        // misreport the outcome.
        let outcome = local().await;
        let state = outcome.state();
        if state != TxnState::Unknown {
            let end = tokio::time::timeout(HALF_TIMEOUT, producer.end(&receipt.id, state)).await;
            if !matches!(end, Ok(Ok(()))) {
                tracing::warn!(id = %receipt.id, outcome = state.name(),
                    "the broker was not told the outcome; its check-back will ask");
            }
        }
        Ok(outcome)
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

impl mq::TransactionChecker for JournalChecker {
    async fn check(&self, message: StoredMessage) -> TxnState {
        let Some(journal_id) = message.keys.first() else {
            return TxnState::Rollback;
        };
        let state = self.answer(journal_id).await;
        tracing::info!(%journal_id, state = state.name(), "check-back answered");
        state
    }
}
