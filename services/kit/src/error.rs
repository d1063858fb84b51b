//! The JSON error body (docs/api.md, "Conventions") and the pieces every service's HTTP
//! error enum is built from.
//!
//! Each service has its own error enum (one variant per client-facing code); its
//! `IntoResponse` ends in [`error_response`], and the cases every service shares
//! ([`InvalidRequest`], [`Unavailable`], database and unexpected errors) answer here,
//! so that the body, the status and the logging are the same everywhere.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Errors of the `services` library itself (bootstrap, clients, test support).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}

/// Result of the `services` library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The body of every error answer: `{"code": "STOCK_NOT_ENOUGH", "message": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable, upper snake case.
    pub code: String,
    /// For people; may change.
    pub message: String,
    /// The request field at fault, for `INVALID_REQUEST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The order concerned, for `ORDER_CANCELLED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

impl ErrorBody {
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        ErrorBody {
            code: code.into(),
            message: message.into(),
            field: None,
            order_id: None,
        }
    }
}

/// Answers `status` with the error body of docs/api.md ("Conventions").
pub fn error_response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody::new(code, message))).into_response()
}

/// 400 `INVALID_REQUEST` naming the field: malformed JSON, a missing field, a wrong
/// type, or a value the domain refuses (empty name, negative price, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    /// Dotted path of the field (`price`, `items[0].quantity`), `None` when the body as a
    /// whole is at fault (not JSON at all).
    pub field: Option<String>,
    pub message: String,
}

impl InvalidRequest {
    /// `field` is invalid: `reason` says why (`must not be empty`).
    pub fn field(field: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        let field = field.into();
        InvalidRequest {
            message: format!("{field}: {reason}"),
            field: Some(field),
        }
    }

    /// The body as a whole is invalid.
    pub fn body(reason: impl std::fmt::Display) -> Self {
        InvalidRequest {
            field: None,
            message: format!("invalid request body: {reason}"),
        }
    }
}

impl IntoResponse for InvalidRequest {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            field: self.field,
            ..ErrorBody::new("INVALID_REQUEST", self.message)
        };
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// 503 `UNAVAILABLE`: the database, Redis, the broker or a downstream service cannot
/// be reached (or did not answer in time).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is unavailable")]
pub struct Unavailable {
    /// What could not be reached: `database`, `redis`, `user-svc`, …
    pub what: String,
}

impl Unavailable {
    pub fn new(what: impl Into<String>) -> Self {
        Unavailable { what: what.into() }
    }
}

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        tracing::warn!(what = %self.what, "answering 503: dependency unavailable");
        error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            self.to_string(),
        )
    }
}

/// Answers a database error: 503 `UNAVAILABLE` when the database cannot be reached or
/// is not ready, else 500 `INTERNAL`. The details go to the log only.
pub fn database_error(error: sqlx::Error) -> Response {
    if is_unavailable(&error) {
        tracing::warn!(%error, "database unavailable");
        return Unavailable::new("database").into_response();
    }
    tracing::error!(%error, "database error");
    internal_response()
}

/// Answers an unexpected error with 500 `INTERNAL`; the chain goes to the log only.
pub fn unexpected_error(error: anyhow::Error) -> Response {
    tracing::error!(error = ?error, "unexpected error");
    internal_response()
}

fn internal_response() -> Response {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error; see the service log",
    )
}

/// Whether a database error means "cannot reach it" rather than "it said no".
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        // Unknown database / table: the schema is not (yet) migrated.
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|e| matches!(e.number(), 1049 | 1146)),
        _ => false,
    }
}
