//! The payment platform's callback (docs/architecture.md, "Payment"), after its
//! signature was checked: in one local transaction the payment is marked paid and the
//! `pay`/`paid` message is written to the local message table
//! (`trade_mq_producer_temp`); the caller sends it after the commit
//! ([`shop_kit::outbox::Outbox::send_soon`]) and the relay resends it if that send
//! never happens (crash, broker down).
//!
//! Decisions are taken on the locked payment row, so replayed or concurrent callbacks
//! of one payment apply once: `paid` moves an `unpaid` (or `failed`: the payer tried
//! again) payment to `paid` and records the charge; `failed` moves only an `unpaid`
//! one, writes a payment log row and publishes nothing. A `paid` callback with
//! another transaction number for a payment already settled (paid or refunded) is a
//! second charge: it is recorded and, in the same transaction, its refund
//! (`duplicate_charge`), which the caller has the platform make after the commit.
//! Anything else is a replay and changes nothing.

use shop_kit::{
    contracts::pay::{
        CallbackStatus, PAID_TAG, PAY_TOPIC, PayCallback, PaymentPaid, PaymentStatus,
    },
    db::Database,
    error::Unavailable,
    ids::Id,
    outbox::{Outbox, OutboxMessage},
    telemetry,
};
use sqlx::Acquire;
use tracing::Instrument;

use crate::store::{
    pay_log::{self, PayEvent, PayLogEntry},
    payments,
    refunds::{self, NewRefund},
};
use shop_kit::contracts::pay::RefundReason;

/// What a callback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Marked paid; the outbox row of the `paid` message, to send after the commit.
    Paid { outbox_row: u64 },
    /// Marked failed.
    Failed,
    /// A second charge of a settled payment: recorded, its refund pending (to make
    /// after the commit).
    DuplicateCharge { refund_id: Id },
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

/// Applies a verified callback in one transaction; sends nothing. The callback is a
/// step of the payment's order: its transaction, and the `pay`/`paid` message written
/// in it, continue the order's trace (kept on the payment row), whatever trace the
/// platform's request carries.
pub async fn apply(
    db: &Database,
    outbox: &Outbox,
    callback: &PayCallback,
) -> Result<Applied, CallbackRefused> {
    let trace = payments::trace_context(db.pool()?, callback.pay_id).await?;
    let step = telemetry::order_step("payment callback", "pay-svc", trace.as_deref());
    async {
        apply_in_transaction(db, outbox, callback)
            .instrument(shop_kit::db::transaction_span("payment callback"))
            .await
    }
    .instrument(step)
    .await
}

async fn apply_in_transaction(
    db: &Database,
    outbox: &Outbox,
    callback: &PayCallback,
) -> Result<Applied, CallbackRefused> {
    let pay_id = callback.pay_id;
    let trade_no = callback.trade_no.as_deref();
    let mut conn = db.pool()?.acquire().await?;
    let mut tx = conn.begin().await?;
    let payment = payments::lock(&mut tx, pay_id)
        .await?
        .ok_or(CallbackRefused::PaymentNotFound)?;
    let applied = match (callback.status, payment.status) {
        (CallbackStatus::Paid, PaymentStatus::Unpaid | PaymentStatus::Failed) => {
            payments::mark_paid(&mut tx, pay_id, trade_no).await?;
            refunds::record_charge(&mut tx, pay_id, trade_no.unwrap_or(""), payment.amount).await?;
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
        (CallbackStatus::Paid, PaymentStatus::Paid | PaymentStatus::Refunded)
            if trade_no.is_some_and(|t| Some(t) != payment.trade_no.as_deref()) =>
        {
            let trade_no = trade_no.unwrap_or_default();
            duplicate_charge(&mut tx, &payment, trade_no).await?
        }
        _ => Applied::Unchanged,
    };
    tx.commit().await?;
    match &applied {
        Applied::Paid { .. } => tracing::info!(%pay_id, order_id = %payment.order_id,
            amount = %payment.amount, "payment paid; paid message written"),
        Applied::Failed => tracing::info!(%pay_id, "payment failed"),
        Applied::DuplicateCharge { refund_id } => tracing::warn!(%pay_id, %refund_id,
            trade_no = ?trade_no, kept = ?payment.trade_no, amount = %payment.amount,
            "second charge of a settled payment: recorded, refund pending"),
        Applied::Unchanged => tracing::debug!(%pay_id, "callback replayed: nothing changed"),
    }
    Ok(applied)
}

/// Records the second charge `trade_no` of a settled payment and its refund; a replay
/// of that same charge changes nothing.
async fn duplicate_charge(
    tx: &mut sqlx::MySqlConnection,
    payment: &payments::Payment,
    trade_no: &str,
) -> Result<Applied, CallbackRefused> {
    if !refunds::record_charge(tx, payment.pay_id, trade_no, payment.amount).await? {
        return Ok(Applied::Unchanged);
    }
    let refund = NewRefund {
        pay_id: payment.pay_id,
        trade_no,
        amount: payment.amount,
        reason: RefundReason::DuplicateCharge,
    };
    match refunds::insert_pending(tx, &refund).await? {
        Some(refund_id) => Ok(Applied::DuplicateCharge { refund_id }),
        None => Ok(Applied::Unchanged),
    }
}
