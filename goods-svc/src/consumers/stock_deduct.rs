//! `stock`/`deduct` in group `goods-stock-deduct`: applies the committed journal to
//! `trade_goods.goods_number` with a `trade_goods_number_log` row, exactly once (the
//! journal's `reserved` → `applied` is a conditional update).

use shop_kit::bus::Delivery;
use shop_kit::{consumer_log::Consume, contracts::goods::StockJournalCommitted};
use sqlx::MySqlConnection;

use crate::store;

/// The consumer group.
pub const GROUP: &str = "goods-stock-deduct";

/// Apply journals.
pub struct ApplyJournal;

impl Consume for ApplyJournal {
    type Effect = ();

    async fn apply(&self, tx: &mut MySqlConnection, message: &Delivery) -> anyhow::Result<()> {
        let journal: StockJournalCommitted = serde_json::from_slice(&message.body)?;
        if store::stock_logs::apply_journal(tx, &journal.journal_id).await? {
            tracing::debug!(journal_id = %journal.journal_id, "journal applied to mysql stock");
        }
        Ok(())
    }
}
