//! Chaos: while clients place and pay orders, the broker, a random service and the
//! system's own Redis are killed with SIGKILL at random moments and restarted (at
//! most one at a time, only processes of the managed system, on localhost). At the
//! end the audit must pass, and the counts are printed.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use rand::{Rng, SeedableRng, rngs::StdRng};
use rust_decimal::Decimal;
use shop_kit::{
    contracts::{goods::GoodsView, order::PayStatus},
    ids::Id,
    settings::Service,
};

use crate::{
    api::{Placed, ShopApi, order_body},
    audit::settled_audit,
    scenario::Ctx,
};

/// How long and how hard.
#[derive(Debug, Clone)]
pub struct ChaosOptions {
    pub duration: Duration,
    pub clients: usize,
}

impl Default for ChaosOptions {
    fn default() -> Self {
        ChaosOptions {
            duration: Duration::from_secs(60),
            clients: 32,
        }
    }
}

/// What the clients saw.
#[derive(Debug, Default)]
struct Tally {
    placed: AtomicU64,
    confirmed: AtomicU64,
    refused: AtomicU64,
    errors: AtomicU64,
    callbacks: AtomicU64,
    kills: AtomicU64,
    /// Refusals by error code.
    codes: std::sync::Mutex<std::collections::BTreeMap<String, u64>>,
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let r = &ctx.report;
    let options = ctx.chaos.clone();
    let mut goods = Vec::new();
    // Enough stock that the run does not sell out; the last item is scarce, so that
    // STOCK_NOT_ENOUGH and its races happen too.
    for (price, stock) in [
        ("12.00", 100_000),
        ("45.50", 100_000),
        ("99.00", 100_000),
        ("250.00", 300),
    ] {
        goods.push(ctx.api.goods_item("chaos-item", price, stock).await?);
    }
    let mut users = Vec::new();
    for _ in 0..options.clients {
        users.push(ctx.api.user("chaos-buyer", "100000.00").await?.user_id);
    }
    r.step(format!(
        "{} clients order and pay for {:?}; broker, services and Redis killed at random",
        options.clients, options.duration
    ));
    let tally = Arc::new(Tally::default());
    let deadline = Instant::now() + options.duration;
    let clients: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let (api, goods, tally) = (ctx.api.clone(), goods.clone(), tally.clone());
            let user = *user;
            tokio::spawn(async move { client(api, user, goods, tally, deadline, i as u64).await })
        })
        .collect();
    let progress = async {
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(5).min(deadline - Instant::now())).await;
            r.progress(format!(
                "{:>3.0}s: {} orders ({} confirmed, {} refused, {} errors), {} callbacks, {} kills",
                options.duration.as_secs_f64()
                    - (deadline.saturating_duration_since(Instant::now())).as_secs_f64(),
                tally.placed.load(Ordering::Relaxed),
                tally.confirmed.load(Ordering::Relaxed),
                tally.refused.load(Ordering::Relaxed),
                tally.errors.load(Ordering::Relaxed),
                tally.callbacks.load(Ordering::Relaxed),
                tally.kills.load(Ordering::Relaxed),
            ));
        }
    };
    let (killed, ()) = tokio::join!(killer(ctx, deadline, &tally), progress);
    for client in clients {
        let _ = client.await;
    }
    r.pass(format!("chaos over: {}", killed?.join(", ")));

    let settle =
        ctx.settle() * 3 + ctx.target.timings.pay_timeout + ctx.target.timings.abandon_deadline();
    let wait = ctx.target.timings.pay_timeout + ctx.settle();
    r.eventually(
        "every confirmed order ends paid or cancelled by its timeout",
        wait,
        || async {
            match count(
                ctx,
                Service::Order,
                "select count(*) from {} where status = 'confirmed' and pay_status = 'unpaid'",
                "trade_order",
            )
            .await
            {
                Ok(0) => Ok(()),
                Ok(n) => Err(format!("{n} confirmed and unpaid")),
                Err(e) => Err(format!("{e:#}")),
            }
        },
    )
    .await?;
    settled_audit(&ctx.target, settle, r).await?;
    print_counts(ctx, &tally).await
}

/// `sql` with `{}` replaced by `table` of `service`'s schema, counted.
async fn count(ctx: &Ctx, service: Service, sql: &str, table: &str) -> anyhow::Result<i64> {
    let url = &ctx.target.config.mysql_url;
    let mut conn = <sqlx::MySqlConnection as sqlx::Connection>::connect(url).await?;
    let sql = sql.replace("{}", &format!("`{}`.{table}", ctx.target.schema(service)));
    let n = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut conn)
        .await?;
    sqlx::Connection::close(conn).await?;
    Ok(n)
}

/// One client: order, and pay what is left to pay, until `deadline`. Errors are
/// counted, not fatal: processes die under it.
async fn client(
    api: ShopApi,
    user: Id,
    goods: Vec<GoodsView>,
    tally: Arc<Tally>,
    deadline: Instant,
    seed: u64,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
    while Instant::now() < deadline {
        let item = &goods[rng.random_range(0..goods.len())];
        let quantity = rng.random_range(1..=3);
        // Half of the orders are paid from the balance outright, half by payment.
        let amount = item.price.decimal() * Decimal::from(quantity);
        let shipping = if amount > Decimal::from(100) {
            Decimal::ZERO
        } else {
            Decimal::from(10)
        };
        let money = if rng.random_bool(0.5) {
            Decimal::ZERO
        } else {
            amount + shipping
        };
        let body = order_body(user, item, quantity, None, &format!("{money:.2}"));
        tally.placed.fetch_add(1, Ordering::Relaxed);
        let order = match api.place(&body, None).await {
            Ok(Placed::Confirmed(order)) => order,
            Ok(Placed::Refused { code, .. }) => {
                tally.refused.fetch_add(1, Ordering::Relaxed);
                let mut codes = tally.codes.lock().unwrap_or_else(|e| e.into_inner());
                *codes.entry(code).or_insert(0) += 1;
                continue;
            }
            Err(_) => {
                tally.errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        tally.confirmed.fetch_add(1, Ordering::Relaxed);
        if order.pay_status == PayStatus::Paid {
            continue;
        }
        if let Ok(payment) = api.create_payment(order.order_id).await
            && api.callback_paid(payment.pay_id).await.is_ok()
        {
            tally.callbacks.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Until `deadline`: wait 2–6 s, kill one thing, wait 0.3–2 s, restart it.
async fn killer(ctx: &Ctx, deadline: Instant, tally: &Tally) -> anyhow::Result<Vec<String>> {
    let mut rng = StdRng::from_os_rng();
    let mut done = Vec::new();
    loop {
        let pause = Duration::from_millis(rng.random_range(2000..6000));
        if Instant::now() + pause + Duration::from_secs(2) >= deadline {
            return Ok(done);
        }
        tokio::time::sleep(pause).await;
        let down = Duration::from_millis(rng.random_range(300..2000));
        let victim = rng.random_range(0..7);
        let mut system = ctx.system().await?;
        let name = match victim {
            0 => {
                system.kill_broker().await;
                tokio::time::sleep(down).await;
                system.restart_broker().await?;
                "mq-broker".to_string()
            }
            1 => {
                system.kill_redis().await;
                tokio::time::sleep(down).await;
                system.restart_redis().await?;
                "redis-server".to_string()
            }
            n => {
                let service = Service::ALL[n - 2];
                system.kill_service(service).await;
                tokio::time::sleep(down).await;
                system.restart_service(service).await?;
                service.binary().to_string()
            }
        };
        tally.kills.fetch_add(1, Ordering::Relaxed);
        ctx.report
            .progress(format!("killed and restarted {name} (down {down:?})"));
        done.push(name);
    }
}

/// Orders of one (status, pay status, cancel reason), and how many.
type OrderCount = (String, String, String, i64);

async fn print_counts(ctx: &Ctx, tally: &Tally) -> anyhow::Result<()> {
    let url = &ctx.target.config.mysql_url;
    let pool = sqlx::mysql::MySqlPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await?;
    let sql = format!(
        "select cast(status as char), cast(pay_status as char), cast(coalesce(cancel_reason, '') as char), count(*) \
         from `{}`.trade_order group by status, pay_status, cancel_reason",
        ctx.target.schema(Service::Order)
    );
    let rows: Vec<OrderCount> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    let sum = |f: &dyn Fn(&OrderCount) -> bool| -> i64 {
        rows.iter().filter(|r| f(r)).map(|r| r.3).sum()
    };
    let retried = ctx.api.broker_messages("retry").await?;
    let dead = ctx.api.broker_messages("dlq").await?;
    let mut redelivered = 0;
    for service in Service::ALL {
        let sql = "select cast(coalesce(sum(attempts - 1), 0) as signed) from {}";
        redelivered += count(ctx, service, sql, "trade_mq_consumer_log").await?;
    }
    let codes = tally
        .codes
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    println!("  chaos counts:");
    println!(
        "    orders placed {}, answered confirmed {}, refused {}, failed to answer {}",
        tally.placed.load(Ordering::Relaxed),
        tally.confirmed.load(Ordering::Relaxed),
        tally.refused.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed)
    );
    println!("    refusals by code: {codes:?}");
    println!(
        "    orders now: confirmed {}, cancelled {} (confirm_failed {}, pay_timeout {}, abandoned {})",
        sum(&|r| r.0 == "confirmed"),
        sum(&|r| r.0 == "cancelled"),
        sum(&|r| r.2 == "confirm_failed"),
        sum(&|r| r.2 == "pay_timeout"),
        sum(&|r| r.2 == "abandoned")
    );
    println!(
        "    paid {} (by callback: {} callbacks accepted), refunded {}",
        sum(&|r| r.1 == "paid"),
        tally.callbacks.load(Ordering::Relaxed),
        sum(&|r| r.1 == "refunded")
    );
    println!(
        "    messages retried by the broker {retried} (nacked), handled again {redelivered} \
         (consumer-log attempts after the first), dead-lettered {dead}; kills {}",
        tally.kills.load(Ordering::Relaxed)
    );
    Ok(())
}
