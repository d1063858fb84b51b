//! Pending work the broker holds back: delayed messages not yet due
//! (`GET /delayed`) and undecided half messages (`GET /transactions`, with
//! their age and check-back count, so a stuck transaction is visible).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::ApiError;
use crate::broker::BrokerCore;
use crate::message::now_ms;

/// Soonest entries listed in full; the count covers all.
const LISTED: usize = 100;

pub async fn delayed(State(core): State<Arc<BrokerCore>>) -> Result<Json<Value>, ApiError> {
    let soonest = core.delays.soonest(LISTED);
    let raw = core
        .store
        .read_raw(soonest.iter().map(|s| s.0).collect())
        .await?;
    let now = now_ms();
    let mut listed = Vec::with_capacity(raw.len());
    for (record, (offset, due)) in raw.iter().zip(&soonest) {
        let m = crate::message::decode_record(record, core.store.instance, *offset)?;
        listed.push(json!({
            "id": m.id.to_string(),
            "topic": m.topic,
            "tag": m.tag,
            "keys": m.keys,
            "deliver_at_ms": due,
            "due_in_ms": due.saturating_sub(now),
        }));
    }
    Ok(Json(
        json!({ "pending": core.delays.len(), "soonest": listed }),
    ))
}

/// `?limit=` (1–1000, default 1000) and `?after=` (the `next_after` of the
/// previous page) page the pending halves, oldest first.
#[derive(serde::Deserialize)]
pub struct HalfPage {
    limit: Option<usize>,
    after: Option<String>,
}

/// Most pending halves listed in one answer.
const HALVES_PAGE: usize = 1000;

pub async fn transactions(
    State(core): State<Arc<BrokerCore>>,
    axum::extract::Query(page): axum::extract::Query<HalfPage>,
) -> Result<Json<Value>, ApiError> {
    let limit = page.limit.unwrap_or(HALVES_PAGE);
    if limit == 0 || limit > HALVES_PAGE {
        return Err(ApiError(crate::Error::Invalid(format!(
            "limit must be 1-{HALVES_PAGE}"
        ))));
    }
    let after = match page.after {
        Some(id) => Some(id.parse::<crate::message::MessageId>()?.offset),
        None => None,
    };
    let now = now_ms();
    let (page, more) = core.txns.pending_page(after, limit);
    let next_after = more
        .then(|| {
            page.last()
                .map(|h| core.store.message_id(h.log_offset).to_string())
        })
        .flatten();
    let halves: Vec<Value> = page
        .iter()
        .map(|h| {
            json!({
                "id": core.store.message_id(h.log_offset).to_string(),
                "producer_group": h.group,
                "age_ms": now.saturating_sub(h.stored_at_ms),
                "checks": h.checks,
                "next_check_in_ms": h.next_check_ms.saturating_sub(now),
                "waiting_for_producer": h.waiting,
            })
        })
        .collect();
    Ok(Json(json!({
        "pending": core.txns.len(),
        "discarded": core.txns.discarded(),
        "halves": halves,
        "next_after": next_after,
    })))
}
