//! The admin HTTP API (docs/api.md, "mq-broker admin"): topics and queues, group
//! lag, look-up by id and key, dead letters with resend, Prometheus metrics
//! and a small dashboard page.

mod browse;
mod dashboard;
mod deliveries;
mod gauges;
mod pending;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::broker::BrokerCore;
use crate::error::{Error, ErrorCode};
use crate::message::MessageId;
use crate::storage::MAX_LOOKUP_MESSAGES;
use crate::storage::index::{DELAY_TOPIC, DLQ_PREFIX, HALF_TOPIC, RETRY_PREFIX, TXN_OP_TOPIC};

type Core = State<Arc<BrokerCore>>;

/// Serves the admin API until shutdown.
pub async fn serve(listener: TcpListener, core: Arc<BrokerCore>) {
    let token = core.shutdown.clone();
    let app = router(core);
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(token.cancelled_owned())
        .await
    {
        tracing::error!(error = %e, "admin server failed");
    }
    tracing::info!("admin server stopped: shutdown");
}

pub fn router(core: Arc<BrokerCore>) -> Router {
    Router::new()
        .route("/", get(dashboard::page))
        .route("/topics", get(topics))
        .route("/groups", get(browse::groups))
        .route("/groups/{group}", get(group))
        .route("/messages/{id}", get(message_by_id))
        .route("/messages/{id}/deliveries", get(deliveries::deliveries))
        .route("/messages", get(messages_by_key))
        .route("/delayed", get(pending::delayed))
        .route("/transactions", get(pending::transactions))
        .route("/dlq/{group}", get(dead_letters))
        .route("/dlq/{group}/{id}/resend", post(resend))
        .route("/metrics", get(gauges::metrics))
        .with_state(core)
}

/// Error answer: `{"code","message"}` with a matching status.
pub struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.0.code();
        let status = match code {
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::InvalidRequest | ErrorCode::Malformed => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!(error = %self.0, "admin request failed");
        }
        let message = match &self.0 {
            Error::Refused { message, .. } => message.clone(),
            e => e.to_string(),
        };
        let code = if code == ErrorCode::InvalidRequest {
            "INVALID_REQUEST"
        } else {
            code.name()
        };
        (status, Json(json!({ "code": code, "message": message }))).into_response()
    }
}

fn not_found(what: String) -> ApiError {
    ApiError(Error::Refused {
        code: ErrorCode::NotFound,
        message: what,
    })
}

/// Topics and groups are listed this many at a time unless asked for fewer.
pub const LISTING_PAGE: usize = 1000;

/// `?after=` (a name: the listing's names are in order) and `?limit=` page a listing.
#[derive(Deserialize)]
pub(crate) struct NamePage {
    after: Option<String>,
    limit: Option<usize>,
}

impl NamePage {
    /// The limit asked for, checked.
    pub(crate) fn limit(&self) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(LISTING_PAGE);
        if limit == 0 || limit > LISTING_PAGE {
            return Err(ApiError(Error::Invalid(format!(
                "limit must be 1-{LISTING_PAGE}"
            ))));
        }
        Ok(limit)
    }

    /// Whether `name` comes after the page's `after`.
    fn is_after(&self, name: &str) -> bool {
        self.after.as_deref().is_none_or(|a| name > a)
    }

    /// The names of `sorted` after `after`, at most `limit` of them, and the name
    /// to ask `?after=` for the next page (none when this is the last).
    pub(crate) fn take<'a>(
        &self,
        sorted: impl IntoIterator<Item = &'a String>,
        limit: usize,
    ) -> (Vec<&'a String>, Option<String>) {
        let mut page: Vec<&String> = sorted
            .into_iter()
            .filter(|n| self.is_after(n))
            .take(limit + 1)
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        let next = more.then(|| page.last().map(|n| (*n).clone())).flatten();
        (page, next)
    }
}

/// A page of topic summaries, in name order, with `next_after` naming where the
/// next page starts (null on the last).
fn topics_json(core: &BrokerCore, page: &NamePage, limit: usize) -> Value {
    let mut all = core.store.topics.all();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<String> = all.iter().map(|t| t.name.clone()).collect();
    let (wanted, next_after) = page.take(&names, limit);
    let first = names.len() - names.iter().filter(|n| page.is_after(n)).count();
    let topics: Vec<Value> = all[first..first + wanted.len()]
        .iter()
        .map(|t| {
            let kind = if t.name.starts_with(RETRY_PREFIX) {
                "retry"
            } else if t.name.starts_with(DLQ_PREFIX) {
                "dlq"
            } else if t.name == DELAY_TOPIC {
                "delay"
            } else if t.name == HALF_TOPIC {
                "half"
            } else if t.name == TXN_OP_TOPIC {
                "txn-op"
            } else {
                "normal"
            };
            let queues: Vec<Value> = (0..t.queue_count())
                .map(|q| {
                    let (min, max) = t.queue_range(q);
                    json!({ "queue": q, "min_offset": min, "max_offset": max })
                })
                .collect();
            let messages: u64 = (0..t.queue_count())
                .map(|q| t.queue_range(q))
                .map(|(a, b)| b - a)
                .sum();
            json!({ "topic": t.name, "kind": kind, "messages": messages, "queues": queues })
        })
        .collect();
    json!({
        "topics": topics,
        "next_after": next_after,
        "log_bytes": core.store.log_bytes(),
        "delayed_pending": core.delays.len(),
        "half_pending": core.txns.len(),
    })
}

async fn topics(State(core): Core, Query(page): Query<NamePage>) -> Result<Json<Value>, ApiError> {
    let limit = page.limit()?;
    Ok(Json(topics_json(&core, &page, limit)))
}

async fn group(State(core): Core, Path(group): Path<String>) -> Result<Json<Value>, ApiError> {
    match group_json(&core, &group).await? {
        Some(value) => Ok(Json(value)),
        None => Err(not_found(format!("no consumer group {group}"))),
    }
}

/// A group's lag per queue, subscriptions with their members, broadcast members and
/// dead letter count; `None` when the broker does not know the group.
pub(crate) async fn group_json(core: &BrokerCore, group: &str) -> Result<Option<Value>, ApiError> {
    let group = group.to_owned();
    let offsets = core.store.offsets.of_group(&group);
    let subs = core.subscriptions(Some(&group));
    // Broadcast members keep their offsets under `group@instance`.
    let prefix = format!("{group}@");
    let broadcast: Vec<Value> = core
        .store
        .offsets
        .groups()
        .iter()
        .filter_map(|g| g.strip_prefix(&prefix).map(|i| (g, i)))
        .map(|(g, instance)| {
            let lag: u64 = core
                .store
                .offsets
                .of_group(g)
                .iter()
                .map(|((topic, queue), committed)| {
                    let max = core
                        .store
                        .topics
                        .get(topic)
                        .map_or(0, |t| t.queue_range(*queue).1);
                    max.saturating_sub(*committed)
                })
                .sum();
            json!({ "instance": instance, "lag": lag })
        })
        .collect();
    if offsets.is_empty() && subs.is_empty() && broadcast.is_empty() {
        return Ok(None);
    }
    let mut total_lag = 0;
    let queues: Vec<Value> = offsets
        .iter()
        .map(|((topic, queue), committed)| {
            let max = core.store.topics.get(topic).map(|t| t.queue_range(*queue).1).unwrap_or(0);
            let lag = max.saturating_sub(*committed);
            total_lag += lag;
            json!({ "topic": topic, "queue": queue, "committed": committed, "max_offset": max, "lag": lag })
        })
        .collect();
    let mut subscriptions = Vec::new();
    for s in subs {
        if let Some(st) = s.status().await {
            subscriptions
                .push(json!({ "topic": st.topic, "tag_expr": st.tag_expr, "members": st.members }));
        }
    }
    let dead = core.dead_letter_count(&group);
    Ok(Some(json!({
        "group": group,
        "lag": total_lag,
        "dead_letters": dead,
        "queues": queues,
        "subscriptions": subscriptions,
        "broadcast_members": broadcast,
    })))
}

async fn message_by_id(State(core): Core, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let parsed: MessageId = id.parse()?;
    match core.store.find_by_id(&parsed).await? {
        Some(m) => Ok(Json(m.to_json())),
        None => Err(not_found(format!("no message {id}"))),
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    topic: Option<String>,
    key: Option<String>,
    /// Without `key`: messages of `topic` stored in `[since_ms, until_ms]`.
    since_ms: Option<u64>,
    until_ms: Option<u64>,
    limit: Option<usize>,
    /// With `key`: only messages stored before this log offset (the
    /// `x-next-before` header of the previous page).
    before: Option<u64>,
}

async fn messages_by_key(
    State(core): Core,
    Query(q): Query<KeyQuery>,
) -> Result<axum::response::Response, ApiError> {
    if let (Some(topic), None) = (&q.topic, &q.key) {
        let until = q.until_ms.unwrap_or(u64::MAX);
        let since = q.since_ms.unwrap_or(0);
        return browse::by_time(&core, topic, since, until, q.limit.unwrap_or(50))
            .await
            .map(IntoResponse::into_response);
    }
    let (Some(topic), Some(key)) = (q.topic, q.key) else {
        return Err(ApiError(Error::Invalid(
            "query parameter topic is required (with key, or a time range)".into(),
        )));
    };
    let limit = q.limit.unwrap_or(MAX_LOOKUP_MESSAGES);
    if limit == 0 || limit > MAX_LOOKUP_MESSAGES {
        return Err(ApiError(Error::Invalid(format!(
            "limit must be 1-{MAX_LOOKUP_MESSAGES}"
        ))));
    }
    let (found, next_before) = core
        .store
        .find_raw_by_key_page(&topic, &key, q.before.unwrap_or(u64::MAX), limit)
        .await?;
    let mut messages = Vec::with_capacity(found.len());
    for (offset, raw) in &found {
        let m = crate::message::decode_record(raw, core.store.instance, *offset)?;
        messages.push(m.to_json());
    }
    // The next, older page: `?before=` this (absent when there is none).
    let mut headers = axum::http::HeaderMap::new();
    if next_before > 0 {
        headers.insert("x-next-before", next_before.into());
    }
    Ok((headers, Json(Value::Array(messages))).into_response())
}

/// `?from=` (queue offset in the dead letter queue) and `?limit=` page the list.
#[derive(Deserialize)]
struct PageQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

/// Dead letters listed per page unless asked for fewer.
const DLQ_PAGE_LIMIT: usize = 1000;

async fn dead_letters(
    State(core): Core,
    Path(group): Path<String>,
    Query(page): Query<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(DLQ_PAGE_LIMIT).min(DLQ_PAGE_LIMIT);
    let dead = core
        .dead_letters(&group, page.from.unwrap_or(0), limit)
        .await?;
    Ok(Json(Value::Array(
        dead.iter().map(|m| m.to_json()).collect(),
    )))
}

async fn resend(
    State(core): Core,
    Path((group, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let parsed: MessageId = id.parse()?;
    let r = core.resend_dead_letter(&group, &parsed).await?;
    Ok(Json(
        json!({ "resent": true, "id": r.id, "group": group, "queue": r.queue, "offset": r.queue_offset }),
    ))
}
