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

impl CancelReason {
    /// The reason as stored and shown (`confirm_failed`, `pay_timeout`, `abandoned`).
    pub fn as_str(self) -> &'static str {
        match self {
            CancelReason::ConfirmFailed => "confirm_failed",
            CancelReason::PayTimeout => "pay_timeout",
            CancelReason::Abandoned => "abandoned",
        }
    }
}

/// An order as `GET /orders/{order_id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderView {
    pub order_id: Id,
    pub user_id: Id,
    pub goods_id: Id,
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
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
    /// The W3C `traceparent` the order kept when it was created, so that its later
    /// steps (its payment, the payment platform's callback) continue its trace.
    /// Answered only to services (a request with the service credential); clients
    /// never see it, and an older order-svc leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub trace_context: Option<String>,
}

/// `POST /orders`: the client states the amounts it expects; each is checked
/// against the current state (docs/architecture.md, "Confirm order").
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConfirmOrder {
    pub user_id: Id,
    pub goods_id: Id,
    /// At least 1 and at most the available stock (`INVALID_QUANTITY` when less than
    /// 1 or more than 4294967295).
    #[serde(deserialize_with = "crate::json::whole_number")]
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    pub quantity: i64,
    /// Must equal the goods' current price.
    pub goods_price: Money,
    /// Must equal `goods_price` × `quantity`.
    pub order_amount: Money,
    /// 0 when `order_amount` is more than 100, else 10.
    pub shipping_fee: Money,
    /// An unused coupon of the user, or null.
    #[serde(default)]
    pub coupon_id: Option<Id>,
    /// Paid from the balance: 0 or more (`MONEY_PAID_INVALID` when negative), at most
    /// the balance.
    pub money_paid: Money,
    /// Where to deliver: at most 255 characters (empty when left out).
    #[serde(default)]
    #[schema(max_length = 255)]
    pub address: String,
}

/// Topic of order messages.
pub const ORDER_TOPIC: &str = "order";
/// Tag of the cancel message.
pub const CANCEL_TAG: &str = "cancel";

/// Body of the `order`/`cancel` message (key = order id): what each service must
/// undo. goods, coupon, user and order consume it in their own groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderCancelled {
    pub order_id: Id,
    pub user_id: Id,
    pub goods_id: Id,
    pub quantity: u32,
    pub coupon_id: Option<Id>,
    pub money_paid: Money,
    pub reason: CancelReason,
}

/// Tag of the payment-timeout delay message (docs/architecture.md, "Payment timeout").
pub const TIMEOUT_TAG: &str = "timeout";

/// Body of the `order`/`timeout` delay message (key = order id): sent on
/// confirmation, due `ORDER_PAY_TIMEOUT` later; its consumer cancels the order if it
/// is still unpaid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderPayTimeout {
    pub order_id: Id,
}
