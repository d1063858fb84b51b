//! order-svc's error answers: one variant per client-facing code.

use axum::{
    Json,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use shop_kit::error::{self, ErrorBody, InvalidRequest, Unavailable};

use crate::domain::{checks::Refusal, confirm::ConfirmError, timeline::TimelineError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `INVALID_REQUEST`
    #[error(transparent)]
    InvalidRequest(#[from] InvalidRequest),
    /// 404 `ORDER_NOT_FOUND`
    #[error("no such order")]
    OrderNotFound,
    /// A check of `POST /orders` failed: 400, 404 or 409 with the check's own code.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// 409 (a step refused) or 503 (a step unreachable) `ORDER_CANCELLED` with the
    /// order id: the pre-order was saved and is cancelled, its compensation runs.
    #[error("order {order_id} was cancelled: {reason}")]
    OrderCancelled {
        order_id: String,
        reason: String,
        unavailable: bool,
    },
    /// 503 `UNAVAILABLE`
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// 503 `UNAVAILABLE` with the order id: the confirmation's outcome is unknown
    /// (the database could not be asked); `GET /orders/{order_id}` tells it later.
    #[error("order {order_id}: the confirmation's outcome is not known yet; read the order")]
    Uncertain { order_id: String },
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<ConfirmError> for ApiError {
    fn from(error: ConfirmError) -> Self {
        match error {
            ConfirmError::Refused(r) => ApiError::Refused(r),
            ConfirmError::Cancelled {
                order_id,
                reason,
                unavailable,
            } => ApiError::OrderCancelled {
                order_id: order_id.to_string(),
                reason,
                unavailable,
            },
            ConfirmError::Unavailable(e) => ApiError::Unavailable(e),
            ConfirmError::Uncertain { order_id } => ApiError::Uncertain {
                order_id: order_id.to_string(),
            },
            ConfirmError::Database(e) => ApiError::Database(e),
            ConfirmError::Unexpected(e) => ApiError::Unexpected(e),
        }
    }
}

impl From<TimelineError> for ApiError {
    fn from(error: TimelineError) -> Self {
        match error {
            TimelineError::Unavailable(e) => ApiError::Unavailable(e),
            TimelineError::Failed(e) => match e.downcast::<sqlx::Error>() {
                Ok(e) => ApiError::Database(e),
                Err(e) => ApiError::Unexpected(e),
            },
        }
    }
}

/// The status and code of a failed check.
fn refusal_code(refusal: &Refusal) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match refusal {
        Refusal::UserNotFound => (S::NOT_FOUND, "USER_NOT_FOUND"),
        Refusal::GoodsNotFound => (S::NOT_FOUND, "GOODS_NOT_FOUND"),
        Refusal::CouponNotFound => (S::NOT_FOUND, "COUPON_NOT_FOUND"),
        Refusal::PriceMismatch { .. } => (S::CONFLICT, "PRICE_MISMATCH"),
        Refusal::StockNotEnough { .. } => (S::CONFLICT, "STOCK_NOT_ENOUGH"),
        Refusal::BalanceNotEnough => (S::CONFLICT, "BALANCE_NOT_ENOUGH"),
        Refusal::CouponNotOwned => (S::CONFLICT, "COUPON_NOT_OWNED"),
        Refusal::CouponUsed => (S::CONFLICT, "COUPON_USED"),
        Refusal::InvalidQuantity => (S::BAD_REQUEST, "INVALID_QUANTITY"),
        Refusal::OrderAmountInvalid { .. } => (S::BAD_REQUEST, "ORDER_AMOUNT_INVALID"),
        Refusal::ShippingFeeInvalid { .. } => (S::BAD_REQUEST, "SHIPPING_FEE_INVALID"),
        Refusal::MoneyPaidInvalid => (S::BAD_REQUEST, "MONEY_PAID_INVALID"),
        Refusal::PayAmountNegative { .. } => (S::BAD_REQUEST, "PAY_AMOUNT_NEGATIVE"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::InvalidRequest(e) => e.into_response(),
            ApiError::OrderNotFound => {
                error::error_response(StatusCode::NOT_FOUND, "ORDER_NOT_FOUND", self.to_string())
            }
            ApiError::Refused(refusal) => {
                let (status, code) = refusal_code(&refusal);
                error::error_response(status, code, refusal.to_string())
            }
            ApiError::OrderCancelled {
                ref order_id,
                unavailable,
                ..
            } => {
                let status = if unavailable {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::CONFLICT
                };
                let body = ErrorBody {
                    order_id: Some(order_id.clone()),
                    ..ErrorBody::new("ORDER_CANCELLED", self.to_string())
                };
                (status, Json(body)).into_response()
            }
            ApiError::Unavailable(e) => e.into_response(),
            ApiError::Uncertain { ref order_id } => {
                let body = ErrorBody {
                    order_id: Some(order_id.clone()),
                    ..ErrorBody::new("UNAVAILABLE", self.to_string())
                };
                (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
            }
            ApiError::Database(e) => error::database_error(e),
            ApiError::Unexpected(e) => error::unexpected_error(e),
        }
    }
}
