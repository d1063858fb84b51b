//! `GET /internal/orders/{order_id}/records`: what coupon-svc holds about an order, for
//! order-svc's timeline.

use axum::extract::{Path, Query, State};
use shop_kit::{
    contracts::timeline::{OrderRecords, RecordsQuery},
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
    params(("order_id" = String, Path, description = "Order id"), RecordsQuery),
    responses((status = 200, description = "The records", body = OrderRecords))
)]
pub async fn order_records(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> Result<Json<OrderRecords>, ApiError> {
    let Some(order_id) = validate::id(&order_id) else {
        return Ok(Json(OrderRecords::default()));
    };
    let keys = query.keys_with(order_id);
    let records = store::records::order_records(state.db.pool()?, order_id, &keys).await?;
    Ok(Json(records))
}
