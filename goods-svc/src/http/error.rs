//! goods-svc's error answers: one variant per client-facing code.

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
    /// 404 `GOODS_NOT_FOUND`
    #[error("no such goods")]
    GoodsNotFound,
    /// 409 `STOCK_NOT_ENOUGH`
    #[error("not enough stock")]
    StockNotEnough,
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
        match self {
            ApiError::InvalidRequest(e) => e.into_response(),
            ApiError::GoodsNotFound => {
                error::error_response(StatusCode::NOT_FOUND, "GOODS_NOT_FOUND", self.to_string())
            }
            ApiError::StockNotEnough => {
                error::error_response(StatusCode::CONFLICT, "STOCK_NOT_ENOUGH", self.to_string())
            }
            ApiError::OrderCancelled => {
                error::error_response(StatusCode::CONFLICT, "ORDER_CANCELLED", self.to_string())
            }
            ApiError::Unavailable(e) => e.into_response(),
            ApiError::Database(e) => error::database_error(e),
            ApiError::Unexpected(e) => error::unexpected_error(e),
        }
    }
}
