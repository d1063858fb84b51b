//! `pay`/`paid` in group `pay-pay-paid` (docs/architecture.md, "Payment"): pay-svc's
//! own consumer of the message its callback wrote, recording the `paid` event in
//! `trade_pay_log`. The log's unique (pay id, event) and the consumer log make it apply
//! once.

use shop_kit::bus::Delivery;
use shop_kit::{consumer_log::Consume, contracts::pay::PaymentPaid};
use sqlx::MySqlConnection;

use crate::store::pay_log::{self, PayEvent, PayLogEntry};

/// The consumer group.
pub const GROUP: &str = "pay-pay-paid";

/// Writes the payment log row of a paid payment.
pub struct LogPaid;

impl Consume for LogPaid {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &Delivery) -> anyhow::Result<()> {
        let paid: PaymentPaid = serde_json::from_slice(&message.body)?;
        let entry = PayLogEntry {
            pay_id: paid.pay_id,
            order_id: paid.order_id,
            event: PayEvent::Paid,
            amount: paid.amount,
            trade_no: paid.trade_no.as_deref(),
            note: None,
        };
        pay_log::record(tx, &entry).await?;
        Ok(())
    }
}
