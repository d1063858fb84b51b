//! The console's `/api` routes: the broker's admin API (read-only routes, and the
//! dead-letter resend), the services' health, the recent orders and an order's
//! timeline from order-svc, and the audit. Every outgoing call has a timeout; an
//! unreachable part answers 503 with the usual error body.

use std::time::Duration;

use axum::{
    Json,
    extract::{Path, State},
    http::{StatusCode, Uri},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use shop_kit::settings::Service;

use crate::{audit, target::Target};

/// How long one call to the broker or a service may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// The broker admin routes the console reads (first path segment).
const BROKER_READS: [&str; 6] = [
    "topics",
    "groups",
    "messages",
    "dlq",
    "delayed",
    "transactions",
];

#[derive(Clone)]
pub struct ConsoleState {
    target: Target,
    http: reqwest::Client,
}

impl ConsoleState {
    pub fn new(target: Target) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(CALL_TIMEOUT)
            .build()
            .expect("a plain HTTP client builds");
        ConsoleState { target, http }
    }

    /// The JSON answer of `request`, passed on with its status; 503 when the callee
    /// cannot be reached.
    async fn forward(&self, what: &str, request: reqwest::RequestBuilder) -> Response {
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(e) => return unavailable(what, e),
        };
        let status =
            StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        match answer.json::<Value>().await {
            Ok(body) => (status, Json(body)).into_response(),
            Err(e) => unavailable(what, e),
        }
    }
}

fn unavailable(what: &str, error: impl std::fmt::Display) -> Response {
    let body = json!({ "code": "UNAVAILABLE", "message": format!("{what}: {error}") });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

/// `GET /api/broker/<admin path>?<query>`: one of the admin API's read routes.
pub async fn broker_get(State(state): State<ConsoleState>, uri: Uri) -> Response {
    let rest = uri.path().trim_start_matches("/api/broker/");
    let first = rest.split('/').next().unwrap_or_default();
    if !BROKER_READS.contains(&first) {
        let body = json!({ "code": "NOT_FOUND", "message": format!("no broker route {first:?}") });
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    }
    let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{}/{rest}{query}", state.target.config.mq_admin_url());
    state.forward("mq-broker", state.http.get(url)).await
}

/// `POST /api/broker/dlq/{group}/{id}/resend`: the admin API's resend.
pub async fn broker_resend(
    State(state): State<ConsoleState>,
    Path((group, id)): Path<(String, String)>,
) -> Response {
    let mut url =
        reqwest::Url::parse(&state.target.config.mq_admin_url()).expect("the admin URL parses");
    url.path_segments_mut()
        .expect("an http URL has segments")
        .extend(["dlq", &group, &id, "resend"]);
    state.forward("mq-broker", state.http.post(url)).await
}

/// `GET /api/services`: each service's `/health` and the broker's admin API.
pub async fn services(State(state): State<ConsoleState>) -> Json<Value> {
    let config = &state.target.config;
    let mut probes: Vec<(String, String, String)> = Service::ALL
        .iter()
        .map(|s| {
            let url = config.service_url(*s);
            (s.binary().to_owned(), url.clone(), format!("{url}/health"))
        })
        .collect();
    let admin = config.mq_admin_url();
    probes.push(("mq-broker".into(), admin.clone(), format!("{admin}/topics")));
    let checks = probes.into_iter().map(|(service, url, probe)| {
        let http = state.http.clone();
        async move {
            let (healthy, detail) = match http.get(&probe).send().await {
                Ok(answer) => {
                    let status = answer.status();
                    let text = answer.text().await.unwrap_or_default();
                    let detail = if service == "mq-broker" {
                        status.to_string()
                    } else {
                        text.chars().take(200).collect()
                    };
                    (status.is_success(), detail)
                }
                Err(e) => (false, e.to_string()),
            };
            json!({ "service": service, "url": url, "healthy": healthy, "detail": detail })
        }
    });
    Json(Value::Array(futures::future::join_all(checks).await))
}

/// `GET /api/orders`: order-svc's newest orders.
pub async fn recent_orders(State(state): State<ConsoleState>) -> Response {
    let url = format!(
        "{}/orders?limit=30",
        state.target.config.service_url(Service::Order)
    );
    state.forward("order-svc", state.http.get(url)).await
}

/// `GET /api/orders/{order_id}/timeline`: order-svc's timeline of the order.
pub async fn timeline(State(state): State<ConsoleState>, Path(order_id): Path<String>) -> Response {
    let mut url = reqwest::Url::parse(&state.target.config.service_url(Service::Order))
        .expect("the service URL parses");
    url.path_segments_mut()
        .expect("an http URL has segments")
        .extend(["orders", &order_id, "timeline"]);
    state.forward("order-svc", state.http.get(url)).await
}

/// `GET /api/audit`: the audit of the whole system, invariant by invariant.
pub async fn audit(State(state): State<ConsoleState>) -> Json<Value> {
    let report = audit::audit(&state.target).await;
    let invariants: Vec<Value> = report
        .invariants
        .iter()
        .map(|i| json!({ "name": i.name, "passed": i.passed, "detail": i.detail }))
        .collect();
    Json(json!({
        "passed": report.passed(),
        "at_ms": chrono::Utc::now().timestamp_millis(),
        "invariants": invariants,
    }))
}
