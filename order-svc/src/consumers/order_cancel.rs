//! `order`/`cancel` in group `order-order-cancel`: the order's own part of the
//! compensation. order-svc writes the message in the transaction that cancels the
//! order, so this normally finds it cancelled already; it makes sure of it for a
//! cancel that some other producer (an operator's resend) sent.

use shop_kit::bus::Delivery;
use shop_kit::{
    consumer_log::Consume,
    contracts::order::{OrderCancelled, OrderStatus, PayStatus},
};
use sqlx::MySqlConnection;

use crate::store;

/// The consumer group.
pub const GROUP: &str = "order-order-cancel";

/// Marks the order cancelled.
pub struct CancelOrder;

impl Consume for CancelOrder {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &Delivery) -> anyhow::Result<()> {
        let cancel: OrderCancelled = serde_json::from_slice(&message.body)?;
        let Some(order) = store::orders::lock_order(tx, cancel.order_id).await? else {
            tracing::warn!(order_id = %cancel.order_id, "cancel of an unknown order ignored");
            return Ok(());
        };
        if order.status != OrderStatus::Cancelled {
            if order.pay_status == PayStatus::Paid {
                tracing::warn!(order_id = %cancel.order_id, "cancel of a paid order ignored");
                return Ok(());
            }
            store::orders::mark_cancelled(tx, cancel.order_id, cancel.reason).await?;
            tracing::info!(order_id = %cancel.order_id, "order cancelled by message");
        }
        Ok(())
    }
}
