//! `pay`/`refund` in group `pay-pay-refund` (docs/architecture.md, "Payment"):
//! order-svc decided that a payment arrived for an order already cancelled, so the
//! payment is given back: `paid` → `refunded` and a `refunded` payment log row, in the
//! consumer log's transaction. (The platform's refund call would be made here; Shop has
//! no real platform, so the status change is the refund.)

use mq::StoredMessage;
use shop_kit::{consumer_log::Consume, contracts::pay::PaymentRefund};
use sqlx::MySqlConnection;

use crate::store::{
    pay_log::{self, PayEvent, PayLogEntry},
    payments,
};

/// The consumer group.
pub const GROUP: &str = "pay-pay-refund";

/// Marks a payment refunded.
pub struct RefundPayment;

impl Consume for RefundPayment {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &StoredMessage) -> anyhow::Result<()> {
        let refund: PaymentRefund = serde_json::from_slice(&message.body)?;
        let refunded = payments::mark_refunded(tx, refund.pay_id).await?;
        let entry = PayLogEntry {
            pay_id: refund.pay_id,
            order_id: refund.order_id,
            event: PayEvent::Refunded,
            amount: refund.amount,
            trade_no: None,
            note: Some(&refund.reason),
        };
        pay_log::record(tx, &entry).await?;
        if refunded {
            tracing::warn!(pay_id = %refund.pay_id, order_id = %refund.order_id,
                amount = %refund.amount, reason = %refund.reason,
                "payment refunded: its order had been cancelled");
        }
        Ok(())
    }
}
