//! `trade_order_step`: the downstream calls made while confirming an order, with
//! their duration and answer, for the order timeline.

use chrono::{DateTime, Utc};
use serde_json::json;
use shop_kit::{contracts::timeline::TimelineEvent, ids::Id};
use sqlx::MySqlExecutor;

/// One downstream call of a confirmation.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub order_id: Id,
    pub step: &'a str,
    pub service: &'a str,
    /// `ok`, `refused` (4xx) or `unavailable` (unreachable, timeout, 5xx).
    pub outcome: &'a str,
    pub answer: String,
    pub duration_ms: u32,
    pub request_id: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// Saves `steps` in one statement (nothing when there are none).
pub async fn insert_steps(db: impl MySqlExecutor<'_>, steps: &[Step<'_>]) -> sqlx::Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let mut insert = sqlx::QueryBuilder::new(
        "insert into trade_order_step \
         (order_id, step, service, outcome, answer, duration_ms, request_id, started_at) ",
    );
    insert.push_values(steps, |mut row, step| {
        let answer: String = step.answer.chars().take(1024).collect();
        row.push_bind(step.order_id.0)
            .push_bind(step.step)
            .push_bind(step.service)
            .push_bind(step.outcome)
            .push_bind(answer)
            .push_bind(step.duration_ms)
            .push_bind(step.request_id.as_deref())
            .push_bind(step.started_at);
    });
    insert.build().execute(db).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StepRow {
    step: String,
    service: String,
    outcome: String,
    answer: String,
    duration_ms: u32,
    request_id: Option<String>,
    started_at: DateTime<Utc>,
}

/// The calls of `order_id` as timeline events (service order-svc, kind `call`).
pub async fn step_events(
    db: impl MySqlExecutor<'_>,
    order_id: Id,
) -> anyhow::Result<Vec<TimelineEvent>> {
    let rows: Vec<StepRow> = sqlx::query_as(
        r"select step, service, outcome, answer, duration_ms, request_id, started_at
          from trade_order_step
          where order_id = ?
          order by started_at, id",
    )
    .bind(order_id.0)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let detail = json!({
                "step": r.step,
                "callee": r.service,
                "duration_ms": r.duration_ms,
                "answer": r.answer,
            });
            TimelineEvent::new(
                r.started_at,
                "order-svc",
                "call",
                &r.outcome,
                r.request_id,
                detail,
            )
        })
        .collect())
}
