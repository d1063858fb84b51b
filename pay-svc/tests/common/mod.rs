//! What the pay-svc end-to-end tests share: a confirmed order ready to pay, signed
//! callbacks, and reads of every service's part of a payment.

#![allow(dead_code)] // each test file uses its own part

use serde_json::{Value, json};
use shop_kit::contracts::pay::{SIGNATURE_HEADER, callback_signature};
use shop_testkit::{TestApp, eventually, json};
use testshop::{SETTLE, Shop, order_body};

/// A confirmed, unpaid order of a new user: price 120.50 × 2 = 241.00 (no shipping),
/// 41.00 from the balance, so 200.00 is left to pay (200 points).
pub struct PayableOrder {
    pub user_id: String,
    pub order_id: String,
}

pub async fn payable_order(shop: &Shop) -> PayableOrder {
    let user_id = shop.user("1000.00").await;
    let goods = shop.goods_item("120.50", 10).await;
    let body = order_body(&user_id, &goods, 2, "120.50", None, "41.00");
    let order = json(shop.order(&body, None).await).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert_eq!(order["pay_amount"], "200.00", "{order}");
    PayableOrder {
        user_id,
        order_id: order["order_id"].as_str().expect("order_id").to_owned(),
    }
}

/// `POST /payments` for `order_id`; the answer's status and body.
pub async fn create_payment(pay: &TestApp, order_id: &str) -> (u16, Value) {
    let response = pay
        .post("/payments", &json!({ "order_id": order_id }))
        .await;
    (response.status().as_u16(), json(response).await)
}

/// The callback body the platform sends.
pub fn callback_body(pay_id: &str, status: &str) -> String {
    json!({"pay_id": pay_id, "status": status, "trade_no": format!("T-{pay_id}")}).to_string()
}

/// `POST /payments/callback` of `body`, signed with pay-svc's secret, with extra headers.
pub async fn signed_callback(
    pay: &TestApp,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let signature = callback_signature(pay.settings.pay_callback_secret(), body.as_bytes());
    let mut request = pay
        .http
        .post(pay.url("/payments/callback"))
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("pay-svc answers")
}

/// A paid callback for `pay_id`, signed; asserts 200 `{"result":"ok"}`.
pub async fn pay(pay: &TestApp, pay_id: &str) {
    let response = signed_callback(pay, &callback_body(pay_id, "paid"), &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(json(response).await, json!({"result": "ok"}));
}

pub async fn payment(pay: &TestApp, pay_id: &str) -> Value {
    json(pay.get(&format!("/payments/{pay_id}")).await).await
}

pub async fn payment_status(shop: &Shop, pay_id: &str) -> String {
    payment(&shop.pay, pay_id).await["status"]
        .as_str()
        .expect("status")
        .to_owned()
}

pub async fn points(shop: &Shop, user_id: &str) -> u64 {
    json(shop.users.get(&format!("/users/{user_id}")).await).await["points"]
        .as_u64()
        .expect("points")
}

/// `count(*)` of `sql` in `app`'s schema.
pub async fn count(app: &TestApp, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.db().await)
        .await
        .expect("count query")
}

/// Waits until the order's pay status is `pay_status`.
pub async fn order_pay_status_becomes(shop: &Shop, order_id: &str, pay_status: &str) -> Value {
    eventually(
        &format!("order {order_id} {pay_status}"),
        SETTLE,
        || async {
            let order = shop.order_json(order_id).await;
            (order["pay_status"] == pay_status).then_some(order)
        },
    )
    .await
}

/// Waits until consumer group `group` of the broker at `admin_addr` has
/// acknowledged everything.
pub async fn drained(admin_addr: &str, group: &str) {
    let url = format!("http://{admin_addr}/groups/{group}");
    eventually(&format!("group {group} drained"), SETTLE, || async {
        let body: Value = reqwest::get(&url).await.ok()?.json().await.ok()?;
        (body["lag"] == 0 && !body["queues"].as_array()?.is_empty()).then_some(())
    })
    .await;
}
