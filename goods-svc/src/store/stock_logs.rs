//! `trade_stock_log`: the stock journal (reservations per order and goods).

use chrono::{DateTime, Utc};
use shop_kit::{
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

/// A journal row as the reservation and the consumers see it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Journal {
    pub journal_id: String,
    pub order_id: u64,
    pub goods_id: u64,
    pub quantity: u32,
    pub status: String,
    pub cache_gen: Option<String>,
}

const JOURNAL_COLUMNS: &str = "journal_id, order_id, goods_id, quantity, status, cache_gen";

/// The journal row of `order_id` and `goods_id`, if any.
pub async fn find_for_order(
    db: impl MySqlExecutor<'_>,
    order_id: Id,
    goods_id: Id,
) -> sqlx::Result<Option<Journal>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {JOURNAL_COLUMNS} from trade_stock_log where order_id = ? and goods_id = ?"
    )))
    .bind(order_id.0)
    .bind(goods_id.0)
    .fetch_optional(db)
    .await
}

/// Whether the journal row `journal_id` exists (the check-back's answer).
pub async fn journal_exists(db: impl MySqlExecutor<'_>, journal_id: &str) -> sqlx::Result<bool> {
    let found: Option<String> =
        sqlx::query_scalar(r"select journal_id from trade_stock_log where journal_id = ?")
            .bind(journal_id)
            .fetch_optional(db)
            .await?;
    Ok(found.is_some())
}

/// Inserts the `reserved` journal row; `false` when the order already has a row for
/// these goods (a repeated or refused reservation).
pub async fn insert_reservation(
    tx: &mut sqlx::MySqlConnection,
    journal: &Journal,
    request_id: Option<&str>,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        r"insert into trade_stock_log
              (journal_id, order_id, goods_id, quantity, status, cache_gen, request_id)
          values (?, ?, ?, ?, 'reserved', ?, ?)",
    )
    .bind(&journal.journal_id)
    .bind(journal.order_id)
    .bind(journal.goods_id)
    .bind(journal.quantity)
    .bind(&journal.cache_gen)
    .bind(request_id)
    .execute(tx)
    .await;
    match inserted {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Applies the `reserved` journal `journal_id` to MySQL stock, with a `deduct` row in
/// `trade_goods_number_log`; `false` when it is not `reserved` (applied before, or
/// cancelled), which changes nothing.
pub async fn apply_journal(
    tx: &mut sqlx::MySqlConnection,
    journal_id: &str,
) -> anyhow::Result<bool> {
    let done = sqlx::query(
        r"update trade_stock_log set status = 'applied', applied = 1, applied_at = now(3)
          where journal_id = ? and status = 'reserved'",
    )
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    // The journal row is locked (above), then the goods row, the order a cancel takes
    // too; its goods and quantity are read inside the statements, not by a select of
    // their own.
    let deducted = sqlx::query(
        r"update trade_goods g join trade_stock_log l on l.goods_id = g.goods_id
          set g.goods_number = g.goods_number - l.quantity
          where l.journal_id = ? and g.goods_number >= l.quantity",
    )
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    if deducted.rows_affected() != 1 {
        let (goods_id, quantity): (u64, u32) =
            sqlx::query_as(r"select goods_id, quantity from trade_stock_log where journal_id = ?")
                .bind(journal_id)
                .fetch_one(&mut *tx)
                .await?;
        anyhow::bail!("goods {goods_id} cannot give {quantity} units for journal {journal_id}");
    }
    sqlx::query(
        r"insert into trade_goods_number_log (goods_id, order_id, change_type, goods_number)
          select goods_id, order_id, 'deduct', 0 - cast(quantity as signed)
          from trade_stock_log where journal_id = ?",
    )
    .bind(journal_id)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

async fn log_number_change(
    tx: &mut sqlx::MySqlConnection,
    goods_id: u64,
    order_id: u64,
    change: &str,
    amount: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        r"insert into trade_goods_number_log (goods_id, order_id, change_type, goods_number)
          values (?, ?, ?, ?)",
    )
    .bind(goods_id)
    .bind(order_id)
    .bind(change)
    .bind(amount)
    .execute(tx)
    .await?;
    Ok(())
}

/// What cancelling an order's journal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cancelled {
    /// No reservation yet: a `cancelled` row with null_compensation = 1 now stands in
    /// its place, so a late reservation is refused.
    NullCompensation,
    /// The reservation was undone (and its MySQL deduction returned if it had been
    /// applied); its `quantity` units are owed to Redis (`giveback_pending`).
    Undone { journal_id: String, quantity: u32 },
    /// Cancelled before: nothing changed.
    Already,
}

/// Cancels the journal of `order_id` and `goods_id` in `tx`, whatever its state.
pub async fn cancel_for_order(
    tx: &mut sqlx::MySqlConnection,
    order_id: Id,
    goods_id: Id,
    quantity: u32,
) -> anyhow::Result<Cancelled> {
    let journal: Option<Journal> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {JOURNAL_COLUMNS} from trade_stock_log
         where order_id = ? and goods_id = ? for update"
    )))
    .bind(order_id.0)
    .bind(goods_id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(journal) = journal else {
        sqlx::query(
            r"insert into trade_stock_log
                  (journal_id, order_id, goods_id, quantity, status, null_compensation, cancelled_at)
              values (?, ?, ?, ?, 'cancelled', 1, now(3))",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(order_id.0)
        .bind(goods_id.0)
        .bind(quantity)
        .execute(&mut *tx)
        .await?;
        return Ok(Cancelled::NullCompensation);
    };
    if journal.status == "cancelled" {
        return Ok(Cancelled::Already);
    }
    sqlx::query(
        r"update trade_stock_log set status = 'cancelled', cancelled_at = now(3),
              giveback_pending = 1
          where journal_id = ?",
    )
    .bind(&journal.journal_id)
    .execute(&mut *tx)
    .await?;
    if journal.status == "applied" {
        sqlx::query(r"update trade_goods set goods_number = goods_number + ? where goods_id = ?")
            .bind(journal.quantity)
            .bind(journal.goods_id)
            .execute(&mut *tx)
            .await?;
        let amount = i64::from(journal.quantity);
        log_number_change(tx, journal.goods_id, journal.order_id, "return", amount).await?;
    }
    Ok(Cancelled::Undone {
        journal_id: journal.journal_id,
        quantity: journal.quantity,
    })
}

/// What Redis should hold according to MySQL: the stock minus journals reserved
/// but not yet applied, minus units of cancels not yet given back to Redis (one
/// statement, so one consistent snapshot); `None` for unknown goods.
pub async fn expected_available(
    db: impl MySqlExecutor<'_>,
    goods_id: Id,
) -> sqlx::Result<Option<i64>> {
    let value: Option<rust_decimal::Decimal> = sqlx::query_scalar(
        r"select g.goods_number
                 - coalesce((select sum(l.quantity) from trade_stock_log l
                             where l.goods_id = g.goods_id and l.status = 'reserved'), 0)
                 - coalesce((select sum(l.quantity) from trade_stock_log l
                             where l.giveback_pending = 1 and l.goods_id = g.goods_id), 0)
          from trade_goods g where g.goods_id = ?",
    )
    .bind(goods_id.0)
    .fetch_optional(db)
    .await?;
    Ok(value.map(|d| i64::try_from(d).unwrap_or(0)))
}

/// `(?, ?, …)` for `n` values (at least one, so `in (…)` stays valid SQL).
fn placeholders(n: usize) -> String {
    let marks = vec!["?"; n.max(1)].join(", ");
    format!("({marks})")
}

/// In one statement: [`expected_available`], and the units of the journals among
/// `current` and among `older` that exist; `None` for unknown goods.
pub async fn drift_sample(
    db: impl MySqlExecutor<'_>,
    goods_id: Id,
    current: &[&str],
    older: &[&str],
) -> sqlx::Result<Option<(i64, i64, i64)>> {
    let sql = format!(
        r"select cast(g.goods_number
                 - coalesce((select sum(l.quantity) from trade_stock_log l
                             where l.goods_id = g.goods_id and l.status = 'reserved'), 0)
                 - coalesce((select sum(l.quantity) from trade_stock_log l
                             where l.giveback_pending = 1 and l.goods_id = g.goods_id), 0)
                 as signed),
                 cast(coalesce((select sum(l.quantity) from trade_stock_log l
                                where l.journal_id in {}), 0) as signed),
                 cast(coalesce((select sum(l.quantity) from trade_stock_log l
                                where l.journal_id in {}), 0) as signed)
          from trade_goods g where g.goods_id = ?",
        placeholders(current.len()),
        placeholders(older.len()),
    );
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for ids in [current, older] {
        if ids.is_empty() {
            query = query.bind("");
        }
        for id in ids {
            query = query.bind(*id);
        }
    }
    query.bind(goods_id.0).fetch_optional(db).await
}

/// Which of `journal_ids` exist.
pub async fn existing_journals(
    db: impl MySqlExecutor<'_>,
    journal_ids: &[&str],
) -> sqlx::Result<Vec<String>> {
    if journal_ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "select journal_id from trade_stock_log where journal_id in {}",
        placeholders(journal_ids.len())
    );
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for id in journal_ids {
        query = query.bind(*id);
    }
    query.fetch_all(db).await
}

/// Cancelled journals whose units Redis has not been given back yet.
pub async fn pending_givebacks(
    db: impl MySqlExecutor<'_>,
    limit: u32,
) -> sqlx::Result<Vec<(String, u64)>> {
    sqlx::query_as(
        r"select journal_id, goods_id from trade_stock_log
          where giveback_pending = 1 order by goods_id limit ?",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Locks the pending give-back of `journal_id`: its goods and units, `None` when
/// it is not pending (done before).
pub async fn lock_pending_giveback(
    tx: &mut sqlx::MySqlConnection,
    journal_id: &str,
) -> sqlx::Result<Option<(u64, u32)>> {
    sqlx::query_as(
        r"select goods_id, quantity from trade_stock_log
          where journal_id = ? and giveback_pending = 1 for update",
    )
    .bind(journal_id)
    .fetch_optional(tx)
    .await
}

/// Records that Redis has the units of cancelled journal `journal_id` back.
pub async fn mark_given_back(tx: &mut sqlx::MySqlConnection, journal_id: &str) -> sqlx::Result<()> {
    sqlx::query(r"update trade_stock_log set giveback_pending = 0 where journal_id = ?")
        .bind(journal_id)
        .execute(tx)
        .await?;
    Ok(())
}

/// Records why journal `journal_id` could not be applied.
pub async fn record_apply_error(
    db: impl MySqlExecutor<'_>,
    journal_id: &str,
    error: &str,
) -> sqlx::Result<()> {
    let text: String = error.chars().take(255).collect();
    sqlx::query(r"update trade_stock_log set apply_error = ? where journal_id = ?")
        .bind(text)
        .bind(journal_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Journals still `reserved` after `older_than`: their message is overdue.
pub async fn overdue_reserved(
    db: impl MySqlExecutor<'_>,
    older_than: std::time::Duration,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        r"select journal_id from trade_stock_log
          where status = 'reserved' and created_at < now(3) - interval ? microsecond
          order by created_at limit 500",
    )
    .bind(older_than.as_micros() as u64)
    .fetch_all(db)
    .await
}
