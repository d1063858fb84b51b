//! `trade_user` and `trade_user_money_log`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shop_kit::{
    contracts::user::{MoneyLogType, MoneyLogView, UserView},
    ids::Id,
    money::Money,
};
use sqlx::{MySqlExecutor, mysql::MySqlQueryResult};

use crate::domain::NewUser;

#[derive(sqlx::FromRow)]
struct UserRow {
    user_id: u64,
    user_name: String,
    user_money: Decimal,
    user_score: u64,
}

impl UserRow {
    fn into_view(self) -> anyhow::Result<UserView> {
        Ok(UserView {
            user_id: Id(self.user_id),
            name: self.user_name,
            balance: Money::new(self.user_money)?,
            points: self.user_score,
        })
    }
}

/// Inserts a user; returns its id. `initial_balance` keeps the opening balance for
/// the consistency audit.
pub async fn insert_user(db: impl MySqlExecutor<'_>, user: &NewUser) -> sqlx::Result<Id> {
    let done: MySqlQueryResult = sqlx::query(
        r"insert into trade_user (user_name, user_money, initial_balance) values (?, ?, ?)",
    )
    .bind(&user.name)
    .bind(user.balance.decimal())
    .bind(user.balance.decimal())
    .execute(db)
    .await?;
    Ok(Id(done.last_insert_id()))
}

/// The user, if it exists.
pub async fn find_user(
    db: impl MySqlExecutor<'_>,
    user_id: Id,
) -> anyhow::Result<Option<UserView>> {
    let row: Option<UserRow> = sqlx::query_as(
        r"select user_id, user_name, user_money, user_score from trade_user where user_id = ?",
    )
    .bind(user_id.0)
    .fetch_optional(db)
    .await?;
    row.map(UserRow::into_view).transpose()
}

#[derive(sqlx::FromRow)]
struct MoneyLogRow {
    order_id: u64,
    money_log_type: String,
    use_money: Decimal,
    created_at: DateTime<Utc>,
}

/// The user's money log, oldest first.
pub async fn money_logs(
    db: impl MySqlExecutor<'_>,
    user_id: Id,
) -> anyhow::Result<Vec<MoneyLogView>> {
    let rows: Vec<MoneyLogRow> = sqlx::query_as(
        r"select order_id, money_log_type, use_money, created_at
          from trade_user_money_log
          where user_id = ?
          order by created_at, order_id, money_log_type",
    )
    .bind(user_id.0)
    .fetch_all(db)
    .await?;
    rows.into_iter()
        .map(|row| {
            let kind = match row.money_log_type.as_str() {
                "paid" => MoneyLogType::Paid,
                "refund" => MoneyLogType::Refund,
                other => anyhow::bail!("unknown money log type {other:?}"),
            };
            Ok(MoneyLogView {
                order_id: Id(row.order_id),
                kind,
                amount: Money::new(row.use_money)?,
                created_at: row.created_at,
            })
        })
        .collect()
}

/// What [`deduct_balance`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deducted {
    /// Deducted now.
    Now,
    /// This order had deducted already: nothing changed.
    Already,
    NotEnough,
    NoSuchUser,
}

/// Deducts `amount` from `user_id`'s balance for `order_id` with a `paid` money log
/// row, in `tx`. The log's primary key makes a repeated call a no-op; the conditional
/// update keeps the balance from going negative under concurrency.
pub async fn deduct_balance(
    tx: &mut sqlx::MySqlConnection,
    user_id: Id,
    order_id: Id,
    amount: Money,
    request_id: Option<&str>,
) -> sqlx::Result<Deducted> {
    let logged = sqlx::query(
        r"insert into trade_user_money_log (user_id, order_id, money_log_type, use_money, request_id)
          values (?, ?, 'paid', ?, ?)",
    )
    .bind(user_id.0)
    .bind(order_id.0)
    .bind(amount.decimal())
    .bind(request_id)
    .execute(&mut *tx)
    .await;
    match logged {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(Deducted::Already),
        other => other?,
    };
    let done = sqlx::query(
        r"update trade_user set user_money = user_money - ? where user_id = ? and user_money >= ?",
    )
    .bind(amount.decimal())
    .bind(user_id.0)
    .bind(amount.decimal())
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 1 {
        return Ok(Deducted::Now);
    }
    let exists: Option<u64> =
        sqlx::query_scalar(r"select user_id from trade_user where user_id = ?")
            .bind(user_id.0)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(match exists {
        Some(_) => Deducted::NotEnough,
        None => Deducted::NoSuchUser,
    })
}

/// Gives back what `order_id` deducted from `user_id`, with a `refund` money log row;
/// returns the amount, `None` when the order deducted nothing (or was refunded).
pub async fn refund_order(
    tx: &mut sqlx::MySqlConnection,
    user_id: Id,
    order_id: Id,
    request_id: Option<&str>,
) -> sqlx::Result<Option<Decimal>> {
    let paid: Option<Decimal> = sqlx::query_scalar(
        r"select use_money from trade_user_money_log
          where user_id = ? and order_id = ? and money_log_type = 'paid' for update",
    )
    .bind(user_id.0)
    .bind(order_id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(paid) = paid else { return Ok(None) };
    let logged = sqlx::query(
        r"insert into trade_user_money_log (user_id, order_id, money_log_type, use_money, request_id)
          values (?, ?, 'refund', ?, ?)",
    )
    .bind(user_id.0)
    .bind(order_id.0)
    .bind(paid)
    .bind(request_id)
    .execute(&mut *tx)
    .await;
    match logged {
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
        other => other?,
    };
    sqlx::query(r"update trade_user set user_money = user_money + ? where user_id = ?")
        .bind(paid)
        .bind(user_id.0)
        .execute(&mut *tx)
        .await?;
    Ok(Some(paid))
}

/// Locks the user's row until the end of `tx` and reads it; `None` when there is no
/// such user.
pub async fn lock_and_read_user(
    tx: &mut sqlx::MySqlConnection,
    user_id: Id,
) -> anyhow::Result<Option<UserView>> {
    let row: Option<UserRow> = sqlx::query_as(
        r"select user_id, user_name, user_money, user_score from trade_user
          where user_id = ? for update",
    )
    .bind(user_id.0)
    .fetch_optional(tx)
    .await?;
    row.map(UserRow::into_view).transpose()
}

/// Locks the user's row until the end of `tx`; `false` when there is no such user.
pub async fn lock_user(tx: &mut sqlx::MySqlConnection, user_id: Id) -> sqlx::Result<bool> {
    let found: Option<u64> =
        sqlx::query_scalar(r"select user_id from trade_user where user_id = ? for update")
            .bind(user_id.0)
            .fetch_optional(tx)
            .await?;
    Ok(found.is_some())
}
