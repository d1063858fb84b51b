//! user-svc's records of an order for its timeline: the money logs (balance paid
//! and refunded), the points the payment earned, the consumer-log entries of its
//! messages and the compensation.

use chrono::{DateTime, Utc};
use serde_json::json;
use shop_kit::{
    contracts::timeline::{OrderRecords, TimelineEvent},
    ids::Id,
    records,
};
use sqlx::MySqlPool;

const SERVICE: &str = "user-svc";

#[derive(sqlx::FromRow)]
struct MoneyLogRow {
    user_id: u64,
    money_log_type: String,
    use_money: rust_decimal::Decimal,
    request_id: Option<String>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PointsRow {
    pay_id: u64,
    points: u64,
    status: String,
    updated_at: DateTime<Utc>,
}

/// Everything user-svc holds about `order_id`; `keys` are the message keys whose
/// consumer-log entries belong to it (the order id first).
pub async fn order_records(
    pool: &MySqlPool,
    order_id: Id,
    keys: &[String],
) -> anyhow::Result<OrderRecords> {
    let money: Vec<MoneyLogRow> = sqlx::query_as(
        r"select user_id, money_log_type, use_money, request_id, created_at
          from trade_user_money_log where order_id = ? order by created_at",
    )
    .bind(order_id.0)
    .fetch_all(pool)
    .await?;
    let points: Vec<PointsRow> = sqlx::query_as(
        r"select pay_id, points, status, updated_at
          from trade_user_points_log where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_all(pool)
    .await?;
    let mut records = OrderRecords::default();
    for m in money {
        let kind = if m.money_log_type == "paid" {
            "balance_deducted"
        } else {
            "balance_refunded"
        };
        records.events.push(TimelineEvent::new(
            m.created_at,
            SERVICE,
            kind,
            "ok",
            m.request_id,
            json!({ "user_id": m.user_id.to_string(), "amount": format!("{:.2}", m.use_money) }),
        ));
    }
    for p in points {
        records.events.push(TimelineEvent::new(
            p.updated_at,
            SERVICE,
            "points",
            &p.status,
            None,
            json!({ "pay_id": p.pay_id.to_string(), "points": p.points }),
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
