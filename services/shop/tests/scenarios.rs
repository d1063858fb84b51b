//! The scenario suite, part of `cargo test --workspace`: each test starts a managed
//! system — the real `mq-broker` and five service binaries as processes on free
//! ports, its own `redis-server`, fresh schemas, short timeouts (`Timings::fast`) —
//! runs named scenarios on it, each ending with an audit that must pass, and stops
//! it (dropping its schemas; its logs are kept when a scenario fails).
//!
//! The binaries are the ones cargo built beside `shop` (target/debug/):
//! `cargo test --workspace` builds every binary of the workspace first. With
//! `cargo test -p shop` alone, build them first (`cargo build --workspace
//! --bins`), or the test says which are missing (or runs stale ones).

use std::{path::PathBuf, time::Duration};

use shop::{Ctx, Managed, Timings, chaos::ChaosOptions, scenario};
use shop_testkit as testkit;

fn bin_dir() -> PathBuf {
    let shop = PathBuf::from(env!("CARGO_BIN_EXE_shop"));
    shop.parent().expect("shop lives in a folder").to_path_buf()
}

async fn managed() -> Ctx {
    let system = Managed::start(&bin_dir(), &testkit::mysql_server_url(), Timings::fast())
        .await
        .unwrap_or_else(|e| panic!("the managed system did not start: {e:#}"));
    Ctx::managed(system)
}

/// Runs `names` in order on one managed system; panics at the first failure with
/// where the logs are.
async fn run(ctx: Ctx, names: &[&str]) {
    let mut outcome = Ok(());
    for name in names {
        outcome = scenario::run(&ctx, name).await;
        if outcome.is_err() {
            break;
        }
    }
    let kept = ctx.stop(outcome.is_err()).await;
    if let Err(e) = outcome {
        panic!("{e:#}\nlogs kept in {kept:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn success_rollback_pay_pay_timeout_abandoned_and_duplicates_pass_and_each_audit_holds() {
    let names = [
        "success",
        "rollback",
        "pay",
        "pay-timeout",
        "abandoned",
        "duplicates",
    ];
    run(managed().await, &names).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn broker_and_service_restarts_a_redis_flush_and_concurrent_buyers_lose_and_oversell_nothing()
{
    let names = [
        "broker-restart",
        "service-restart",
        "redis-flush",
        "concurrent-buyers",
    ];
    run(managed().await, &names).await;
}

/// `shop scenario chaos` runs 60 s by default; the suite runs 15 s of it.
#[tokio::test(flavor = "multi_thread")]
async fn fifteen_seconds_of_chaos_with_32_clients_end_with_a_passing_audit() {
    let mut ctx = managed().await;
    ctx.chaos = ChaosOptions {
        duration: Duration::from_secs(15),
        clients: 32,
    };
    run(ctx, &["chaos"]).await;
}
