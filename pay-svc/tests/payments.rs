//! pay-svc against real MariaDB and Redis: what works so far (reading payments) and
//! the operational endpoints.

use pay_svc::App;
use services::testkit::{TestEnv, assert_error, checks, json};

#[tokio::test]
async fn unknown_or_malformed_payment_ids_answer_404_payment_not_found() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    for path in ["/payments/1", "/payments/abc"] {
        assert_error(app.get(path).await, 404, "PAYMENT_NOT_FOUND").await;
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
        serde_json::json!({"pay_id": "1", "order_id": "9", "amount": "4880.50", "status": "unpaid"})
    );
}

#[tokio::test]
async fn request_ids_metrics_openapi_and_health_work() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    app.get("/payments/7").await;
    checks::request_id_is_echoed_or_generated(&app).await;
    checks::metrics_show_route(&app, "/payments/{pay_id}").await;
    checks::openapi_lists_exactly(&app, &["/payments/{pay_id}"]).await;
    checks::health_is_ok(&app).await;
}

#[tokio::test]
async fn health_names_the_database_within_two_seconds_when_its_port_is_closed() {
    let env = TestEnv::new().await;
    checks::health_names_database_when_its_port_is_closed::<App>(&env).await;
}
