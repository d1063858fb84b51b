//! The `paid` message is never lost (docs/architecture.md, "Payment"): the callback
//! answers from its local transaction whatever the broker does, and the relay of the
//! local message table delivers what the immediate send could not, after a broker
//! outage or after pay-svc stopped between the commit and the send.

mod common;

use std::time::Duration;

use common::*;
use shop_testkit::{eventually, json};
use testshop::{SETTLE, Shop};

/// The `paid` message's row in pay-svc's local message table: (attempts, last error).
async fn outbox_row(shop: &Shop) -> Option<(u32, Option<String>)> {
    sqlx::query_as(r"select attempts, last_error from trade_mq_producer_temp")
        .fetch_optional(&shop.pay.db().await)
        .await
        .expect("read the outbox")
}

#[tokio::test]
async fn with_the_broker_stopped_the_callback_answers_200_and_the_relay_delivers_after_its_restart()
{
    let shop = Shop::start().await;
    let broker = &shop.env.broker;
    let order = payable_order(&shop).await;
    let (_, payment) = create_payment(&shop.pay, &order.order_id).await;
    let pay_id = payment["pay_id"].as_str().unwrap().to_owned();
    broker.stop().await;

    let started = tokio::time::Instant::now();
    pay(&shop.pay, &pay_id).await;
    let answered_in = started.elapsed();

    assert!(
        answered_in < Duration::from_secs(1),
        "answered in {answered_in:?}"
    );
    assert_eq!(payment_status(&shop, &pay_id).await, "paid");
    eventually("the relay tried and failed", SETTLE, || async {
        let (attempts, error) = outbox_row(&shop).await?;
        (attempts >= 1 && error.is_some()).then_some(())
    })
    .await;
    assert_eq!(
        shop.order_json(&order.order_id).await["pay_status"],
        "unpaid"
    );

    broker.restart().await;

    order_pay_status_becomes(&shop, &order.order_id, "paid").await;
    eventually("the outbox is empty", SETTLE, || async {
        outbox_row(&shop).await.is_none().then_some(())
    })
    .await;
    let admin = broker.admin_addr();
    for group in ["user-pay-paid", "pay-pay-paid"] {
        drained(&admin, group).await;
    }
    assert_eq!(points(&shop, &order.user_id).await, 200);
}

/// The stop between commit and send is the fault point `crash-after-commit`
/// (`SHOP_FAULTS=on`): pay-svc commits the payment and the message row, skips the
/// send and shuts itself down, relay included. Only a new pay-svc on the same schema
/// can deliver the message, and does, through its relay.
#[tokio::test]
async fn pay_svc_stopped_between_commit_and_send_delivers_through_the_relay_after_its_restart() {
    let shop = Shop::start().await;
    let order = payable_order(&shop).await;
    let (_, payment) = create_payment(&shop.pay, &order.order_id).await;
    let pay_id = payment["pay_id"].as_str().unwrap().to_owned();
    let body = callback_body(&pay_id, "paid");

    let crashed =
        signed_callback(&shop.pay, &body, &[("x-shop-fault", "crash-after-commit")]).await;

    assert_eq!(crashed.status(), 503);
    eventually("pay-svc is down", SETTLE, || async {
        shop.pay
            .http
            .get(shop.pay.url("/health"))
            .send()
            .await
            .is_err()
            .then_some(())
    })
    .await;
    assert_eq!(
        outbox_row(&shop).await.map(|(attempts, _)| attempts),
        Some(0)
    );
    assert_eq!(
        shop.order_json(&order.order_id).await["pay_status"],
        "unpaid"
    );

    let restarted = shop.env.spawn_with::<pay_svc::App>(testshop::fast).await;

    order_pay_status_becomes(&shop, &order.order_id, "paid").await;
    eventually("the outbox is empty", SETTLE, || async {
        outbox_row(&shop).await.is_none().then_some(())
    })
    .await;
    assert_eq!(
        json(restarted.get(&format!("/payments/{pay_id}")).await).await["status"],
        "paid"
    );
    // The platform retries the callback it got no answer to: a replay, nothing more.
    pay(&restarted, &pay_id).await;
    for group in ["user-pay-paid", "pay-pay-paid"] {
        shop.drained(group).await;
    }
    assert_eq!(points(&shop, &order.user_id).await, 200);
    assert!(outbox_row(&shop).await.is_none());
}
