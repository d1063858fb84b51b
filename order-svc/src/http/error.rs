//! order-svc's error answers: one variant per client-facing code.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use services::error::{self, InvalidRequest, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `INVALID_REQUEST`
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
    /// 404 `ORDER_NOT_FOUND`
    #[error("no such order")]
    OrderNotFound,
    /// 503 `UNAVAILABLE`
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::InvalidRequest(e) => e.into_response(),
            ApiError::OrderNotFound => {
                error::error_response(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND", self.to_string())
            }
            ApiError::Unavailable(e) => e.into_response(),
            ApiError::Database(e) => error::database_error(e),
            ApiError::Unexpected(e) => error::unexpected_error(e),
        }
    }
}
