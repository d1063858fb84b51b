//! An order's cancel continues the order's trace, wherever it starts: the payment
//! timeout's (a delayed message written when the order was confirmed, by a client
//! that sent no `traceparent`) and the abandon sweep's (a background task, no request
//! at all: it takes the context the order kept on its row). Each cancel's transaction,
//! its `order`/`cancel` message and the four services' compensations are in the
//! order's trace. The spans go to the SDK's in-memory exporter.

use std::{
    collections::{BTreeSet, HashMap},
    time::Duration,
};

use opentelemetry::{
    Context,
    propagation::TextMapPropagator,
    trace::{Span as _, SpanId, SpanKind, TraceContextExt, Tracer, TracerProvider as _},
};
use opentelemetry_sdk::{propagation::TraceContextPropagator, trace::SpanData};
use shop_kit::telemetry::SERVICE_ATTRIBUTE;
use shop_testkit::{eventually, json};
use testshop::{SETTLE, Shop, order_body};

mod common;
use common::{describe, text};

/// The groups compensating a cancelled order.
const CANCEL_GROUPS: [&str; 4] = [
    "goods-order-cancel",
    "coupon-order-cancel",
    "user-order-cancel",
    "order-order-cancel",
];

/// Every compensation consumed the cancel message sent in the trace, in a
/// transaction under its consume span; the message was written by the cancel's
/// transaction, `cancel_tx`.
fn assert_compensated_in_trace(spans: &[SpanData], cancel_tx: &str) {
    let listing: Vec<String> = spans.iter().map(describe).collect();
    let listing = listing.join("\n");
    let by_id: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), s))
        .collect();
    let cancel_tx = spans
        .iter()
        .find(|s| s.name == cancel_tx)
        .unwrap_or_else(|| panic!("the cancel's transaction:\n{listing}"));
    let services: BTreeSet<String> = spans
        .iter()
        .map(|s| text(s, SERVICE_ATTRIBUTE))
        .filter(|s| !s.is_empty())
        .collect();
    for service in ["order-svc", "goods-svc", "coupon-svc", "user-svc"] {
        assert!(services.contains(service), "{service}:\n{listing}");
    }
    for group in CANCEL_GROUPS {
        let consume = spans
            .iter()
            .find(|s| {
                s.span_kind == SpanKind::Consumer
                    && text(s, "messaging.consumer.group.name") == group
            })
            .unwrap_or_else(|| panic!("{group}:\n{listing}"));
        let send = by_id[&consume.parent_span_id];
        assert_eq!(send.span_kind, SpanKind::Producer, "{}", describe(consume));
        assert_eq!(text(send, "messaging.destination.name"), "order");
        // The cancel message was written by the cancel's transaction.
        assert_eq!(
            send.parent_span_id,
            cancel_tx.span_context.span_id(),
            "{}:\n{listing}",
            describe(send)
        );
        let effect = spans.iter().any(|s| {
            s.parent_span_id == consume.span_context.span_id() && s.name.starts_with("db tx ")
        });
        assert!(effect, "{group}'s transaction:\n{listing}");
    }
}

#[tokio::test]
async fn the_pay_timeout_and_the_abandon_sweep_cancel_orders_in_their_traces() {
    let (exporter, provider) = common::in_memory_tracing();
    let shop = Shop::start_with(|s| {
        s.order_pay_timeout = Duration::from_secs(1);
        s.order_abandon_after = Duration::from_secs(1);
    })
    .await;
    let user_id = shop.user("1000.00").await;
    let goods_id = shop.goods_item("100.00", 10).await;
    let coupon_id = shop.coupon(&user_id, "10.00").await;
    exporter.reset();

    // A pre-order left by a confirmation that died long ago, in the trace of the
    // request that made it (as order-svc writes it).
    let root = provider.tracer("shopper").start("buy, then vanish");
    let abandoned_trace = root.span_context().trace_id();
    let root_id = root.span_context().span_id();
    let cx = Context::current_with_span(root);
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    let traceparent = carrier.remove("traceparent").expect("a traceparent");
    cx.span().end();
    let db = shop.orders.db().await;
    let inserted = sqlx::query(
        r"insert into trade_order (user_id, goods_id, quantity, goods_price, order_amount,
              shipping_fee, pay_amount, trace_context, created_at)
          values (?, ?, 1, 100.00, 100.00, 10.00, 110.00, ?, now(3) - interval 1 hour)",
    )
    .bind(user_id.parse::<u64>().expect("a user id"))
    .bind(goods_id.parse::<u64>().expect("a goods id"))
    .bind(&traceparent)
    .execute(&db)
    .await
    .expect("the pre-order is saved");
    let abandoned_id = inserted.last_insert_id();

    // An order confirmed by a client that sends no `traceparent`, and never paid.
    let body = order_body(
        &user_id,
        &goods_id,
        2,
        "100.00",
        Some((&coupon_id, "10.00")),
        "50.00",
    );
    let confirmed = reqwest::Client::new()
        .post(shop.orders.url("/orders"))
        .json(&body)
        .send()
        .await
        .expect("order-svc answers");
    assert_eq!(confirmed.status(), 201);
    let order = json(confirmed).await;
    let unpaid_id = order["order_id"].as_str().expect("order_id").to_owned();

    // The abandoned order: the sweep's cancel is a step of the order, a child of the
    // context it kept.
    let spans = eventually(
        "the abandoned order's cancel, compensated",
        SETTLE,
        || async { common::trace_reaching(&exporter, abandoned_trace, &CANCEL_GROUPS) },
    )
    .await;
    let step = spans
        .iter()
        .find(|s| s.name == "cancel abandoned order")
        .unwrap_or_else(|| panic!("the sweep's step: {:?}", spans.iter().map(describe)));
    assert_eq!(step.parent_span_id, root_id, "{}", describe(step));
    assert_eq!(text(step, SERVICE_ATTRIBUTE), "order-svc");
    assert_compensated_in_trace(&spans, "db tx cancel order");
    let abandoned = shop.order_json(&abandoned_id.to_string()).await;
    assert_eq!(abandoned["cancel_reason"], "abandoned", "{abandoned}");

    // The unpaid order: its trace is its confirmation's, and the timeout's cancel
    // and compensations continue it.
    let confirm = exporter
        .get_finished_spans()
        .expect("the exporter answers")
        .into_iter()
        .find(|s| s.span_kind == SpanKind::Server && s.name == "POST /orders")
        .expect("the confirmation's server span");
    assert_eq!(confirm.parent_span_id, SpanId::INVALID);
    let spans = eventually("the unpaid order's cancel, compensated", SETTLE, || async {
        common::trace_reaching(&exporter, confirm.span_context.trace_id(), &CANCEL_GROUPS)
    })
    .await;
    // The timeout's consumer cancels in its consumer-log transaction.
    assert_compensated_in_trace(&spans, "db tx consumer log order-order-timeout");
    let unpaid = shop.order_json(&unpaid_id).await;
    assert_eq!(unpaid["cancel_reason"], "pay_timeout", "{unpaid}");
}
