//! One trace per order: an order confirmed and then paid (the platform's callback) is
//! one OpenTelemetry trace that spans the five services, their outgoing calls, their
//! database transactions and every broker hop (send and consume), carried by the W3C
//! `traceparent` in HTTP headers and in message properties. The spans go to the SDK's
//! in-memory exporter; the shopper (this test) starts the trace and sends its
//! `traceparent` on its three requests, as a traced client or gateway would.

use std::collections::{BTreeSet, HashMap};

use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{Span as _, SpanId, SpanKind, TraceContextExt, Tracer, TracerProvider as _},
};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SpanData};
use serde_json::json;
use shop_kit::{
    contracts::pay::{SIGNATURE_HEADER, callback_signature},
    telemetry::SERVICE_ATTRIBUTE,
};
use shop_testkit::{eventually, json};
use testshop::{SETTLE, Shop, order_body};

mod common;
use common::{describe, text};

/// The consumer groups an order confirmed and paid reaches.
const GROUPS: [&str; 4] = [
    "goods-stock-deduct",
    "order-pay-paid",
    "user-pay-paid",
    "pay-pay-paid",
];

#[tokio::test]
async fn an_order_confirmed_and_paid_is_one_trace_across_the_five_services_and_the_broker() {
    let (exporter, provider) = common::in_memory_tracing();
    let shop = Shop::start().await;
    let user_id = shop.user("1000.00").await;
    let goods_id = shop.goods_item("100.00", 10).await;
    let coupon_id = shop.coupon(&user_id, "10.00").await;
    // Only what the order causes from here on.
    exporter.reset();

    // The shopper's trace: its `traceparent` goes on the order, the payment and the
    // platform's callback.
    let root = provider.tracer("shopper").start("buy and pay");
    let trace_id = root.span_context().trace_id();
    let root_id = root.span_context().span_id();
    let cx = Context::current_with_span(root);
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    let traceparent = carrier.remove("traceparent").expect("a traceparent");

    let body = order_body(
        &user_id,
        &goods_id,
        2,
        "100.00",
        Some((&coupon_id, "10.00")),
        "50.00",
    );
    let http = reqwest::Client::new();
    let confirmed = http
        .post(shop.orders.url("/orders"))
        .header("traceparent", &traceparent)
        .json(&body)
        .send()
        .await
        .expect("order-svc answers");
    assert_eq!(confirmed.status(), 201);
    let order = json(confirmed).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    let order_id = order["order_id"].as_str().expect("order_id").to_owned();

    let created = http
        .post(shop.pay.url("/payments"))
        .header("traceparent", &traceparent)
        .json(&json!({ "order_id": order_id }))
        .send()
        .await
        .expect("pay-svc answers");
    assert_eq!(created.status(), 201);
    let payment = json(created).await;
    let pay_id = payment["pay_id"].as_str().expect("pay_id").to_owned();

    let callback =
        json!({"pay_id": pay_id, "status": "paid", "trade_no": format!("T-{pay_id}")}).to_string();
    let signature =
        callback_signature(shop.pay.settings.pay_callback_secret(), callback.as_bytes());
    let paid = http
        .post(shop.pay.url("/payments/callback"))
        .header("traceparent", &traceparent)
        .header("content-type", "application/json")
        .header(SIGNATURE_HEADER, signature)
        .body(callback)
        .send()
        .await
        .expect("pay-svc answers");
    assert_eq!(
        paid.status(),
        200,
        "{}",
        paid.text().await.unwrap_or_default()
    );
    cx.span().end();

    let what = format!("trace {trace_id} reaching the groups {GROUPS:?}, every parent exported");
    let spans = eventually(&what, SETTLE, || async {
        common::trace_reaching(&exporter, trace_id, &GROUPS)
    })
    .await;
    let listing: Vec<String> = spans.iter().map(describe).collect();
    let listing = listing.join("\n");

    // One trace: every handler and every broker hop exported since the reset is in it.
    let everything = exporter.get_finished_spans().expect("the exporter answers");
    let strays: Vec<String> = everything
        .iter()
        .filter(|s| {
            matches!(
                s.span_kind,
                SpanKind::Server | SpanKind::Producer | SpanKind::Consumer
            )
        })
        .filter(|s| s.span_context.trace_id() != trace_id)
        .map(describe)
        .collect();
    assert!(
        strays.is_empty(),
        "spans outside the order's trace:\n{}",
        strays.join("\n")
    );

    // All five services, by the handlers and consumers they ran in the trace.
    let services: BTreeSet<String> = spans
        .iter()
        .map(|s| text(s, SERVICE_ATTRIBUTE))
        .filter(|s| !s.is_empty())
        .collect();
    let expected: BTreeSet<String> = [
        "order-svc",
        "goods-svc",
        "coupon-svc",
        "user-svc",
        "pay-svc",
    ]
    .map(String::from)
    .into();
    assert_eq!(services, expected, "{listing}");

    // The shopper's three requests continue its trace.
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let entries: BTreeSet<String> = spans
        .iter()
        .filter(|s| s.parent_span_id == root_id)
        .map(|s| s.name.to_string())
        .collect();
    for entry in ["POST /orders", "POST /payments", "POST /payments/callback"] {
        assert!(
            entries.contains(entry),
            "{entry} under the root:\n{listing}"
        );
    }

    // Calls between services: each server span of an internal route is the child of
    // a client span (the caller's outgoing call), which is in the caller's handler.
    let internal: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Server && s.parent_span_id != root_id)
        .collect();
    assert!(internal.len() >= 6, "calls between services:\n{listing}");
    for server in &internal {
        let caller = by_id[&server.parent_span_id];
        assert_eq!(caller.span_kind, SpanKind::Client, "{}", describe(server));
    }

    // The main local transactions, each under the handler that ran it.
    for (name, service) in [
        ("db tx confirm order", "order-svc"),
        ("db tx stock reservation", "goods-svc"),
        ("db tx payment callback", "pay-svc"),
    ] {
        let tx = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}:\n{listing}"));
        let handler = by_id[&tx.parent_span_id];
        assert_eq!(
            text(handler, SERVICE_ATTRIBUTE),
            service,
            "{}",
            describe(tx)
        );
    }

    // Broker hops: every consume is the child of a send in the trace; the messages
    // the order caused (stock journal, paid, payment timeout) were sent in it.
    let sent_topics: BTreeSet<String> = spans
        .iter()
        .filter(|s| s.span_kind == SpanKind::Producer)
        .map(|s| text(s, "messaging.destination.name"))
        .collect();
    for topic in ["stock", "pay", "order"] {
        assert!(sent_topics.contains(topic), "a {topic} send:\n{listing}");
    }
    for consume in spans.iter().filter(|s| s.span_kind == SpanKind::Consumer) {
        let send = by_id[&consume.parent_span_id];
        assert_eq!(send.span_kind, SpanKind::Producer, "{}", describe(consume));
        assert_eq!(
            text(send, "messaging.destination.name"),
            text(consume, "messaging.destination.name")
        );
        // The consumer's effect ran in its transaction, inside the consume span.
        let effect = spans.iter().any(|s| {
            s.parent_span_id == consume.span_context.span_id() && s.name.starts_with("db tx ")
        });
        assert!(
            effect,
            "a transaction under {}:\n{listing}",
            describe(consume)
        );
    }
}
