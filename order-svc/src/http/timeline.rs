//! `GET /orders/{order_id}/timeline`: the order's story across the services and the
//! broker (see [`crate::domain::timeline`]).

use axum::extract::State;
use shop_kit::{
    contracts::timeline::Timeline, error::ErrorBody, extract::Path, json::Json, validate,
};

use super::ApiError;
use crate::app::AppState;

/// Every step of one order, in time order: pre-order, downstream calls, stock
/// journal, coupon, money logs, messages with their delivery, consumer-log entries,
/// payment, refund, cancellation. `complete` is false, with `missing` naming the
/// sources, when a service or the broker could not be asked.
#[utoipa::path(
    get,
    path = "/orders/{order_id}/timeline",
    tag = "orders",
    params(("order_id" = String, Path, description = "Order id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "The timeline (partial when `complete` is false)", body = Timeline),
        (status = 404, description = "`ORDER_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`: order-svc's own database", body = ErrorBody),
    )
)]
pub async fn order_timeline(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<Timeline>, ApiError> {
    let order_id = validate::id("order_id", &order_id)?;
    let timeline = state.timeline.timeline(order_id).await?;
    timeline.map(Json).ok_or(ApiError::OrderNotFound)
}
