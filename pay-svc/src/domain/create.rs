//! Creating the payment of an order (docs/architecture.md, "Payment"): the order must
//! be confirmed and unpaid, and the amount is its `pay_amount` as order-svc tells it,
//! never the client's. One payment per order: a second create, or two racing, find the
//! first; a payment still open is offered again only while its order can be paid.

use shop_kit::{
    clients::{ClientError, OrderClient},
    contracts::{
        order::{OrderStatus, PayStatus},
        pay::{PaymentStatus, PaymentView},
    },
    db::Database,
    error::Unavailable,
    ids::Id,
    telemetry,
};
use tracing::Instrument;

use crate::store::payments;

/// A payment made now or found.
#[derive(Debug)]
pub enum Created {
    New(PaymentView),
    Existing(PaymentView),
}

/// Why no payment can be made.
#[derive(Debug, thiserror::Error)]
pub enum CreateRefused {
    #[error("no such order")]
    OrderNotFound,
    #[error("the order is cancelled")]
    OrderCancelled,
    #[error("the order is paid already")]
    OrderAlreadyPaid,
    #[error("the order is not confirmed yet")]
    OrderNotConfirmed,
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Creates (or finds) the payment of the order `order_id`.
pub async fn create_payment(
    db: &Database,
    orders: &OrderClient,
    order_id: Id,
) -> Result<Created, CreateRefused> {
    let pool = db.pool()?;
    let existing = payments::find_by_order(pool, order_id).await?;
    // A settled payment is the answer whatever the order's state now.
    if let Some(settled) = existing
        .as_ref()
        .filter(|p| matches!(p.status, PaymentStatus::Paid | PaymentStatus::Refunded))
    {
        return Ok(Created::Existing(
            payments::view_with_refunds(pool, settled).await?,
        ));
    }
    let order = match orders.get_order(order_id).await {
        Ok(Some(order)) => order,
        Ok(None) => return Err(CreateRefused::OrderNotFound),
        Err(ClientError::Unavailable { service, .. }) => {
            return Err(Unavailable::new(service).into());
        }
        Err(other) => return Err(anyhow::Error::new(other).into()),
    };
    // An open payment is not offered for an order that can no longer be paid.
    match (order.status, order.pay_status) {
        (OrderStatus::Cancelled, _) | (_, PayStatus::Refunded) => {
            return Err(CreateRefused::OrderCancelled);
        }
        (OrderStatus::Unconfirmed, _) => return Err(CreateRefused::OrderNotConfirmed),
        (OrderStatus::Confirmed, PayStatus::Paid) => return Err(CreateRefused::OrderAlreadyPaid),
        (OrderStatus::Confirmed, PayStatus::Unpaid) => {}
    }
    if let Some(open) = existing {
        return Ok(Created::Existing(open.view()));
    }
    // Nothing left to pay: order-svc confirms such an order paid; say so either way.
    if order.pay_amount.is_zero() {
        return Err(CreateRefused::OrderAlreadyPaid);
    }
    // The payment is a step of the order: it continues the order's trace (and keeps
    // it on its row, for the platform's callback).
    let trace = order.trace_context.as_deref();
    let insert = payments::insert(pool, order_id, order.user_id, order.pay_amount, trace)
        .instrument(telemetry::order_step("create payment", "pay-svc", trace));
    match insert.await {
        Ok(Some(pay_id)) => {
            tracing::info!(%pay_id, %order_id, amount = %order.pay_amount, "payment created");
            Ok(Created::New(PaymentView {
                pay_id,
                order_id,
                amount: order.pay_amount,
                status: PaymentStatus::Unpaid,
                refunds: Vec::new(),
            }))
        }
        Ok(None) => {
            let existing = payments::find_by_order(pool, order_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("payment of order {order_id} vanished"))?;
            Ok(Created::Existing(existing.view()))
        }
        Err(e) => Err(anyhow::Error::new(e).into()),
    }
}
