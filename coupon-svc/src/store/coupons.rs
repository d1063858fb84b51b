//! `trade_coupon`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use services::{contracts::coupon::CouponView, ids::Id, money::Money};
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
