//! order-svc: orders.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ids::Id, money::Money};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Unconfirmed,
    Confirmed,
    Cancelled,
}

/// Whether an order is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PayStatus {
    Unpaid,
    Paid,
    Refunded,
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    ConfirmFailed,
    PayTimeout,
    Abandoned,
}

/// An order as `GET /orders/{order_id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub order_id: Id,
    pub user_id: Id,
    pub goods_id: Id,
    pub quantity: u32,
    pub status: OrderStatus,
    pub pay_status: PayStatus,
    pub goods_price: Money,
    pub order_amount: Money,
    pub shipping_fee: Money,
    pub coupon_id: Option<Id>,
    pub coupon_paid: Money,
    pub money_paid: Money,
    pub pay_amount: Money,
    pub address: String,
    pub created_at: DateTime<Utc>,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<CancelReason>,
}
