//! Making refunds through the payment-platform port. A refund is decided inside a
//! local transaction (the `pay`/`refund` consumer's, or a duplicate charge's
//! callback), which writes it `pending`; after the commit [`Refunds::execute`] asks
//! the platform and marks it `succeeded`. A crash or an unreachable platform leaves it
//! pending, and [`Refunds::relay`] asks again every `OUTBOX_RETRY_AFTER`: the
//! platform answers a repeated request (same refund id) with the same refund, so
//! asking twice never pays twice.

use std::time::Duration;

use shop_kit::{db::Database, ids::Id};
use tokio_util::sync::CancellationToken;

use crate::{
    platform::{Platform, PlatformError, RefundRequest},
    store::refunds,
};

/// How many pending refunds one relay pass asks for.
const BATCH: u32 = 100;

/// Asks the platform for refunds recorded pending.
#[derive(Clone)]
pub struct Refunds {
    pub db: Database,
    pub platform: Platform,
}

impl std::fmt::Debug for Refunds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Refunds").finish_non_exhaustive()
    }
}

impl Refunds {
    /// Asks the platform for the refund `refund_id` if it is still pending; best
    /// effort: a failure is recorded and left to the relay.
    pub async fn execute(&self, refund_id: Id) {
        if let Err(error) = self.try_execute(refund_id).await {
            tracing::warn!(%refund_id, error = format!("{error:#}"),
                "refund not completed; the relay asks again");
        }
    }

    async fn try_execute(&self, refund_id: Id) -> anyhow::Result<()> {
        let pool = self.db.pool()?;
        let Some(refund) = refunds::find(pool, refund_id).await? else {
            anyhow::bail!("refund {refund_id} does not exist");
        };
        if refund.status != shop_kit::contracts::pay::RefundStatus::Pending {
            return Ok(());
        }
        let request = RefundRequest {
            out_refund_no: refund_id.to_string(),
            trade_no: refund.trade_no.clone(),
            amount: refund.amount,
            reason: refund.reason.as_str().to_owned(),
        };
        match self.platform.refund(&request).await {
            Ok(receipt) => {
                if refunds::mark_succeeded(pool, refund_id, &receipt.platform_refund_no).await? {
                    tracing::warn!(%refund_id, pay_id = %refund.pay_id, trade_no = %refund.trade_no,
                        amount = %refund.amount, reason = refund.reason.as_str(),
                        platform_refund_no = %receipt.platform_refund_no, "refund made");
                }
                Ok(())
            }
            Err(error) => {
                let refused = matches!(error, PlatformError::Refused(_));
                refunds::record_attempt_failed(pool, refund_id, &error.to_string(), refused)
                    .await?;
                if refused {
                    tracing::error!(%refund_id, %error, "refund refused by the platform: failed");
                    return Ok(());
                }
                Err(error.into())
            }
        }
    }

    /// Every `interval`, asks again for the refunds left pending longer than it;
    /// ends when `shutdown` is cancelled.
    pub async fn relay(self, interval: Duration, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    tracing::debug!("refund relay stopped: shutting down");
                    return;
                }
                _ = tick.tick() => {}
            }
            let Ok(pool) = self.db.pool() else { continue };
            let older_than = interval.as_millis() as u64;
            match refunds::pending_due(pool, older_than, BATCH).await {
                Ok(due) => {
                    for refund_id in due {
                        self.execute(refund_id).await;
                    }
                }
                Err(error) => tracing::warn!(%error, "refund relay: cannot read pending refunds"),
            }
        }
    }
}
