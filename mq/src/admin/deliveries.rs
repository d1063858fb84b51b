//! `GET /messages/{id}/deliveries`: how one message went to each consumer group of
//! its topic (consumed or not yet, retry copies, dead letter), the delivery history
//! the order timeline and the console show.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::{ApiError, not_found};
use crate::broker::BrokerCore;
use crate::broker::tags::TagExpr;
use crate::message::{MessageId, StoredMessage};
use crate::storage::index::{DLQ_PREFIX, RETRY_PREFIX};

pub async fn deliveries(
    State(core): State<Arc<BrokerCore>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let parsed: MessageId = id.parse()?;
    let Some(found) = core.store.find_by_id(&parsed).await? else {
        return Err(not_found(format!("no message {id}")));
    };
    let key = found.keys.first().cloned();
    // The copy in the message's own topic is the one groups consume; a delayed or
    // half message has none until it is due or committed.
    let delivered = match (&key, found.store_topic == found.topic) {
        (_, true) => Some(found.clone()),
        (Some(key), false) => core
            .store
            .find_by_key(&found.topic, key)
            .await?
            .into_iter()
            .find(|m| m.id == found.id),
        (None, false) => None,
    };
    let Some(delivered) = delivered else {
        return Ok(Json(json!({
            "id": id,
            "topic": found.topic,
            "deliverable": false,
            "store_topic": found.store_topic,
            "groups": [],
        })));
    };

    // Groups: live subscriptions to the topic (with their tag filter) and groups with
    // an offset on the message's queue.
    let mut groups: BTreeMap<String, Option<String>> = BTreeMap::new();
    for sub in core.subscriptions(None) {
        if sub.topic == delivered.topic
            && let Some(status) = sub.status().await
        {
            groups.insert(status.group, Some(status.tag_expr));
        }
    }
    for group in core.store.offsets.groups() {
        if group.contains('@') {
            continue; // a broadcast member's own offsets
        }
        if core
            .store
            .offsets
            .get(&group, &delivered.topic, delivered.queue)
            .is_some()
        {
            groups.entry(group).or_insert(None);
        }
    }

    let mut listed = Vec::new();
    for (group, tag_expr) in groups {
        let matches = tag_expr
            .as_deref()
            .and_then(|e| TagExpr::parse(e).ok())
            .map(|e| e.matches(&delivered.tag));
        let committed = core
            .store
            .offsets
            .get(&group, &delivered.topic, delivered.queue);
        let passed = committed.is_some_and(|c| c > delivered.queue_offset);
        let retry_topic = format!("{RETRY_PREFIX}{group}%{}", delivered.topic);
        let retries = copies_of(&core, &retry_topic, key.as_deref(), &delivered).await?;
        let dead_topic = format!("{DLQ_PREFIX}{group}");
        let dead = copies_of(&core, &dead_topic, key.as_deref(), &delivered).await?;
        let attempts = retries
            .iter()
            .chain(&dead)
            .map(|m| m.attempt)
            .max()
            .unwrap_or(u32::from(passed));
        let state = if matches == Some(false) {
            "filtered"
        } else if !dead.is_empty() {
            "dead_letter"
        } else if passed && retries.is_empty() {
            "consumed"
        } else if passed {
            "retrying"
        } else {
            "pending"
        };
        listed.push(json!({
            "group": group,
            "tag_expr": tag_expr,
            "state": state,
            "committed": committed,
            "attempts": attempts,
            "retries": retries.iter().map(|m| json!({
                "attempt": m.attempt, "stored_at_ms": m.stored_at_ms, "deliver_at_ms": m.deliver_at_ms
            })).collect::<Vec<_>>(),
            "dead_letter_at_ms": dead.first().map(|m| m.stored_at_ms),
        }));
    }
    Ok(Json(json!({
        "id": id,
        "topic": delivered.topic,
        "tag": delivered.tag,
        "deliverable": true,
        "queue": delivered.queue,
        "offset": delivered.queue_offset,
        "stored_at_ms": delivered.stored_at_ms,
        "groups": listed,
    })))
}

/// The copies of `message` in `topic` (a group's retry or dead letter topic).
async fn copies_of(
    core: &BrokerCore,
    topic: &str,
    key: Option<&str>,
    message: &StoredMessage,
) -> Result<Vec<StoredMessage>, ApiError> {
    let Some(key) = key else {
        return Ok(Vec::new());
    };
    let found = core.store.find_by_key(topic, key).await?;
    Ok(found.into_iter().filter(|m| m.id == message.id).collect())
}
