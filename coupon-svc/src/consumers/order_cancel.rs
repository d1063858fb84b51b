//! `order`/`cancel` in group `coupon-order-cancel`: sets the coupon the order used
//! back to unused, or records a null compensation so that a use arriving later is
//! refused.

use shop_kit::bus::Delivery;
use shop_kit::{cancelled_orders, consumer_log::Consume, contracts::order::OrderCancelled};
use sqlx::MySqlConnection;

use crate::store;

/// The consumer group.
pub const GROUP: &str = "coupon-order-cancel";

/// Release the coupon on cancel.
pub struct ReleaseOnCancel;

impl Consume for ReleaseOnCancel {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &Delivery) -> anyhow::Result<()> {
        let cancel: OrderCancelled = serde_json::from_slice(&message.body)?;
        // The coupon row serializes this cancel with the order's use of it.
        if let Some(coupon_id) = cancel.coupon_id {
            store::coupons::lock_coupon(tx, coupon_id).await?;
        }
        cancelled_orders::record_cancel(tx, cancel.order_id, false).await?;
        if store::coupons::release_for_order(tx, cancel.order_id).await? {
            cancelled_orders::set_compensated(tx, cancel.order_id, true).await?;
            tracing::info!(order_id = %cancel.order_id, "order cancelled: coupon released");
        }
        Ok(())
    }
}
