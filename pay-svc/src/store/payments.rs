//! `trade_pay`.

use rust_decimal::Decimal;
use services::{
    contracts::pay::{PaymentStatus, PaymentView},
    ids::Id,
    money::Money,
};
use sqlx::MySqlExecutor;

#[derive(sqlx::FromRow)]
struct PaymentRow {
    pay_id: u64,
    order_id: u64,
    pay_amount: Decimal,
    status: String,
}

/// The payment, if it exists.
pub async fn find_payment(
    db: impl MySqlExecutor<'_>,
    pay_id: Id,
) -> anyhow::Result<Option<PaymentView>> {
    let row: Option<PaymentRow> = sqlx::query_as(
        r"select pay_id, order_id, pay_amount, status from trade_pay where pay_id = ?",
    )
    .bind(pay_id.0)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        let status = match row.status.as_str() {
            "unpaid" => PaymentStatus::Unpaid,
            "paid" => PaymentStatus::Paid,
            "failed" => PaymentStatus::Failed,
            "refunded" => PaymentStatus::Refunded,
            other => anyhow::bail!("unknown payment status {other:?}"),
        };
        Ok(PaymentView {
            pay_id: Id(row.pay_id),
            order_id: Id(row.order_id),
            amount: Money::new(row.pay_amount)?,
            status,
        })
    })
    .transpose()
}
