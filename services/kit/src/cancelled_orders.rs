//! Null compensation (docs/architecture.md, "Compensation"): `trade_cancelled_order` of
//! goods, coupon and user records every order whose cancel the service consumed,
//! whether its step had run (`compensated`) or not (null compensation).
//!
//! A step for an order and the cancel of that order serialize on one row they both
//! lock first: the coupon row (coupon-svc), the user row (user-svc), the journal's
//! `(order_id, goods_id)` unique key (goods-svc). Under that lock the step calls
//! [`is_cancelled`] (a plain read: its snapshot is taken after the lock, so it sees
//! a cancel that committed before) and is refused if the cancel came first; a cancel
//! that comes later finds the step done and undoes it. No gap locks are taken, so
//! concurrent orders for different rows never wait on each other here.

use sqlx::MySqlConnection;

use crate::ids::Id;

/// Whether the cancel of `order_id` was consumed here. Call it in the step's
/// transaction after locking the row the cancel also locks (see the module header).
pub async fn is_cancelled(tx: &mut MySqlConnection, order_id: Id) -> sqlx::Result<bool> {
    let found: Option<u64> =
        sqlx::query_scalar(r"select order_id from trade_cancelled_order where order_id = ?")
            .bind(order_id.0)
            .fetch_optional(tx)
            .await?;
    Ok(found.is_some())
}

/// Records that the cancel of `order_id` was consumed (call it in the cancel's
/// transaction after locking the shared row); `compensated` says whether the step had run and was undone. A second
/// record of the same order keeps the first.
pub async fn record_cancel(
    tx: &mut MySqlConnection,
    order_id: Id,
    compensated: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        r"insert into trade_cancelled_order (order_id, compensated) values (?, ?)
          on duplicate key update order_id = order_id",
    )
    .bind(order_id.0)
    .bind(compensated)
    .execute(tx)
    .await?;
    Ok(())
}

/// Sets `compensated` once the cancel knows whether the step had run.
pub async fn set_compensated(
    tx: &mut MySqlConnection,
    order_id: Id,
    compensated: bool,
) -> sqlx::Result<()> {
    sqlx::query(r"update trade_cancelled_order set compensated = ? where order_id = ?")
        .bind(compensated)
        .bind(order_id.0)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records `shop_compensation_seconds{group}` once a group has applied an order's
/// cancel message: the time from the cancellation (the message was born when the
/// order was cancelled) to this service having given its part back.
pub fn observe_compensation(group: &str, topic: &str, tag: &str, born_at_ms: u64) {
    use crate::contracts::order::{CANCEL_TAG, ORDER_TOPIC};
    if topic != ORDER_TOPIC || tag != CANCEL_TAG {
        return;
    }
    let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
    let seconds = now_ms.saturating_sub(born_at_ms) as f64 / 1000.0;
    metrics::histogram!("shop_compensation_seconds", "group" => group.to_owned()).record(seconds);
}
