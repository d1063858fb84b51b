//! pay-svc alone against real MariaDB, Redis and the broker: reading payments, the
//! callback's signature and request checks, creating without order-svc, and the
//! operational endpoints. The flows with every service are in `paid_flow.rs`.

mod common;

use common::{callback_body, count, signed_callback};
use pay_svc::App;
use serde_json::json;
use shop_kit::contracts::pay::{SIGNATURE_HEADER, callback_signature};
use shop_testkit::{TestApp, TestEnv, assert_error, assert_invalid_field, checks, json};

#[tokio::test]
async fn unknown_payment_ids_answer_404_and_malformed_ones_400_naming_the_parameter() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    assert_error(app.get("/payments/1").await, 404, "PAYMENT_NOT_FOUND").await;
    for path in ["/payments/abc", "/payments/01", "/payments/%FF"] {
        assert_invalid_field(app.get(path).await, "pay_id").await;
    }
}

#[tokio::test]
async fn a_stored_payment_is_read_with_its_amount_as_a_two_decimal_string() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    sqlx::query(r"insert into trade_pay (order_id, pay_amount) values (9, 4880.5)")
        .execute(&app.db().await)
        .await
        .unwrap();

    let payment = json(app.get("/payments/1").await).await;
    assert_eq!(
        payment,
        serde_json::json!({"pay_id": "1", "order_id": "9", "amount": "4880.50", "status": "unpaid",
            "refunds": []})
    );
}

#[tokio::test]
async fn request_ids_metrics_openapi_and_health_work() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    app.get("/payments/7").await;
    checks::request_id_is_echoed_or_generated(&app).await;
    checks::metrics_show_route(&app, "/payments/{pay_id}").await;
    checks::openapi_lists_exactly(
        &app,
        &[
            "/payments",
            "/payments/callback",
            "/payments/{pay_id}",
            "/internal/orders/{order_id}/records",
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

/// An unpaid payment of 120.00 for order 9 of user 3, written directly.
async fn stored_payment(app: &TestApp) -> String {
    let done =
        sqlx::query(r"insert into trade_pay (order_id, user_id, pay_amount) values (9, 3, 120.00)")
            .execute(&app.db().await)
            .await
            .unwrap();
    done.last_insert_id().to_string()
}

/// The payment's status and the rows of the local message table.
async fn payment_and_outbox(app: &TestApp, pay_id: &str) -> (String, i64) {
    let payment = json(app.get(&format!("/payments/{pay_id}")).await).await;
    let outbox = count(app, "select count(*) from trade_mq_producer_temp").await;
    (payment["status"].as_str().unwrap().to_owned(), outbox)
}

#[tokio::test]
async fn forged_or_missing_signatures_answer_401_signature_invalid_and_change_nothing() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let pay_id = stored_payment(&app).await;
    let body = callback_body(&pay_id, "paid");
    let other_body = callback_body(&pay_id, "failed");
    let secret = app.settings.pay_callback_secret().to_owned();
    let forged = [
        None,
        Some(String::new()),
        Some("not hex".to_owned()),
        Some(callback_signature("another secret", body.as_bytes())),
        Some(callback_signature(&secret, other_body.as_bytes())),
        Some(callback_signature(&secret, body.as_bytes())[..62].to_owned()),
    ];

    for signature in forged {
        let mut request = app
            .http
            .post(app.url("/payments/callback"))
            .body(body.clone());
        if let Some(signature) = &signature {
            request = request.header(SIGNATURE_HEADER, signature);
        }
        let response = request.send().await.unwrap();
        assert_error(response, 401, "SIGNATURE_INVALID").await;
    }
    // The signature is checked before the body is read as JSON.
    let garbage = app
        .http
        .post(app.url("/payments/callback"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(garbage, 401, "SIGNATURE_INVALID").await;

    assert_eq!(
        payment_and_outbox(&app, &pay_id).await,
        ("unpaid".into(), 0)
    );
    let logs = count(&app, "select count(*) from trade_pay_log").await;
    assert_eq!(logs, 0);
}

#[tokio::test]
async fn signed_callbacks_for_unknown_payments_or_with_bad_fields_answer_404_or_400() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let pay_id = stored_payment(&app).await;

    let unknown = signed_callback(&app, &callback_body("424242", "paid"), &[]).await;
    assert_error(unknown, 404, "PAYMENT_NOT_FOUND").await;
    for not_an_id in ["abc", "0", "01"] {
        let response = signed_callback(&app, &callback_body(not_an_id, "paid"), &[]).await;
        assert_invalid_field(response, "pay_id").await;
    }
    let long = json!({"pay_id": pay_id, "status": "paid", "trade_no": "T".repeat(129)});
    let long = signed_callback(&app, &long.to_string(), &[]).await;
    assert_invalid_field(long, "trade_no").await;
    let status = json!({"pay_id": pay_id, "status": "maybe"}).to_string();
    assert_invalid_field(signed_callback(&app, &status, &[]).await, "status").await;
    let missing = json!({"status": "paid"}).to_string();
    assert_invalid_field(signed_callback(&app, &missing, &[]).await, "pay_id").await;
    let malformed = signed_callback(&app, "{\"pay_id\":", &[]).await;
    assert_error(malformed, 400, "INVALID_REQUEST").await;

    assert_eq!(
        payment_and_outbox(&app, &pay_id).await,
        ("unpaid".into(), 0)
    );
}

#[tokio::test]
async fn creating_a_payment_while_order_svc_is_unreachable_answers_503_unavailable() {
    let env = TestEnv::new().await;
    let closed = shop_testkit::closed_port_addr().await;
    let app = env
        .spawn_with::<App>(|s| s.order_svc_url = format!("http://{closed}"))
        .await;

    let response = app.post("/payments", &json!({"order_id": "1"})).await;

    assert_error(response, 503, "UNAVAILABLE").await;
    assert_eq!(count(&app, "select count(*) from trade_pay").await, 0);
}
