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

pub async fn transactions(State(core): State<Arc<BrokerCore>>) -> Json<Value> {
    let now = now_ms();
    let halves: Vec<Value> = core
        .txns
        .pending()
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
    Json(json!({
        "pending": halves.len(),
        "discarded": core.txns.discarded(),
        "halves": halves,
    }))
}
