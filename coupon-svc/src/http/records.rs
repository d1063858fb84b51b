//! `GET /internal/orders/{order_id}/records`: what coupon-svc holds about an order, for
//! order-svc's timeline.

use axum::extract::State;
use shop_kit::{
    contracts::timeline::{OrderRecords, RecordsQuery},
    error::ErrorBody,
    extract::{Path, Query},
    json::Json,
    validate,
};

use super::ApiError;
use crate::{app::AppState, store};

/// The service's records of one order, with the consumer-log entries of messages
/// keyed by the order id or one of `keys`. An unknown order has no records.
#[utoipa::path(
    get,
    path = "/internal/orders/{order_id}/records",
    tag = "internal",
    params(("order_id" = String, Path, description = "Order id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19), RecordsQuery),
    responses(
        (status = 200, description = "The records", body = OrderRecords),
        (status = 400, description = "`INVALID_REQUEST` naming `order_id` or `keys`", body = ErrorBody),
    )
)]
pub async fn order_records(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> Result<Json<OrderRecords>, ApiError> {
    let order_id = validate::id("order_id", &order_id)?;
    let keys = query.keys_with(order_id)?;
    let records = store::records::order_records(state.db.pool()?, order_id, &keys).await?;
    Ok(Json(records))
}
