//! Crashes: the broker killed with -9 mid-flow, goods-svc and user-svc killed,
//! pay-svc stopping between its commit and its send, and Redis losing the stock
//! cache (flushed, or its server killed and restarted empty). Nothing acknowledged
//! is lost, nothing is oversold.

use shop_kit::{contracts::order::PayStatus, settings::Service};

use super::{Ctx, State, basic::confirmed};
use crate::api::{Placed, order_body};

pub async fn broker_restart(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx.fixture("1000.00", "120.50", 10, Some("20.00")).await?;
    let body = order_body(f.user.user_id, &f.goods, 1, f.coupon_id(), "0");
    let a = confirmed(
        r,
        "order A: 1 × 120.50 with the coupon",
        ctx.api.place(&body, None).await?,
    )?;
    let payment = ctx.api.create_payment(a.order_id).await?;

    ctx.system().await?.kill_broker().await;
    r.pass("broker killed (SIGKILL)");
    ctx.api.callback_paid(payment.pay_id).await?;
    r.pass(
        "A's paid callback accepted with the broker down (the message waits in pay-svc's outbox)",
    );
    let body = order_body(f.user.user_id, &f.goods, 1, None, "120.50");
    let b = ctx.api.place(&body, None).await?;
    r.pass(format!(
        "order B with the broker down answered {}",
        b.code()
    ));
    let b_confirmed = matches!(b, Placed::Confirmed(_));

    ctx.system().await?.restart_broker().await?;
    r.pass("broker restarted on the same data");
    ctx.order_becomes(
        "A's paid message arrives: order A paid",
        a.order_id,
        ctx.settle(),
        |o| o.pay_status == PayStatus::Paid,
    )
    .await?;
    let sold = 1 + i64::from(b_confirmed);
    let want = State {
        balance: if b_confirmed { "879.50" } else { "1000.00" }.into(),
        stock: 10 - sold,
        available: 10 - sold,
        coupon_used: true,
        points: 100,
    };
    ctx.settles_to(&format!("{sold} sold, coupon used, 100 points"), &f, &want)
        .await
}

pub async fn service_restart(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx.fixture("1000.00", "120.50", 10, None).await?;
    let full = order_body(f.user.user_id, &f.goods, 1, None, "120.50");
    confirmed(
        r,
        "order A: paid entirely from the balance",
        ctx.api.place(&full, None).await?,
    )?;
    ctx.system().await?.kill_service(Service::Goods).await;
    r.pass("goods-svc killed right after (its journal may not be applied yet)");
    let b = ctx.api.place(&full, None).await?;
    r.check(
        format!("order B with goods-svc down is refused ({})", b.code()),
        !matches!(b, Placed::Confirmed(_)),
    )?;
    ctx.system().await?.restart_service(Service::Goods).await?;
    r.pass("goods-svc restarted");
    let mut want = State {
        balance: "879.50".into(),
        stock: 9,
        available: 9,
        coupon_used: false,
        points: 0,
    };
    ctx.settles_to("A's stock applied, B's given back", &f, &want)
        .await?;

    let part = order_body(f.user.user_id, &f.goods, 1, None, "20.50");
    let c = confirmed(
        r,
        "order C: 100.00 left to pay",
        ctx.api.place(&part, None).await?,
    )?;
    let payment = ctx.api.create_payment(c.order_id).await?;
    ctx.system().await?.kill_service(Service::User).await;
    r.pass("user-svc killed");
    ctx.api.callback_paid(payment.pay_id).await?;
    ctx.order_becomes(
        "order C paid while user-svc is down",
        c.order_id,
        ctx.settle(),
        |o| o.pay_status == PayStatus::Paid,
    )
    .await?;
    ctx.system().await?.restart_service(Service::User).await?;
    r.pass("user-svc restarted");
    want = State {
        balance: "859.00".into(),
        stock: 8,
        available: 8,
        coupon_used: false,
        points: 100,
    };
    ctx.settles_to("C's 100 points arrive after the restart", &f, &want)
        .await?;

    let d = confirmed(
        r,
        "order D: 100.00 left to pay",
        ctx.api.place(&part, None).await?,
    )?;
    let payment = ctx.api.create_payment(d.order_id).await?;
    let answer = ctx
        .api
        .callback_with_fault(payment.pay_id, "crash-after-commit")
        .await?;
    r.pass(format!("D's callback with fault crash-after-commit: pay-svc committed and stopped before sending (answered {answer})"));
    r.eventually("pay-svc has exited", ctx.settle(), || async {
        if ctx
            .system()
            .await
            .map_err(|e| e.to_string())?
            .service_exited(Service::Pay)
        {
            Ok(())
        } else {
            Err("running".into())
        }
    })
    .await?;
    ctx.system().await?.restart_service(Service::Pay).await?;
    r.pass("pay-svc restarted");
    ctx.order_becomes(
        "its relay sends the paid message: order D paid",
        d.order_id,
        ctx.settle(),
        |o| o.pay_status == PayStatus::Paid,
    )
    .await?;
    want = State {
        balance: "838.50".into(),
        stock: 7,
        available: 7,
        coupon_used: false,
        points: 200,
    };
    ctx.settles_to("D's points too", &f, &want).await
}

pub async fn redis_flush(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let f = ctx.fixture("10000.00", "10.00", 20, None).await?;
    let body = order_body(f.user.user_id, &f.goods, 5, None, "60.00");
    confirmed(
        r,
        "order A: 5 of 20 units, paid from the balance",
        ctx.api.place(&body, None).await?,
    )?;
    flush_stock_cache(ctx).await?;
    let id = f.goods.goods_id;
    r.eventually(
        "available stock rebuilt from MySQL: 15",
        ctx.settle(),
        || async move {
            match ctx.api.goods_view(id).await {
                Ok(g) if g.available == 15 => Ok(()),
                Ok(g) => Err(format!("available {}", g.available)),
                Err(e) => Err(format!("{e:#}")),
            }
        },
    )
    .await?;
    let rest = order_body(f.user.user_id, &f.goods, 15, None, "150.00");
    confirmed(
        r,
        "order B: the other 15 units",
        ctx.api.place(&rest, None).await?,
    )?;
    let one = order_body(f.user.user_id, &f.goods, 1, None, "20.00");
    r.check_eq(
        "one more unit: STOCK_NOT_ENOUGH",
        ctx.api.place(&one, None).await?.code(),
        "STOCK_NOT_ENOUGH",
    )?;
    let want = State {
        balance: "9790.00".into(),
        stock: 0,
        available: 0,
        coupon_used: false,
        points: 0,
    };
    ctx.settles_to("sold out: stock 0, available 0, never oversold", &f, &want)
        .await?;

    if !ctx.is_managed() {
        r.step("Redis restart skipped: the system's Redis is not ours to kill (run managed)");
        return Ok(());
    }
    let g = ctx.fixture("10000.00", "10.00", 5, None).await?;
    ctx.system().await?.kill_redis().await;
    r.pass("the system's redis-server killed");
    let body = order_body(g.user.user_id, &g.goods, 1, None, "20.00");
    let down = ctx.api.place(&body, None).await?;
    r.check(
        format!("an order with Redis down is refused ({})", down.code()),
        !matches!(down, Placed::Confirmed(_)),
    )?;
    ctx.system().await?.restart_redis().await?;
    r.pass("redis-server restarted, empty");
    let all = order_body(g.user.user_id, &g.goods, 5, None, "60.00");
    let placed = ctx.api.place(&all, None).await?;
    confirmed(r, "all 5 units of a second item after the restart", placed)?;
    r.check_eq(
        "one more unit: STOCK_NOT_ENOUGH",
        ctx.api.place(&body, None).await?.code(),
        "STOCK_NOT_ENOUGH",
    )?;
    let want = State {
        balance: "9940.00".into(),
        stock: 0,
        available: 0,
        coupon_used: false,
        points: 0,
    };
    ctx.settles_to("sold out again, exactly", &g, &want).await
}

/// Empties the stock cache: FLUSHALL on a managed system's own Redis, else deletes
/// goods-svc's keys only.
async fn flush_stock_cache(ctx: &Ctx) -> anyhow::Result<()> {
    let client = redis::Client::open(ctx.target.config.redis_url.as_str())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    if ctx.is_managed() {
        redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await?;
        ctx.report
            .pass("Redis flushed (FLUSHALL on the system's own redis-server)");
        return Ok(());
    }
    let pattern = format!("{}*", ctx.target.goods_redis_prefix());
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(&pattern)
        .query_async(&mut conn)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await?;
    }
    ctx.report.pass(format!(
        "Redis flushed: {} keys {pattern} deleted",
        keys.len()
    ));
    Ok(())
}
