//! The audit's payment invariant can fail: after the pay scenario (a payment, its
//! replays, and a second charge refunded) every invariant holds; then money moves
//! behind pay-svc's back and exactly "money charged = money kept + money refunded"
//! fails, naming the payment.

use std::{panic::AssertUnwindSafe, path::PathBuf};

use futures::FutureExt;
use shop::{Ctx, Managed, Timings, audit, scenario};
use shop_kit::settings::Service;
use shop_testkit as testkit;
use sqlx::{AssertSqlSafe, Connection, MySqlConnection};

const INVARIANT: &str = "payments: money charged = money kept + money refunded";

async fn execute(ctx: &Ctx, sql: String) {
    let mut conn = MySqlConnection::connect(&ctx.target.config.mysql_url)
        .await
        .unwrap();
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The names of the invariants that fail now.
async fn failing(ctx: &Ctx) -> Vec<String> {
    let report = audit::audit(&ctx.target).await;
    assert!(!report.invariants.is_empty());
    report.failures().iter().map(|i| i.name.clone()).collect()
}

async fn detail(ctx: &Ctx) -> String {
    let report = audit::audit(&ctx.target).await;
    let invariant = report.invariants.iter().find(|i| i.name == INVARIANT);
    invariant.expect("the invariant is audited").detail.clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn money_charged_kept_and_refunded_is_audited_per_payment_and_fails_alone_when_broken() {
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_shop"));
    let system = Managed::start(
        bin_dir.parent().unwrap(),
        &testkit::mysql_server_url(),
        Timings::fast(),
    )
    .await
    .unwrap();
    let ctx = Ctx::managed(system);
    let checks = AssertUnwindSafe(break_and_audit(&ctx)).catch_unwind().await;
    ctx.stop(checks.is_err()).await;
    if let Err(panic) = checks {
        std::panic::resume_unwind(panic);
    }
}

async fn break_and_audit(ctx: &Ctx) {
    // The pay scenario ends with a settled audit that passes, a second charge refunded.
    scenario::run(ctx, "pay").await.unwrap();
    assert_eq!(failing(ctx).await, Vec::<String>::new());
    let balanced = detail(ctx).await;
    assert!(balanced.contains("refunded 200.00"), "{balanced}");
    let pay = ctx.target.schema(Service::Pay);

    // The refund of the second charge never happened.
    execute(
        ctx,
        format!("update `{pay}`.trade_pay_refund set status = 'failed'"),
    )
    .await;
    assert_eq!(failing(ctx).await, vec![INVARIANT.to_owned()]);
    let broken = detail(ctx).await;
    assert!(
        broken.contains("(paid): charged 400.00 ≠ kept 200.00 + refunded 0"),
        "{broken}"
    );

    // Repaired, the audit holds again; a charge nobody accounted for breaks it again.
    execute(
        ctx,
        format!("update `{pay}`.trade_pay_refund set status = 'succeeded'"),
    )
    .await;
    assert_eq!(failing(ctx).await, Vec::<String>::new());
    execute(
        ctx,
        format!(
            "insert into `{pay}`.trade_pay_charge (pay_id, trade_no, amount)
             select pay_id, 'UNSEEN', pay_amount from `{pay}`.trade_pay limit 1"
        ),
    )
    .await;
    assert_eq!(failing(ctx).await, vec![INVARIANT.to_owned()]);
}
