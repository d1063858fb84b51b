//! goods-svc against real MariaDB and Redis: create/get with the Redis stock cache,
//! validation, 404s and the operational endpoints.

use goods_svc::App;
use redis::AsyncCommands;
use serde_json::json;
use shop_testkit::{TestApp, TestEnv, assert_error, assert_invalid_field, checks, json};

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(shop_testkit::redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

/// The Redis key of `goods_id`'s stock, as goods-svc names it.
fn stock_key(app: &TestApp, goods_id: &str) -> String {
    let cache =
        shop_kit::cache::Cache::connect_lazy(&app.settings.redis_url, &app.settings.redis_prefix)
            .unwrap();
    goods_svc::store::stock_cache::stock_key(&cache, goods_id.parse().unwrap())
}

#[tokio::test]
async fn created_goods_are_read_back_and_their_stock_is_seeded_in_redis() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    let response = app
        .post(
            "/goods",
            &json!({"name": "Phone", "price": "5000.00", "stock": 50}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let created = json(response).await;
    assert_eq!(created["name"], "Phone");
    assert_eq!(created["price"], "5000.00");
    assert_eq!(created["stock"], 50);
    assert_eq!(created["available"], 50);
    let goods_id = created["goods_id"].as_str().expect("id is a JSON string");

    let read = json(app.get(&format!("/goods/{goods_id}")).await).await;
    assert_eq!(read, created);

    let cached: Option<i64> = redis_conn()
        .await
        .get(stock_key(&app, goods_id))
        .await
        .unwrap();
    assert_eq!(cached, Some(50));

    let logs = app.get(&format!("/goods/{goods_id}/stock-logs")).await;
    assert_eq!(logs.status(), 200);
    assert_eq!(json(logs).await, json!([]));
}

#[tokio::test]
async fn available_stock_is_the_redis_figure_and_is_reseeded_when_redis_lost_it() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;
    let created = json(
        app.post("/goods", &json!({"name": "Pen", "price": 2, "stock": 7}))
            .await,
    )
    .await;
    let goods_id = created["goods_id"].as_str().unwrap();
    let key = stock_key(&app, goods_id);
    let mut redis = redis_conn().await;

    redis.set::<_, _, ()>(&key, 3).await.unwrap();
    let read = json(app.get(&format!("/goods/{goods_id}")).await).await;
    assert_eq!(
        (read["stock"].as_i64(), read["available"].as_i64()),
        (Some(7), Some(3))
    );

    redis.del::<_, ()>(&key).await.unwrap();
    let read = json(app.get(&format!("/goods/{goods_id}")).await).await;
    assert_eq!(read["available"], 7);
    let cached: Option<i64> = redis.get(&key).await.unwrap();
    assert_eq!(cached, Some(7));
}

#[tokio::test]
async fn invalid_goods_are_refused_naming_the_field() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    let cases = [
        (json!({"name": "", "price": "1", "stock": 1}), "name"),
        (json!({"price": "1", "stock": 1}), "name"),
        (json!({"name": "P", "price": "-0.01", "stock": 1}), "price"),
        (json!({"name": "P", "price": "1.001", "stock": 1}), "price"),
        (json!({"name": "P", "price": "cheap", "stock": 1}), "price"),
        (json!({"name": "P", "price": [1], "stock": 1}), "price"),
        (json!({"name": "P", "stock": 1}), "price"),
        (json!({"name": "P", "price": "1", "stock": -1}), "stock"),
        (json!({"name": "P", "price": "1", "stock": 1.5}), "stock"),
        (json!({"name": "P", "price": "1", "stock": "ten"}), "stock"),
        (
            json!({"name": "P", "price": "1", "stock": 5_000_000_000i64}),
            "stock",
        ),
        (json!({"name": "P", "price": "1"}), "stock"),
    ];
    for (body, field) in cases {
        assert_invalid_field(app.post("/goods", &body).await, field).await;
    }
    assert_error(
        app.post_raw("/goods", "{nope").await,
        400,
        "INVALID_REQUEST",
    )
    .await;

    let count: i64 = sqlx::query_scalar("select count(*) from trade_goods")
        .fetch_one(&app.db().await)
        .await
        .unwrap();
    assert_eq!(count, 0, "nothing written");
}

#[tokio::test]
async fn unknown_goods_ids_answer_404_and_malformed_ones_400_naming_the_parameter() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    for path in ["/goods/424242", "/goods/424242/stock-logs"] {
        assert_error(app.get(path).await, 404, "GOODS_NOT_FOUND").await;
    }
    for path in [
        "/goods/x1",
        "/goods/x1/stock-logs",
        "/goods/10000000000000000000",
        "/goods/%FF",
    ] {
        assert_invalid_field(app.get(path).await, "goods_id").await;
    }
}

#[tokio::test]
async fn request_ids_metrics_openapi_and_health_work() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    app.post(
        "/goods",
        &json!({"name": "Cup", "price": "3.50", "stock": 1}),
    )
    .await;
    app.get("/goods/1").await;
    checks::request_id_is_echoed_or_generated(&app).await;
    checks::metrics_show_route(&app, "/goods").await;
    checks::metrics_show_route(&app, "/goods/{goods_id}").await;
    checks::openapi_lists_exactly(
        &app,
        &[
            "/goods",
            "/goods/{goods_id}",
            "/goods/{goods_id}/stock-logs",
            "/internal/stock/reservations",
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
async fn health_names_redis_when_its_port_is_closed() {
    let env = TestEnv::new().await;
    let addr = shop_testkit::closed_port_addr().await;
    let app = env
        .start_with::<App>(move |s| s.redis_url = format!("redis://{addr}"))
        .await;
    let started = std::time::Instant::now();
    let response = app.get("/health").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(response.status(), 503);
    let body = json(response).await;
    assert!(
        body["down"].as_array().unwrap().contains(&json!("redis")),
        "{body}"
    );
}

/// Found by schemathesis: the document said `quantity` was a 32-bit integer and
/// `name` any string; whole numbers written with a zero fraction (`3.0`, an integer to
/// JSON Schema) were refused.
#[tokio::test]
async fn counts_may_be_written_with_a_zero_fraction_and_names_are_bounded() {
    let env = TestEnv::new().await;
    let app = env.spawn::<App>().await;

    let created = app
        .post(
            "/goods",
            &json!({"name": "Pen", "price": "2", "stock": 7.0}),
        )
        .await;
    assert_eq!(created.status(), 201);
    let goods_id = json(created).await["goods_id"].as_str().unwrap().to_owned();
    for (body, field) in [
        (json!({"name": "", "price": "2", "stock": 1}), "name"),
        (json!({"name": "\t\r\n ", "price": "2", "stock": 1}), "name"),
        (
            json!({"name": "x".repeat(65), "price": "2", "stock": 1}),
            "name",
        ),
        (json!({"name": "Pen", "price": "2", "stock": 7.5}), "stock"),
        (
            json!({"name": "Pen", "price": "2", "stock": 4294967296_i64}),
            "stock",
        ),
        (json!({"name": "Pen", "price": 2.5, "stock": 1}), "price"),
    ] {
        assert_invalid_field(app.post("/goods", &body).await, field).await;
    }
    let reserve = |quantity: serde_json::Value| json!({"order_id": "77", "goods_id": goods_id, "quantity": quantity});
    let reserved = app
        .post_internal("/internal/stock/reservations", &reserve(json!(2.0)))
        .await;
    assert_eq!(reserved.status(), 200);
    assert_eq!(json(reserved).await["quantity"], 2);
    for quantity in [json!(0), json!(1.5), json!(4294967296_i64)] {
        let response = app
            .post_internal("/internal/stock/reservations", &reserve(quantity))
            .await;
        assert_invalid_field(response, "quantity").await;
    }
}
