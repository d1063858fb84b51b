//! One order's timeline: every step across the five services and the broker, in time
//! order, assembled from order-svc's own tables, each service's records of the order
//! (`/internal/orders/{id}/records`) and the broker's admin API (messages by key and
//! their delivery to each group). A source that cannot be asked is named in
//! `missing` and the answer is partial, never an error.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shop_kit::{
    clients::{BrokerAdminClient, ClientError, CouponClient, GoodsClient, PayClient, UserClient},
    contracts::{
        order::ORDER_TOPIC,
        timeline::{MessageKey, MissingSource, OrderRecords, Timeline, TimelineEvent},
    },
    db::Database,
    error::Unavailable,
    ids::Id,
    records,
};

use crate::store;

/// Why order-svc could not read its own part of a timeline.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The broker's topic of delayed messages not yet due.
const DELAY_TOPIC: &str = "%DELAY%";

/// Where the timeline's records come from.
#[derive(Clone, Debug)]
pub struct TimelineSources {
    pub db: Database,
    pub goods: GoodsClient,
    pub coupons: CouponClient,
    pub users: UserClient,
    pub pay: PayClient,
    pub broker: BrokerAdminClient,
}

/// What the assembly collects: events and the sources it could not ask.
#[derive(Default)]
struct Assembly {
    events: Vec<TimelineEvent>,
    missing: Vec<MissingSource>,
}

impl Assembly {
    fn miss(&mut self, service: &str, error: impl std::fmt::Display) {
        tracing::warn!(service, %error, "timeline source not available");
        self.missing.push(MissingSource {
            service: service.to_owned(),
            reason: error.to_string(),
        });
    }

    /// Takes a service's records; `None` when it could not be asked.
    fn take(
        &mut self,
        service: &str,
        result: Result<OrderRecords, ClientError>,
    ) -> Vec<MessageKey> {
        match result {
            Ok(records) => {
                self.events.extend(records.events);
                records.keys
            }
            Err(error) => {
                self.miss(service, error);
                Vec::new()
            }
        }
    }
}

impl TimelineSources {
    /// The timeline of `order_id`; `None` when order-svc does not know the order.
    pub async fn timeline(&self, order_id: Id) -> Result<Option<Timeline>, TimelineError> {
        let pool = self.db.pool()?;
        let Some(own) = store::records::order_events(pool, order_id).await? else {
            return Ok(None);
        };
        let mut found = Assembly {
            events: own,
            ..Assembly::default()
        };
        found
            .events
            .extend(store::steps::step_events(pool, order_id).await?);

        // goods-svc and pay-svc know the keys of the messages they sent about the
        // order (stock journal id, payment id); the others are asked with them.
        let (goods, pay) = tokio::join!(
            self.goods.order_records(order_id, &[]),
            self.pay.order_records(order_id, &[]),
        );
        // A delayed message (the payment timeout) sits in the broker's delay topic
        // until it is due.
        let mut keys = vec![
            MessageKey {
                topic: ORDER_TOPIC.to_owned(),
                key: order_id.to_string(),
            },
            MessageKey {
                topic: DELAY_TOPIC.to_owned(),
                key: order_id.to_string(),
            },
        ];
        keys.extend(found.take("goods-svc", goods));
        keys.extend(found.take("pay-svc", pay));
        keys.dedup();

        let extra: Vec<MessageKey> = keys[2..].to_vec();
        let key_texts: Vec<String> = keys.iter().map(|k| k.key.clone()).collect();
        let (coupon, user, consumed, messages) = tokio::join!(
            self.coupons.order_records(order_id, &extra),
            self.users.order_records(order_id, &extra),
            records::consumer_log_events(pool, "order-svc", &key_texts),
            self.messages(&keys),
        );
        found.take("coupon-svc", coupon);
        found.take("user-svc", user);
        found.events.extend(consumed?);
        match messages {
            Ok(events) => found.events.extend(events),
            Err(error) => found.miss("mq-broker", error),
        }

        found.events.sort_by_key(|e| e.at);
        Ok(Some(Timeline {
            order_id,
            complete: found.missing.is_empty(),
            missing: found.missing,
            events: found.events,
        }))
    }

    /// Every message stored under one of `keys`, with its delivery to each group.
    async fn messages(&self, keys: &[MessageKey]) -> Result<Vec<TimelineEvent>, ClientError> {
        let lookups = keys
            .iter()
            .map(|k| self.broker.messages_by_key(&k.topic, &k.key));
        // A delayed message once due is stored again in its topic under the same id:
        // one event per id, the copy in the topic first.
        let mut seen = std::collections::HashSet::new();
        let messages: Vec<Value> = futures::future::try_join_all(lookups)
            .await?
            .into_iter()
            .flatten()
            .filter(|m| seen.insert(m["id"].as_str().unwrap_or_default().to_owned()))
            .collect();
        let deliveries = messages.iter().map(|m| {
            let id = m["id"].as_str().unwrap_or_default().to_owned();
            async move { self.broker.deliveries(&id).await }
        });
        let deliveries = futures::future::try_join_all(deliveries).await?;
        Ok(messages
            .into_iter()
            .zip(deliveries)
            .map(|(m, d)| message_event(m, d))
            .collect())
    }
}

/// A message as a timeline event: stored at, outcome its delivery over all groups.
fn message_event(message: Value, deliveries: Value) -> TimelineEvent {
    let at = message["stored_at_ms"]
        .as_i64()
        .and_then(DateTime::<Utc>::from_timestamp_millis)
        .unwrap_or_default();
    let states: Vec<&str> = deliveries["groups"]
        .as_array()
        .map(|groups| groups.iter().filter_map(|g| g["state"].as_str()).collect())
        .unwrap_or_default();
    let outcome = if deliveries["deliverable"] == false {
        "scheduled"
    } else if states.contains(&"dead_letter") {
        "dead_letter"
    } else if states.iter().any(|s| matches!(*s, "pending" | "retrying")) {
        "pending"
    } else {
        "delivered"
    };
    let request_id = message["properties"]["request_id"]
        .as_str()
        .map(str::to_owned);
    let detail = json!({
        "id": message["id"],
        "topic": message["topic"],
        "tag": message["tag"],
        "keys": message["keys"],
        "deliver_at_ms": message["deliver_at_ms"],
        "groups": deliveries["groups"],
    });
    TimelineEvent::new(at, "mq-broker", "message", outcome, request_id, detail)
}
