//! The payment flow end to end (docs/architecture.md, "Payment"): the five services
//! with MariaDB, Redis and the broker; create a payment, the signed callback, and what
//! each consumer of `pay`/`paid` (and `pay`/`refund`) does.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use shop_testkit::{assert_error, eventually, json};
use testshop::{SETTLE, Shop, order_body};

#[tokio::test]
async fn a_paid_callback_pays_the_order_adds_points_once_logs_the_payment_and_empties_the_outbox() {
    let shop = Shop::start().await;
    let order = payable_order(&shop).await;

    let (status, payment) = create_payment(&shop.pay, &order.order_id).await;
    assert_eq!(status, 201, "{payment}");
    assert_eq!(payment["order_id"], order.order_id.as_str());
    assert_eq!(payment["amount"], "200.00");
    assert_eq!(payment["status"], "unpaid");
    let pay_id = payment["pay_id"].as_str().unwrap().to_owned();

    pay(&shop.pay, &pay_id).await;

    assert_eq!(payment_status(&shop, &pay_id).await, "paid");
    let paid = order_pay_status_becomes(&shop, &order.order_id, "paid").await;
    assert_eq!(paid["status"], "confirmed");
    assert!(paid["paid_at"].is_string(), "{paid}");
    for group in ["order-pay-paid", "user-pay-paid", "pay-pay-paid"] {
        shop.drained(group).await;
    }
    assert_eq!(points(&shop, &order.user_id).await, 200);
    let logs = "select count(*) from trade_pay_log where event = 'paid' and amount = 200";
    assert_eq!(count(&shop.pay, logs).await, 1);
    let outbox = "select count(*) from trade_mq_producer_temp";
    assert_eq!(count(&shop.pay, outbox).await, 0);
    assert_eq!(count(&shop.orders, outbox).await, 0);
}

#[tokio::test]
async fn a_second_create_returns_the_same_payment_and_unpayable_orders_answer_their_codes() {
    let shop = Shop::start().await;
    let order = payable_order(&shop).await;
    let goods = shop.goods_item("10.00", 10).await;
    let free = order_body(&order.user_id, &goods, 1, "10.00", None, "20.00");
    let free = json(shop.order(&free, None).await).await;
    let doomed = order_body(&order.user_id, &goods, 1, "10.00", None, "0");
    let doomed = assert_error(
        shop.order(&doomed, Some("after-stock")).await,
        409,
        "ORDER_CANCELLED",
    )
    .await;

    let (first_status, first) = create_payment(&shop.pay, &order.order_id).await;
    let (second_status, second) = create_payment(&shop.pay, &order.order_id).await;

    assert_eq!((first_status, second_status), (201, 200));
    assert_eq!(first, second);
    let created = |order_id: &str| {
        let pay = &shop.pay;
        let order_id = order_id.to_owned();
        async move {
            pay.post("/payments", &json!({ "order_id": order_id }))
                .await
        }
    };
    assert_error(created("999999").await, 404, "ORDER_NOT_FOUND").await;
    shop_testkit::assert_invalid_field(created("abc").await, "order_id").await;
    let free_id = free["order_id"].as_str().unwrap();
    assert_error(created(free_id).await, 409, "ORDER_ALREADY_PAID").await;
    let doomed_id = doomed["order_id"].as_str().unwrap();
    assert_error(created(doomed_id).await, 409, "ORDER_CANCELLED").await;
    let missing = shop.pay.post("/payments", &json!({})).await;
    shop_testkit::assert_invalid_field(missing, "order_id").await;
    assert_eq!(count(&shop.pay, "select count(*) from trade_pay").await, 1);
}

#[tokio::test]
async fn the_same_callback_five_times_in_a_row_and_five_at_once_pays_once_and_adds_points_once() {
    let shop = Shop::start().await;
    let first = payable_order(&shop).await;
    let second = payable_order(&shop).await;
    let (_, a) = create_payment(&shop.pay, &first.order_id).await;
    let (_, b) = create_payment(&shop.pay, &second.order_id).await;
    let (a, b) = (a["pay_id"].as_str().unwrap(), b["pay_id"].as_str().unwrap());

    for _ in 0..5 {
        pay(&shop.pay, a).await;
    }
    let at_once = (0..5).map(|_| pay(&shop.pay, b));
    futures::future::join_all(at_once).await;

    for (order, pay_id) in [(&first, a), (&second, b)] {
        order_pay_status_becomes(&shop, &order.order_id, "paid").await;
        assert_eq!(payment_status(&shop, pay_id).await, "paid");
    }
    for group in ["order-pay-paid", "user-pay-paid", "pay-pay-paid"] {
        shop.drained(group).await;
    }
    assert_eq!(points(&shop, &first.user_id).await, 200);
    assert_eq!(points(&shop, &second.user_id).await, 200);
    let paid_logs = "select count(*) from trade_pay_log where event = 'paid'";
    assert_eq!(count(&shop.pay, paid_logs).await, 2);
    // One message per payment: one consumer log row per group and payment.
    let consumed = "select count(*) from trade_mq_consumer_log where group_name = 'user-pay-paid'";
    assert_eq!(count(&shop.users, consumed).await, 2);
    let sends = "select count(*) from trade_mq_producer_temp";
    assert_eq!(count(&shop.pay, sends).await, 0);
    let broker = format!(
        "http://{}/messages?topic=pay&key={a}",
        shop.env.broker.admin_addr()
    );
    let sent = json(reqwest::get(&broker).await.unwrap()).await;
    assert_eq!(sent.as_array().map(Vec::len), Some(1), "{sent}");
}

#[tokio::test]
async fn a_failed_callback_marks_the_payment_failed_publishes_nothing_and_a_later_paid_one_pays() {
    let shop = Shop::start().await;
    let order = payable_order(&shop).await;
    let (_, payment) = create_payment(&shop.pay, &order.order_id).await;
    let pay_id = payment["pay_id"].as_str().unwrap();

    let failed = signed_callback(&shop.pay, &callback_body(pay_id, "failed"), &[]).await;

    assert_eq!(failed.status(), 200);
    assert_eq!(payment_status(&shop, pay_id).await, "failed");
    let outbox = "select count(*) from trade_mq_producer_temp";
    assert_eq!(count(&shop.pay, outbox).await, 0);
    let broker = format!(
        "http://{}/messages?topic=pay&key={pay_id}",
        shop.env.broker.admin_addr()
    );
    assert_eq!(json(reqwest::get(&broker).await.unwrap()).await, json!([]));
    assert_eq!(
        shop.order_json(&order.order_id).await["pay_status"],
        "unpaid"
    );
    let logs = "select count(*) from trade_pay_log where event = 'failed'";
    assert_eq!(count(&shop.pay, logs).await, 1);

    pay(&shop.pay, pay_id).await;
    order_pay_status_becomes(&shop, &order.order_id, "paid").await;
}

#[tokio::test]
async fn a_payment_arriving_after_the_timeout_cancelled_the_order_is_refunded_and_earns_no_points()
{
    let shop = Shop::start_with(|s| s.order_pay_timeout = Duration::from_secs(2)).await;
    let order = payable_order(&shop).await;
    let (_, payment) = create_payment(&shop.pay, &order.order_id).await;
    let pay_id = payment["pay_id"].as_str().unwrap().to_owned();
    eventually("the payment timeout cancels the order", SETTLE, || async {
        let now = shop.order_json(&order.order_id).await;
        (now["status"] == "cancelled").then_some(())
    })
    .await;
    let (again, refused) = create_payment(&shop.pay, &order.order_id).await;
    assert_eq!(
        (again, refused["code"].as_str()),
        (409, Some("ORDER_CANCELLED"))
    );

    pay(&shop.pay, &pay_id).await;

    eventually("the payment is refunded", SETTLE, || async {
        (payment_status(&shop, &pay_id).await == "refunded").then_some(())
    })
    .await;
    let cancelled = shop.order_json(&order.order_id).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["pay_status"], "refunded");
    assert_eq!(cancelled["cancel_reason"], "pay_timeout");
    assert!(cancelled["paid_at"].is_null(), "{cancelled}");
    for group in [
        "user-pay-paid",
        "user-pay-refund",
        "pay-pay-paid",
        "pay-pay-refund",
    ] {
        shop.drained(group).await;
    }
    assert_eq!(points(&shop, &order.user_id).await, 0);
    let (again, same) = create_payment(&shop.pay, &order.order_id).await;
    assert_eq!((again, &same["status"]), (200, &json!("refunded")));
    let events = "select count(*) from trade_pay_log where event in ('paid', 'refunded')";
    assert_eq!(count(&shop.pay, events).await, 2);
    // The refund is a row, made through the payment platform, shown with the payment.
    let refunds = eventually("the refund is made", SETTLE, || async {
        let refunds = common::payment(&shop.pay, &pay_id).await["refunds"].clone();
        (refunds[0]["status"] == "succeeded").then_some(refunds)
    })
    .await;
    assert_eq!(refunds.as_array().unwrap().len(), 1, "{refunds}");
    assert_eq!(refunds[0]["trade_no"], format!("T-{pay_id}"));
    assert_eq!(refunds[0]["amount"], "200.00");
    assert_eq!(refunds[0]["reason"], "order_cancelled");
    let platform = "select count(*) from dev_platform_refund";
    assert_eq!(count(&shop.pay, platform).await, 1);
    // The balance part of the order came back with the cancel.
    let user = json(shop.users.get(&format!("/users/{}", order.user_id)).await).await;
    assert_eq!(user["balance"], "1000.00");
    let outbox = "select count(*) from trade_mq_producer_temp";
    assert_eq!(count(&shop.orders, outbox).await, 0);
}
