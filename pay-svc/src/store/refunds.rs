//! `trade_pay_charge` and `trade_pay_refund`: each charge the platform reported, and
//! each refund of one (at most one per charge, `uk_refund_charge`), with its way
//! through the platform (`pending` → `succeeded` or `failed`).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use shop_kit::{
    contracts::pay::{RefundReason, RefundStatus, RefundView},
    ids::Id,
    money::Money,
};
use sqlx::{MySqlConnection, MySqlExecutor};

/// Records a charge of `pay_id` under the platform's `trade_no` (`''` when none was
/// named); whether it is new (a replayed callback finds it).
pub async fn record_charge(
    tx: &mut MySqlConnection,
    pay_id: Id,
    trade_no: &str,
    amount: Money,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"insert ignore into trade_pay_charge (pay_id, trade_no, amount) values (?, ?, ?)",
    )
    .bind(pay_id.0)
    .bind(trade_no)
    .bind(amount.decimal())
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A refund to make: which charge, how much, why.
#[derive(Debug, Clone)]
pub struct NewRefund<'a> {
    pub pay_id: Id,
    pub trade_no: &'a str,
    pub amount: Money,
    pub reason: RefundReason,
}

/// Records a pending refund of a charge; its id, or `None` when that charge has a
/// refund already.
pub async fn insert_pending(
    tx: &mut MySqlConnection,
    refund: &NewRefund<'_>,
) -> sqlx::Result<Option<Id>> {
    let done = sqlx::query(
        r"insert ignore into trade_pay_refund (pay_id, trade_no, amount, reason)
          values (?, ?, ?, ?)",
    )
    .bind(refund.pay_id.0)
    .bind(refund.trade_no)
    .bind(refund.amount.decimal())
    .bind(refund.reason.as_str())
    .execute(tx)
    .await?;
    Ok((done.rows_affected() == 1).then(|| Id(done.last_insert_id())))
}

/// A refund as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Refund {
    pub refund_id: Id,
    pub pay_id: Id,
    pub trade_no: String,
    pub amount: Money,
    pub reason: RefundReason,
    pub status: RefundStatus,
    pub created_at: DateTime<Utc>,
}

impl Refund {
    pub fn view(&self) -> RefundView {
        RefundView {
            refund_id: self.refund_id,
            trade_no: self.trade_no.clone(),
            amount: self.amount,
            reason: self.reason,
            status: self.status,
            created_at: self.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RefundRow {
    refund_id: u64,
    pay_id: u64,
    trade_no: String,
    amount: Decimal,
    reason: String,
    status: String,
    created_at: DateTime<Utc>,
}

impl RefundRow {
    fn into_refund(self) -> anyhow::Result<Refund> {
        let status = match self.status.as_str() {
            "pending" => RefundStatus::Pending,
            "succeeded" => RefundStatus::Succeeded,
            "failed" => RefundStatus::Failed,
            other => anyhow::bail!("unknown refund status {other:?}"),
        };
        let reason = RefundReason::parse(&self.reason)
            .ok_or_else(|| anyhow::anyhow!("unknown refund reason {:?}", self.reason))?;
        Ok(Refund {
            refund_id: Id(self.refund_id),
            pay_id: Id(self.pay_id),
            trade_no: self.trade_no,
            amount: Money::new(self.amount)?,
            reason,
            status,
            created_at: self.created_at,
        })
    }
}

/// The refunds of a payment, oldest first.
pub async fn of_payment(db: impl MySqlExecutor<'_>, pay_id: Id) -> anyhow::Result<Vec<Refund>> {
    let rows: Vec<RefundRow> = sqlx::query_as(
        r"select refund_id, pay_id, trade_no, amount, reason, status, created_at
          from trade_pay_refund where pay_id = ? order by refund_id",
    )
    .bind(pay_id.0)
    .fetch_all(db)
    .await?;
    rows.into_iter().map(RefundRow::into_refund).collect()
}

/// The refund, if it exists.
pub async fn find(db: impl MySqlExecutor<'_>, refund_id: Id) -> anyhow::Result<Option<Refund>> {
    let row: Option<RefundRow> = sqlx::query_as(
        r"select refund_id, pay_id, trade_no, amount, reason, status, created_at
          from trade_pay_refund where refund_id = ?",
    )
    .bind(refund_id.0)
    .fetch_optional(db)
    .await?;
    row.map(RefundRow::into_refund).transpose()
}

/// `pending` → `succeeded` with the platform's refund number; `false` when it was
/// no longer pending.
pub async fn mark_succeeded(
    db: impl MySqlExecutor<'_>,
    refund_id: Id,
    platform_refund_no: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update trade_pay_refund
          set status = 'succeeded', platform_refund_no = ?, attempts = attempts + 1,
              last_error = null
          where refund_id = ? and status = 'pending'",
    )
    .bind(platform_refund_no)
    .bind(refund_id.0)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failed attempt; `refused` ends the refund as `failed` (the platform
/// said no for good), else it stays pending for the relay.
pub async fn record_attempt_failed(
    db: impl MySqlExecutor<'_>,
    refund_id: Id,
    error: &str,
    refused: bool,
) -> sqlx::Result<()> {
    let text: String = error.chars().take(1000).collect();
    sqlx::query(
        r"update trade_pay_refund
          set attempts = attempts + 1, last_error = ?,
              status = if(?, 'failed', status)
          where refund_id = ? and status = 'pending'",
    )
    .bind(text)
    .bind(refused)
    .bind(refund_id.0)
    .execute(db)
    .await?;
    Ok(())
}

/// Pending refunds last touched more than `older_than_ms` ago, oldest first.
pub async fn pending_due(
    db: impl MySqlExecutor<'_>,
    older_than_ms: u64,
    limit: u32,
) -> sqlx::Result<Vec<Id>> {
    let ids: Vec<u64> = sqlx::query_scalar(
        r"select refund_id from trade_pay_refund
          where status = 'pending' and updated_at < now(3) - interval ? microsecond
          order by refund_id limit ?",
    )
    .bind(older_than_ms * 1000)
    .bind(limit)
    .fetch_all(db)
    .await?;
    Ok(ids.into_iter().map(Id).collect())
}
