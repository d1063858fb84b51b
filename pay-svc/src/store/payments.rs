//! `trade_pay`: one payment per order (`uk_pay_order`); its status moves only by
//! conditional updates or under the row lock, so replayed and racing callbacks decide
//! once.

use rust_decimal::Decimal;
use shop_kit::{
    contracts::pay::{PaymentStatus, PaymentView},
    ids::Id,
    money::Money,
};
use sqlx::{MySqlConnection, MySqlExecutor, MySqlPool};

/// A payment with what the `paid` message needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    pub pay_id: Id,
    pub order_id: Id,
    pub user_id: Option<Id>,
    pub amount: Money,
    pub status: PaymentStatus,
    pub trade_no: Option<String>,
}

impl Payment {
    pub fn view(&self) -> PaymentView {
        PaymentView {
            pay_id: self.pay_id,
            order_id: self.order_id,
            amount: self.amount,
            status: self.status,
            refunds: Vec::new(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    pay_id: u64,
    order_id: u64,
    user_id: Option<u64>,
    pay_amount: Decimal,
    status: String,
    trade_no: Option<String>,
}

impl PaymentRow {
    fn into_payment(self) -> anyhow::Result<Payment> {
        let status = match self.status.as_str() {
            "unpaid" => PaymentStatus::Unpaid,
            "paid" => PaymentStatus::Paid,
            "failed" => PaymentStatus::Failed,
            "refunded" => PaymentStatus::Refunded,
            other => anyhow::bail!("unknown payment status {other:?}"),
        };
        Ok(Payment {
            pay_id: Id(self.pay_id),
            order_id: Id(self.order_id),
            user_id: self.user_id.map(Id),
            amount: Money::new(self.pay_amount)?,
            status,
            trade_no: self.trade_no,
        })
    }
}

/// The payment with its refunds, if it exists.
pub async fn find_payment(db: &MySqlPool, pay_id: Id) -> anyhow::Result<Option<PaymentView>> {
    match find(db, pay_id).await? {
        Some(payment) => Ok(Some(view_with_refunds(db, &payment).await?)),
        None => Ok(None),
    }
}

/// `payment` as the API shows it, with its refunds.
pub async fn view_with_refunds(db: &MySqlPool, payment: &Payment) -> anyhow::Result<PaymentView> {
    let refunds = super::refunds::of_payment(db, payment.pay_id).await?;
    Ok(PaymentView {
        refunds: refunds.iter().map(super::refunds::Refund::view).collect(),
        ..payment.view()
    })
}

/// The payment with its payer, if it exists.
pub async fn find(db: impl MySqlExecutor<'_>, pay_id: Id) -> anyhow::Result<Option<Payment>> {
    let row: Option<PaymentRow> = sqlx::query_as(
        r"select pay_id, order_id, user_id, pay_amount, status, trade_no
          from trade_pay where pay_id = ?",
    )
    .bind(pay_id.0)
    .fetch_optional(db)
    .await?;
    row.map(PaymentRow::into_payment).transpose()
}

/// The `traceparent` of the trace of the payment's order (none for an unknown
/// payment, or one whose order named no trace).
pub async fn trace_context(db: impl MySqlExecutor<'_>, pay_id: Id) -> sqlx::Result<Option<String>> {
    let found: Option<Option<String>> =
        sqlx::query_scalar(r"select trace_context from trade_pay where pay_id = ?")
            .bind(pay_id.0)
            .fetch_optional(db)
            .await?;
    Ok(found.flatten())
}

/// The payment of `order_id`, if one was created.
pub async fn find_by_order(
    db: impl MySqlExecutor<'_>,
    order_id: Id,
) -> anyhow::Result<Option<Payment>> {
    let row: Option<PaymentRow> = sqlx::query_as(
        r"select pay_id, order_id, user_id, pay_amount, status, trade_no
          from trade_pay where order_id = ?",
    )
    .bind(order_id.0)
    .fetch_optional(db)
    .await?;
    row.map(PaymentRow::into_payment).transpose()
}

/// The payment, locked until the end of `tx`.
pub async fn lock(tx: &mut MySqlConnection, pay_id: Id) -> anyhow::Result<Option<Payment>> {
    let row: Option<PaymentRow> = sqlx::query_as(
        r"select pay_id, order_id, user_id, pay_amount, status, trade_no
          from trade_pay where pay_id = ? for update",
    )
    .bind(pay_id.0)
    .fetch_optional(tx)
    .await?;
    row.map(PaymentRow::into_payment).transpose()
}

/// Inserts an unpaid payment of `order_id`, with the `traceparent` of the order's
/// trace; `None` when the order has one already (`uk_pay_order`: two racing creates
/// make one payment).
pub async fn insert(
    db: impl MySqlExecutor<'_>,
    order_id: Id,
    user_id: Id,
    amount: Money,
    trace_context: Option<&str>,
) -> sqlx::Result<Option<Id>> {
    let done = sqlx::query(
        r"insert into trade_pay (order_id, user_id, pay_amount, trace_context)
          values (?, ?, ?, ?)",
    )
    .bind(order_id.0)
    .bind(user_id.0)
    .bind(amount.decimal())
    .bind(trace_context)
    .execute(db)
    .await;
    match done {
        Ok(done) => Ok(Some(Id(done.last_insert_id()))),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Marks a locked payment paid with the platform's transaction number.
pub async fn mark_paid(
    tx: &mut MySqlConnection,
    pay_id: Id,
    trade_no: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        r"update trade_pay set status = 'paid', trade_no = ?, paid_at = now(3) where pay_id = ?",
    )
    .bind(trade_no)
    .bind(pay_id.0)
    .execute(tx)
    .await?;
    Ok(())
}

/// Marks a locked payment failed.
pub async fn mark_failed(
    tx: &mut MySqlConnection,
    pay_id: Id,
    trade_no: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(r"update trade_pay set status = 'failed', trade_no = ? where pay_id = ?")
        .bind(trade_no)
        .bind(pay_id.0)
        .execute(tx)
        .await?;
    Ok(())
}

/// `paid` → `refunded`; `false` when the payment was not paid (already refunded).
pub async fn mark_refunded(tx: &mut MySqlConnection, pay_id: Id) -> sqlx::Result<bool> {
    let done = sqlx::query(
        r"update trade_pay set status = 'refunded', refunded_at = now(3)
          where pay_id = ? and status = 'paid'",
    )
    .bind(pay_id.0)
    .execute(tx)
    .await?;
    Ok(done.rows_affected() == 1)
}
