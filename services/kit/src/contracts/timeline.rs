//! The order timeline: every step of one order across the services and the broker
//! (`GET /orders/{order_id}/timeline` on order-svc), and the records each service
//! hands order-svc to build it (`GET /internal/orders/{order_id}/records`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::ids::Id;

/// One step of an order, as one service (or the broker) recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEvent {
    /// When it happened (the record's own timestamp).
    pub at: DateTime<Utc>,
    /// `order-svc`, `goods-svc`, …, or `mq-broker`.
    pub service: String,
    /// What happened: `preorder_saved`, `call`, `stock_reserved`, `message`,
    /// `consumed`, `payment_paid`, …
    pub kind: String,
    /// How it ended: `ok`, `refused`, `unavailable`, `cancelled`, `delivered`, …
    pub outcome: String,
    /// The `x-request-id` of the request (or of the message's cause) behind it.
    pub request_id: Option<String>,
    /// The record's own fields.
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl TimelineEvent {
    pub fn new(
        at: DateTime<Utc>,
        service: &str,
        kind: &str,
        outcome: &str,
        request_id: Option<String>,
        detail: Value,
    ) -> Self {
        TimelineEvent {
            at,
            service: service.to_owned(),
            kind: kind.to_owned(),
            outcome: outcome.to_owned(),
            request_id,
            detail,
        }
    }
}

/// A message key the order caused, to look up at the broker and in consumer logs
/// (the stock journal id of `stock`, the payment id of `pay`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MessageKey {
    pub topic: String,
    pub key: String,
}

/// What one service holds about an order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OrderRecords {
    pub events: Vec<TimelineEvent>,
    /// Keys of messages about this order that only this service knows.
    pub keys: Vec<MessageKey>,
}

/// The query of `GET /internal/orders/{order_id}/records`: further message keys
/// whose consumer-log entries belong to the order (comma separated).
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
pub struct RecordsQuery {
    pub keys: Option<String>,
}

impl RecordsQuery {
    /// The order id and the extra keys, each bounded, at most [`MAX_KEYS`] of them.
    pub fn keys_with(&self, order_id: Id) -> Vec<String> {
        let mut keys = vec![order_id.to_string()];
        let extra = self.keys.as_deref().unwrap_or("");
        keys.extend(
            extra
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 128)
                .take(MAX_KEYS)
                .map(str::to_owned),
        );
        keys.sort();
        keys.dedup();
        keys
    }
}

/// At most this many extra keys are read per records request.
pub const MAX_KEYS: usize = 16;

/// `GET /orders/{order_id}/timeline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Timeline {
    pub order_id: Id,
    /// False when a service or the broker could not be asked (see `missing`).
    pub complete: bool,
    /// The sources that could not be asked, with why.
    pub missing: Vec<MissingSource>,
    /// Every step, oldest first.
    pub events: Vec<TimelineEvent>,
}

/// A source the timeline lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MissingSource {
    pub service: String,
    pub reason: String,
}
