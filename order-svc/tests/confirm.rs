//! Confirm-order end to end (docs/architecture.md, "Confirm order", "Stock
//! reservation", "Idempotent consumers"): the real user, goods, coupon and order
//! services with MariaDB, Redis and the broker.

use serde_json::json;
use shop_kit::bus::{Bus, Message};
use shop_testkit::{assert_error, eventually, json};
use testshop::{SETTLE, Shop, State, order_body};

#[tokio::test]
async fn the_seed_example_confirms_and_every_service_records_its_part() {
    let shop = Shop::start().await;
    let user = shop.user("10000.00").await;
    let goods = shop.goods_item("5000.00", 100).await;
    let coupon = shop.coupon(&user, "50.00").await;

    let body = order_body(&user, &goods, 1, "5000.00", Some((&coupon, "50")), "100.00");
    let response = shop.order(&body, None).await;

    assert_eq!(response.status(), 201);
    let order = json(response).await;
    let order_id = order["order_id"].as_str().unwrap().to_owned();
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["pay_status"], "unpaid");
    assert_eq!(order["order_amount"], "5000.00");
    assert_eq!(order["shipping_fee"], "0.00");
    assert_eq!(order["coupon_paid"], "50.00");
    assert_eq!(order["money_paid"], "100.00");
    assert_eq!(order["pay_amount"], "4850.00");
    assert_eq!(
        json(shop.orders.get(&format!("/orders/{order_id}")).await).await,
        order
    );

    // MySQL stock follows once the journal's message is consumed.
    let expected = State {
        balance: "9900.00".into(),
        stock: 99,
        available: 99,
        coupon_used: true,
    };
    shop.settles_to(&expected, &user, &goods, Some(&coupon))
        .await;
    let logs = json(shop.users.get(&format!("/users/{user}/money-logs")).await).await;
    assert_eq!(logs.as_array().unwrap().len(), 1);
    assert_eq!(logs[0]["type"], "paid");
    assert_eq!(logs[0]["amount"], "100.00");
    assert_eq!(logs[0]["order_id"], order_id.as_str());
    let coupon_view = json(shop.coupons.get(&format!("/coupons/{coupon}")).await).await;
    assert_eq!(coupon_view["order_id"], order_id.as_str());
    let journals = json(shop.goods.get(&format!("/goods/{goods}/stock-logs")).await).await;
    assert_eq!(journals[0]["status"], "applied");
    assert_eq!(journals[0]["order_id"], order_id.as_str());
    let number_logs = shop
        .count(&shop.goods, "select count(*) from trade_goods_number_log")
        .await;
    assert_eq!(number_logs, 1);
}

#[tokio::test]
async fn an_order_with_nothing_left_to_pay_is_confirmed_paid() {
    let shop = Shop::start().await;
    let user = shop.user("100.00").await;
    let goods = shop.goods_item("20.00", 5).await;

    let body = order_body(&user, &goods, 2, "20.00", None, "50.00");
    let order = json(shop.order(&body, None).await).await;

    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["pay_status"], "paid");
    assert_eq!(order["pay_amount"], "0.00");
    assert_eq!(order["shipping_fee"], "10.00");
    assert_eq!(order["paid_at"], order["confirmed_at"]);
    // The answer is built from what the confirmation wrote, not read back: it must be
    // the committed row, field for field.
    let order_id = order["order_id"].as_str().unwrap();
    assert_eq!(
        json(shop.orders.get(&format!("/orders/{order_id}")).await).await,
        order
    );
}

#[tokio::test]
async fn every_validation_code_answers_and_nothing_is_written_anywhere() {
    let shop = Shop::start().await;
    let user = shop.user("1000.00").await;
    let other = shop.user("10.00").await;
    let goods = shop.goods_item("100.00", 5).await;
    let coupon = shop.coupon(&user, "30.00").await;
    let others_coupon = shop.coupon(&other, "5.00").await;
    let good = || order_body(&user, &goods, 1, "100.00", Some((&coupon, "30")), "10.00");
    let with = |field: &str, value: serde_json::Value| {
        let mut body = good();
        body[field] = value;
        body
    };
    let cases = [
        (with("user_id", json!("999")), 404, "USER_NOT_FOUND"),
        (with("user_id", json!("abc")), 400, "INVALID_REQUEST"),
        (with("goods_id", json!("999")), 404, "GOODS_NOT_FOUND"),
        (with("goods_price", json!("99.00")), 409, "PRICE_MISMATCH"),
        (with("quantity", json!(0)), 400, "INVALID_QUANTITY"),
        (with("quantity", json!(-2)), 400, "INVALID_QUANTITY"),
        (
            order_body(&user, &goods, 6, "100.00", None, "0"),
            409,
            "STOCK_NOT_ENOUGH",
        ),
        (
            with("order_amount", json!("90.00")),
            400,
            "ORDER_AMOUNT_INVALID",
        ),
        (
            with("shipping_fee", json!("0.00")),
            400,
            "SHIPPING_FEE_INVALID",
        ),
        (
            with("money_paid", json!("-1.00")),
            400,
            "MONEY_PAID_INVALID",
        ),
        (
            order_body(&user, &goods, 5, "100.00", None, "1000.01"),
            409,
            "BALANCE_NOT_ENOUGH",
        ),
        (with("coupon_id", json!("999")), 404, "COUPON_NOT_FOUND"),
        (
            with("coupon_id", json!(others_coupon)),
            409,
            "COUPON_NOT_OWNED",
        ),
        (
            with("money_paid", json!("90.00")),
            400,
            "PAY_AMOUNT_NEGATIVE",
        ),
        (with("quantity", json!("one")), 400, "INVALID_REQUEST"),
    ];
    let before = shop.state(&user, &goods, Some(&coupon)).await;

    for (body, status, code) in cases {
        let response = shop.order(&body, None).await;
        let answer = assert_error(response, status, code).await;
        assert!(answer.get("order_id").is_none(), "{code}: nothing saved");
    }
    // A used coupon: use it with a good order first.
    let first = shop.order(&good(), None).await;
    assert_eq!(first.status(), 201);
    let again = order_body(&user, &goods, 1, "100.00", Some((&coupon, "30")), "0");
    assert_error(shop.order(&again, None).await, 409, "COUPON_USED").await;

    let orders = shop
        .count(&shop.orders, "select count(*) from trade_order")
        .await;
    assert_eq!(orders, 1, "only the good order is saved");
    let journals = shop
        .count(&shop.goods, "select count(*) from trade_stock_log")
        .await;
    assert_eq!(journals, 1);
    let logs = shop
        .count(&shop.users, "select count(*) from trade_user_money_log")
        .await;
    assert_eq!(logs, 1);
    assert_eq!(before.available, 5);
}

#[tokio::test]
async fn each_fault_point_cancels_the_order_and_everything_comes_back() {
    let shop = Shop::start().await;
    let user = shop.user("1000.00").await;
    let goods = shop.goods_item("100.00", 10).await;

    for fault in ["after-stock", "after-coupon", "after-balance"] {
        let coupon = shop.coupon(&user, "20.00").await;
        let before = shop.state(&user, &goods, Some(&coupon)).await;
        let body = order_body(&user, &goods, 2, "100.00", Some((&coupon, "20")), "50.00");

        let answer =
            assert_error(shop.order(&body, Some(fault)).await, 409, "ORDER_CANCELLED").await;

        let order_id = answer["order_id"].as_str().expect("order_id").to_owned();
        let order = shop.order_json(&order_id).await;
        assert_eq!(order["status"], "cancelled", "{fault}");
        assert_eq!(order["cancel_reason"], "confirm_failed", "{fault}");
        shop.settles_to(&before, &user, &goods, Some(&coupon)).await;
        let journals = json(shop.goods.get(&format!("/goods/{goods}/stock-logs")).await).await;
        let journal = journals
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["order_id"] == order_id.as_str())
            .expect("the order's journal");
        assert_eq!(journal["status"], "cancelled", "{fault}");
    }
    // Only the balance step ran in the last case: one paid and one refund row.
    let logs = json(shop.users.get(&format!("/users/{user}/money-logs")).await).await;
    let kinds: Vec<_> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["type"].clone())
        .collect();
    assert_eq!(kinds.len(), 2, "{logs}");
    assert!(kinds.contains(&json!("paid")) && kinds.contains(&json!("refund")));
    assert_eq!(
        shop.count(&shop.orders, "select count(*) from trade_mq_producer_temp")
            .await,
        0,
        "the outbox is drained"
    );
}

#[tokio::test]
async fn without_shop_faults_the_fault_header_is_ignored() {
    let shop = Shop::start_with(|s| s.faults_enabled = false).await;
    let user = shop.user("100.00").await;
    let goods = shop.goods_item("10.00", 3).await;

    let body = order_body(&user, &goods, 1, "10.00", None, "0");
    let response = shop.order(&body, Some("after-stock")).await;

    assert_eq!(response.status(), 201);
}

/// Sends `order`/`cancel` for `order_id` as order-svc would, `times` times.
async fn send_cancel(shop: &Shop, body: &serde_json::Value, times: usize) {
    let producer = Bus::embedded(&shop.env.broker.addr());
    for _ in 0..times {
        let message = Message::new("order", serde_json::to_vec(body).unwrap())
            .with_tag("cancel")
            .with_key(body["order_id"].as_str().unwrap());
        producer.send(message).await.unwrap();
    }
}

#[tokio::test]
async fn the_same_cancel_delivered_three_times_refunds_and_returns_stock_once() {
    let shop = Shop::start().await;
    let user = shop.user("500.00").await;
    let goods = shop.goods_item("100.00", 10).await;
    let body = order_body(&user, &goods, 3, "100.00", None, "40.00");
    let order = json(shop.order(&body, None).await).await;
    let order_id = order["order_id"].as_str().unwrap();
    let reserved = State {
        balance: "460.00".into(),
        stock: 7,
        available: 7,
        coupon_used: false,
    };
    shop.settles_to(&reserved, &user, &goods, None).await;

    let cancel = json!({"order_id": order_id, "user_id": user, "goods_id": goods, "quantity": 3,
        "coupon_id": null, "money_paid": "40.00", "reason": "pay_timeout"});
    send_cancel(&shop, &cancel, 3).await;

    let restored = State {
        balance: "500.00".into(),
        stock: 10,
        available: 10,
        coupon_used: false,
    };
    shop.settles_to(&restored, &user, &goods, None).await;
    // Every delivery acknowledged: the duplicates arrived and changed nothing.
    for group in [
        "user-order-cancel",
        "goods-order-cancel",
        "order-order-cancel",
    ] {
        shop.drained(group).await;
    }
    assert_eq!(shop.state(&user, &goods, None).await, restored);
    let refunds = shop
        .count(
            &shop.users,
            "select count(*) from trade_user_money_log where money_log_type = 'refund'",
        )
        .await;
    assert_eq!(refunds, 1);
    assert_eq!(shop.order_json(order_id).await["status"], "cancelled");
}

#[tokio::test]
async fn a_cancel_consumed_before_its_steps_makes_the_late_steps_refuse() {
    let shop = Shop::start().await;
    let user = shop.user("500.00").await;
    let goods = shop.goods_item("100.00", 10).await;
    let coupon = shop.coupon(&user, "10.00").await;
    let order_id = "424242";
    let cancel = json!({"order_id": order_id, "user_id": user, "goods_id": goods, "quantity": 2,
        "coupon_id": coupon, "money_paid": "30.00", "reason": "confirm_failed"});
    send_cancel(&shop, &cancel, 1).await;
    for app in [&shop.goods, &shop.coupons, &shop.users] {
        eventually("the null compensation is recorded", SETTLE, || async {
            let n: i64 = sqlx::query_scalar(
                "select count(*) from trade_cancelled_order where order_id = 424242",
            )
            .fetch_one(&app.db().await)
            .await
            .unwrap();
            (n == 1).then_some(())
        })
        .await;
    }
    let before = shop.state(&user, &goods, Some(&coupon)).await;

    let reserve = json!({"order_id": order_id, "goods_id": goods, "quantity": 2});
    let used = json!({"order_id": order_id, "user_id": user});
    let deduct = json!({"order_id": order_id, "amount": "30.00"});
    let late = [
        shop.goods
            .post_internal("/internal/stock/reservations", &reserve)
            .await,
        shop.coupons
            .post_internal(&format!("/internal/coupons/{coupon}/use"), &used)
            .await,
        shop.users
            .post_internal(&format!("/internal/users/{user}/deduct"), &deduct)
            .await,
    ];

    for response in late {
        assert_error(response, 409, "ORDER_CANCELLED").await;
    }
    assert_eq!(shop.state(&user, &goods, Some(&coupon)).await, before);
    assert_eq!(before.available, 10);
    let live_journals = "select count(*) from trade_stock_log where status <> 'cancelled'";
    assert_eq!(shop.count(&shop.goods, live_journals).await, 0);
}

#[tokio::test]
async fn a_cancel_that_keeps_failing_is_retried_then_dead_lettered_and_logged_failed() {
    let shop = Shop::start().await;
    let producer = Bus::embedded(&shop.env.broker.addr());
    let poison = Message::new("order", &b"not json"[..])
        .with_tag("cancel")
        .with_key("777");

    producer.send(poison).await.unwrap();

    // The test broker retries twice, 200 ms apart, then dead-letters.
    let url = format!(
        "http://{}/dlq/user-order-cancel",
        shop.env.broker.admin_addr()
    );
    let dead = eventually(
        "the poison message in user-svc's dead letters",
        SETTLE,
        || async {
            let dead: serde_json::Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
            (dead.as_array()?.len() == 1).then_some(dead)
        },
    )
    .await;
    assert_eq!(dead[0]["keys"][0], "777");
    let (status, attempts): (String, u32) = sqlx::query_as(
        "select status, attempts from trade_mq_consumer_log where group_name = 'user-order-cancel' and msg_key = '777'",
    )
    .fetch_one(&shop.users.db().await)
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(attempts, 3, "the first delivery and two retries");
}
