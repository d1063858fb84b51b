//! `POST /internal/stock/reservations`: reserve stock for an order (called by
//! order-svc), idempotent by order id, refused after the order's cancel.

use axum::extract::State;
use shop_kit::{
    contracts::goods::{Reservation, ReserveStock},
    error::{ErrorBody, InvalidRequest},
    json::Json,
};

use super::ApiError;
use crate::{app::AppState, stock::ReserveError};

/// Reserves stock: Redis check-and-decrement, then the journal through the
/// `stock`/`deduct` transactional message. A repeated call answers the same
/// reservation and changes nothing.
#[utoipa::path(
    post,
    path = "/internal/stock/reservations",
    tag = "internal",
    request_body = ReserveStock,
    responses(
        (status = 200, description = "Reserved (now or before)", body = Reservation),
        (status = 400, description = "`INVALID_REQUEST`: quantity 0", body = ErrorBody),
        (status = 404, description = "`GOODS_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`STOCK_NOT_ENOUGH`, `ORDER_CANCELLED`", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`", body = ErrorBody),
    )
)]
pub async fn reserve_stock(
    State(state): State<AppState>,
    Json(body): Json<ReserveStock>,
) -> Result<Json<Reservation>, ApiError> {
    if body.quantity == 0 {
        return Err(InvalidRequest::field("quantity", "must be at least 1").into());
    }
    match state.stock.reserve(&body).await {
        Ok(reservation) => Ok(Json(reservation)),
        Err(ReserveError::GoodsNotFound) => Err(ApiError::GoodsNotFound),
        Err(ReserveError::StockNotEnough) => Err(ApiError::StockNotEnough),
        Err(ReserveError::OrderCancelled) => Err(ApiError::OrderCancelled),
        Err(ReserveError::Unavailable(e)) => Err(e.into()),
        Err(ReserveError::Database(e)) => Err(e.into()),
    }
}
