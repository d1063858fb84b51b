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
async fn a_deduct_answers_the_balance_after_it_and_a_repeat_answers_the_same_without_a_second_deduct()
 {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let created = json(
        app.post("/users", &json!({"name": "Ann", "balance": "100.00"}))
            .await,
    )
    .await;
    let user_id = created["user_id"].as_str().unwrap();
    let deduct = format!("/internal/users/{user_id}/deduct");

    let first = json(
        app.post_internal(&deduct, &json!({"order_id": "7", "amount": "30.50"}))
            .await,
    )
    .await;
    assert_eq!(first["balance"], "69.50");
    // The answer is built from the row locked during the deduct: it is what a read
    // after the commit sees.
    assert_eq!(
        json(app.get(&format!("/users/{user_id}")).await).await,
        first
    );

    let repeat = json(
        app.post_internal(&deduct, &json!({"order_id": "7", "amount": "30.50"}))
            .await,
    )
    .await;
    assert_eq!(repeat, first);
    let other = json(
        app.post_internal(&deduct, &json!({"order_id": "8", "amount": "0.50"}))
            .await,
    )
    .await;
    assert_eq!(other["balance"], "69.00");
    assert_eq!(
        json(app.get(&format!("/users/{user_id}")).await).await,
        other
    );
}

#[tokio::test]
async fn balances_are_accepted_as_strings_or_whole_numbers_and_written_with_two_places() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    let created = json(
        app.post("/users", &json!({"name": "Bo", "balance": "12.5"}))
            .await,
    )
    .await;
    assert_eq!(created["balance"], "12.50");
    let whole = json(
        app.post("/users", &json!({"name": "Di", "balance": 12.0}))
            .await,
    )
    .await;
    assert_eq!(whole["balance"], "12.00");
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
        // Bounds the OpenAPI states (schemathesis found the server more lenient):
        // 64 characters before trimming, at most two places written, ten digits
        // before the point, fractions only as strings.
        (
            json!({"name": format!(" {}", "x".repeat(64)), "balance": "1"}),
            "name",
        ),
        (json!({"name": "Ann", "balance": "1.000"}), "balance"),
        (json!({"name": "Ann", "balance": "00000000001"}), "balance"),
        (json!({"name": "Ann", "balance": " 1"}), "balance"),
        (json!({"name": "Ann", "balance": "+1"}), "balance"),
        (json!({"name": "Ann", "balance": "-0"}), "balance"),
        (json!({"name": "Ann", "balance": 12.5}), "balance"),
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
async fn unknown_user_ids_answer_404_and_malformed_ones_400_naming_the_parameter() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    for path in ["/users/999999", "/users/999999/money-logs"] {
        assert_error(app.get(path).await, 404, "USER_NOT_FOUND").await;
    }
    for path in [
        "/users/abc",
        "/users/0",
        "/users/-1",
        "/users/007",
        "/users/abc/money-logs",
        "/users/%FF",
    ] {
        assert_invalid_field(app.get(path).await, "user_id").await;
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
    checks::openapi_bounds_every_input(&app).await;
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

/// Found by schemathesis (a run of .ci/schemathesis.sh): inputs the OpenAPI document
/// refuses that the server took, and answers that were not the API's error body.
#[tokio::test]
async fn inputs_outside_the_documented_bounds_are_refused_with_the_error_body() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let user = json(
        app.post("/users", &json!({"name": "Ann", "balance": "100"}))
            .await,
    )
    .await;
    let user_id = user["user_id"].as_str().unwrap().to_owned();

    // A body declared as something else than JSON.
    let text = app
        .http
        .post(app.url("/users"))
        .header("content-type", "text/plain")
        .body(r#"{"name": "Bo", "balance": "1"}"#)
        .send()
        .await
        .unwrap();
    assert_invalid_field(text, "content-type").await;

    // A deduction of zero or less, or a fraction as a JSON number.
    let deduct = format!("/internal/users/{user_id}/deduct");
    for amount in [json!("0.00"), json!("-5"), json!(0), json!(0.5)] {
        let body = json!({"order_id": "1", "amount": amount});
        assert_invalid_field(app.post_internal(&deduct, &body).await, "amount").await;
    }
    for order_id in [json!("01"), json!(0), json!("1 ")] {
        let body = json!({"order_id": order_id, "amount": "1"});
        assert_invalid_field(app.post_internal(&deduct, &body).await, "order_id").await;
    }

    // Records: message keys the parameter's pattern refuses.
    for keys in [
        "",
        "a,,b",
        "a%20b",
        &"k,".repeat(17)[..33],
        &"x".repeat(129),
    ] {
        let response = app
            .http
            .get(app.url(&format!("/internal/orders/1/records?keys={keys}")))
            .bearer_auth(&app.settings.internal_token)
            .send()
            .await
            .unwrap();
        assert_invalid_field(response, "keys").await;
    }
    let repeated = app
        .http
        .get(app.url("/internal/orders/1/records?keys=a&keys=b"))
        .bearer_auth(&app.settings.internal_token)
        .send()
        .await
        .unwrap();
    assert_invalid_field(repeated, "keys").await;
    let fine = app
        .http
        .get(app.url("/internal/orders/1/records?keys=a,b-1:2"))
        .bearer_auth(&app.settings.internal_token)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}
