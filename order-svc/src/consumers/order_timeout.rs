//! `order`/`timeout` in group `order-order-timeout` (docs/architecture.md, "Payment
//! timeout"): the delay message sent on confirmation, due `ORDER_PAY_TIMEOUT` later. An
//! order still confirmed and unpaid is cancelled with reason `pay_timeout` and its
//! compensation message written, in the consumer log's transaction; a paid or cancelled
//! order is left alone.

use shop_kit::bus::Delivery;
use shop_kit::{
    consumer_log::Consume,
    contracts::order::{CancelReason, OrderPayTimeout},
    outbox::Outbox,
};
use sqlx::MySqlConnection;

use crate::domain::cancel;

/// The consumer group.
pub const GROUP: &str = "order-order-timeout";

/// Cancels unpaid orders at their timeout.
pub struct CancelUnpaid {
    pub outbox: Outbox,
}

impl Consume for CancelUnpaid {
    /// The outbox row of the cancel message, to send after the commit.
    type Effect = Option<u64>;

    async fn apply(
        &self,
        tx: &mut MySqlConnection,
        message: &Delivery,
    ) -> anyhow::Result<Option<u64>> {
        let timeout: OrderPayTimeout = serde_json::from_slice(&message.body)?;
        cancel::cancel_in(tx, &self.outbox, timeout.order_id, CancelReason::PayTimeout).await
    }

    async fn after_commit(&self, effect: Option<u64>) {
        if let Some(row) = effect {
            self.outbox.send_soon(vec![row]);
        }
    }
}
