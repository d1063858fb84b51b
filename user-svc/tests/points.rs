//! Points of payments (docs/architecture.md, "Payment") against real MariaDB and the
//! broker: `pay`/`paid` adds one point per whole currency unit, `pay`/`refund` takes
//! them back, each once, in either order.

use serde_json::{Value, json};
use shop_kit::bus::{Bus, Message};
use shop_testkit::{TestApp, TestEnv, eventually, json};
use std::time::Duration;
use user_svc::App;

const SETTLE: Duration = Duration::from_secs(15);

/// Sends `pay`/`tag` with key `pay_id`, as pay-svc (paid) or order-svc (refund) would.
async fn send(env: &TestEnv, tag: &str, body: &Value) {
    let producer = Bus::embedded(&env.broker.addr());
    let key = body["pay_id"].as_str().unwrap();
    let message = Message::new("pay", serde_json::to_vec(body).unwrap())
        .with_tag(tag)
        .with_key(key);
    producer.send(message).await.unwrap();
}

/// Waits until `group` acknowledged everything.
async fn drained(env: &TestEnv, group: &str) {
    let url = format!("http://{}/groups/{group}", env.broker.admin_addr());
    eventually(&format!("{group} drained"), SETTLE, || async {
        let body: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
        (body["lag"] == 0 && !body["queues"].as_array()?.is_empty()).then_some(())
    })
    .await;
}

async fn points(app: &TestApp, user_id: &str) -> u64 {
    json(app.get(&format!("/users/{user_id}")).await).await["points"]
        .as_u64()
        .unwrap()
}

fn payment(pay_id: &str, user_id: &str, amount: &str) -> Value {
    json!({"pay_id": pay_id, "order_id": pay_id, "user_id": user_id, "amount": amount,
        "trade_no": null, "reason": "order cancelled (PayTimeout) before its payment arrived"})
}

#[tokio::test]
async fn a_paid_payment_earns_whole_units_once_and_its_refund_takes_them_back_once() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let user = json(
        app.post("/users", &json!({"name": "Ann", "balance": "0"}))
            .await,
    )
    .await;
    let user_id = user["user_id"].as_str().unwrap();
    let kept = payment("71", user_id, "99.99");
    let refunded = payment("72", user_id, "40.00");

    for _ in 0..3 {
        send(&env, "paid", &kept).await;
        send(&env, "paid", &refunded).await;
    }
    eventually("points earned", SETTLE, || async {
        (points(&app, user_id).await == 139).then_some(())
    })
    .await;
    send(&env, "refund", &refunded).await;
    send(&env, "refund", &refunded).await;

    eventually("points taken back", SETTLE, || async {
        (points(&app, user_id).await == 99).then_some(())
    })
    .await;
    drained(&env, "user-pay-paid").await;
    drained(&env, "user-pay-refund").await;
    assert_eq!(points(&app, user_id).await, 99);
}

#[tokio::test]
async fn a_refund_consumed_before_its_paid_message_leaves_the_payment_without_points() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let user = json(
        app.post("/users", &json!({"name": "Bo", "balance": "0"}))
            .await,
    )
    .await;
    let user_id = user["user_id"].as_str().unwrap();
    let late = payment("81", user_id, "250.00");
    let marker = payment("82", user_id, "1.00");

    send(&env, "refund", &late).await;
    drained(&env, "user-pay-refund").await;
    send(&env, "paid", &late).await;
    send(&env, "paid", &marker).await;

    drained(&env, "user-pay-paid").await;
    eventually("the marker payment counted", SETTLE, || async {
        (points(&app, user_id).await == 1).then_some(())
    })
    .await;
    let consumed: i64 = sqlx::query_scalar(
        "select count(*) from trade_mq_consumer_log where group_name = 'user-pay-paid' and status = 'success'",
    )
    .fetch_one(&app.db().await)
    .await
    .unwrap();
    assert_eq!(consumed, 2);
}
