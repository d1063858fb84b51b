//! `trade_user_points_log` and `trade_user.user_score`: the points each payment
//! earned, one row per payment, so that earning and taking back apply once each and
//! in either order (see the migration `0002_points_log.sql`).

use shop_kit::ids::Id;
use sqlx::MySqlConnection;

/// The payment whose points move.
#[derive(Debug, Clone, Copy)]
pub struct PaymentPoints {
    pub pay_id: Id,
    pub user_id: Id,
    pub order_id: Id,
    pub points: u64,
}

/// Adds the payment's points to its user, unless the payment has a row already
/// (earned before, or refunded first); whether points were added.
pub async fn earn(tx: &mut MySqlConnection, p: &PaymentPoints) -> anyhow::Result<bool> {
    if !insert_row(tx, p, "earned").await? {
        return Ok(false);
    }
    let done = sqlx::query(r"update trade_user set user_score = user_score + ? where user_id = ?")
        .bind(p.points)
        .bind(p.user_id.0)
        .execute(&mut *tx)
        .await?;
    anyhow::ensure!(
        done.rows_affected() == 1,
        "user {} of payment {} does not exist",
        p.user_id,
        p.pay_id
    );
    Ok(true)
}

/// What [`revoke`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The points the payment had earned were taken back.
    TakenBack(u64),
    /// The refund came before the payment's points: they will never be added.
    BeforeEarning,
    /// Revoked before: nothing changed.
    Already,
}

/// Takes back what the payment earned, or makes sure it never earns.
pub async fn revoke(tx: &mut MySqlConnection, p: &PaymentPoints) -> anyhow::Result<Revoked> {
    if insert_row(tx, p, "revoked").await? {
        return Ok(Revoked::BeforeEarning);
    }
    let earned: Option<u64> = sqlx::query_scalar(
        r"select points from trade_user_points_log
          where pay_id = ? and status = 'earned' for update",
    )
    .bind(p.pay_id.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(points) = earned else {
        return Ok(Revoked::Already);
    };
    sqlx::query(r"update trade_user_points_log set status = 'revoked' where pay_id = ?")
        .bind(p.pay_id.0)
        .execute(&mut *tx)
        .await?;
    // Never below zero: points spent meanwhile are not the refund's business.
    sqlx::query(
        r"update trade_user set user_score = if(user_score >= ?, user_score - ?, 0)
          where user_id = ?",
    )
    .bind(points)
    .bind(points)
    .bind(p.user_id.0)
    .execute(&mut *tx)
    .await?;
    Ok(Revoked::TakenBack(points))
}

/// Inserts the payment's row with `status`; `false` when it has one.
async fn insert_row(
    tx: &mut MySqlConnection,
    p: &PaymentPoints,
    status: &'static str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"insert ignore into trade_user_points_log (pay_id, user_id, order_id, points, status)
          values (?, ?, ?, ?, ?)",
    )
    .bind(p.pay_id.0)
    .bind(p.user_id.0)
    .bind(p.order_id.0)
    .bind(p.points)
    .bind(status)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
