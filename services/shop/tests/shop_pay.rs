//! `shop pay <pay_id>` as a user runs it: the real binary sends a callback that
//! passes pay-svc's signature check (checked here by a stand-in pay-svc with the same
//! code), with the secret from `PAY_CALLBACK_SECRET`.

use std::{
    path::PathBuf,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use serde_json::{Value, json};
use shop_kit::contracts::pay::{SIGNATURE_HEADER, signature_is_valid};
use tokio::process::Command;

const SECRET: &str = "a test secret";

/// The callbacks the stand-in accepted.
type Received = Arc<Mutex<Vec<Value>>>;

async fn callback(
    State(received): State<Received>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<Value>) {
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !signature_is_valid(SECRET, &body, signature) {
        let refused = json!({"code": "SIGNATURE_INVALID", "message": "bad signature"});
        return (StatusCode::UNAUTHORIZED, Json(refused));
    }
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    received.lock().unwrap().push(body);
    (StatusCode::OK, Json(json!({"result": "ok"})))
}

async fn stand_in_pay_svc() -> (String, Received) {
    let received = Received::default();
    let app = Router::new()
        .route("/payments/callback", post(callback))
        .route(
            "/payments/{pay_id}",
            get(|| async {
                Json(json!({"pay_id": "7", "order_id": "3", "amount": "10.00", "status": "paid"}))
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn shop_pay(url: &str, secret: &str, args: &[&str]) -> std::process::Output {
    Command::new(PathBuf::from(env!("CARGO_BIN_EXE_shop")))
        .arg("pay")
        .args(args)
        .env("PAY_SVC_URL", url)
        .env("PAY_CALLBACK_SECRET", secret)
        .output()
        .await
        .expect("shop runs")
}

#[tokio::test]
async fn shop_pay_sends_a_correctly_signed_paid_callback_and_shows_the_payment() {
    let (url, received) = stand_in_pay_svc().await;

    let output = shop_pay(&url, SECRET, &["7", "--trade-no", "T-42"]).await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        *received.lock().unwrap(),
        vec![json!({"pay_id": "7", "status": "paid", "trade_no": "T-42"})]
    );
    assert!(stdout.contains(r#""status":"paid""#), "{stdout}");
}

#[tokio::test]
async fn shop_pay_with_the_wrong_secret_fails_with_the_refusal() {
    let (url, received) = stand_in_pay_svc().await;

    let output = shop_pay(&url, "not the secret", &["7", "--failed"]).await;

    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SIGNATURE_INVALID"), "{stderr}");
    assert!(received.lock().unwrap().is_empty());
}
