//! coupon-svc's records of an order for its timeline: the coupon it uses (a released
//! coupon no longer names the order: its release is the compensation row), the
//! consumer-log entries of its messages and the compensation.

use chrono::{DateTime, Utc};
use serde_json::json;
use shop_kit::{
    contracts::timeline::{OrderRecords, TimelineEvent},
    ids::Id,
    records,
};
use sqlx::MySqlPool;

const SERVICE: &str = "coupon-svc";

#[derive(sqlx::FromRow)]
struct UsedRow {
    coupon_id: u64,
    coupon_price: rust_decimal::Decimal,
    used_at: Option<DateTime<Utc>>,
}

/// Everything coupon-svc holds about `order_id`; `keys` are the message keys whose
/// consumer-log entries belong to it (the order id first).
pub async fn order_records(
    pool: &MySqlPool,
    order_id: Id,
    keys: &[String],
) -> anyhow::Result<OrderRecords> {
    let used: Option<UsedRow> = sqlx::query_as(
        r"select coupon_id, coupon_price, used_at from trade_coupon where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_optional(pool)
    .await?;
    let mut records = OrderRecords::default();
    if let Some(UsedRow {
        coupon_id,
        coupon_price,
        used_at: Some(at),
    }) = used
    {
        records.events.push(TimelineEvent::new(
            at,
            SERVICE,
            "coupon_used",
            "ok",
            None,
            json!({ "coupon_id": coupon_id.to_string(), "value": format!("{coupon_price:.2}") }),
        ));
    }
    records
        .events
        .extend(records::consumer_log_events(pool, SERVICE, keys).await?);
    records
        .events
        .extend(records::compensation_event(pool, SERVICE, order_id).await?);
    Ok(records)
}
