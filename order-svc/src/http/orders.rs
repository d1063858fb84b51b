//! `/orders`: read an order.

use axum::extract::{Path, State};
use services::{contracts::order::OrderView, error::ErrorBody, json::Json, validate};

use super::ApiError;
use crate::{app::AppState, store};

/// Reads an order: amounts, status, pay status, cancel reason.
#[utoipa::path(
    get,
    path = "/orders/{order_id}",
    tag = "orders",
    params(("order_id" = String, Path, description = "Order id")),
    responses(
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "`ORDER_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let order_id = validate::id(&order_id).ok_or(ApiError::OrderNotFound)?;
    let order = store::orders::find_order(state.db.pool()?, order_id).await?;
    order.map(Json).ok_or(ApiError::OrderNotFound)
}
