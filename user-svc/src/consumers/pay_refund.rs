//! `pay`/`refund` in group `user-pay-refund` (docs/architecture.md, "Payment"):
//! order-svc refunded a payment that arrived for a cancelled order, so the points it
//! earned are taken back (or, when this comes first, it will never earn them). See
//! [`super::pay_paid`].

use shop_kit::bus::Delivery;
use shop_kit::{
    consumer_log::Consume,
    contracts::pay::{PaymentRefund, points_for},
};
use sqlx::MySqlConnection;

use crate::store::points::{self, PaymentPoints, Revoked};

/// The consumer group.
pub const GROUP: &str = "user-pay-refund";

/// Takes back the points of a refunded payment.
pub struct RevokePoints;

impl Consume for RevokePoints {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &Delivery) -> anyhow::Result<()> {
        let refund: PaymentRefund = serde_json::from_slice(&message.body)?;
        let payment = PaymentPoints {
            pay_id: refund.pay_id,
            user_id: refund.user_id,
            order_id: refund.order_id,
            points: points_for(refund.amount),
        };
        match points::revoke(tx, &payment).await? {
            Revoked::TakenBack(points) => tracing::info!(pay_id = %refund.pay_id,
                user_id = %refund.user_id, points, "payment refunded: points taken back"),
            Revoked::BeforeEarning => tracing::info!(pay_id = %refund.pay_id,
                "payment refunded before its points were added: it will earn none"),
            Revoked::Already => {}
        }
        Ok(())
    }
}
