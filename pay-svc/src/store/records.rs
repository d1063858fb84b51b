//! pay-svc's records of an order for its timeline: the payment (created, paid,
//! refunded), its payment log, the consumer-log entries of its messages; its
//! payment id is the key of the `pay` messages the others consumed.

use chrono::{DateTime, Utc};
use serde_json::json;
use shop_kit::{
    contracts::{
        pay::PAY_TOPIC,
        timeline::{MessageKey, OrderRecords, TimelineEvent},
    },
    ids::Id,
    records,
};
use sqlx::MySqlPool;

const SERVICE: &str = "pay-svc";

#[derive(sqlx::FromRow)]
struct PayRow {
    pay_id: u64,
    pay_amount: rust_decimal::Decimal,
    status: String,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct PayLogRow {
    pay_id: u64,
    event: String,
    amount: rust_decimal::Decimal,
    trade_no: Option<String>,
    note: Option<String>,
    created_at: DateTime<Utc>,
}

/// Everything pay-svc holds about `order_id`; `keys` are the message keys whose
/// consumer-log entries belong to it (the order id first).
pub async fn order_records(
    pool: &MySqlPool,
    order_id: Id,
    keys: &[String],
) -> anyhow::Result<OrderRecords> {
    let payments: Vec<PayRow> = sqlx::query_as(
        r"select pay_id, pay_amount, status, created_at from trade_pay where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_all(pool)
    .await?;
    let logs: Vec<PayLogRow> = sqlx::query_as(
        r"select pay_id, event, amount, trade_no, note, created_at
          from trade_pay_log where order_id = ? order by created_at, id",
    )
    .bind(order_id.0)
    .fetch_all(pool)
    .await?;
    let mut records = OrderRecords::default();
    for p in &payments {
        records.events.push(TimelineEvent::new(
            p.created_at,
            SERVICE,
            "payment_created",
            "ok",
            None,
            json!({
                "pay_id": p.pay_id.to_string(),
                "amount": format!("{:.2}", p.pay_amount),
                "status": p.status,
            }),
        ));
        records.keys.push(MessageKey {
            topic: PAY_TOPIC.to_owned(),
            key: p.pay_id.to_string(),
        });
    }
    for l in logs {
        records.events.push(TimelineEvent::new(
            l.created_at,
            SERVICE,
            &format!("payment_{}", l.event),
            "ok",
            None,
            json!({
                "pay_id": l.pay_id.to_string(),
                "amount": format!("{:.2}", l.amount),
                "trade_no": l.trade_no,
                "note": l.note,
            }),
        ));
    }
    let mut keys = keys.to_vec();
    keys.extend(records.keys.iter().map(|k| k.key.clone()));
    records
        .events
        .extend(records::consumer_log_events(pool, SERVICE, &keys).await?);
    Ok(records)
}
