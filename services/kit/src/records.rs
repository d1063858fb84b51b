//! What every service tells about an order for its timeline (see
//! [`crate::contracts::timeline`]): the records kept alike by every consuming service
//! (its consumer-log entries and its `trade_cancelled_order` row), read here so that
//! each service's own `store/records.rs` only adds its domain tables.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::MySqlExecutor;

use crate::{contracts::timeline::TimelineEvent, ids::Id};

#[derive(sqlx::FromRow)]
struct ConsumerLogRow {
    group_name: String,
    msg_topic: String,
    msg_tag: String,
    msg_key: String,
    msg_id: Option<String>,
    status: String,
    attempts: u32,
    last_error: Option<String>,
    request_id: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The consumer-log entries of messages keyed by any of `keys`: one event each, at
/// its last change, outcome its status (`success`, `failed`, `processing`).
pub async fn consumer_log_events(
    db: impl MySqlExecutor<'_>,
    service: &str,
    keys: &[String],
) -> anyhow::Result<Vec<TimelineEvent>> {
    // `find_in_set` takes the keys as one bound string (keys never hold commas: they
    // are ids).
    let set = keys.join(",");
    let rows: Vec<ConsumerLogRow> = sqlx::query_as(
        r"select group_name, msg_topic, msg_tag, msg_key, msg_id, status, attempts,
                 last_error, request_id, created_at, updated_at
          from trade_mq_consumer_log
          where find_in_set(msg_key, ?) > 0
          order by updated_at",
    )
    .bind(set)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let detail = json!({
                "group": row.group_name,
                "topic": row.msg_topic,
                "tag": row.msg_tag,
                "key": row.msg_key,
                "msg_id": row.msg_id,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "first_seen_at": row.created_at,
            });
            TimelineEvent::new(
                row.updated_at,
                service,
                "consumed",
                &row.status,
                row.request_id,
                detail,
            )
        })
        .collect())
}

#[derive(sqlx::FromRow)]
struct CancelledRow {
    compensated: bool,
    created_at: DateTime<Utc>,
}

/// The service's compensation of a cancelled order: `compensated` when its step had
/// run and was undone, `null_compensation` when it never ran.
pub async fn compensation_event(
    db: impl MySqlExecutor<'_>,
    service: &str,
    order_id: Id,
) -> anyhow::Result<Option<TimelineEvent>> {
    let row: Option<CancelledRow> = sqlx::query_as(
        r"select compensated, created_at from trade_cancelled_order where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|row| {
        let outcome = if row.compensated {
            "compensated"
        } else {
            "null_compensation"
        };
        TimelineEvent::new(
            row.created_at,
            service,
            "compensation",
            outcome,
            None,
            json!({ "order_id": order_id }),
        )
    }))
}
