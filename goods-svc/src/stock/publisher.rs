//! [`JournalPublisher`]: the `stock`/`deduct` message whose local transaction writes
//! the stock journal (DESIGN.md §2.2 step 2), and [`JournalChecker`], the check-back
//! that answers from the journal.
//!
//! The broker's transactional (half) messages are not in `mq` yet (issue 5). Until
//! they are, the local transaction runs first and the message is sent after its
//! commit; a message lost that way leaves the journal `reserved`, and the reconciler
//! applies journals left `reserved` too long, so MySQL stock still follows. The shape
//! of [`JournalPublisher::send_in_transaction`] is that of
//! `TransactionProducer::send_in_transaction`, so switching is local to this file.

use std::future::Future;

use mq::Message;
use services::{db::Database, publisher::Publisher};

use crate::store;

/// What the local transaction decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutcome<T> {
    /// Committed: the message must become visible.
    Commit(T),
    /// Not committed (refused or failed): the message must never be visible.
    Rollback(T),
    /// Not known (the database could not be asked): the check-back decides.
    Unknown(T),
}

/// Sends journal messages.
#[derive(Clone, Debug)]
pub struct JournalPublisher {
    publisher: Publisher,
}

impl JournalPublisher {
    pub fn new(publisher: Publisher) -> Self {
        JournalPublisher { publisher }
    }

    /// Runs `local` as the local transaction of `message`: the message becomes
    /// visible exactly when `local` committed.
    pub async fn send_in_transaction<T, F, Fut>(
        &self,
        message: Message,
        local: F,
    ) -> LocalOutcome<T>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = LocalOutcome<T>> + Send,
    {
        let outcome = local().await;
        if let LocalOutcome::Commit(_) = &outcome {
            let key = message.keys.first().cloned().unwrap_or_default();
            if let Err(error) = self.publisher.send(message).await {
                tracing::warn!(journal_id = %key, %error,
                    "journal committed but its message was not sent; the reconciler applies it");
            }
        }
        outcome
    }
}

/// Answers the broker's check-back on a half `stock`/`deduct` message: commit when
/// the journal row (the message key) exists, roll back when it does not.
#[derive(Clone, Debug)]
pub struct JournalChecker {
    pub db: Database,
}

/// The check-back's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckAnswer {
    Commit,
    Rollback,
    Unknown,
}

impl JournalChecker {
    pub async fn check(&self, journal_id: &str) -> CheckAnswer {
        let Ok(pool) = self.db.pool() else {
            return CheckAnswer::Unknown;
        };
        match store::stock_logs::journal_exists(pool, journal_id).await {
            Ok(true) => CheckAnswer::Commit,
            Ok(false) => CheckAnswer::Rollback,
            Err(error) => {
                tracing::warn!(%journal_id, %error, "check-back could not read the journal");
                CheckAnswer::Unknown
            }
        }
    }
}
