//! Orders abandoned mid-confirmation (docs/architecture.md, "Abandoned orders", issue
//! 8): order-svc runs as a real process and aborts right after reserving stock (fault
//! point `crash-after-stock`); the pre-order is left `unconfirmed` holding stock. Once
//! order-svc runs again, its abandon sweep cancels the order within
//! `ORDER_ABANDON_AFTER` (not the 30-minute payment timeout) and the stock comes back.

use std::{os::unix::process::ExitStatusExt, time::Duration};

use shop_testkit::{ServiceProcess, eventually, json};
use testshop::{SETTLE, Shop, order_body};

const ABANDON_AFTER: Duration = Duration::from_secs(2);

/// The order rows of order-svc's schema: (order id, status, cancel reason).
async fn order_rows(shop: &Shop) -> Vec<(u64, String, Option<String>)> {
    sqlx::query_as("select order_id, status, cancel_reason from trade_order")
        .fetch_all(&shop.orders.db().await)
        .await
        .expect("read the orders")
}

#[tokio::test]
async fn an_order_abandoned_by_a_crash_after_stock_is_cancelled_after_the_restart_and_its_stock_comes_back()
 {
    let mut shop = Shop::start_with(|s| s.order_abandon_after = ABANDON_AFTER).await;
    let user = shop.user("1000.00").await;
    let goods = shop.goods_item("120.50", 10).await;
    let coupon = shop.coupon(&user, "20.00").await;
    let before = shop.state(&user, &goods, Some(&coupon)).await;
    // order-svc as a process of its own, on the in-process one's schema and address.
    shop.orders.halt().await;
    let mut settings = shop.orders.settings.clone();
    settings.listen_addr = shop.orders.addr;
    let mut process = ServiceProcess::start(env!("CARGO_BIN_EXE_order-svc"), settings);
    process.wait_healthy(SETTLE).await;

    let body = order_body(&user, &goods, 2, "120.50", Some((&coupon, "20")), "41.00");
    let answer = reqwest::Client::new()
        .post(process.url("/orders"))
        .header("x-shop-fault", "crash-after-stock")
        .json(&body)
        .send()
        .await;

    assert!(
        answer.is_err(),
        "no answer from an aborted process: {answer:?}"
    );
    let exit = process.wait_exit(SETTLE).await;
    assert_eq!(exit.signal(), Some(6), "aborted (SIGABRT): {exit}");
    let rows = order_rows(&shop).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (order_id, status, _) = rows[0].clone();
    assert_eq!(status, "unconfirmed");
    // Reserved (the MySQL figure follows once goods-svc applies the journal).
    let held = shop.state(&user, &goods, Some(&coupon)).await;
    assert_eq!(held.available, before.available - 2, "{held:?}");
    assert_eq!(
        (held.balance.as_str(), held.coupon_used),
        ("1000.00", false)
    );

    let restarted = tokio::time::Instant::now();
    shop.restart_orders().await;

    let order = eventually("the abandoned order is cancelled", SETTLE, || async {
        let order = shop.order_json(&order_id.to_string()).await;
        (order["status"] == "cancelled").then_some(order)
    })
    .await;
    let took = restarted.elapsed();
    assert_eq!(order["cancel_reason"], "abandoned", "{order}");
    assert_eq!(order["pay_status"], "unpaid", "{order}");
    // The deadline counts from the pre-order; the sweep looks every quarter of it.
    assert!(
        took < ABANDON_AFTER * 3,
        "cancelled {took:?} after the restart"
    );
    shop.settles_to(&before, &user, &goods, Some(&coupon)).await;
    let journals = json(shop.goods.get(&format!("/goods/{goods}/stock-logs")).await).await;
    assert_eq!(journals[0]["status"], "cancelled", "{journals}");
    // The coupon and the balance were never taken: nothing to give back.
    let logs = json(shop.users.get(&format!("/users/{user}/money-logs")).await).await;
    assert_eq!(logs, serde_json::json!([]));
    for group in [
        "goods-order-cancel",
        "coupon-order-cancel",
        "user-order-cancel",
    ] {
        shop.drained(group).await;
    }
    assert_eq!(shop.state(&user, &goods, Some(&coupon)).await, before);
}
