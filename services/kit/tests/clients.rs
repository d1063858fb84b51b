//! The typed clients against a small stand-in server: timeouts and unreachable
//! services become `Unavailable`, 4xx keep their error body, and the current
//! request's id travels on.

use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    http::{HeaderMap, StatusCode},
    routing::get,
};
use serde_json::{Value, json};
use shop_kit::{
    clients::{ClientError, ServiceClient, UserClient},
    http::observe::with_request_id,
    ids::Id,
    settings::Service,
};

/// A local address nothing listens on (bound, then released).
async fn closed_port_addr() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

async fn stand_in() -> String {
    let router = Router::new()
        .route(
            "/echo",
            get(|headers: HeaderMap| async move {
                let id = headers
                    .get("x-request-id")
                    .map(|v| v.to_str().unwrap().to_owned());
                Json(json!({ "request_id": id }))
            }),
        )
        .route(
            "/users/{id}",
            get(|| async {
                (
                    StatusCode::NOT_FOUND,
                    Json(json!({"code": "USER_NOT_FOUND", "message": "no such user"})),
                )
            }),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn the_current_request_id_travels_with_outgoing_calls() {
    let client = ServiceClient::new(Service::User, stand_in().await);
    let echoed: Value = with_request_id("req-7".into(), client.get("/echo"))
        .await
        .unwrap();
    assert_eq!(echoed["request_id"], "req-7");
    let without: Value = client.get("/echo").await.unwrap();
    assert_eq!(without["request_id"], Value::Null);
}

#[tokio::test]
async fn a_404_with_an_error_body_is_none_for_typed_getters() {
    let users = UserClient::new(stand_in().await);
    assert_eq!(users.get_user(Id(5)).await.unwrap(), None);
}

#[tokio::test]
async fn unreachable_failing_or_slow_services_are_unavailable() {
    let closed = ServiceClient::new(
        Service::User,
        format!("http://{}", closed_port_addr().await),
    );
    let err = closed.get::<Value>("/echo").await.unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Unavailable {
                service: "user-svc",
                ..
            }
        ),
        "{err}"
    );

    let url = stand_in().await;
    let broken = ServiceClient::new(Service::Goods, url.clone());
    let err = broken.get::<Value>("/broken").await.unwrap_err();
    assert!(matches!(err, ClientError::Unavailable { .. }), "{err}");

    let started = Instant::now();
    let err = broken.get::<Value>("/slow").await.unwrap_err();
    assert!(matches!(err, ClientError::Unavailable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "bounded by the request timeout"
    );
}
