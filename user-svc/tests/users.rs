//! user-svc against real MariaDB and Redis: create/get, validation, 404s and the
//! operational endpoints.

use serde_json::json;
use shop_testkit::{TestEnv, assert_error, assert_invalid_field, checks, json};
use user_svc::App;

#[tokio::test]
async fn a_created_user_is_read_back_with_its_balance_and_no_money_logs() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    let response = app
        .post("/users", &json!({"name": "Ann", "balance": "5000"}))
        .await;
    assert_eq!(response.status(), 201);
    let created = json(response).await;
    assert_eq!(created["name"], "Ann");
    assert_eq!(created["balance"], "5000.00");
    assert_eq!(created["points"], 0);
    let user_id = created["user_id"].as_str().expect("id is a JSON string");

    let read = json(app.get(&format!("/users/{user_id}")).await).await;
    assert_eq!(read, created);

    let logs = app.get(&format!("/users/{user_id}/money-logs")).await;
    assert_eq!(logs.status(), 200);
    assert_eq!(json(logs).await, json!([]));
}

#[tokio::test]
async fn balances_are_accepted_as_numbers_and_written_with_two_places() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    let created = json(
        app.post("/users", &json!({"name": "Bo", "balance": 12.5}))
            .await,
    )
    .await;
    assert_eq!(created["balance"], "12.50");
    let zero = json(
        app.post("/users", &json!({"name": "Cy", "balance": 0}))
            .await,
    )
    .await;
    assert_eq!(zero["balance"], "0.00");
}

#[tokio::test]
async fn invalid_users_are_refused_naming_the_field() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    let cases = [
        (json!({"name": "", "balance": "1"}), "name"),
        (json!({"name": "   ", "balance": "1"}), "name"),
        (json!({"name": "x".repeat(256), "balance": "1"}), "name"),
        (json!({"name": 5, "balance": "1"}), "name"),
        (json!({"balance": "1"}), "name"),
        (json!({"name": "Ann", "balance": "-1.00"}), "balance"),
        (json!({"name": "Ann", "balance": -3}), "balance"),
        (json!({"name": "Ann", "balance": "1.005"}), "balance"),
        (json!({"name": "Ann", "balance": "lots"}), "balance"),
        (json!({"name": "Ann", "balance": true}), "balance"),
        (json!({"name": "Ann"}), "balance"),
    ];
    for (body, field) in cases {
        assert_invalid_field(app.post("/users", &body).await, field).await;
    }
    let malformed = app.post_raw("/users", r#"{"name": "Ann", "#).await;
    let body = assert_error(malformed, 400, "INVALID_REQUEST").await;
    assert!(body["message"].as_str().unwrap().contains("malformed JSON"));
    let not_an_object = app.post_raw("/users", "[1, 2]").await;
    assert_error(not_an_object, 400, "INVALID_REQUEST").await;

    let count: i64 = sqlx::query_scalar("select count(*) from trade_user")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing written");
}

#[tokio::test]
async fn unknown_or_malformed_user_ids_answer_404_user_not_found() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    for path in [
        "/users/999999",
        "/users/abc",
        "/users/0",
        "/users/-1",
        "/users/999999/money-logs",
        "/users/abc/money-logs",
    ] {
        assert_error(app.get(path).await, 404, "USER_NOT_FOUND").await;
    }
}

#[tokio::test]
async fn request_ids_metrics_openapi_and_health_work() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    app.post("/users", &json!({"name": "Ann", "balance": "1"}))
        .await;
    app.get("/users/1").await;
    checks::request_id_is_echoed_or_generated(&app).await;
    checks::metrics_show_route(&app, "/users").await;
    checks::metrics_show_route(&app, "/users/{user_id}").await;
    checks::openapi_lists_exactly(
        &app,
        &[
            "/users",
            "/users/{user_id}",
            "/users/{user_id}/money-logs",
            "/internal/users/{user_id}/deduct",
            "/internal/orders/{order_id}/records",
        ],
    )
    .await;
    checks::health_is_ok(&app).await;
}

#[tokio::test]
async fn health_names_the_database_within_two_seconds_when_its_port_is_closed() {
    let env = TestEnv::new().await;
    checks::health_names_database_when_its_port_is_closed::<App>(&env).await;
}

#[tokio::test]
async fn requests_answer_503_unavailable_while_the_database_is_down() {
    let env = TestEnv::new().await;
    let url = shop_testkit::closed_port_database_url().await;
    let app = env.start_with::<App>(move |s| s.database_url = url).await;

    let response = app
        .post("/users", &json!({"name": "Ann", "balance": "1"}))
        .await;
    assert_error(response, 503, "UNAVAILABLE").await;
    assert_error(app.get("/users/1").await, 503, "UNAVAILABLE").await;
}

#[tokio::test]
async fn a_stopped_app_shuts_down_gracefully_and_releases_its_port() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let addr = app.addr;

    let started = std::time::Instant::now();
    app.stop().await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "port released"
    );
}
