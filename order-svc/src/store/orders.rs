//! `trade_order`: the pre-order, its confirmation and its cancellation, each a
//! conditional update or a locked read so that racing flows decide once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shop_kit::{
    contracts::order::{CancelReason, OrderStatus, OrderView, PayStatus},
    ids::Id,
    money::Money,
};
use sqlx::{MySqlConnection, MySqlExecutor};

use crate::domain::checks::CheckedOrder;

#[derive(sqlx::FromRow)]
struct OrderRow {
    order_id: u64,
    user_id: u64,
    goods_id: u64,
    quantity: u32,
    status: String,
    pay_status: String,
    goods_price: Decimal,
    order_amount: Decimal,
    shipping_fee: Decimal,
    coupon_id: Option<u64>,
    coupon_paid: Decimal,
    money_paid: Decimal,
    pay_amount: Decimal,
    address: String,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    cancel_reason: Option<String>,
}

impl OrderRow {
    fn into_view(self) -> anyhow::Result<OrderView> {
        let status = match self.status.as_str() {
            "unconfirmed" => OrderStatus::Unconfirmed,
            "confirmed" => OrderStatus::Confirmed,
            "cancelled" => OrderStatus::Cancelled,
            other => anyhow::bail!("unknown order status {other:?}"),
        };
        let pay_status = match self.pay_status.as_str() {
            "unpaid" => PayStatus::Unpaid,
            "paid" => PayStatus::Paid,
            "refunded" => PayStatus::Refunded,
            other => anyhow::bail!("unknown pay status {other:?}"),
        };
        let cancel_reason = match self.cancel_reason.as_deref() {
            None => None,
            Some("confirm_failed") => Some(CancelReason::ConfirmFailed),
            Some("pay_timeout") => Some(CancelReason::PayTimeout),
            Some("abandoned") => Some(CancelReason::Abandoned),
            Some(other) => anyhow::bail!("unknown cancel reason {other:?}"),
        };
        Ok(OrderView {
            order_id: Id(self.order_id),
            user_id: Id(self.user_id),
            goods_id: Id(self.goods_id),
            quantity: self.quantity,
            status,
            pay_status,
            goods_price: Money::new(self.goods_price)?,
            order_amount: Money::new(self.order_amount)?,
            shipping_fee: Money::new(self.shipping_fee)?,
            coupon_id: self.coupon_id.map(Id),
            coupon_paid: Money::new(self.coupon_paid)?,
            money_paid: Money::new(self.money_paid)?,
            pay_amount: Money::new(self.pay_amount)?,
            address: self.address,
            created_at: self.created_at,
            confirmed_at: self.confirmed_at,
            paid_at: self.paid_at,
            cancel_reason,
            trace_context: None,
        })
    }
}

/// The order, if it exists.
pub async fn find_order(
    db: impl MySqlExecutor<'_>,
    order_id: Id,
) -> anyhow::Result<Option<OrderView>> {
    let row: Option<OrderRow> = sqlx::query_as(
        r"select order_id, user_id, goods_id, quantity, status, pay_status, goods_price,
                 order_amount, shipping_fee, coupon_id, coupon_paid, money_paid, pay_amount,
                 address, created_at, confirmed_at, paid_at, cancel_reason
          from trade_order where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_optional(db)
    .await?;
    row.map(OrderRow::into_view).transpose()
}

/// The newest `limit` orders (every status), newest first.
pub async fn recent_orders(
    db: impl MySqlExecutor<'_>,
    limit: u32,
) -> anyhow::Result<Vec<OrderView>> {
    let rows: Vec<OrderRow> = sqlx::query_as(
        r"select order_id, user_id, goods_id, quantity, status, pay_status, goods_price,
                 order_amount, shipping_fee, coupon_id, coupon_paid, money_paid, pay_amount,
                 address, created_at, confirmed_at, paid_at, cancel_reason
          from trade_order order by order_id desc limit ?",
    )
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(OrderRow::into_view).collect()
}

const SELECT_FOR_UPDATE: &str = r"select order_id, user_id, goods_id, quantity, status, pay_status,
        goods_price, order_amount, shipping_fee, coupon_id, coupon_paid, money_paid, pay_amount,
        address, created_at, confirmed_at, paid_at, cancel_reason
    from trade_order where order_id = ? for update";

/// The order, locked until the end of `tx`.
pub async fn lock_order(
    tx: &mut MySqlConnection,
    order_id: Id,
) -> anyhow::Result<Option<OrderView>> {
    let row: Option<OrderRow> = sqlx::query_as(SELECT_FOR_UPDATE)
        .bind(order_id.0)
        .fetch_optional(tx)
        .await?;
    row.map(OrderRow::into_view).transpose()
}

/// Now, at the millisecond the order's time columns keep: a time bound from here is
/// stored exactly, so the service can answer with it without reading the row back.
pub fn now_ms() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Saves the pre-order (`unconfirmed`, created at `created_at`, see [`now_ms`]) with
/// the `traceparent` of its trace; its id.
pub async fn insert_preorder(
    db: impl MySqlExecutor<'_>,
    order: &CheckedOrder,
    created_at: DateTime<Utc>,
    request_id: Option<&str>,
    trace_context: Option<&str>,
) -> sqlx::Result<Id> {
    let done = sqlx::query(
        r"insert into trade_order (user_id, goods_id, quantity, goods_price, order_amount,
              shipping_fee, coupon_id, coupon_paid, money_paid, pay_amount, address, request_id,
              trace_context, created_at)
          values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(order.user_id.0)
    .bind(order.goods_id.0)
    .bind(order.quantity)
    .bind(order.goods_price.decimal())
    .bind(order.order_amount.decimal())
    .bind(order.shipping_fee.decimal())
    .bind(order.coupon_id.map(|id| id.0))
    .bind(order.coupon_paid.decimal())
    .bind(order.money_paid.decimal())
    .bind(order.pay_amount.decimal())
    .bind(&order.address)
    .bind(request_id)
    .bind(trace_context)
    .bind(created_at)
    .execute(db)
    .await?;
    Ok(Id(done.last_insert_id()))
}

/// The `traceparent` of the order's trace, kept when it was created (none for an
/// unknown order, one created before traces were kept, or without an exporter).
pub async fn trace_context(
    db: impl MySqlExecutor<'_>,
    order_id: Id,
) -> sqlx::Result<Option<String>> {
    let found: Option<Option<String>> =
        sqlx::query_scalar(r"select trace_context from trade_order where order_id = ?")
            .bind(order_id.0)
            .fetch_optional(db)
            .await?;
    Ok(found.flatten())
}

/// `unconfirmed` → `confirmed` at `confirmed_at` (see [`now_ms`]; pay status `paid`,
/// at the same time, when nothing is left to pay); `false` when the order is no longer
/// unconfirmed (the abandon sweep cancelled it).
pub async fn mark_confirmed(
    tx: &mut MySqlConnection,
    order_id: Id,
    nothing_to_pay: bool,
    confirmed_at: DateTime<Utc>,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update trade_order
          set status = 'confirmed', confirmed_at = ?,
              pay_status = if(?, 'paid', 'unpaid'), paid_at = if(?, ?, null)
          where order_id = ? and status = 'unconfirmed'",
    )
    .bind(confirmed_at)
    .bind(nothing_to_pay)
    .bind(nothing_to_pay)
    .bind(confirmed_at)
    .bind(order_id.0)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Cancels a locked order (the caller checked that it may be cancelled).
pub async fn mark_cancelled(
    tx: &mut MySqlConnection,
    order_id: Id,
    reason: CancelReason,
) -> sqlx::Result<()> {
    sqlx::query(
        r"update trade_order set status = 'cancelled', cancel_reason = ?, cancelled_at = now(3)
          where order_id = ?",
    )
    .bind(cancel_reason_text(reason))
    .bind(order_id.0)
    .execute(tx)
    .await?;
    Ok(())
}

/// Orders left `unconfirmed` for longer than `older_than`, oldest first, each with
/// the `traceparent` of its trace.
pub async fn abandoned_orders(
    db: impl MySqlExecutor<'_>,
    older_than: Duration,
    limit: u32,
) -> sqlx::Result<Vec<(Id, Option<String>)>> {
    let rows: Vec<(u64, Option<String>)> = sqlx::query_as(
        r"select order_id, trace_context from trade_order
          where status = 'unconfirmed' and created_at < now(3) - interval ? microsecond
          order by created_at limit ?",
    )
    .bind(older_than.as_micros() as u64)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, trace)| (Id(id), trace))
        .collect())
}

fn cancel_reason_text(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::ConfirmFailed => "confirm_failed",
        CancelReason::PayTimeout => "pay_timeout",
        CancelReason::Abandoned => "abandoned",
    }
}

/// Marks a locked, confirmed and unpaid order paid (its payment arrived).
pub async fn mark_paid(tx: &mut MySqlConnection, order_id: Id) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update trade_order set pay_status = 'paid', paid_at = now(3)
          where order_id = ? and status = 'confirmed' and pay_status = 'unpaid'",
    )
    .bind(order_id.0)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a locked, cancelled and unpaid order's payment refunded (the payment
/// arrived after the cancel; the order stays cancelled).
pub async fn mark_pay_refunded(tx: &mut MySqlConnection, order_id: Id) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update trade_order set pay_status = 'refunded'
          where order_id = ? and status = 'cancelled' and pay_status = 'unpaid'",
    )
    .bind(order_id.0)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
