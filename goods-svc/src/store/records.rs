//! goods-svc's records of an order for its timeline: the stock journal row
//! (reserved, applied, cancelled), the stock changes it caused, the consumer-log
//! entries of its messages and the compensation.

use chrono::{DateTime, Utc};
use serde_json::json;
use shop_kit::{
    contracts::{
        goods::STOCK_TOPIC,
        timeline::{MessageKey, OrderRecords, TimelineEvent},
    },
    ids::Id,
    records,
};
use sqlx::MySqlPool;

const SERVICE: &str = "goods-svc";

#[derive(sqlx::FromRow)]
struct JournalRow {
    journal_id: String,
    goods_id: u64,
    quantity: u32,
    status: String,
    null_compensation: bool,
    request_id: Option<String>,
    created_at: DateTime<Utc>,
    applied_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct NumberLogRow {
    goods_id: u64,
    change_type: String,
    goods_number: i32,
    log_time: DateTime<Utc>,
}

/// Everything goods-svc holds about `order_id`; `keys` are the message keys whose
/// consumer-log entries belong to it (the order id first).
pub async fn order_records(
    pool: &MySqlPool,
    order_id: Id,
    keys: &[String],
) -> anyhow::Result<OrderRecords> {
    let journals: Vec<JournalRow> = sqlx::query_as(
        r"select journal_id, goods_id, quantity, status, null_compensation, request_id,
                 created_at, applied_at, cancelled_at
          from trade_stock_log where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_all(pool)
    .await?;
    let changes: Vec<NumberLogRow> = sqlx::query_as(
        r"select goods_id, change_type, goods_number, log_time
          from trade_goods_number_log where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_all(pool)
    .await?;

    let mut records = OrderRecords::default();
    for j in &journals {
        let detail = json!({
            "journal_id": j.journal_id,
            "goods_id": j.goods_id.to_string(),
            "quantity": j.quantity,
            "status": j.status,
        });
        let event = |at, kind: &str, outcome: &str, request_id: Option<String>| {
            TimelineEvent::new(at, SERVICE, kind, outcome, request_id, detail.clone())
        };
        records.events.push(event(
            j.created_at,
            "stock_reserved",
            "ok",
            j.request_id.clone(),
        ));
        if let Some(at) = j.applied_at {
            records.events.push(event(at, "stock_applied", "ok", None));
        }
        if let Some(at) = j.cancelled_at {
            let outcome = if j.null_compensation {
                "null_compensation"
            } else {
                "cancelled"
            };
            records
                .events
                .push(event(at, "stock_cancelled", outcome, None));
        }
        records.keys.push(MessageKey {
            topic: STOCK_TOPIC.to_owned(),
            key: j.journal_id.clone(),
        });
    }
    for c in changes {
        records.events.push(TimelineEvent::new(
            c.log_time,
            SERVICE,
            "stock_changed",
            &c.change_type,
            None,
            json!({ "goods_id": c.goods_id.to_string(), "goods_number": c.goods_number }),
        ));
    }

    let mut keys = keys.to_vec();
    keys.extend(records.keys.iter().map(|k| k.key.clone()));
    records
        .events
        .extend(records::consumer_log_events(pool, SERVICE, &keys).await?);
    records
        .events
        .extend(records::compensation_event(pool, SERVICE, order_id).await?);
    Ok(records)
}
