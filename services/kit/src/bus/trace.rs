//! The broker hops of a trace, whatever the backend: a producer span per message sent
//! (its `traceparent` property names that span), a consumer span per delivery and
//! per check-back of a half message (continuing the trace its `traceparent` names).

use tracing::{Span, field::Empty};

use super::{BusError, ConsumeResult, Delivery, Message};
use crate::telemetry;

/// The span of sending `message`, whose `traceparent` it now carries. A message that
/// already carries one (an outbox row keeps the context of the request that wrote it)
/// is sent in that trace; any other is sent under the current span.
pub(super) fn send_span(message: &mut Message, transactional: bool) -> Span {
    let span = tracing::info_span!("send",
        otel.name = %format_args!("{} publish", message.topic), otel.kind = "producer",
        messaging.system = "shop-bus", messaging.operation.type = "publish",
        messaging.destination.name = %message.topic, shop.tag = %message.tag,
        shop.key = message.keys.first().map(String::as_str).unwrap_or(""),
        shop.transactional = transactional,
        messaging.message.id = Empty, otel.status_code = Empty, error.type = Empty);
    telemetry::continue_from_properties(&span, &message.properties);
    telemetry::inject_properties(&span, &mut message.properties);
    span
}

/// Records what the broker answered (the ids it gave, or why not) on the spans of the
/// messages sent.
pub(super) fn sent<'a>(
    spans: &[Span],
    answer: Result<impl IntoIterator<Item = &'a str>, &BusError>,
) {
    match answer {
        Ok(ids) => {
            for (span, id) in spans.iter().zip(ids) {
                span.record("messaging.message.id", id);
            }
        }
        Err(error) => {
            for span in spans {
                span.record("otel.status_code", "error");
                span.record("error.type", tracing::field::display(error));
            }
        }
    }
}

/// The span of handling `delivery` in `group`, continuing its producer's trace.
pub(super) fn consume_span(group: &str, delivery: &Delivery) -> Span {
    let span = tracing::info_span!("consume",
        otel.name = %format_args!("{} process", delivery.topic), otel.kind = "consumer",
        messaging.system = "shop-bus", messaging.operation.type = "process",
        messaging.destination.name = %delivery.topic, messaging.consumer.group.name = group,
        messaging.message.id = %delivery.id, shop.tag = %delivery.tag, shop.key = delivery.key(),
        shop.attempt = delivery.attempt, otel.status_code = Empty);
    telemetry::continue_from_properties(&span, &delivery.properties);
    span
}

/// The span of answering the broker's check-back on the half message `message`, in
/// the trace of the request that sent it.
pub(super) fn check_span(message: &Delivery) -> Span {
    let span = tracing::info_span!("check",
        otel.name = %format_args!("{} check-back", message.topic), otel.kind = "consumer",
        messaging.system = "shop-bus", messaging.destination.name = %message.topic,
        messaging.message.id = %message.id, shop.tag = %message.tag, shop.key = message.key());
    telemetry::continue_from_properties(&span, &message.properties);
    span
}

/// Records the consumer's answer on its span.
pub(super) fn consumed(span: &Span, result: ConsumeResult) {
    if result == ConsumeResult::Later {
        span.record("otel.status_code", "error");
    }
}
