//! Service-to-service authentication: the internal routes of goods-svc, coupon-svc
//! and user-svc answer 401 `UNAUTHENTICATED` to anyone without the service
//! credential and change nothing; order-svc, which has it (and is their one caller,
//! hence these tests live here), still confirms orders.

use serde_json::{Value, json};
use shop_testkit::{assert_error, json};
use testshop::{Shop, order_body};

/// The ways of calling without the credential.
fn bad_credentials(token: &str) -> Vec<Option<String>> {
    vec![
        None,
        Some("Bearer not-the-token".into()),
        Some(format!("Bearer {token}x")),
        Some(format!("Basic {token}")),
        Some(token.to_owned()),
        Some("Bearer ".into()),
    ]
}

async fn post(url: &str, authorization: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.expect("the service answers")
}

#[tokio::test]
async fn internal_endpoints_refuse_callers_without_the_service_credential_and_change_nothing() {
    let shop = Shop::start().await;
    let user = shop.user("10000.00").await;
    let goods = shop.goods_item("500.00", 10).await;
    let coupon = shop.coupon(&user, "20.00").await;
    let before = shop.state(&user, &goods, Some(&coupon)).await;

    let order_id = "987654321";
    let calls = [
        (
            shop.goods.url("/internal/stock/reservations"),
            json!({"order_id": order_id, "goods_id": goods, "quantity": 3}),
        ),
        (
            shop.coupons.url(&format!("/internal/coupons/{coupon}/use")),
            json!({"order_id": order_id, "user_id": user}),
        ),
        (
            shop.users.url(&format!("/internal/users/{user}/deduct")),
            json!({"order_id": order_id, "amount": "500.00"}),
        ),
    ];
    for (url, body) in &calls {
        for authorization in bad_credentials(&shop.env.internal_token) {
            let response = post(url, authorization.as_deref(), body).await;
            let answer = assert_error(response, 401, "UNAUTHENTICATED").await;
            assert!(
                answer["message"].as_str().unwrap().contains("Bearer"),
                "{url} with {authorization:?}: {answer}"
            );
        }
    }

    // Nothing moved: balance, stock, Redis availability, coupon, and no rows behind.
    assert_eq!(shop.state(&user, &goods, Some(&coupon)).await, before);
    let journals = "select count(*) from trade_stock_log";
    assert_eq!(shop.count(&shop.goods, journals).await, 0, "no journal");
    let money_logs = "select count(*) from trade_user_money_log";
    assert_eq!(shop.count(&shop.users, money_logs).await, 0, "no money log");
    let logs = json(shop.users.get(&format!("/users/{user}/money-logs")).await).await;
    assert_eq!(logs, json!([]));

    // The holder of the credential is let through: order-svc confirms an order with
    // all three steps.
    let body = order_body(
        &user,
        &goods,
        1,
        "500.00",
        Some((&coupon, "20.00")),
        "100.00",
    );
    let response = shop.order(&body, None).await;
    assert_eq!(response.status().as_u16(), 201, "{}", json(response).await);
    let after = shop.state(&user, &goods, Some(&coupon)).await;
    assert_eq!(after.balance, "9900.00");
    assert_eq!(after.available, 9);
    assert!(after.coupon_used);
}

#[tokio::test]
async fn openapi_marks_internal_routes_with_their_tag_security_and_401() {
    let shop = Shop::start().await;
    for (app, internal) in [
        (&shop.goods, "/internal/stock/reservations"),
        (&shop.coupons, "/internal/coupons/{coupon_id}/use"),
        (&shop.users, "/internal/users/{user_id}/deduct"),
    ] {
        let doc = json(app.get("/openapi.json").await).await;
        let scheme = &doc["components"]["securitySchemes"]["internal_token"];
        assert_eq!(scheme["type"], "http", "{scheme}");
        assert_eq!(scheme["scheme"], "bearer", "{scheme}");
        let operation = &doc["paths"][internal]["post"];
        assert_eq!(operation["tags"], json!(["internal"]), "{internal}");
        assert_eq!(operation["security"], json!([{"internal_token": []}]));
        assert!(operation["responses"]["401"].is_object(), "{internal}");
        for (path, item) in doc["paths"].as_object().unwrap() {
            if path.starts_with("/internal/") {
                continue;
            }
            for operation in item.as_object().unwrap().values() {
                assert!(operation.get("security").is_none(), "{path} is public");
                assert_ne!(operation["tags"], json!(["internal"]), "{path}");
            }
        }
    }
    let orders = json(shop.orders.get("/openapi.json").await).await;
    assert!(orders["components"]["securitySchemes"].is_null());
}
