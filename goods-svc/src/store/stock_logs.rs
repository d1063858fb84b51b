//! `trade_stock_log`: the stock journal (reservations per order and goods).

use chrono::{DateTime, Utc};
use services::{
    contracts::goods::{StockLogStatus, StockLogView},
    ids::Id,
};
use sqlx::MySqlExecutor;

#[derive(sqlx::FromRow)]
struct StockLogRow {
    journal_id: String,
    order_id: u64,
    goods_id: u64,
    quantity: u32,
    status: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The journal rows of `goods_id`, oldest first.
pub async fn stock_logs(
    db: impl MySqlExecutor<'_>,
    goods_id: Id,
) -> anyhow::Result<Vec<StockLogView>> {
    let rows: Vec<StockLogRow> = sqlx::query_as(
        r"select journal_id, order_id, goods_id, quantity, status, created_at, updated_at
          from trade_stock_log
          where goods_id = ?
          order by created_at, journal_id",
    )
    .bind(goods_id.0)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let status = match row.status.as_str() {
                "reserved" => StockLogStatus::Reserved,
                "applied" => StockLogStatus::Applied,
                "cancelled" => StockLogStatus::Cancelled,
                other => anyhow::bail!("unknown stock journal status {other:?}"),
            };
            Ok(StockLogView {
                journal_id: row.journal_id,
                order_id: Id(row.order_id),
                goods_id: Id(row.goods_id),
                quantity: row.quantity,
                status,
                created_at: row.created_at,
                updated_at: row.updated_at,
            })
        })
        .collect()
}
