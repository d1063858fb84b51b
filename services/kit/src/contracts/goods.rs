//! goods-svc: goods, their stock and the stock journal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ids::Id, money::Money};

/// `POST /goods`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateGoods {
    /// Not blank, at most 64 characters (spaces, tabs and line breaks around it are
    /// dropped).
    #[schema(min_length = 1, max_length = 64, pattern = r"[^ \t\n\r]")]
    pub name: String,
    /// Unit price, not negative.
    pub price: Money,
    /// Units in stock, a whole number from 0 to 4294967295.
    #[serde(deserialize_with = "crate::json::whole_number")]
    #[schema(minimum = 0, maximum = 4294967295_i64)]
    pub stock: i64,
}

/// Goods as `GET /goods/{goods_id}` shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GoodsView {
    pub goods_id: Id,
    pub name: String,
    pub price: Money,
    /// Units in stock according to MySQL (reservations are applied asynchronously).
    pub stock: i64,
    /// Units that can still be reserved (the Redis figure).
    pub available: i64,
}

/// State of a stock journal row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StockLogStatus {
    /// Reserved in Redis, not yet applied to MySQL stock.
    Reserved,
    /// Applied to MySQL stock.
    Applied,
    /// Undone by the order's cancellation (or refused after it).
    Cancelled,
}

/// One row of `GET /goods/{goods_id}/stock-logs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockLogView {
    pub journal_id: String,
    pub order_id: Id,
    pub goods_id: Id,
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    pub quantity: u32,
    pub status: StockLogStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /internal/stock/reservations` (called by order-svc): reserve stock for an
/// order, idempotent by order id; refused (409 `ORDER_CANCELLED`) after the order's
/// cancel reached goods-svc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReserveStock {
    pub order_id: Id,
    pub goods_id: Id,
    /// At least 1.
    #[serde(deserialize_with = "crate::json::whole_number")]
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    pub quantity: u32,
}

/// A reservation: the stock journal row of the order and goods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reservation {
    pub journal_id: String,
    pub order_id: Id,
    pub goods_id: Id,
    #[schema(value_type = i64, minimum = 1, maximum = 4294967295_i64)]
    pub quantity: u32,
    pub status: StockLogStatus,
}

/// Topic of stock messages.
pub const STOCK_TOPIC: &str = "stock";
/// Tag of the message that applies a committed journal to MySQL stock.
pub const DEDUCT_TAG: &str = "deduct";

/// Body of the `stock`/`deduct` transactional message (key = journal id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StockJournalCommitted {
    pub journal_id: String,
    pub order_id: Id,
    pub goods_id: Id,
    pub quantity: u32,
}
