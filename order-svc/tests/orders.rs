//! order-svc against real MariaDB and Redis: reading orders and
//! the operational endpoints.

use order_svc::App;
use shop_testkit::{TestEnv, assert_error, assert_invalid_field, checks, json};

#[tokio::test]
async fn unknown_order_ids_answer_404_and_malformed_ones_400_naming_the_parameter() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    assert_error(app.get("/orders/1").await, 404, "ORDER_NOT_FOUND").await;
    for path in ["/orders/abc", "/orders/+1", "/orders/%FF"] {
        assert_invalid_field(app.get(path).await, "order_id").await;
    }
}

#[tokio::test]
async fn a_stored_order_is_read_with_amounts_as_two_decimal_strings() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    sqlx::query(
        r"insert into trade_order (user_id, goods_id, quantity, goods_price, order_amount,
              shipping_fee, coupon_id, coupon_paid, money_paid, pay_amount, address)
          values (1, 2, 1, 5000, 5000, 0, 3, 20, 100, 4880, 'Beijing')",
    )
    .execute(&app.db().await)
    .await
    .unwrap();

    let order = json(app.get("/orders/1").await).await;
    assert_eq!(order["order_id"], "1");
    assert_eq!(order["coupon_id"], "3");
    assert_eq!(order["status"], "unconfirmed");
    assert_eq!(order["pay_status"], "unpaid");
    assert_eq!(order["order_amount"], "5000.00");
    assert_eq!(order["pay_amount"], "4880.00");
    assert_eq!(order["cancel_reason"], serde_json::json!(null));
}

#[tokio::test]
async fn request_ids_metrics_openapi_and_health_work() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    app.get("/orders/7").await;
    checks::request_id_is_echoed_or_generated(&app).await;
    checks::metrics_show_route(&app, "/orders/{order_id}").await;
    checks::openapi_lists_exactly(
        &app,
        &[
            "/orders",
            "/orders/{order_id}",
            "/orders/{order_id}/timeline",
        ],
    )
    .await;
    checks::openapi_bounds_every_input(&app).await;
    checks::health_is_ok(&app).await;
}

#[tokio::test]
async fn health_names_the_database_within_two_seconds_when_its_port_is_closed() {
    let env = TestEnv::new().await;
    checks::health_names_database_when_its_port_is_closed::<App>(&env).await;
}
