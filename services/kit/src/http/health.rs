//! `GET /health`: whether the service's database, Redis and broker are reachable.
//!
//! Each check has a short timeout and they run together, so the answer comes within
//! about a second even when a dependency hangs or its port is closed: 200 when all are
//! up, else 503 naming what is down.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{bus::Bus, cache::Cache, db::Database};

/// How long each dependency may take to answer a health check.
pub const CHECK_TIMEOUT: Duration = Duration::from_millis(1000);

/// What `/health` checks.
#[derive(Clone, Debug)]
pub struct HealthProbe {
    pub db: Database,
    pub cache: Cache,
    pub bus: Bus,
}

/// The answer of `/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthReport {
    /// `ok` or `down`.
    pub status: String,
    /// `database`, `redis`, `broker` → `up` or `down`.
    pub checks: BTreeMap<String, String>,
    /// The names of what is down (empty when healthy).
    pub down: Vec<String>,
    /// `UNAVAILABLE` when something is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl HealthProbe {
    /// Runs the three checks together.
    pub async fn check(&self) -> HealthReport {
        let (database, redis, broker) = tokio::join!(
            self.db.ping(CHECK_TIMEOUT),
            self.cache.ping(CHECK_TIMEOUT),
            self.bus.ping(CHECK_TIMEOUT),
        );
        let results = [("database", database), ("redis", redis), ("broker", broker)];
        let checks = results
            .iter()
            .map(|(name, up)| {
                (
                    name.to_string(),
                    if *up { "up" } else { "down" }.to_string(),
                )
            })
            .collect();
        let down: Vec<String> = results
            .iter()
            .filter(|(_, up)| !up)
            .map(|(name, _)| name.to_string())
            .collect();
        let healthy = down.is_empty();
        HealthReport {
            status: if healthy { "ok" } else { "down" }.into(),
            checks,
            code: (!healthy).then(|| "UNAVAILABLE".into()),
            message: (!healthy).then(|| format!("down: {}", down.join(", "))),
            down,
        }
    }
}

/// Reports whether the database, Redis and the broker are reachable.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Everything is reachable", body = HealthReport),
        (status = 503, description = "Something is down; `down` names it", body = HealthReport),
    )
)]
pub async fn health(State(probe): State<HealthProbe>) -> Response {
    let report = probe.check().await;
    let status = if report.down.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}
