//! What the console browses: the consumer groups (`GET /groups`, a page at a time in
//! name order, `?after=&limit=`, the next page's `after` in `x-next-after`: lag per
//! queue, members, dead letters) and the messages of a topic stored within a time
//! range (`GET /messages?topic=…&since_ms=…&until_ms=…&limit=…`, newest first).

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{ApiError, NamePage};
use crate::broker::BrokerCore;
use crate::error::Error;

/// Every group known by its offsets or its live subscriptions, with its lag per
/// queue, members and dead letter count.
pub async fn groups(
    State(core): State<Arc<BrokerCore>>,
    Query(page): Query<NamePage>,
) -> Result<Response, ApiError> {
    let limit = page.limit()?;
    let mut names: BTreeSet<String> = core
        .store
        .offsets
        .groups()
        .into_iter()
        .filter(|g| !g.contains('@'))
        .collect();
    names.extend(
        core.subscriptions(None)
            .into_iter()
            .map(|s| s.group.clone()),
    );
    let (page, next_after) = page.take(&names, limit);
    let mut listed = Vec::with_capacity(page.len());
    for group in page {
        if let Some(value) = super::group_json(&core, group).await? {
            listed.push(value);
        }
    }
    let mut headers = axum::http::HeaderMap::new();
    if let Some(next) = next_after.and_then(|n| n.parse().ok()) {
        headers.insert("x-next-after", next);
    }
    Ok((headers, Json(Value::Array(listed))).into_response())
}

/// At most this many messages are answered, and this many index entries read per
/// queue, by one time-range search.
const MAX_LIMIT: usize = 200;
const SCAN_PER_QUEUE: u64 = 2_000;

/// Messages of `topic` stored in `[since_ms, until_ms]`, newest first. Only the
/// newest [`SCAN_PER_QUEUE`] entries of each queue are looked at.
pub async fn by_time(
    core: &BrokerCore,
    topic: &str,
    since_ms: u64,
    until_ms: u64,
    limit: usize,
) -> Result<Json<Value>, ApiError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError(Error::Invalid(format!(
            "limit must be 1..={MAX_LIMIT}"
        ))));
    }
    let Some(t) = core.store.topics.get(topic) else {
        return Ok(Json(Value::Array(Vec::new())));
    };
    let mut offsets = Vec::new();
    for q in 0..t.queue_count() {
        let (min, max) = t.queue_range(q);
        let from = max.saturating_sub(SCAN_PER_QUEUE).max(min);
        offsets.extend(
            (from..max)
                .filter_map(|o| t.entry(q, o))
                .map(|e| e.log_offset),
        );
    }
    let raw = core.store.read_raw(offsets.clone()).await?;
    let mut found = Vec::new();
    for (record, offset) in raw.iter().zip(offsets) {
        let m = crate::message::decode_record(record, core.store.instance, offset)?;
        if (since_ms..=until_ms).contains(&m.stored_at_ms) {
            found.push(m);
        }
    }
    found.sort_by_key(|m| std::cmp::Reverse(m.stored_at_ms));
    found.truncate(limit);
    Ok(Json(Value::Array(
        found.iter().map(|m| m.to_json()).collect(),
    )))
}
