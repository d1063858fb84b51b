//! Truthful answers: when the confirmation's commit succeeds but its outcome is lost
//! (fault `commit-outcome-lost`: the commit call answers an error after the server
//! committed), order-svc reads the order back and answers 201 confirmed, and the
//! order keeps its stock, coupon and balance.

use serde_json::Value;
use shop_testkit::{eventually, json};
use testshop::{SETTLE, Shop, State, order_body};

#[tokio::test]
async fn a_confirmation_whose_commit_outcome_is_lost_answers_201_confirmed_and_keeps_its_parts() {
    let shop = Shop::start().await;
    let user = shop.user("1000.00").await;
    let goods = shop.goods_item("100.00", 5).await;
    let coupon = shop.coupon(&user, "30.00").await;
    let body = order_body(&user, &goods, 2, "100.00", Some((&coupon, "30")), "50.00");

    let response = shop.order(&body, Some("commit-outcome-lost")).await;

    let status = response.status().as_u16();
    let answer = json(response).await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(answer["status"], "confirmed", "{answer}");
    assert_eq!(answer["pay_status"], "unpaid", "{answer}");
    let order_id = answer["order_id"].as_str().unwrap().to_owned();
    let stored = shop.order_json(&order_id).await;
    assert_eq!(stored["status"], "confirmed", "{stored}");
    assert!(stored["cancel_reason"].is_null(), "{stored}");

    // Its parts stay held: no cancel was written, so nothing comes back.
    let held = State {
        balance: "950.00".into(),
        stock: 3,
        available: 3,
        coupon_used: true,
    };
    shop.settles_to(&held, &user, &goods, Some(&coupon)).await;
    // The payment-timeout message the lost outcome left unsent goes by the relay
    // (the outbox drains); no cancel message was written or sent for the order.
    eventually("the outbox drains", SETTLE, || async {
        let pending = "select count(*) from trade_mq_producer_temp where status = 'pending'";
        (shop.count(&shop.orders, pending).await == 0).then_some(())
    })
    .await;
    let url = format!(
        "http://{}/messages?topic=order&key={order_id}",
        shop.env.broker.admin_addr()
    );
    let messages: Value = reqwest::get(&url).await.unwrap().json().await.unwrap();
    let cancels = messages
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["tag"] == "cancel")
        .count();
    assert_eq!(cancels, 0, "no cancel message: {messages}");
    assert_eq!(shop.order_json(&order_id).await["status"], "confirmed");
}
