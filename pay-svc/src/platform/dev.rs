//! The development payment platform: it records each refund it is asked for in its
//! own table (`dev_platform_refund`, in pay-svc's schema since it has no server of
//! its own) and answers like a platform: a refund number, the same one for a
//! repeated request, and a refusal for an amount that is not positive.

use shop_kit::db::Database;

use super::{PaymentPlatform, PlatformError, PlatformFuture, RefundReceipt, RefundRequest};

/// The development implementation of [`PaymentPlatform`].
#[derive(Debug, Clone)]
pub struct DevPlatform {
    db: Database,
}

impl DevPlatform {
    pub fn new(db: Database) -> Self {
        DevPlatform { db }
    }

    async fn record(&self, request: &RefundRequest) -> Result<RefundReceipt, PlatformError> {
        if request.amount.is_negative() || request.amount.is_zero() {
            return Err(PlatformError::Refused(format!(
                "refund amount {} is not positive",
                request.amount
            )));
        }
        let unavailable = |e: &dyn std::fmt::Display| PlatformError::Unavailable(e.to_string());
        let pool = self.db.pool().map_err(|e| unavailable(&e))?;
        let number = format!("DEV-RF-{}", request.out_refund_no);
        sqlx::query(
            r"insert ignore into dev_platform_refund
                  (out_refund_no, trade_no, amount, platform_refund_no)
              values (?, ?, ?, ?)",
        )
        .bind(&request.out_refund_no)
        .bind(&request.trade_no)
        .bind(request.amount.decimal())
        .bind(&number)
        .execute(pool)
        .await
        .map_err(|e| unavailable(&e))?;
        let platform_refund_no: String = sqlx::query_scalar(
            r"select platform_refund_no from dev_platform_refund where out_refund_no = ?",
        )
        .bind(&request.out_refund_no)
        .fetch_one(pool)
        .await
        .map_err(|e| unavailable(&e))?;
        tracing::info!(out_refund_no = %request.out_refund_no, trade_no = %request.trade_no,
            amount = %request.amount, %platform_refund_no, "development platform: refunded");
        Ok(RefundReceipt { platform_refund_no })
    }
}

impl PaymentPlatform for DevPlatform {
    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> PlatformFuture<'a, Result<RefundReceipt, PlatformError>> {
        Box::pin(self.record(request))
    }
}
