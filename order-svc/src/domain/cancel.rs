//! Cancelling an order: the status change and the `order`/`cancel` compensation
//! message commit in one local transaction (the message goes through the local
//! message table), so a cancelled order always releases its stock, coupon and balance.
//!
//! Who may cancel what is decided on the locked row, so a confirmation, the abandon
//! sweep, the payment timeout and a payment racing each other decide once.

use shop_kit::{
    contracts::order::{
        CANCEL_TAG, CancelReason, ORDER_TOPIC, OrderCancelled, OrderStatus, PayStatus,
    },
    ids::Id,
    outbox::{Outbox, OutboxMessage},
};
use sqlx::{Acquire, MySqlConnection};
use tracing::Instrument;

use crate::store;

/// Cancels `order_id` for `reason` inside `tx` when its state allows it: an
/// unconfirmed order for `confirm_failed` and `abandoned`, a confirmed unpaid one for
/// `pay_timeout`. Returns the outbox row to send after the commit, `None` when the
/// order was left as it was.
pub async fn cancel_in(
    tx: &mut MySqlConnection,
    outbox: &Outbox,
    order_id: Id,
    reason: CancelReason,
) -> anyhow::Result<Option<u64>> {
    let Some(order) = store::orders::lock_order(tx, order_id).await? else {
        return Ok(None);
    };
    let cancellable = match reason {
        CancelReason::ConfirmFailed | CancelReason::Abandoned => {
            order.status == OrderStatus::Unconfirmed
        }
        CancelReason::PayTimeout => {
            order.status == OrderStatus::Confirmed && order.pay_status == PayStatus::Unpaid
        }
    };
    if !cancellable {
        return Ok(None);
    }
    store::orders::mark_cancelled(tx, order_id, reason).await?;
    let body = OrderCancelled {
        order_id,
        user_id: order.user_id,
        goods_id: order.goods_id,
        quantity: order.quantity,
        coupon_id: order.coupon_id,
        money_paid: order.money_paid,
        reason,
    };
    let message = OutboxMessage::json(ORDER_TOPIC, CANCEL_TAG, order_id.to_string(), &body);
    let row = outbox.insert(tx, &message).await?;
    tracing::info!(%order_id, ?reason, "order cancelled; compensation message written");
    // Counted when written: the caller commits next (a failed commit is rare and
    // leaves the order to be cancelled again, and counted again).
    metrics::counter!("shop_orders_cancelled_total", "reason" => reason.as_str()).increment(1);
    Ok(Some(row))
}

/// [`cancel_in`] in its own transaction, sending the message after the commit;
/// whether this call cancelled the order.
pub async fn cancel(
    db: &shop_kit::db::Database,
    outbox: &Outbox,
    order_id: Id,
    reason: CancelReason,
) -> anyhow::Result<bool> {
    cancel_in_own_transaction(db, outbox, order_id, reason)
        .instrument(shop_kit::db::transaction_span("cancel order"))
        .await
}

async fn cancel_in_own_transaction(
    db: &shop_kit::db::Database,
    outbox: &Outbox,
    order_id: Id,
    reason: CancelReason,
) -> anyhow::Result<bool> {
    let pool = db.pool()?;
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let row = cancel_in(&mut tx, outbox, order_id, reason).await?;
    tx.commit().await?;
    if let Some(row) = row {
        outbox.send_soon(vec![row]);
    }
    Ok(row.is_some())
}
