//! The flows one at a time: success, rollback at each fault point, and an order
//! abandoned by a crash. Payments are in `pay.rs`.

use anyhow::bail;
use shop_kit::{
    contracts::order::{CancelReason, OrderStatus, OrderView, PayStatus},
    settings::Service,
};

use super::{Ctx, State};
use crate::{
    api::{Placed, order_body},
    report::Report,
};

/// The order of a 201, or a failed check.
pub fn confirmed(report: &Report, what: &str, placed: Placed) -> anyhow::Result<OrderView> {
    match placed {
        Placed::Confirmed(order) => {
            report.pass(format!("{what}: order {} confirmed", order.order_id));
            Ok(order)
        }
        Placed::Refused { status, code, .. } => {
            report.fail(format!("{what}: refused {status} {code}"));
            bail!("{what}: refused {status} {code}")
        }
    }
}

pub async fn success(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx
        .fixture("10000.00", "5000.00", 100, Some("50.00"))
        .await?;
    r.step(format!(
        "user {} with 10000.00, goods {} at 5000.00 × 100, coupon {} worth 50.00",
        f.user.user_id,
        f.goods.goods_id,
        f.coupon_id().map(|c| c.to_string()).unwrap_or_default()
    ));

    let body = order_body(f.user.user_id, &f.goods, 1, f.coupon_id(), "100.00");
    let order = confirmed(
        r,
        "1 × 5000.00 with the coupon and 100.00 of balance",
        ctx.api.place(&body, None).await?,
    )?;
    r.check_eq(
        "confirmed and unpaid",
        (order.status, order.pay_status),
        (OrderStatus::Confirmed, PayStatus::Unpaid),
    )?;
    r.check_eq(
        "pay amount = 5000.00 − 50.00 − 100.00",
        order.pay_amount.to_string(),
        "4850.00".into(),
    )?;
    r.check_eq("coupon paid", order.coupon_paid.to_string(), "50.00".into())?;

    let payment = ctx.api.create_payment(order.order_id).await?;
    r.check_eq(
        "payment of 4850.00 created",
        payment.amount.to_string(),
        "4850.00".into(),
    )?;
    ctx.api.callback_paid(payment.pay_id).await?;
    r.pass("signed paid callback accepted");
    let timeout = ctx.settle();
    ctx.order_becomes("order paid", order.order_id, timeout, |o| {
        o.pay_status == PayStatus::Paid
    })
    .await?;

    let want = State {
        balance: "9900.00".into(),
        stock: 99,
        available: 99,
        coupon_used: true,
        points: 4850,
    };
    ctx.settles_to(
        "balance 9900.00, stock 99, available 99, coupon used, 4850 points",
        &f,
        &want,
    )
    .await?;
    let journals = ctx.api.stock_logs(f.goods.goods_id).await?;
    let applied = journals.iter().filter(|j| j.order_id == order.order_id);
    r.check_eq(
        "one stock journal, applied",
        applied
            .map(|j| format!("{:?}", j.status))
            .collect::<Vec<_>>(),
        vec!["Applied".to_string()],
    )?;
    let logs = ctx.api.money_logs(f.user.user_id).await?;
    r.check_eq(
        "one money log: paid 100.00",
        logs.iter()
            .map(|l| l.amount.to_string())
            .collect::<Vec<_>>(),
        vec!["100.00".to_string()],
    )?;
    let coupon = ctx
        .api
        .coupon_view(f.coupon_id().expect("made with a coupon"))
        .await?;
    r.check_eq(
        "the coupon names the order",
        coupon.order_id,
        Some(order.order_id),
    )
}

pub async fn rollback(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx.fixture("1000.00", "100.00", 10, None).await?;
    r.step(format!(
        "user {} with 1000.00, goods {} at 100.00 × 10",
        f.user.user_id, f.goods.goods_id
    ));
    for fault in ["after-stock", "after-coupon", "after-balance"] {
        let coupon = ctx.api.coupon(f.user.user_id, "20.00").await?;
        let mut f = f.clone();
        f.coupon = Some(coupon);
        let before = ctx.state(&f).await?;
        r.step(format!(
            "fault {fault}: 2 units, coupon {}, 50.00 of balance",
            f.coupon_id().expect("set")
        ));
        let body = order_body(f.user.user_id, &f.goods, 2, f.coupon_id(), "50.00");
        let placed = ctx.api.place(&body, Some(fault)).await?;
        let Placed::Refused {
            status,
            code,
            order_id: Some(order_id),
        } = placed
        else {
            r.fail(format!(
                "{fault}: expected ORDER_CANCELLED with an order id, got {placed:?}"
            ));
            bail!("{fault}: not cancelled");
        };
        r.check_eq(
            format!("answered 409 ORDER_CANCELLED for order {order_id}"),
            (status, code.as_str()),
            (409, "ORDER_CANCELLED"),
        )?;
        let order = ctx.api.order(order_id).await?;
        r.check_eq(
            "order cancelled, reason confirm_failed",
            (order.status, order.cancel_reason),
            (OrderStatus::Cancelled, Some(CancelReason::ConfirmFailed)),
        )?;
        ctx.settles_to("stock, balance and coupon back as before", &f, &before)
            .await?;
        let journals = ctx.api.stock_logs(f.goods.goods_id).await?;
        let journal = journals
            .iter()
            .find(|j| j.order_id == order_id)
            .map(|j| format!("{:?}", j.status));
        r.check_eq(
            "its stock journal cancelled",
            journal,
            Some("Cancelled".into()),
        )?;
    }
    let before = ctx.state(&f).await?;
    let body = order_body(f.user.user_id, &f.goods, 11, None, "0");
    let placed = ctx.api.place(&body, None).await?;
    r.check_eq(
        "11 of 10 units: STOCK_NOT_ENOUGH before any write",
        placed.code(),
        "STOCK_NOT_ENOUGH",
    )?;
    r.check_eq("nothing changed", ctx.state(&f).await?, before)
}

pub async fn abandoned(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx.fixture("1000.00", "50.00", 10, Some("5.00")).await?;
    let before = ctx.state(&f).await?;
    let body = order_body(f.user.user_id, &f.goods, 3, f.coupon_id(), "10.00");
    r.step(
        "order with X-Shop-Fault: crash-after-stock: order-svc aborts right after reserving stock",
    );
    let placed = ctx.api.place(&body, Some("crash-after-stock")).await;
    r.check(
        "the request fails (order-svc is gone)",
        !matches!(placed, Ok(Placed::Confirmed(_))),
    )?;
    r.eventually("order-svc has exited", ctx.settle(), || async {
        if ctx
            .system()
            .await
            .map_err(|e| e.to_string())?
            .service_exited(Service::Order)
        {
            Ok(())
        } else {
            Err("running".into())
        }
    })
    .await?;
    let journals = ctx.api.stock_logs(f.goods.goods_id).await?;
    let Some(journal) = journals.first() else {
        bail!("no stock journal for the crashed order")
    };
    let order_id = journal.order_id;
    r.pass(format!(
        "order {order_id} reserved its stock before the crash"
    ));

    ctx.system().await?.restart_service(Service::Order).await?;
    r.pass("order-svc restarted");
    let order = ctx.api.order(order_id).await?;
    r.check_eq(
        "the order is unconfirmed",
        order.status,
        OrderStatus::Unconfirmed,
    )?;
    let wait = ctx.target.timings.abandon_deadline() + ctx.settle();
    let abandoned = ctx
        .order_becomes("the abandon sweep cancels it", order_id, wait, |o| {
            o.status == OrderStatus::Cancelled
        })
        .await?;
    r.check_eq(
        "reason abandoned",
        abandoned.cancel_reason,
        Some(CancelReason::Abandoned),
    )?;
    ctx.settles_to(
        "its stock is given back; balance and coupon untouched",
        &f,
        &before,
    )
    .await
}
