//! pay-svc's error answers: one variant per client-facing code.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shop_kit::error::{self, InvalidRequest, Unavailable};

use crate::domain::{callback::CallbackRefused, create::CreateRefused};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `INVALID_REQUEST`
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
    /// 401 `SIGNATURE_INVALID`
    #[error("the X-Pay-Signature header is missing or does not sign this body")]
    SignatureInvalid,
    /// 404 `PAYMENT_NOT_FOUND`
    #[error("no such payment")]
    PaymentNotFound,
    /// 404 `ORDER_NOT_FOUND`
    #[error("no such order")]
    OrderNotFound,
    /// 409 `ORDER_CANCELLED`
    #[error("the order is cancelled")]
    OrderCancelled,
    /// 409 `ORDER_ALREADY_PAID`
    #[error("the order is paid already")]
    OrderAlreadyPaid,
    /// 409 `ORDER_NOT_CONFIRMED`
    #[error("the order is not confirmed yet")]
    OrderNotConfirmed,
    /// 503 `UNAVAILABLE`
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// An unexpected error, as `Database` when it is one (so an unreachable database
    /// answers 503).
    fn unexpected(error: anyhow::Error) -> ApiError {
        match error.downcast::<sqlx::Error>() {
            Ok(db) => ApiError::Database(db),
            Err(other) => ApiError::Unexpected(other),
        }
    }
}

impl From<CreateRefused> for ApiError {
    fn from(refused: CreateRefused) -> Self {
        match refused {
            CreateRefused::OrderNotFound => ApiError::OrderNotFound,
            CreateRefused::OrderCancelled => ApiError::OrderCancelled,
            CreateRefused::OrderAlreadyPaid => ApiError::OrderAlreadyPaid,
            CreateRefused::OrderNotConfirmed => ApiError::OrderNotConfirmed,
            CreateRefused::Unavailable(e) => ApiError::Unavailable(e),
            CreateRefused::Unexpected(e) => ApiError::unexpected(e),
        }
    }
}

impl From<CallbackRefused> for ApiError {
    fn from(refused: CallbackRefused) -> Self {
        match refused {
            CallbackRefused::PaymentNotFound => ApiError::PaymentNotFound,
            CallbackRefused::Unavailable(e) => ApiError::Unavailable(e),
            CallbackRefused::Unexpected(e) => ApiError::unexpected(e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::InvalidRequest(_)
            | ApiError::Unavailable(_)
            | ApiError::Database(_)
            | ApiError::Unexpected(_) => (StatusCode::INTERNAL_SERVER_ERROR, ""),
            ApiError::SignatureInvalid => (StatusCode::UNAUTHORIZED, "SIGNATURE_INVALID"),
            ApiError::PaymentNotFound => (StatusCode::NOT_FOUND, "PAYMENT_NOT_FOUND"),
            ApiError::OrderNotFound => (StatusCode::NOT_FOUND, "ORDER_NOT_FOUND"),
            ApiError::OrderCancelled => (StatusCode::CONFLICT, "ORDER_CANCELLED"),
            ApiError::OrderAlreadyPaid => (StatusCode::CONFLICT, "ORDER_ALREADY_PAID"),
            ApiError::OrderNotConfirmed => (StatusCode::CONFLICT, "ORDER_NOT_CONFIRMED"),
        };
        match self {
            ApiError::InvalidRequest(e) => e.into_response(),
            ApiError::Unavailable(e) => e.into_response(),
            ApiError::Database(e) => error::database_error(e),
            ApiError::Unexpected(e) => error::unexpected_error(e),
            other => error::error_response(status, code, other.to_string()),
        }
    }
}
