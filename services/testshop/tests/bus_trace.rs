//! The bus's broker hops in a trace, on the real broker, whatever sits above the bus:
//! a message that carries a `traceparent` (as an outbox row does) is sent in that
//! trace, its send span's context travels in the message's properties, and the
//! consumer's span continues it; a half message left undecided is checked back in
//! the trace of its send.

use std::time::Duration;

use opentelemetry::trace::{SpanId, SpanKind, TraceId};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use shop_kit::bus::{Bus, ConsumeResult, Message, Subscription, TxnState};
use shop_testkit::{TestBroker, eventually};

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER: &str = "b7ad6b7169203331";

fn traceparent() -> String {
    format!("00-{TRACE}-{CALLER}-01")
}

fn trace_id() -> TraceId {
    TraceId::from_hex(TRACE).unwrap()
}

/// The finished span of `kind` on `topic` in the test's trace, once there.
fn span(exporter: &InMemorySpanExporter, kind: SpanKind, name: &str) -> Option<SpanData> {
    exporter
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .find(|s| s.span_kind == kind && s.name == name && s.span_context.trace_id() == trace_id())
}

#[tokio::test]
async fn sends_consumes_and_check_backs_continue_the_trace_their_message_carries() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    assert!(shop_kit::telemetry::init_for_tests_with(&provider));
    let broker = TestBroker::start().await;
    let bus = Bus::embedded(&broker.addr());
    let wait = Duration::from_secs(15);

    // A plain send and its consumer.
    let consumer = bus
        .subscribe(Subscription::new("trace-plain", "traced", "*"), |_| async {
            ConsumeResult::Ack
        })
        .await
        .unwrap();
    let message = Message::new("traced", &b"{}"[..])
        .with_key("k-1")
        .with_property("traceparent", traceparent());
    bus.send(message).await.unwrap();
    let consumed = eventually("the consume span", wait, || async {
        span(&exporter, SpanKind::Consumer, "traced process")
    })
    .await;
    let sent = span(&exporter, SpanKind::Producer, "traced publish").expect("the send span");
    assert_eq!(
        sent.parent_span_id,
        SpanId::from_hex(CALLER).unwrap(),
        "sent in the trace the message carried"
    );
    assert_eq!(consumed.parent_span_id, sent.span_context.span_id());
    assert!(consumed.parent_span_is_remote, "continued from the message");
    consumer.shutdown().await;

    // A half message nobody decides: the broker's check-back runs in its trace.
    let producer = bus.transaction_producer("trace-txn", |_| async { TxnState::Commit });
    let half = Message::new("traced-txn", &b"{}"[..])
        .with_key("k-2")
        .with_property("traceparent", traceparent());
    let half = producer.send_half(half, wait).await.unwrap();
    drop(half);
    let checked = eventually("the check-back span", wait, || async {
        span(&exporter, SpanKind::Consumer, "traced-txn check-back")
    })
    .await;
    let sent = span(&exporter, SpanKind::Producer, "traced-txn publish").expect("the half's span");
    assert_eq!(checked.parent_span_id, sent.span_context.span_id());
    assert_eq!(sent.parent_span_id, SpanId::from_hex(CALLER).unwrap());
}
