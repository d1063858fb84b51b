//! Trace export over OTLP, as the binary does it: user-svc started with
//! `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a receiver in this test exports the span
//! of a request, as `service.name` `OTEL_SERVICE_NAME` (default: `user-svc`), in the
//! trace the request's `traceparent` named, with the caller's span as its parent.
//! Nothing else is running: no MariaDB, Redis or broker is needed for a 404.

use std::{
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use opentelemetry_proto::tonic::{
    collector::trace::v1::ExportTraceServiceRequest, common::v1::any_value,
};
use prost::Message;
use shop_testkit::eventually;

type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

/// An OTLP/HTTP (protobuf) trace receiver on a free port; what it received.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(received): State<Received>, body: Bytes| async move {
                let request = ExportTraceServiceRequest::decode(body).expect("OTLP protobuf");
                received.lock().unwrap().push(request);
                // An empty ExportTraceServiceResponse.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), received)
}

/// The service process; killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(listen: &str, endpoint: &str, service_name: Option<&str>) -> Service {
    let quiet = std::env::var_os("TEST_LOG").is_none();
    let output = || {
        if quiet {
            Stdio::null()
        } else {
            Stdio::inherit()
        }
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_user-svc"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LISTEN_ADDR", listen)
        // Nothing answers there: the service starts anyway and answers 404s.
        .env("DATABASE_URL", "mysql://root@127.0.0.1:1/shop_otlp_test")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env("MQ_ADDR", "127.0.0.1:1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        // The SDK's batch processor: export within 100 ms.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .stdin(Stdio::null())
        .stdout(output())
        .stderr(output());
    if let Some(name) = service_name {
        command.env("OTEL_SERVICE_NAME", name);
    }
    Service(command.spawn().expect("user-svc starts"))
}

fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The exported spans of trace `trace_id`: (service.name, span name, parent span id).
fn spans_of(received: &Received, trace_id: &[u8]) -> Vec<(String, String, Vec<u8>)> {
    let mut found = Vec::new();
    for request in received.lock().unwrap().iter() {
        for resource_spans in &request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    any_value::Value::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in &resource_spans.scope_spans {
                for span in scope.spans.iter().filter(|s| s.trace_id == trace_id) {
                    found.push((
                        service.clone(),
                        span.name.clone(),
                        span.parent_span_id.clone(),
                    ));
                }
            }
        }
    }
    found
}

async fn exports_the_request_span_as(service_name: Option<&str>, expected: &str) {
    let (endpoint, received) = receiver().await;
    let listen = free_addr();
    let _service = start(&listen, &endpoint, service_name);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent = "00f067aa0ba902b7";
    let url = format!("http://{listen}/no-such-route");
    let http = reqwest::Client::new();
    let status = eventually("user-svc answers", Duration::from_secs(30), || async {
        let answer = http
            .get(&url)
            .header("traceparent", format!("00-{trace_id}-{parent}-01"))
            .send()
            .await
            .ok()?;
        Some(answer.status())
    })
    .await;
    assert_eq!(status, 404);

    let trace_bytes = hex(trace_id);
    let spans = eventually(
        "the request's span exported",
        Duration::from_secs(15),
        || {
            let spans = spans_of(&received, &trace_bytes);
            std::future::ready((!spans.is_empty()).then_some(spans))
        },
    )
    .await;
    let (service, name, parent_id) = &spans[0];
    assert_eq!(service, expected, "{spans:?}");
    assert_eq!(name, "GET unmatched", "{spans:?}");
    assert_eq!(parent_id, &hex(parent), "the caller's span is the parent");
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn a_service_exports_its_spans_over_otlp_named_after_itself() {
    exports_the_request_span_as(None, "user-svc").await;
}

#[tokio::test]
async fn otel_service_name_renames_the_exported_service() {
    exports_the_request_span_as(Some("users-eu-1"), "users-eu-1").await;
}
