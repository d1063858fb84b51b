//! user-svc's error answers: one variant per client-facing code.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shop_kit::error::{self, InvalidRequest, Unavailable};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `INVALID_REQUEST`
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
    /// 404 `USER_NOT_FOUND`
    #[error("no such user")]
    UserNotFound,
    /// 409 `BALANCE_NOT_ENOUGH`
    #[error("the balance is not enough")]
    BalanceNotEnough,
    /// 409 `ORDER_CANCELLED`: the order's cancel came first.
    #[error("the order was cancelled")]
    OrderCancelled,
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
        let answer =
            |status, code, e: &ApiError| error::error_response(status, code, e.to_string());
        match self {
            ApiError::InvalidRequest(e) => e.into_response(),
            ApiError::UserNotFound => answer(StatusCode::NOT_FOUND, "USER_NOT_FOUND", &self),
            ApiError::BalanceNotEnough => answer(StatusCode::CONFLICT, "BALANCE_NOT_ENOUGH", &self),
            ApiError::OrderCancelled => answer(StatusCode::CONFLICT, "ORDER_CANCELLED", &self),
            ApiError::Unavailable(e) => e.into_response(),
            ApiError::Database(e) => error::database_error(e),
            ApiError::Unexpected(e) => error::unexpected_error(e),
        }
    }
}
