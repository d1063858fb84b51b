//! `pay`/`paid` in group `user-pay-paid` (docs/architecture.md, "Payment"): the payer
//! earns one point per whole currency unit paid.
//!
//! The points are granted on pay-svc's `paid` message itself, not on a later message
//! of order-svc's decision, so they follow the payment at once; a payment that
//! order-svc then refunds (its order was cancelled meanwhile) takes them back through
//! `pay`/`refund` ([`super::pay_refund`]). The points log keeps one row per payment, so
//! the two apply once each and in either order, and a refunded payment never keeps
//! its points.

use shop_kit::bus::Delivery;
use shop_kit::{
    consumer_log::Consume,
    contracts::pay::{PaymentPaid, points_for},
};
use sqlx::MySqlConnection;

use crate::store::points::{self, PaymentPoints};

/// The consumer group.
pub const GROUP: &str = "user-pay-paid";

/// Adds the points of a payment.
pub struct EarnPoints;

impl Consume for EarnPoints {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &Delivery) -> anyhow::Result<()> {
        let paid: PaymentPaid = serde_json::from_slice(&message.body)?;
        let payment = PaymentPoints {
            pay_id: paid.pay_id,
            user_id: paid.user_id,
            order_id: paid.order_id,
            points: points_for(paid.amount),
        };
        if points::earn(tx, &payment).await? {
            tracing::info!(pay_id = %paid.pay_id, user_id = %paid.user_id,
                points = payment.points, "points earned");
        } else {
            tracing::info!(pay_id = %paid.pay_id, "payment refunded or counted before: no points");
        }
        Ok(())
    }
}
