//! `trade_coupon`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shop_kit::{contracts::coupon::CouponView, ids::Id, money::Money};
use sqlx::MySqlExecutor;

#[derive(sqlx::FromRow)]
struct CouponRow {
    coupon_id: u64,
    user_id: u64,
    coupon_price: Decimal,
    is_used: bool,
    order_id: Option<u64>,
    used_at: Option<DateTime<Utc>>,
}

/// Inserts an unused coupon of `user_id`; returns its id.
pub async fn insert_coupon(
    db: impl MySqlExecutor<'_>,
    user_id: Id,
    value: Money,
) -> sqlx::Result<Id> {
    let done = sqlx::query(r"insert into trade_coupon (user_id, coupon_price) values (?, ?)")
        .bind(user_id.0)
        .bind(value.decimal())
        .execute(db)
        .await?;
    Ok(Id(done.last_insert_id()))
}

/// The coupon, if it exists.
pub async fn find_coupon(
    db: impl MySqlExecutor<'_>,
    coupon_id: Id,
) -> anyhow::Result<Option<CouponView>> {
    let row: Option<CouponRow> = sqlx::query_as(
        r"select coupon_id, user_id, coupon_price, is_used, order_id, used_at
          from trade_coupon where coupon_id = ?",
    )
    .bind(coupon_id.0)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        Ok(CouponView {
            coupon_id: Id(row.coupon_id),
            user_id: Id(row.user_id),
            value: Money::new(row.coupon_price)?,
            used: row.is_used,
            order_id: row.order_id.map(Id),
            used_at: row.used_at,
        })
    })
    .transpose()
}

/// What [`use_coupon`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    /// Used by the order now.
    Now,
    /// Used by this order before: nothing changed.
    Already,
    NoSuchCoupon,
    NotOwned,
    /// Used by another order.
    UsedElsewhere,
    /// The order uses another coupon already (`uk_coupon_order`: one coupon per order).
    OrderHasAnother,
}

/// Uses `coupon_id` of `user_id` for `order_id`, in `tx`: the coupon row is locked,
/// then marked used with the conditional update `… where is_used = 0`.
pub async fn use_coupon(
    tx: &mut sqlx::MySqlConnection,
    coupon_id: Id,
    user_id: Id,
    order_id: Id,
) -> sqlx::Result<Used> {
    let row: Option<(u64, bool, Option<u64>)> = sqlx::query_as(
        r"select user_id, is_used, order_id from trade_coupon where coupon_id = ? for update",
    )
    .bind(coupon_id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((owner, is_used, used_by)) = row else {
        return Ok(Used::NoSuchCoupon);
    };
    if owner != user_id.0 {
        return Ok(Used::NotOwned);
    }
    if is_used {
        return Ok(if used_by == Some(order_id.0) {
            Used::Already
        } else {
            Used::UsedElsewhere
        });
    }
    let done = sqlx::query(
        r"update trade_coupon set is_used = 1, order_id = ?, used_at = now(3)
          where coupon_id = ? and is_used = 0",
    )
    .bind(order_id.0)
    .bind(coupon_id.0)
    .execute(&mut *tx)
    .await;
    let done = match done {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
            return Ok(Used::OrderHasAnother);
        }
        other => other?,
    };
    Ok(if done.rows_affected() == 1 {
        Used::Now
    } else {
        Used::UsedElsewhere
    })
}

/// Sets the coupon `order_id` used back to unused; whether there was one.
pub async fn release_for_order(tx: &mut sqlx::MySqlConnection, order_id: Id) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update trade_coupon set is_used = 0, order_id = null, used_at = null
          where order_id = ? and is_used = 1",
    )
    .bind(order_id.0)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Locks the coupon's row until the end of `tx`; `false` when there is no such coupon.
pub async fn lock_coupon(tx: &mut sqlx::MySqlConnection, coupon_id: Id) -> sqlx::Result<bool> {
    let found: Option<u64> =
        sqlx::query_scalar(r"select coupon_id from trade_coupon where coupon_id = ? for update")
            .bind(coupon_id.0)
            .fetch_optional(tx)
            .await?;
    Ok(found.is_some())
}
