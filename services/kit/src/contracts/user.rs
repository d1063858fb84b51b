//! user-svc: users, balances, points and the money log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ids::Id, money::Money};

/// `POST /users`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateUser {
    /// Not blank, at most 64 characters (spaces, tabs and line breaks around it are
    /// dropped).
    #[schema(min_length = 1, max_length = 64, pattern = r"[^ \t\n\r]")]
    pub name: String,
    /// Opening balance, not negative.
    pub balance: Money,
}

/// A user as `GET /users/{user_id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub user_id: Id,
    pub name: String,
    pub balance: Money,
    /// Loyalty points: one per whole currency unit paid.
    pub points: u64,
}

/// Why the balance moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MoneyLogType {
    /// Deducted to pay (part of) an order.
    Paid,
    /// Given back when the order was cancelled.
    Refund,
}

/// One row of `GET /users/{user_id}/money-logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MoneyLogView {
    pub order_id: Id,
    #[serde(rename = "type")]
    pub kind: MoneyLogType,
    pub amount: Money,
    pub created_at: DateTime<Utc>,
}

/// `POST /internal/users/{user_id}/deduct` (called by order-svc): deduct from the
/// balance for an order, idempotent by order id; refused (409 `ORDER_CANCELLED`)
/// after the order's cancel reached user-svc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeductBalance {
    pub order_id: Id,
    /// More than zero, at most the balance (`BALANCE_NOT_ENOUGH`).
    #[schema(schema_with = crate::money::positive_schema)]
    pub amount: Money,
}
