//! `order`/`cancel` in group `goods-order-cancel`: cancels the order's journal
//! (returning the MySQL stock if it was applied) and, after the commit, gives the
//! units back to the Redis generation they came from; with no journal yet, writes a
//! `cancelled` null-compensation row so that the late reservation is refused.

use mq::StoredMessage;
use shop_kit::{
    cache::Cache, cancelled_orders, consumer_log::Consume, contracts::order::OrderCancelled,
    ids::Id,
};
use sqlx::MySqlConnection;

use crate::store::{self, stock_cache, stock_logs::Cancelled};

/// The consumer group.
pub const GROUP: &str = "goods-order-cancel";

/// Give stock back on cancel.
pub struct ReturnStockOnCancel {
    pub cache: Cache,
}

/// Units to give back to Redis after the commit.
pub struct GiveBack {
    goods_id: Id,
    quantity: u32,
    generation: Option<String>,
}

impl Consume for ReturnStockOnCancel {
    type Effect = Option<GiveBack>;

    async fn apply(
        &self,
        tx: &mut MySqlConnection,
        message: &StoredMessage,
    ) -> anyhow::Result<Option<GiveBack>> {
        let cancel: OrderCancelled = serde_json::from_slice(&message.body)?;
        cancelled_orders::record_cancel(tx, cancel.order_id, false).await?;
        let cancelled = store::stock_logs::cancel_for_order(
            tx,
            cancel.order_id,
            cancel.goods_id,
            cancel.quantity,
        )
        .await?;
        tracing::info!(order_id = %cancel.order_id, goods_id = %cancel.goods_id, ?cancelled,
            "order cancelled: stock journal");
        Ok(match cancelled {
            Cancelled::Undone {
                quantity,
                cache_gen,
            } => {
                cancelled_orders::set_compensated(tx, cancel.order_id, true).await?;
                Some(GiveBack {
                    goods_id: cancel.goods_id,
                    quantity,
                    generation: cache_gen,
                })
            }
            Cancelled::NullCompensation | Cancelled::Already => None,
        })
    }

    async fn after_commit(&self, effect: Option<GiveBack>) {
        let Some(back) = effect else { return };
        let generation = back.generation.unwrap_or_default();
        match stock_cache::give_back(&self.cache, back.goods_id, back.quantity, &generation).await {
            Ok(true) => {}
            Ok(false) => tracing::info!(goods_id = %back.goods_id,
                "redis stock was rebuilt since the reservation; not given back (the reconciler settles any difference)"),
            Err(error) => tracing::warn!(goods_id = %back.goods_id, %error,
                "stock returned in mysql but not in redis; the reconciler repairs it"),
        }
    }
}
