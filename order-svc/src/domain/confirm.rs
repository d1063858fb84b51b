//! Confirming an order (docs/architecture.md, "Confirm order"): check it against
//! user-svc, goods-svc and coupon-svc; save the pre-order; reserve stock, use the
//! coupon, deduct the balance (each call idempotent by order id); mark it confirmed and
//! schedule its payment timeout in one transaction. Any failure after the pre-order
//! cancels the order and writes the compensation message (see [`super::cancel`]).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use shop_kit::{
    clients::{ClientError, CouponClient, GoodsClient, UserClient},
    contracts::{
        coupon::UseCoupon,
        goods::ReserveStock,
        order::{
            CancelReason, ConfirmOrder, ORDER_TOPIC, OrderPayTimeout, OrderStatus, OrderView,
            PayStatus, TIMEOUT_TAG,
        },
        user::DeductBalance,
    },
    db::{Database, transaction_span},
    error::Unavailable,
    http::current_request_id,
    ids::Id,
    outbox::{Outbox, OutboxMessage},
    telemetry,
};
use sqlx::Acquire;
use tracing::Instrument;

use super::{
    cancel,
    checks::{self, CheckedOrder, Facts, Refusal},
    faults::Fault,
};
use crate::store::{self, steps::Step};

/// Why an order was not confirmed.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// A check failed; nothing was written.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The pre-order was saved, then a step failed: the order is cancelled (or will be,
    /// by the abandon sweep, if even that failed) and its compensation runs.
    #[error("order {order_id} cancelled: {reason}")]
    Cancelled {
        order_id: Id,
        reason: String,
        /// The step failed because a service could not be reached (503, not 409).
        unavailable: bool,
    },
    /// Something needed before the pre-order could not be reached; nothing was written.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// The confirmation's outcome is unknown and the order could not be read back.
    #[error("order {order_id}: the confirmation's outcome is unknown")]
    Uncertain { order_id: Id },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// What confirming needs.
#[derive(Clone, Debug)]
pub struct Confirmer {
    pub db: Database,
    pub outbox: Outbox,
    pub users: UserClient,
    pub goods: GoodsClient,
    pub coupons: CouponClient,
    /// `ORDER_PAY_TIMEOUT`.
    pub pay_timeout: Duration,
}

/// A step that failed after the pre-order.
struct StepFailed {
    reason: String,
    unavailable: bool,
}

impl From<ClientError> for StepFailed {
    fn from(error: ClientError) -> Self {
        let unavailable = !matches!(error, ClientError::Rejected { .. });
        let reason = match &error {
            ClientError::Rejected { body, .. } => format!("{}: {}", body.code, body.message),
            other => other.to_string(),
        };
        StepFailed {
            reason,
            unavailable,
        }
    }
}

impl Confirmer {
    /// Confirms `request`; `fault` is the injected fault, if any.
    pub async fn confirm(
        &self,
        request: &ConfirmOrder,
        fault: Option<Fault>,
    ) -> Result<OrderView, ConfirmError> {
        let facts = self.facts(request).await?;
        let order = checks::check(request, &facts)?;
        let request_id = current_request_id();
        // The order's trace is the confirming request's: its later steps continue it.
        let trace = telemetry::current_traceparent();
        let created_at = store::orders::now_ms();
        let order_id = store::orders::insert_preorder(
            self.db.pool()?,
            &order,
            created_at,
            request_id.as_deref(),
            trace.as_deref(),
        )
        .await?;
        tracing::info!(%order_id, user_id = %order.user_id, goods_id = %order.goods_id,
            quantity = order.quantity, "pre-order saved");
        let mut steps = Vec::new();
        if let Err(failed) = self.run_steps(order_id, &order, fault, &mut steps).await {
            self.save_steps(&steps).await;
            return Err(self.cancel_failed(order_id, failed).await);
        }
        let confirmed_at = store::orders::now_ms().max(created_at);
        let marked = self
            .mark_confirmed(order_id, &order, fault, &steps, confirmed_at)
            .instrument(transaction_span("confirm order"));
        match marked.await {
            Ok(true) => {}
            Ok(false) => {
                return Err(ConfirmError::Cancelled {
                    order_id,
                    reason: "cancelled while confirming (abandoned)".into(),
                    unavailable: false,
                });
            }
            Err(error) => {
                tracing::warn!(%order_id, error = format!("{error:#}"),
                    "the confirmation's outcome is uncertain; settling it from the database");
                return self.settle_uncertain(order_id).await;
            }
        }
        tracing::info!(%order_id, pay_amount = %order.pay_amount, "order confirmed");
        metrics::counter!("shop_orders_confirmed_total").increment(1);
        // The committed row holds exactly this: no read back.
        Ok(confirmed_view(order_id, order, created_at, confirmed_at))
    }

    /// After a confirmation commit whose outcome is unknown (it may have committed):
    /// cancels the order only if it is still unconfirmed (the cancel locks the row, so
    /// it waits for a commit in flight and never cancels a confirmed order), then reads
    /// it back and answers what is true: the confirmed order, or `ORDER_CANCELLED`.
    /// When even that cannot be read, 503 `UNAVAILABLE` with the order id: the abandon
    /// sweep cancels the order later if it was not confirmed.
    async fn settle_uncertain(&self, order_id: Id) -> Result<OrderView, ConfirmError> {
        let failed = StepFailed {
            reason: "the confirmation could not be saved".into(),
            unavailable: true,
        };
        let cancelled = self.cancel_failed(order_id, failed).await;
        let read = async { store::orders::find_order(self.db.pool()?, order_id).await };
        match read.await {
            Ok(Some(order)) if order.status == OrderStatus::Confirmed => {
                tracing::info!(%order_id, "the uncertain confirmation had committed: confirmed");
                Ok(order)
            }
            Ok(Some(order)) if order.status == OrderStatus::Cancelled => Err(cancelled),
            Ok(_) | Err(_) => {
                tracing::warn!(%order_id, "the order's state cannot be read back");
                Err(ConfirmError::Uncertain { order_id })
            }
        }
    }

    /// Reads the user, the goods and the coupon at once.
    async fn facts(&self, request: &ConfirmOrder) -> Result<Facts, ConfirmError> {
        let (user_id, goods_id, coupon_id) = (request.user_id, request.goods_id, request.coupon_id);
        let coupon = async {
            match coupon_id {
                Some(id) => self.coupons.get_coupon(id).await,
                None => Ok(None),
            }
        };
        let (user, goods, coupon) = tokio::join!(
            self.users.get_user(user_id),
            self.goods.get_goods(goods_id),
            coupon
        );
        let unavailable = |e: ClientError| match e {
            ClientError::Unavailable { service, .. } => {
                ConfirmError::Unavailable(Unavailable::new(service))
            }
            other => ConfirmError::Unexpected(other.into()),
        };
        Ok(Facts {
            user: user.map_err(unavailable)?,
            goods: goods.map_err(unavailable)?,
            coupon: coupon.map_err(unavailable)?,
        })
    }

    /// Stock → coupon → balance, with the injected fault after its step.
    async fn run_steps(
        &self,
        order_id: Id,
        order: &CheckedOrder,
        fault: Option<Fault>,
        steps: &mut Vec<Step<'static>>,
    ) -> Result<(), StepFailed> {
        let injected = |step: &str| StepFailed {
            reason: format!("fault injected after {step}"),
            unavailable: false,
        };
        let reserve = ReserveStock {
            order_id,
            goods_id: order.goods_id,
            quantity: order.quantity,
        };
        timed(
            steps,
            order_id,
            "reserve_stock",
            "goods-svc",
            self.goods.reserve_stock(&reserve),
        )
        .await?;
        match fault {
            Some(Fault::AfterStock) => return Err(injected("stock")),
            Some(Fault::CrashAfterStock) => {
                tracing::error!(%order_id, "fault crash-after-stock: aborting the process");
                std::process::abort();
            }
            _ => {}
        }
        if let Some(coupon_id) = order.coupon_id {
            let use_coupon = UseCoupon {
                order_id,
                user_id: order.user_id,
            };
            let call = self.coupons.use_coupon(coupon_id, &use_coupon);
            timed(steps, order_id, "use_coupon", "coupon-svc", call).await?;
        }
        if fault == Some(Fault::AfterCoupon) {
            return Err(injected("coupon"));
        }
        if !order.money_paid.is_zero() {
            let deduct = DeductBalance {
                order_id,
                amount: order.money_paid,
            };
            let call = self.users.deduct_balance(order.user_id, &deduct);
            timed(steps, order_id, "deduct_balance", "user-svc", call).await?;
        }
        if fault == Some(Fault::AfterBalance) {
            return Err(injected("balance"));
        }
        Ok(())
    }

    /// Marks the order confirmed and writes its payment-timeout message, in one
    /// transaction; `false` when it was no longer unconfirmed. An error leaves the
    /// outcome unknown: the commit may have happened.
    async fn mark_confirmed(
        &self,
        order_id: Id,
        order: &CheckedOrder,
        fault: Option<Fault>,
        steps: &[Step<'static>],
        confirmed_at: DateTime<Utc>,
    ) -> anyhow::Result<bool> {
        let nothing_to_pay = order.pay_amount.is_zero();
        let pool = self.db.pool()?;
        let mut conn = pool.acquire().await?;
        let mut tx = conn.begin().await?;
        if !store::orders::mark_confirmed(&mut tx, order_id, nothing_to_pay, confirmed_at).await? {
            return Ok(false);
        }
        store::steps::insert_steps(&mut *tx, steps).await?;
        let mut rows = Vec::new();
        if !nothing_to_pay {
            let timeout = OutboxMessage::json(
                ORDER_TOPIC,
                TIMEOUT_TAG,
                order_id.to_string(),
                &OrderPayTimeout { order_id },
            )
            .with_delay(self.pay_timeout);
            rows.push(self.outbox.insert(&mut tx, &timeout).await?);
        }
        tx.commit().await?;
        if fault == Some(Fault::CommitOutcomeLost) {
            // The relay sends the timeout message the lost outcome left behind.
            anyhow::bail!("fault commit-outcome-lost: the commit's answer was lost");
        }
        self.outbox.send_soon(rows);
        Ok(true)
    }

    /// Saves the calls of a confirmation that failed (best effort: they only feed the
    /// timeline).
    async fn save_steps(&self, steps: &[Step<'static>]) {
        let saved = async {
            store::steps::insert_steps(self.db.pool()?, steps).await?;
            anyhow::Ok(())
        };
        if let Err(error) = saved.await {
            tracing::warn!(error = format!("{error:#}"), "confirmation steps not saved");
        }
    }

    /// Cancels the order after a failed step; the error to answer.
    async fn cancel_failed(&self, order_id: Id, failed: StepFailed) -> ConfirmError {
        tracing::warn!(%order_id, reason = %failed.reason, "confirmation failed; cancelling");
        if let Err(error) = cancel::cancel(
            &self.db,
            &self.outbox,
            order_id,
            CancelReason::ConfirmFailed,
        )
        .await
        {
            // The order stays unconfirmed; the abandon sweep cancels it later.
            tracing::error!(%order_id, error = format!("{error:#}"),
                "cancel not saved; the abandon sweep will cancel the order");
        }
        ConfirmError::Cancelled {
            order_id,
            reason: failed.reason,
            unavailable: failed.unavailable,
        }
    }
}

/// What [`store::orders::mark_confirmed`] committed for `order`, as `GET /orders/{id}`
/// answers it.
fn confirmed_view(
    order_id: Id,
    order: CheckedOrder,
    created_at: DateTime<Utc>,
    confirmed_at: DateTime<Utc>,
) -> OrderView {
    let nothing_to_pay = order.pay_amount.is_zero();
    OrderView {
        order_id,
        user_id: order.user_id,
        goods_id: order.goods_id,
        quantity: order.quantity,
        status: OrderStatus::Confirmed,
        pay_status: if nothing_to_pay {
            PayStatus::Paid
        } else {
            PayStatus::Unpaid
        },
        goods_price: order.goods_price,
        order_amount: order.order_amount,
        shipping_fee: order.shipping_fee,
        coupon_id: order.coupon_id,
        coupon_paid: order.coupon_paid,
        money_paid: order.money_paid,
        pay_amount: order.pay_amount,
        address: order.address,
        created_at,
        confirmed_at: Some(confirmed_at),
        paid_at: nothing_to_pay.then_some(confirmed_at),
        cancel_reason: None,
        trace_context: None,
    }
}

/// Runs one downstream call of a confirmation and notes it (duration, answer) in
/// `steps`, saved with the confirmation or the cancellation for the timeline.
async fn timed<T>(
    steps: &mut Vec<Step<'static>>,
    order_id: Id,
    step: &'static str,
    service: &'static str,
    call: impl Future<Output = Result<T, ClientError>>,
) -> Result<T, ClientError> {
    let started_at = Utc::now();
    let clock = Instant::now();
    let result = call.await;
    let (outcome, answer) = match &result {
        Ok(_) => ("ok", "ok".to_owned()),
        Err(ClientError::Rejected { body, .. }) => {
            ("refused", format!("{}: {}", body.code, body.message))
        }
        Err(other) => ("unavailable", other.to_string()),
    };
    steps.push(Step {
        order_id,
        step,
        service,
        outcome,
        answer,
        duration_ms: u32::try_from(clock.elapsed().as_millis()).unwrap_or(u32::MAX),
        request_id: current_request_id(),
        started_at,
    });
    result
}
