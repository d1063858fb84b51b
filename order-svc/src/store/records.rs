//! The order's own records for its timeline: the pre-order, its confirmation,
//! payment and cancellation as `trade_order` holds them.

use chrono::{DateTime, Utc};
use serde_json::json;
use shop_kit::{contracts::timeline::TimelineEvent, ids::Id};
use sqlx::MySqlExecutor;

#[derive(sqlx::FromRow)]
struct OrderFacts {
    user_id: u64,
    goods_id: u64,
    quantity: u32,
    coupon_id: Option<u64>,
    money_paid: rust_decimal::Decimal,
    pay_amount: rust_decimal::Decimal,
    status: String,
    pay_status: String,
    cancel_reason: Option<String>,
    request_id: Option<String>,
    created_at: DateTime<Utc>,
    confirmed_at: Option<DateTime<Utc>>,
    paid_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
}

/// The order's events, or `None` when order-svc does not know it.
pub async fn order_events(
    db: impl MySqlExecutor<'_>,
    order_id: Id,
) -> anyhow::Result<Option<Vec<TimelineEvent>>> {
    let row: Option<OrderFacts> = sqlx::query_as(
        r"select user_id, goods_id, quantity, coupon_id, money_paid, pay_amount, status,
                 pay_status, cancel_reason, request_id, created_at, confirmed_at, paid_at,
                 cancelled_at
          from trade_order where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_optional(db)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    // The confirming request made the pre-order and its confirmation; payment and
    // cancellation come from messages whose requests the consumer logs name.
    let event = |at, kind: &str, outcome: &str, detail| {
        let request_id = matches!(kind, "preorder_saved" | "order_confirmed")
            .then(|| row.request_id.clone())
            .flatten();
        TimelineEvent::new(at, "order-svc", kind, outcome, request_id, detail)
    };
    let mut events = vec![event(
        row.created_at,
        "preorder_saved",
        "ok",
        json!({
            "user_id": row.user_id.to_string(),
            "goods_id": row.goods_id.to_string(),
            "quantity": row.quantity,
            "coupon_id": row.coupon_id.map(|c| c.to_string()),
            "money_paid": format!("{:.2}", row.money_paid),
            "pay_amount": format!("{:.2}", row.pay_amount),
        }),
    )];
    if let Some(at) = row.confirmed_at {
        events.push(event(
            at,
            "order_confirmed",
            "ok",
            json!({ "status": row.status }),
        ));
    }
    if let Some(at) = row.paid_at {
        events.push(event(
            at,
            "order_paid",
            "ok",
            json!({ "pay_status": row.pay_status }),
        ));
    }
    if let Some(at) = row.cancelled_at {
        events.push(event(
            at,
            "order_cancelled",
            "cancelled",
            json!({ "cancel_reason": row.cancel_reason, "pay_status": row.pay_status }),
        ));
    }
    Ok(Some(events))
}
