//! `trade_order`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use services::{
    contracts::order::{CancelReason, OrderStatus, OrderView, PayStatus},
    ids::Id,
    money::Money,
};
use sqlx::MySqlExecutor;

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
