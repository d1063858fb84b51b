//! Payments: a payment and its signed callback, replays, and the payment timeout
//! (with a payment arriving after it, refunded).

use anyhow::bail;
use shop_kit::contracts::{
    order::{CancelReason, OrderStatus, OrderView, PayStatus},
    pay::{PaymentStatus, RefundReason, RefundStatus},
};

use super::{Ctx, basic::confirmed};
use crate::api::order_body;

pub async fn pay(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx.fixture("1000.00", "120.50", 10, None).await?;
    let body = order_body(f.user.user_id, &f.goods, 2, None, "41.00");
    let order = confirmed(
        r,
        "2 × 120.50 with 41.00 of balance",
        ctx.api.place(&body, None).await?,
    )?;
    let payment = ctx.api.create_payment(order.order_id).await?;
    r.check_eq(
        "payment: 200.00, unpaid",
        (payment.amount.to_string(), payment.status),
        ("200.00".into(), PaymentStatus::Unpaid),
    )?;
    let again = ctx.api.create_payment(order.order_id).await?;
    r.check_eq(
        "a second create returns the same payment",
        again.pay_id,
        payment.pay_id,
    )?;

    ctx.api.callback_paid(payment.pay_id).await?;
    r.pass("signed paid callback accepted");
    let timeout = ctx.settle();
    let paid = ctx
        .order_becomes("order paid", order.order_id, timeout, |o| {
            o.pay_status == PayStatus::Paid
        })
        .await?;
    r.check("paid_at set", paid.paid_at.is_some())?;
    r.check_eq(
        "payment paid",
        ctx.api.payment(payment.pay_id).await?.status,
        PaymentStatus::Paid,
    )?;
    let user = f.user.user_id;
    r.eventually("200 points earned", timeout, || async move {
        let points = ctx
            .api
            .user_view(user)
            .await
            .map_err(|e| e.to_string())?
            .points;
        if points == 200 {
            Ok(())
        } else {
            Err(format!("{points} points"))
        }
    })
    .await?;

    for _ in 0..3 {
        ctx.api.callback_paid(payment.pay_id).await?;
    }
    r.pass("the same callback 3 more times: each answered ok");
    wait_drained(ctx).await?;
    r.check_eq(
        "still 200 points",
        ctx.api.user_view(user).await?.points,
        200,
    )?;
    let again = ctx.api.create_payment(order.order_id).await?;
    r.check_eq(
        "creating the payment again returns it, paid",
        (again.pay_id, again.status),
        (payment.pay_id, PaymentStatus::Paid),
    )?;

    // The platform charges the payer again, under another transaction number.
    let second = format!("SCN-AGAIN-{}", payment.pay_id);
    ctx.api.callback_paid_as(payment.pay_id, &second).await?;
    r.pass("a second charge (another trade_no) answered ok");
    let pay_id = payment.pay_id;
    let second = &second;
    r.eventually(
        "the second charge refunded (duplicate_charge)",
        timeout,
        || async move {
            let refunds = ctx
                .api
                .payment(pay_id)
                .await
                .map_err(|e| format!("{e:#}"))?
                .refunds;
            match refunds.as_slice() {
                [only]
                    if only.trade_no == *second
                        && only.reason == RefundReason::DuplicateCharge
                        && only.status == RefundStatus::Succeeded =>
                {
                    Ok(())
                }
                other => Err(format!("refunds {other:?}")),
            }
        },
    )
    .await?;
    r.check_eq(
        "the payment stays paid",
        ctx.api.payment(pay_id).await?.status,
        PaymentStatus::Paid,
    )
}

/// Waits until every consumer group has caught up.
pub async fn wait_drained(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.report
        .eventually("every consumer group caught up", ctx.settle(), || async {
            match ctx.api.total_lag().await {
                Ok(0) => Ok(()),
                Ok(lag) => Err(format!("lag {lag}")),
                Err(e) => Err(format!("{e:#}")),
            }
        })
        .await
}

pub async fn pay_timeout(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let timeout = ctx.target.timings.pay_timeout;
    if timeout > std::time::Duration::from_secs(120) {
        bail!(
            "pay-timeout waits for ORDER_PAY_TIMEOUT ({timeout:?} here): start the system with a short one (ORDER_PAY_TIMEOUT=5s) and pass --pay-timeout, or run it managed"
        );
    }
    let f = ctx.fixture("1000.00", "120.50", 10, Some("20.00")).await?;
    let before = ctx.state(&f).await?;
    let body = order_body(f.user.user_id, &f.goods, 2, f.coupon_id(), "41.00");
    let unpaid = confirmed(
        r,
        "order A: 2 × 120.50, coupon 20.00, 41.00 of balance, never paid",
        ctx.api.place(&body, None).await?,
    )?;
    let body = order_body(f.user.user_id, &f.goods, 1, None, "0");
    let late = confirmed(
        r,
        "order B: 1 × 120.50, paid too late",
        ctx.api.place(&body, None).await?,
    )?;
    let late_payment = ctx.api.create_payment(late.order_id).await?;
    r.step(format!("waiting for the payment timeout ({timeout:?})"));

    let wait = timeout + ctx.settle();
    let is_timed_out = |o: &OrderView| {
        o.status == OrderStatus::Cancelled && o.cancel_reason == Some(CancelReason::PayTimeout)
    };
    ctx.order_becomes(
        "order A cancelled by the payment timeout",
        unpaid.order_id,
        wait,
        is_timed_out,
    )
    .await?;
    ctx.order_becomes(
        "order B cancelled by the payment timeout",
        late.order_id,
        wait,
        is_timed_out,
    )
    .await?;
    ctx.settles_to("stock, balance and coupon of both back", &f, &before)
        .await?;
    let refused = ctx.api.create_payment(unpaid.order_id).await;
    let code = refused
        .err()
        .and_then(|e| e.downcast::<shop_kit::clients::ClientError>().ok())
        .and_then(|e| e.code().map(String::from));
    r.check_eq(
        "a payment for the cancelled order A: ORDER_CANCELLED",
        code.as_deref(),
        Some("ORDER_CANCELLED"),
    )?;

    ctx.api.callback_paid(late_payment.pay_id).await?;
    r.pass("order B's payment succeeds after all (callback accepted)");
    let pay_id = late_payment.pay_id;
    r.eventually(
        "the late payment is refunded",
        ctx.settle(),
        || async move {
            match ctx.api.payment(pay_id).await {
                Ok(p) if p.status == PaymentStatus::Refunded => Ok(()),
                Ok(p) => Err(format!("{:?}", p.status)),
                Err(e) => Err(format!("{e:#}")),
            }
        },
    )
    .await?;
    let order = ctx.api.order(late.order_id).await?;
    r.check_eq(
        "order B stays cancelled, pay status refunded",
        (order.status, order.pay_status),
        (OrderStatus::Cancelled, PayStatus::Refunded),
    )?;
    wait_drained(ctx).await?;
    r.check_eq(
        "no points for the refunded payment",
        ctx.api.user_view(f.user.user_id).await?.points,
        0,
    )
}
