//! coupon-svc's error answers: one variant per client-facing code.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shop_kit::{
    clients::ClientError,
    error::{self, InvalidRequest, Unavailable},
};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `INVALID_REQUEST`
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
    /// 404 `COUPON_NOT_FOUND`
    #[error("no such coupon")]
    CouponNotFound,
    /// 404 `USER_NOT_FOUND`
    #[error("no such user")]
    UserNotFound,
    /// 409 `COUPON_NOT_OWNED`
    #[error("the coupon belongs to another user")]
    CouponNotOwned,
    /// 409 `COUPON_USED`
    #[error("the coupon is used")]
    CouponUsed,
    /// 409 `ORDER_HAS_COUPON`: the order uses another coupon already.
    #[error("the order uses another coupon already")]
    OrderHasCoupon,
    /// 409 `ORDER_CANCELLED`: the order's cancel came first.
    #[error("the order was cancelled")]
    OrderCancelled,
    /// 503 `UNAVAILABLE`
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// A call to another service failed: 503 `UNAVAILABLE` when it is unreachable.
    #[error(transparent)]
    Downstream(#[from] ClientError),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let not_found =
            |code, e: &ApiError| error::error_response(StatusCode::NOT_FOUND, code, e.to_string());
        let conflict =
            |code, e: &ApiError| error::error_response(StatusCode::CONFLICT, code, e.to_string());
        match self {
            ApiError::InvalidRequest(e) => e.into_response(),
            ApiError::CouponNotFound => not_found("COUPON_NOT_FOUND", &self),
            ApiError::UserNotFound => not_found("USER_NOT_FOUND", &self),
            ApiError::CouponNotOwned => conflict("COUPON_NOT_OWNED", &self),
            ApiError::CouponUsed => conflict("COUPON_USED", &self),
            ApiError::OrderHasCoupon => conflict("ORDER_HAS_COUPON", &self),
            ApiError::OrderCancelled => conflict("ORDER_CANCELLED", &self),
            ApiError::Unavailable(e) => e.into_response(),
            ApiError::Downstream(e) => e.into_response(),
            ApiError::Database(e) => error::database_error(e),
            ApiError::Unexpected(e) => error::unexpected_error(e),
        }
    }
}
