//! `order`/`cancel` in group `goods-order-cancel`: cancels the order's journal
//! (returning the MySQL stock if it was applied, and recording the Redis give-back
//! it owes) and, after the commit, gives the units back to Redis (see
//! [`crate::stock::giveback`]: a crash in between is repaired by the reconciler);
//! with no journal yet, writes a `cancelled` null-compensation row so that the late
//! reservation is refused.

use shop_kit::bus::Delivery;
use shop_kit::{
    cache::Cache, cancelled_orders, consumer_log::Consume, contracts::order::OrderCancelled,
    db::Database,
};
use sqlx::MySqlConnection;

use crate::{
    stock::giveback,
    store::{self, stock_logs::Cancelled},
};

/// The consumer group.
pub const GROUP: &str = "goods-order-cancel";

/// Give stock back on cancel.
pub struct ReturnStockOnCancel {
    pub db: Database,
    pub cache: Cache,
}

/// The cancelled journal whose units go back to Redis after the commit.
pub struct GiveBack {
    journal_id: String,
}

impl Consume for ReturnStockOnCancel {
    type Effect = Option<GiveBack>;

    async fn apply(
        &self,
        tx: &mut MySqlConnection,
        message: &Delivery,
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
            Cancelled::Undone { journal_id, .. } => {
                cancelled_orders::set_compensated(tx, cancel.order_id, true).await?;
                Some(GiveBack { journal_id })
            }
            Cancelled::NullCompensation | Cancelled::Already => None,
        })
    }

    async fn after_commit(&self, effect: Option<GiveBack>) {
        let Some(back) = effect else { return };
        match giveback::give_back(&self.db, &self.cache, &back.journal_id).await {
            Ok(true) => {}
            Ok(false) => tracing::info!(journal_id = %back.journal_id,
                "redis stock is being rebuilt; the reconciler gives the units back after"),
            Err(error) => {
                tracing::warn!(journal_id = %back.journal_id, error = format!("{error:#}"),
                "stock returned in mysql but not yet in redis; the reconciler gives it back")
            }
        }
    }
}
