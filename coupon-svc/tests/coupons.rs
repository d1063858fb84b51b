//! coupon-svc against real MariaDB, Redis and a real user-svc: create/get,
//! validation, 404s, user-svc down, and the operational endpoints.

use coupon_svc::App;
use serde_json::json;
use shop_testkit::{
    TestApp, TestEnv, assert_error, assert_invalid_field, checks, closed_port_addr, json,
};

/// user-svc, then coupon-svc pointed at it, and a user's id.
async fn with_user(env: &TestEnv) -> (TestApp, TestApp, String) {
    let users = env.spawn::<user_svc::App>().await;
    let coupons = env.spawn::<App>().await;
    let user = json(
        users
            .post("/users", &json!({"name": "Ann", "balance": "10"}))
            .await,
    )
    .await;
    let user_id = user["user_id"].as_str().unwrap().to_owned();
    (users, coupons, user_id)
}

#[tokio::test]
async fn a_coupon_for_an_existing_user_is_created_unused_and_read_back() {
    let env = TestEnv::new().await;
    let (_users, coupons, user_id) = with_user(&env).await;

    let response = coupons
        .post("/coupons", &json!({"user_id": user_id, "value": "100"}))
        .await;
    assert_eq!(response.status(), 201);
    let created = json(response).await;
    assert_eq!(created["user_id"], user_id.as_str());
    assert_eq!(created["value"], "100.00");
    assert_eq!(created["used"], false);
    assert_eq!(created["order_id"], json!(null));
    let coupon_id = created["coupon_id"].as_str().expect("id is a JSON string");

    let read = json(coupons.get(&format!("/coupons/{coupon_id}")).await).await;
    assert_eq!(read["coupon_id"], coupon_id);
    assert_eq!(read["user_id"], user_id.as_str());
    assert_eq!(read["value"], "100.00");
    assert_eq!(read["used"], false);
    assert_eq!(read["order_id"], json!(null));
    assert_eq!(read["used_at"], json!(null));
}

#[tokio::test]
async fn a_coupon_for_an_unknown_user_answers_404_user_not_found() {
    let env = TestEnv::new().await;
    let (_users, coupons, _) = with_user(&env).await;

    let response = coupons
        .post("/coupons", &json!({"user_id": "987654", "value": "5"}))
        .await;
    assert_error(response, 404, "USER_NOT_FOUND").await;
    for user_id in ["not-an-id", "0"] {
        let response = coupons
            .post("/coupons", &json!({"user_id": user_id, "value": "5"}))
            .await;
        assert_invalid_field(response, "user_id").await;
    }
    let count: i64 = sqlx::query_scalar("select count(*) from trade_coupon")
        .fetch_one(&coupons.db().await)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing written");
}

#[tokio::test]
async fn a_coupon_answers_503_unavailable_when_user_svc_cannot_be_reached() {
    let env = TestEnv::new().await;
    let addr = closed_port_addr().await;
    let coupons = env
        .spawn_with::<App>(move |s| s.user_svc_url = format!("http://{addr}"))
        .await;

    let started = std::time::Instant::now();
    let response = coupons
        .post("/coupons", &json!({"user_id": "1", "value": "5"}))
        .await;
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let body = assert_error(response, 503, "UNAVAILABLE").await;
    assert!(
        body["message"].as_str().unwrap().contains("user-svc"),
        "{body}"
    );
}

#[tokio::test]
async fn invalid_coupons_are_refused_naming_the_field() {
    let env = TestEnv::new().await;
    let (_users, coupons, user_id) = with_user(&env).await;

    let cases = [
        (json!({"user_id": user_id, "value": "0"}), "value"),
        (json!({"user_id": user_id, "value": "-5"}), "value"),
        (json!({"user_id": user_id, "value": "5.555"}), "value"),
        (json!({"user_id": user_id, "value": "five"}), "value"),
        (json!({"user_id": user_id}), "value"),
        (json!({"value": "5"}), "user_id"),
        (json!({"user_id": {"id": 1}, "value": "5"}), "user_id"),
    ];
    for (body, field) in cases {
        assert_invalid_field(coupons.post("/coupons", &body).await, field).await;
    }
    assert_error(
        coupons.post_raw("/coupons", "").await,
        400,
        "INVALID_REQUEST",
    )
    .await;
}

#[tokio::test]
async fn unknown_coupon_ids_answer_404_and_malformed_ones_400_naming_the_parameter() {
    let env = TestEnv::new().await;
    let coupons = env.spawn::<App>().await;

    assert_error(coupons.get("/coupons/31337").await, 404, "COUPON_NOT_FOUND").await;
    for path in [
        "/coupons/abc",
        "/coupons/0",
        "/coupons/031337",
        "/coupons/%FF",
    ] {
        assert_invalid_field(coupons.get(path).await, "coupon_id").await;
    }
}

#[tokio::test]
async fn request_ids_metrics_openapi_and_health_work() {
    let env = TestEnv::new().await;
    let (_users, coupons, user_id) = with_user(&env).await;

    coupons
        .post("/coupons", &json!({"user_id": user_id, "value": 1}))
        .await;
    coupons.get("/coupons/1").await;
    checks::request_id_is_echoed_or_generated(&coupons).await;
    checks::metrics_show_route(&coupons, "/coupons").await;
    checks::metrics_show_route(&coupons, "/coupons/{coupon_id}").await;
    checks::openapi_lists_exactly(
        &coupons,
        &[
            "/coupons",
            "/coupons/{coupon_id}",
            "/internal/coupons/{coupon_id}/use",
            "/internal/orders/{order_id}/records",
        ],
    )
    .await;
    checks::openapi_bounds_every_input(&coupons).await;
    checks::health_is_ok(&coupons).await;
}

#[tokio::test]
async fn health_names_the_database_within_two_seconds_when_its_port_is_closed() {
    let env = TestEnv::new().await;
    checks::health_names_database_when_its_port_is_closed::<App>(&env).await;
}

#[tokio::test]
async fn a_second_coupon_for_the_same_order_answers_409_order_has_coupon_not_500() {
    let env = TestEnv::new().await;
    let (_users, coupons, user_id) = with_user(&env).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let body = json!({"user_id": user_id, "value": "5"});
        let coupon = json(coupons.post("/coupons", &body).await).await;
        ids.push(coupon["coupon_id"].as_str().unwrap().to_owned());
    }
    let use_for = json!({"order_id": "77", "user_id": user_id});
    let first = coupons
        .post_internal(&format!("/internal/coupons/{}/use", ids[0]), &use_for)
        .await;
    assert_eq!(first.status(), 200);

    let second = coupons
        .post_internal(&format!("/internal/coupons/{}/use", ids[1]), &use_for)
        .await;

    assert_error(second, 409, "ORDER_HAS_COUPON").await;
    let other = json(coupons.get(&format!("/coupons/{}", ids[1])).await).await;
    assert_eq!(other["used"], false, "{other}");
}

/// Found by schemathesis: a value of zero or less was a schema-valid request the server
/// refused (the document now states "more than zero"), and an empty body on the
/// internal use route answered a 400 the document did not list.
#[tokio::test]
async fn values_must_be_more_than_zero_and_an_empty_use_is_refused() {
    let env = TestEnv::new().await;
    let (_users, coupons, user_id) = with_user(&env).await;

    for value in [
        json!("-90"),
        json!("0.00"),
        json!(0),
        json!(0.5),
        json!("1e3"),
    ] {
        let response = coupons
            .post("/coupons", &json!({"user_id": user_id, "value": value}))
            .await;
        assert_invalid_field(response, "value").await;
    }
    let smallest = coupons
        .post("/coupons", &json!({"user_id": user_id, "value": "0.01"}))
        .await;
    assert_eq!(smallest.status(), 201);
    let coupon_id = json(smallest).await["coupon_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let empty = coupons
        .http
        .post(coupons.url(&format!("/internal/coupons/{coupon_id}/use")))
        .bearer_auth(&coupons.settings.internal_token)
        .send()
        .await
        .unwrap();
    assert_error(empty, 400, "INVALID_REQUEST").await;
}
