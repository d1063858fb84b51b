//! The order timeline: every step of one order across the services and the broker
//! (`GET /orders/{order_id}/timeline` on order-svc), and the records each service
//! hands order-svc to build it (`GET /internal/orders/{order_id}/records`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::{error::InvalidRequest, ids::Id};

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
    /// Up to 16 message keys (stock journal ids, payment ids), comma separated, each
    /// 1 to 128 letters, digits, `_`, `.`, `:` or `-`.
    #[param(
        pattern = r"^[0-9A-Za-z_.:-]{1,128}(,[0-9A-Za-z_.:-]{1,128}){0,15}$",
        min_length = 1,
        max_length = 2063
    )]
    pub keys: Option<String>,
}

/// At most this many extra keys are read per records request.
pub const MAX_KEYS: usize = 16;
/// Longest message key asked for.
pub const MAX_KEY_CHARS: usize = 128;

impl RecordsQuery {
    /// The order id and the extra keys; 400 `INVALID_REQUEST` naming `keys` when they
    /// are not what the parameter's schema states.
    pub fn keys_with(&self, order_id: Id) -> Result<Vec<String>, InvalidRequest> {
        let mut keys = vec![order_id.to_string()];
        if let Some(extra) = self.keys.as_deref() {
            let key_ok = |k: &str| {
                (1..=MAX_KEY_CHARS).contains(&k.len())
                    && k.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-')
                    })
            };
            let extra: Vec<&str> = extra.split(',').collect();
            if extra.len() > MAX_KEYS || !extra.iter().all(|k| key_ok(k)) {
                return Err(InvalidRequest::field(
                    "keys",
                    format!(
                        "must be 1 to {MAX_KEYS} comma-separated keys of 1 to {MAX_KEY_CHARS} \
                         letters, digits, '_', '.', ':' or '-'"
                    ),
                ));
            }
            keys.extend(extra.into_iter().map(str::to_owned));
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// The `keys` of a request for `keys` (at most [`MAX_KEYS`]).
    pub fn text(keys: &[&str]) -> String {
        keys.iter()
            .take(MAX_KEYS)
            .copied()
            .collect::<Vec<_>>()
            .join(",")
    }
}

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
