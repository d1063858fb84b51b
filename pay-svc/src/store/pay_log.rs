//! `trade_pay_log`: what happened to each payment, one row per payment and event
//! (`uk_pay_log_event`), so writing an event twice is one row.

use shop_kit::{ids::Id, money::Money};
use sqlx::MySqlConnection;

/// An event of a payment's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayEvent {
    Paid,
    Failed,
    Refunded,
}

impl PayEvent {
    fn as_str(self) -> &'static str {
        match self {
            PayEvent::Paid => "paid",
            PayEvent::Failed => "failed",
            PayEvent::Refunded => "refunded",
        }
    }
}

/// One log row to write.
#[derive(Debug, Clone)]
pub struct PayLogEntry<'a> {
    pub pay_id: Id,
    pub order_id: Id,
    pub event: PayEvent,
    pub amount: Money,
    pub trade_no: Option<&'a str>,
    pub note: Option<&'a str>,
}

/// Writes the entry unless the payment has that event logged; whether it was new.
pub async fn record(tx: &mut MySqlConnection, entry: &PayLogEntry<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"insert ignore into trade_pay_log (pay_id, order_id, event, amount, trade_no, note)
          values (?, ?, ?, ?, ?, ?)",
    )
    .bind(entry.pay_id.0)
    .bind(entry.order_id.0)
    .bind(entry.event.as_str())
    .bind(entry.amount.decimal())
    .bind(entry.trade_no)
    .bind(entry.note)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
