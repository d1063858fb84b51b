//! `shop audit` and `shop scenario` as a user runs them: the real binary against a
//! managed system (audit) or starting its own (scenario).

use std::{panic::AssertUnwindSafe, path::PathBuf, process::Output};

use futures::FutureExt;

use shop::{Ctx, Managed, Timings, scenario};
use shop_kit::settings::Service;
use shop_testkit as testkit;
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};
use tokio::process::Command;

fn shop() -> Command {
    let mut command = Command::new(PathBuf::from(env!("CARGO_BIN_EXE_shop")));
    command.kill_on_drop(true);
    command
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn execute(ctx: &Ctx, sql: String) {
    let mut conn = MySqlConnection::connect(&ctx.target.config.mysql_url)
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shop_audit_passes_on_a_consistent_system_and_exits_1_naming_a_corrupted_stock_and_balance()
{
    // Arrange: a managed system after the success scenario.
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_shop"));
    let bin_dir = bin_dir.parent().unwrap();
    let system = Managed::start(bin_dir, &testkit::mysql_server_url(), Timings::fast())
        .await
        .unwrap();
    let ctx = Ctx::managed(system);
    // The system is stopped (and its schemas dropped) even when an assertion fails.
    let checks = AssertUnwindSafe(audit_checks(&ctx)).catch_unwind().await;
    ctx.stop(checks.is_err()).await;
    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
}

async fn audit_checks(ctx: &Ctx) {
    scenario::run(ctx, "success").await.unwrap();
    let config = ctx.target.config.clone();
    let audit = || {
        let mut command = shop();
        command
            .arg("audit")
            .env("SHOP_MYSQL_URL", &config.mysql_url)
            .env("SHOP_SCHEMA_SUFFIX", &config.schema_suffix)
            .env("REDIS_URL", &config.redis_url)
            .env("ORDER_ABANDON_AFTER", "4s");
        command
    };

    // Act and assert: consistent.
    let output = audit().output().await.unwrap();
    let printed = text(&output);
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("All 17 invariants hold."), "{printed}");
    assert_eq!(printed.matches("  ✓ ").count(), 17, "{printed}");

    // A unit of stock and a cent of balance vanish behind the services' backs.
    let goods = ctx.target.schema(Service::Goods);
    let user = ctx.target.schema(Service::User);
    execute(
        ctx,
        format!("update `{goods}`.trade_goods set goods_number = goods_number - 1"),
    )
    .await;
    execute(
        ctx,
        format!("update `{user}`.trade_user set user_money = user_money - 0.01"),
    )
    .await;
    let output = audit().output().await.unwrap();
    let printed = text(&output);
    assert_eq!(output.status.code(), Some(1), "{printed}");
    let stock = "✗ stock: initial = MySQL stock + applied journals: goods 1: initial 100 ≠ stock 98 + applied 1";
    assert!(printed.contains(stock), "{printed}");
    // Redis still holds the unit MySQL lost: that drift is named too.
    assert!(printed.contains("✗ stock: Redis available"), "{printed}");
    assert!(printed.contains("✗ balance:"), "{printed}");
    assert!(
        printed.contains("3 of 17 invariants do not hold."),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shop_scenario_starts_its_own_system_prints_each_check_and_refuses_crashes_on_a_running_one()
 {
    let output = shop().args(["scenario", "pay"]).output().await.unwrap();
    let printed = text(&output);
    assert!(output.status.success(), "{printed}");
    assert!(printed.contains("Starting a managed system"), "{printed}");
    assert!(printed.contains("▶ pay:"), "{printed}");
    assert!(printed.contains("  ✓ order paid"), "{printed}");
    assert!(printed.contains("  ✓ audit passed"), "{printed}");
    assert!(printed.contains("1 scenario(s) passed"), "{printed}");

    let output = shop().args(["scenario", "list"]).output().await.unwrap();
    let listed = text(&output);
    for s in shop::SCENARIOS {
        assert!(listed.contains(s.name), "{} listed:\n{listed}", s.name);
    }

    let output = shop()
        .args(["scenario", "broker-restart", "--running"])
        .output()
        .await
        .unwrap();
    let printed = text(&output);
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("needs a managed system"), "{printed}");
}
