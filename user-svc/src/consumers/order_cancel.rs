//! `order`/`cancel` in group `user-order-cancel`: refunds what the order deducted
//! (with a `refund` money log row), or records a null compensation so that a deduct
//! arriving later is refused.

use shop_kit::bus::Delivery;
use shop_kit::{
    cancelled_orders, consumer_log::Consume, consumer_log::REQUEST_ID_PROPERTY,
    contracts::order::OrderCancelled,
};
use sqlx::MySqlConnection;

use crate::store;

/// The consumer group.
pub const GROUP: &str = "user-order-cancel";

/// Refund on cancel.
pub struct RefundOnCancel;

impl Consume for RefundOnCancel {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &Delivery) -> anyhow::Result<()> {
        let cancel: OrderCancelled = serde_json::from_slice(&message.body)?;
        // The user row serializes this cancel with the order's deduct.
        store::users::lock_user(tx, cancel.user_id).await?;
        cancelled_orders::record_cancel(tx, cancel.order_id, false).await?;
        let request_id = message
            .properties
            .get(REQUEST_ID_PROPERTY)
            .map(String::as_str);
        let refunded =
            store::users::refund_order(tx, cancel.user_id, cancel.order_id, request_id).await?;
        if let Some(amount) = refunded {
            cancelled_orders::set_compensated(tx, cancel.order_id, true).await?;
            tracing::info!(order_id = %cancel.order_id, user_id = %cancel.user_id, %amount,
                "order cancelled: balance refunded");
        } else {
            tracing::info!(order_id = %cancel.order_id, "order cancelled: nothing to refund");
        }
        Ok(())
    }
}
