//! The payment platform's callback (docs/architecture.md, "Payment"), after its
//! signature was checked: in one local transaction the payment is marked paid and the
//! `pay`/`paid` message is written to the local message table
//! (`trade_mq_producer_temp`); the caller sends it after the commit
//! ([`shop_kit::outbox::Outbox::send_soon`]) and the relay resends it if that send
//! never happens (crash, broker down).
//!
//! Decisions are taken on the locked payment row, so replayed or concurrent callbacks
//! of one payment apply once: `paid` moves an `unpaid` (or `failed`: the payer tried
//! again) payment to `paid`; `failed` moves only an `unpaid` one, writes a payment log
//! row and publishes nothing; anything else is a replay and changes nothing.

use shop_kit::{
    contracts::pay::{
        CallbackStatus, PAID_TAG, PAY_TOPIC, PayCallback, PaymentPaid, PaymentStatus,
    },
    db::Database,
    error::Unavailable,
    ids::Id,
    outbox::{Outbox, OutboxMessage},
};
use sqlx::Acquire;

use crate::store::{
    pay_log::{self, PayEvent, PayLogEntry},
    payments,
};

/// What a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Marked paid; the outbox row of the `paid` message, to send after the commit.
    Paid { outbox_row: u64 },
    /// Marked failed.
    Failed,
    /// A replay, or a report that no longer applies: nothing changed.
    Unchanged,
}

/// Why a callback was not applied.
#[derive(Debug, thiserror::Error)]
pub enum CallbackRefused {
    #[error("no such payment")]
    PaymentNotFound,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<sqlx::Error> for CallbackRefused {
    fn from(error: sqlx::Error) -> Self {
        CallbackRefused::Unexpected(error.into())
    }
}

/// Applies a verified callback in one transaction; sends nothing.
pub async fn apply(
    db: &Database,
    outbox: &Outbox,
    callback: &PayCallback,
) -> Result<Applied, CallbackRefused> {
    let pay_id = Id::parse(&callback.pay_id).ok_or(CallbackRefused::PaymentNotFound)?;
    let trade_no = callback.trade_no.as_deref();
    let mut conn = db.pool()?.acquire().await?;
    let mut tx = conn.begin().await?;
    let payment = payments::lock(&mut tx, pay_id)
        .await?
        .ok_or(CallbackRefused::PaymentNotFound)?;
    let applied = match (callback.status, payment.status) {
        (CallbackStatus::Paid, PaymentStatus::Unpaid | PaymentStatus::Failed) => {
            payments::mark_paid(&mut tx, pay_id, trade_no).await?;
            let user_id = payment
                .user_id
                .ok_or_else(|| anyhow::anyhow!("payment {pay_id} has no payer"))?;
            let paid = PaymentPaid {
                pay_id,
                order_id: payment.order_id,
                user_id,
                amount: payment.amount,
                trade_no: callback.trade_no.clone(),
            };
            let message = OutboxMessage::json(PAY_TOPIC, PAID_TAG, pay_id.to_string(), &paid);
            let outbox_row = outbox.insert(&mut tx, &message).await?;
            Applied::Paid { outbox_row }
        }
        (CallbackStatus::Failed, PaymentStatus::Unpaid) => {
            payments::mark_failed(&mut tx, pay_id, trade_no).await?;
            let entry = PayLogEntry {
                pay_id,
                order_id: payment.order_id,
                event: PayEvent::Failed,
                amount: payment.amount,
                trade_no,
                note: None,
            };
            pay_log::record(&mut tx, &entry).await?;
            Applied::Failed
        }
        (status, now) => {
            if status == CallbackStatus::Paid && payment.trade_no.as_deref() != trade_no {
                tracing::warn!(%pay_id, ?now, given = ?trade_no, kept = ?payment.trade_no,
                    "paid callback with another trade number for a settled payment: ignored");
            }
            Applied::Unchanged
        }
    };
    tx.commit().await?;
    match &applied {
        Applied::Paid { .. } => tracing::info!(%pay_id, order_id = %payment.order_id,
            amount = %payment.amount, "payment paid; paid message written"),
        Applied::Failed => tracing::info!(%pay_id, "payment failed"),
        Applied::Unchanged => tracing::debug!(%pay_id, "callback replayed: nothing changed"),
    }
    Ok(applied)
}
