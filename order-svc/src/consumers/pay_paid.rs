//! `pay`/`paid` in group `order-pay-paid` (docs/architecture.md, "Payment"): order-svc
//! is the arbiter of a payment racing the payment timeout. Under the order's row lock
//! (the lock the timeout's cancel takes too, so exactly one of them wins):
//! - confirmed and unpaid → pay status `paid`, `paid_at`;
//! - cancelled (the timeout won) → pay status `refunded`, and in the same transaction
//!   the `pay`/`refund` message (key = pay id) through order-svc's local message
//!   table: pay-svc marks the payment `refunded`, user-svc takes back the points the
//!   payment earned. The order stays cancelled; it is never paid and cancelled at once;
//! - already paid or refunded → nothing (a second payment of a paid order is left
//!   for people, logged);
//! - unconfirmed (cannot be paid yet: pay-svc refuses it) → an error, so the broker
//!   retries after the order's confirmation settles.

use shop_kit::bus::Delivery;
use shop_kit::{
    consumer_log::Consume,
    contracts::{
        order::{OrderStatus, PayStatus},
        pay::{PAY_TOPIC, PaymentPaid, PaymentRefund, REFUND_TAG},
    },
    outbox::{Outbox, OutboxMessage},
};
use sqlx::MySqlConnection;

use crate::store;

/// The consumer group.
pub const GROUP: &str = "order-pay-paid";

/// Applies a payment to its order.
pub struct ApplyPayment {
    pub outbox: Outbox,
}

impl Consume for ApplyPayment {
    /// The outbox row of the refund message, to send after the commit.
    type Effect = Option<u64>;

    async fn apply(
        &self,
        tx: &mut MySqlConnection,
        message: &Delivery,
    ) -> anyhow::Result<Option<u64>> {
        let paid: PaymentPaid = serde_json::from_slice(&message.body)?;
        let order_id = paid.order_id;
        let order = store::orders::lock_order(tx, order_id)
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!("payment {} of unknown order {order_id}", paid.pay_id)
            })?;
        match (order.status, order.pay_status) {
            (OrderStatus::Confirmed, PayStatus::Unpaid) => {
                store::orders::mark_paid(tx, order_id).await?;
                tracing::info!(%order_id, pay_id = %paid.pay_id, "order paid");
                Ok(None)
            }
            (OrderStatus::Cancelled, PayStatus::Unpaid) => {
                store::orders::mark_pay_refunded(tx, order_id).await?;
                let refund = PaymentRefund {
                    pay_id: paid.pay_id,
                    order_id,
                    user_id: paid.user_id,
                    amount: paid.amount,
                    reason: format!(
                        "order cancelled ({}) before its payment arrived",
                        order
                            .cancel_reason
                            .map(|r| format!("{r:?}"))
                            .unwrap_or_else(|| "no reason".into())
                    ),
                };
                let message =
                    OutboxMessage::json(PAY_TOPIC, REFUND_TAG, paid.pay_id.to_string(), &refund);
                let row = self.outbox.insert(tx, &message).await?;
                tracing::warn!(%order_id, pay_id = %paid.pay_id, amount = %paid.amount,
                    "payment arrived for a cancelled order: refund message written");
                Ok(Some(row))
            }
            (OrderStatus::Unconfirmed, _) => {
                anyhow::bail!(
                    "payment {} of order {order_id} before its confirmation",
                    paid.pay_id
                )
            }
            (status, pay_status) => {
                tracing::warn!(%order_id, pay_id = %paid.pay_id, ?status, ?pay_status,
                    "payment for an order already settled: left as it is");
                Ok(None)
            }
        }
    }

    async fn after_commit(&self, effect: Option<u64>) {
        if let Some(row) = effect {
            self.outbox.send_soon(vec![row]);
        }
    }
}
