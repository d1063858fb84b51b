//! Load on `POST /payments/callback`: N signed `paid` callbacks for N unpaid
//! payments, from C concurrent callers; prints the latency p50/p90/p99/max and the
//! throughput, then how long the `paid` messages took to be sent and consumed after
//! the last answer (the answer does not wait for them).
//!
//! ```sh
//! cargo run --release -p pay-svc --example callback_load -- --concurrency 64 --callbacks 5000
//! ```
//!
//! By default it starts what it measures in this process: the real broker (fsync per
//! acknowledgement, in a temporary folder) and pay-svc on a fresh schema of the MariaDB
//! at `SHOP_TEST_MYSQL_URL` (default `mysql://root@127.0.0.1:3306`), dropped at the end.
//! With `--target http://127.0.0.1:8085 --database-url mysql://root@127.0.0.1:3306/shop_pay`
//! it loads a running pay-svc instead, writing its payments into that schema.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::Parser;
use shop_kit::{
    contracts::pay::{SIGNATURE_HEADER, callback_signature},
    settings::DEV_PAY_CALLBACK_SECRET,
};
use shop_testkit::{TestApp, TestEnv};
use sqlx::MySqlPool;

#[derive(Parser, Debug)]
#[command(about = "Latency of pay-svc's payment callback under concurrent callers")]
struct Args {
    /// Concurrent callers.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Measured callbacks (one payment each).
    #[arg(long, default_value_t = 5000)]
    callbacks: usize,
    /// Callbacks sent first and not measured.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// A running pay-svc to load instead of starting one.
    #[arg(long, requires = "database_url")]
    target: Option<String>,
    /// The schema of the running pay-svc (`--target`), where the payments are written.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, env = "PAY_CALLBACK_SECRET", default_value = DEV_PAY_CALLBACK_SECRET)]
    secret: String,
}

/// What is being loaded: pay-svc's URL and schema (and, when started here, the
/// environment keeping it alive).
struct Target {
    url: String,
    db: MySqlPool,
    _local: Option<(TestEnv, TestApp)>,
}

async fn target(args: &Args) -> anyhow::Result<Target> {
    if let (Some(url), Some(database_url)) = (&args.target, &args.database_url) {
        let db = MySqlPool::connect(database_url)
            .await
            .context("pay-svc's schema")?;
        return Ok(Target {
            url: url.clone(),
            db,
            _local: None,
        });
    }
    let env = TestEnv::new().await;
    let app = env
        .spawn_with::<pay_svc::App>(|s| s.pay_callback_secret = Some(args.secret.clone()))
        .await;
    let db = app.db().await;
    Ok(Target {
        url: app.base_url.clone(),
        db,
        _local: Some((env, app)),
    })
}

/// Inserts `n` unpaid payments (orders far above any real id); their ids.
async fn payments(db: &MySqlPool, n: usize) -> anyhow::Result<Vec<u64>> {
    let base: u64 = sqlx::query_scalar(
        r"select cast(coalesce(max(order_id), 0) + 1000000000 as unsigned) from trade_pay",
    )
    .fetch_one(db)
    .await?;
    let mut ids = Vec::with_capacity(n);
    for chunk in (0..n as u64).collect::<Vec<_>>().chunks(1000) {
        let mut tx = db.begin().await?;
        for i in chunk {
            let done = sqlx::query(
                r"insert into trade_pay (order_id, user_id, pay_amount) values (?, 1, 99.50)",
            )
            .bind(base + i)
            .execute(&mut *tx)
            .await?;
            ids.push(done.last_insert_id());
        }
        tx.commit().await?;
    }
    Ok(ids)
}

/// Sends the callbacks of `pay_ids` from `concurrency` callers; each one's latency.
async fn run(
    url: &str,
    secret: &str,
    pay_ids: &[u64],
    concurrency: usize,
) -> anyhow::Result<Vec<Duration>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let signed: Arc<Vec<(String, String)>> = Arc::new(
        pay_ids
            .iter()
            .map(|id| {
                let body = format!(r#"{{"pay_id":"{id}","status":"paid","trade_no":"LOAD{id}"}}"#);
                let signature = callback_signature(secret, body.as_bytes());
                (body, signature)
            })
            .collect(),
    );
    let next = Arc::new(AtomicUsize::new(0));
    let endpoint = format!("{url}/payments/callback");
    let callers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (http, signed, next, endpoint) =
                (http.clone(), signed.clone(), next.clone(), endpoint.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, signature)) = signed.get(i) else {
                        break;
                    };
                    let started = Instant::now();
                    let response = http
                        .post(&endpoint)
                        .header("content-type", "application/json")
                        .header(SIGNATURE_HEADER, signature)
                        .body(body.clone())
                        .send()
                        .await?;
                    let status = response.status();
                    response.bytes().await?;
                    latencies.push(started.elapsed());
                    anyhow::ensure!(status == 200, "callback {i} answered {status}");
                }
                anyhow::Ok(latencies)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(pay_ids.len());
    for caller in callers {
        all.extend(caller.await??);
    }
    Ok(all)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Waits until the local message table is empty and pay-svc's own consumer logged
/// `n` paid payments; how long that took.
async fn settled(db: &MySqlPool, n: i64) -> anyhow::Result<Duration> {
    let started = Instant::now();
    loop {
        let pending: i64 = sqlx::query_scalar(r"select count(*) from trade_mq_producer_temp")
            .fetch_one(db)
            .await?;
        let logged: i64 =
            sqlx::query_scalar(r"select count(*) from trade_pay_log where event = 'paid'")
                .fetch_one(db)
                .await?;
        if pending == 0 && logged >= n {
            return Ok(started.elapsed());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "not settled: {pending} pending, {logged} logged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let target = target(&args).await?;
    let logged_before: i64 =
        sqlx::query_scalar(r"select count(*) from trade_pay_log where event = 'paid'")
            .fetch_one(&target.db)
            .await?;
    let ids = payments(&target.db, args.warmup + args.callbacks).await?;
    let (warmup, measured) = ids.split_at(args.warmup);
    run(&target.url, &args.secret, warmup, args.concurrency).await?;
    settled(&target.db, logged_before + warmup.len() as i64).await?;

    let started = Instant::now();
    let mut latencies = run(&target.url, &args.secret, measured, args.concurrency).await?;
    let elapsed = started.elapsed();
    let drain = settled(&target.db, logged_before + ids.len() as i64).await?;

    latencies.sort();
    println!(
        "callbacks {} concurrency {} ({} warm-up)  target {}",
        latencies.len(),
        args.concurrency,
        warmup.len(),
        target.url
    );
    println!(
        "latency  p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 90.0)),
        ms(percentile(&latencies, 99.0)),
        ms(*latencies.last().expect("at least one callback"))
    );
    println!(
        "throughput {:.0} callbacks/s over {:.2} s",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!(
        "after the last answer: outbox empty and payment log complete in {}",
        ms(drain)
    );
    Ok(())
}
