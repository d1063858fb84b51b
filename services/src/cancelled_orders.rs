//! Null compensation (DESIGN.md §2.1.5): `trade_cancelled_order` of goods, coupon and
//! user records every order whose cancel the service consumed, whether its step had
//! run (`compensated`) or not (null compensation).
//!
//! A step for an order (reserve stock, use coupon, deduct balance) calls
//! [`is_cancelled`] first in its own transaction: a locking read, so it either waits
//! for a cancel being written and then sees it, or holds off the cancel's insert until
//! the step committed and the cancel then undoes it. Either way a step arriving after
//! its compensation is refused and changes nothing.

use sqlx::MySqlConnection;

use crate::ids::Id;

/// Whether the cancel of `order_id` was consumed here (locking read; call it first in
/// the step's transaction).
pub async fn is_cancelled(tx: &mut MySqlConnection, order_id: Id) -> sqlx::Result<bool> {
    let found: Option<u64> = sqlx::query_scalar(
        r"select order_id from trade_cancelled_order where order_id = ? lock in share mode",
    )
    .bind(order_id.0)
    .fetch_optional(tx)
    .await?;
    Ok(found.is_some())
}

/// Records that the cancel of `order_id` was consumed (call it first in the cancel's
/// transaction); `compensated` says whether the step had run and was undone. A second
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
