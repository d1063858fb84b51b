//! One trace per order without the client's help: the shopper and the payment
//! platform send no `traceparent` on any request, as real ones do, and an order
//! confirmed and then paid is still one OpenTelemetry trace across the five services
//! and the broker. The order keeps its trace's context on its row when it is created;
//! pay-svc learns it from order-svc when it creates the payment (and keeps it on the
//! payment row), so the payment and the platform's callback, their transactions, the
//! `pay`/`paid` message and its consumers continue the order's trace. Each of those
//! requests keeps a server span of its own (a root: it came without a context), which
//! the order's step links to. The spans go to the SDK's in-memory exporter.
//!
//! (one_trace.rs is the traced client's case: it sends one `traceparent` on its three
//! requests, and the order's trace is the client's.)

use std::collections::{BTreeSet, HashMap, HashSet};

use opentelemetry::trace::{SpanId, SpanKind};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
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

/// The finished server span of `route` (one request of it since the reset).
fn server_span(exporter: &InMemorySpanExporter, route: &str) -> Option<SpanData> {
    exporter
        .get_finished_spans()
        .expect("the exporter answers")
        .into_iter()
        .find(|s| s.span_kind == SpanKind::Server && s.name == route)
}

#[tokio::test]
async fn an_order_is_one_trace_when_neither_the_client_nor_the_platform_sends_a_traceparent() {
    let (exporter, _provider) = common::in_memory_tracing();
    let shop = Shop::start().await;
    let user_id = shop.user("1000.00").await;
    let goods_id = shop.goods_item("100.00", 10).await;
    let coupon_id = shop.coupon(&user_id, "10.00").await;
    // Only what the order causes from here on.
    exporter.reset();

    // A plain client: no `traceparent` on any request.
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
        .json(&body)
        .send()
        .await
        .expect("order-svc answers");
    assert_eq!(confirmed.status(), 201);
    let order = json(confirmed).await;
    assert_eq!(order["status"], "confirmed", "{order}");
    assert!(
        order.get("trace_context").is_none(),
        "the client's answer is as documented: {order}"
    );
    let order_id = order["order_id"].as_str().expect("order_id").to_owned();

    let created = http
        .post(shop.pay.url("/payments"))
        .json(&json!({ "order_id": order_id }))
        .send()
        .await
        .expect("pay-svc answers");
    assert_eq!(created.status(), 201);
    let payment = json(created).await;
    let pay_id = payment["pay_id"].as_str().expect("pay_id").to_owned();

    // The payment platform's callback, untraced too.
    let callback =
        json!({"pay_id": pay_id, "status": "paid", "trade_no": format!("T-{pay_id}")}).to_string();
    let signature =
        callback_signature(shop.pay.settings.pay_callback_secret(), callback.as_bytes());
    let paid = http
        .post(shop.pay.url("/payments/callback"))
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

    // The order's trace is the one its confirmation started: a root, as it came
    // without a context.
    let confirm = eventually("the confirmation's server span", SETTLE, || async {
        server_span(&exporter, "POST /orders")
    })
    .await;
    assert_eq!(
        confirm.parent_span_id,
        SpanId::INVALID,
        "{}",
        describe(&confirm)
    );
    let trace_id = confirm.span_context.trace_id();

    let what = format!("trace {trace_id} reaching the groups {GROUPS:?}, every parent exported");
    let spans = eventually(&what, SETTLE, || async {
        common::trace_reaching(&exporter, trace_id, &GROUPS)
    })
    .await;
    let listing: Vec<String> = spans.iter().map(describe).collect();
    let listing = listing.join("\n");
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();

    // All five services, by the spans they ran in the order's trace.
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

    // The payment and the callback are steps of the order: pay-svc spans in the
    // order's trace, under the order's confirmation, each linking the request that
    // ran it (a root of its own trace: the request came without a context).
    let mut linked_traces = HashSet::new();
    for (step, route) in [
        ("create payment", "POST /payments"),
        ("payment callback", "POST /payments/callback"),
    ] {
        let span = spans
            .iter()
            .find(|s| s.name == step)
            .unwrap_or_else(|| panic!("{step} in the order's trace:\n{listing}"));
        assert_eq!(
            text(span, SERVICE_ATTRIBUTE),
            "pay-svc",
            "{}",
            describe(span)
        );
        assert_eq!(
            span.parent_span_id,
            confirm.span_context.span_id(),
            "{step} continues the order's context:\n{listing}"
        );
        let request = server_span(&exporter, route).unwrap_or_else(|| panic!("{route}"));
        assert_eq!(
            request.parent_span_id,
            SpanId::INVALID,
            "{}",
            describe(&request)
        );
        assert_ne!(request.span_context.trace_id(), trace_id);
        let links: Vec<_> = span.links.iter().map(|l| &l.span_context).collect();
        assert_eq!(
            links,
            [&request.span_context],
            "{step} links its request {}",
            describe(&request)
        );
        linked_traces.insert(request.span_context.trace_id());
    }

    // Nothing of the order outside its trace: the only other traces are the linked
    // requests' own (their server spans and pay-svc's read of the order), with no
    // broker hop in them.
    let everything = exporter.get_finished_spans().expect("the exporter answers");
    for span in everything
        .iter()
        .filter(|s| s.span_context.trace_id() != trace_id)
    {
        assert!(
            linked_traces.contains(&span.span_context.trace_id()),
            "a span outside the order's trace and its linked requests: {}\n{listing}",
            describe(span)
        );
        assert!(
            !matches!(span.span_kind, SpanKind::Producer | SpanKind::Consumer),
            "a broker hop outside the order's trace: {}",
            describe(span)
        );
    }

    // The main local transactions, each under the handler or step that ran it.
    for (name, service) in [
        ("db tx confirm order", "order-svc"),
        ("db tx stock reservation", "goods-svc"),
        ("db tx payment callback", "pay-svc"),
    ] {
        let tx = spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{name}:\n{listing}"));
        let parent = by_id[&tx.parent_span_id];
        assert_eq!(text(parent, SERVICE_ATTRIBUTE), service, "{}", describe(tx));
    }

    // Broker hops: the messages the order caused (stock journal, paid, payment
    // timeout) were sent in its trace, and every consume is the child of its send,
    // with the consumer's effect in its transaction.
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
        let effect = spans.iter().any(|s| {
            s.parent_span_id == consume.span_context.span_id() && s.name.starts_with("db tx ")
        });
        assert!(
            effect,
            "a transaction under {}:\n{listing}",
            describe(consume)
        );
    }
    // The paid message was sent from the callback's step.
    let paid_send = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Producer && text(s, "messaging.destination.name") == "pay"
        })
        .expect("the paid send");
    let mut ancestor = paid_send;
    while ancestor.name != "payment callback" {
        ancestor = by_id
            .get(&ancestor.parent_span_id)
            .unwrap_or_else(|| panic!("the paid send under the callback:\n{listing}"));
    }

    // A client reading the order sees no trace either (only services are told it).
    let read = http
        .get(shop.orders.url(&format!("/orders/{order_id}")))
        .send()
        .await
        .expect("order-svc answers");
    assert_eq!(read.status(), 200);
    let read = json(read).await;
    assert!(read.get("trace_context").is_none(), "{read}");
}
