//! `pay`/`refund` in group `pay-pay-refund` (docs/architecture.md, "Payment"):
//! order-svc decided that a payment arrived for an order already cancelled, so the
//! payment is given back.
//! In the consumer log's transaction: `paid` → `refunded`, a `refunded` payment log
//! row, and the refund of the payment's charge as a `pending` row of
//! `trade_pay_refund` (reason `order_cancelled`); after the commit the refund is made
//! through the payment-platform port (and asked again by the refund relay if that
//! does not happen).

use shop_kit::bus::Delivery;
use shop_kit::{
    consumer_log::Consume,
    contracts::pay::{PaymentRefund, RefundReason},
    ids::Id,
};
use sqlx::MySqlConnection;

use crate::{
    domain::refund::Refunds,
    store::{
        pay_log::{self, PayEvent, PayLogEntry},
        payments,
        refunds::{self, NewRefund},
    },
};

/// The consumer group.
pub const GROUP: &str = "pay-pay-refund";

/// Refunds a payment whose order was cancelled.
pub struct RefundPayment {
    pub refunds: Refunds,
}

impl Consume for RefundPayment {
    /// The refund to make after the commit.
    type Effect = Option<Id>;

    async fn apply(
        &self,
        tx: &mut MySqlConnection,
        message: &Delivery,
    ) -> anyhow::Result<Option<Id>> {
        let refund: PaymentRefund = serde_json::from_slice(&message.body)?;
        let payment = payments::lock(tx, refund.pay_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("refund of unknown payment {}", refund.pay_id))?;
        let refunded = payments::mark_refunded(tx, refund.pay_id).await?;
        let entry = PayLogEntry {
            pay_id: refund.pay_id,
            order_id: refund.order_id,
            event: PayEvent::Refunded,
            amount: refund.amount,
            trade_no: payment.trade_no.as_deref(),
            note: Some(&refund.reason),
        };
        pay_log::record(tx, &entry).await?;
        if !refunded {
            return Ok(None);
        }
        let new = NewRefund {
            pay_id: payment.pay_id,
            trade_no: payment.trade_no.as_deref().unwrap_or(""),
            amount: payment.amount,
            reason: RefundReason::OrderCancelled,
        };
        let refund_id = refunds::insert_pending(tx, &new).await?;
        tracing::warn!(pay_id = %refund.pay_id, order_id = %refund.order_id,
            amount = %payment.amount, reason = %refund.reason, ?refund_id,
            "payment refunded: its order had been cancelled");
        Ok(refund_id)
    }

    async fn after_commit(&self, effect: Option<Id>) {
        if let Some(refund_id) = effect {
            self.refunds.execute(refund_id).await;
        }
    }
}
