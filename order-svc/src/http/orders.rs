//! `/orders`: confirm an order, read an order.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
};
use serde::Deserialize;
use shop_kit::{
    contracts::order::{ConfirmOrder, OrderView},
    error::ErrorBody,
    error::InvalidRequest,
    extract::{Path, Query},
    json::Json,
    validate,
};
use utoipa::IntoParams;

use super::ApiError;
use crate::{
    app::AppState,
    domain::{
        checks::Refusal,
        faults::{FAULT_HEADER, Fault},
    },
    store,
};

/// Confirms an order across goods, coupon and user (docs/architecture.md, "Confirm
/// order"). A failed check writes nothing; a failure after the pre-order cancels the
/// order and answers `ORDER_CANCELLED` with its id while the compensation runs through
/// the broker.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    request_body = ConfirmOrder,
    params(("X-Shop-Fault" = Option<String>, Header,
        pattern = r"^(after-stock|after-coupon|after-balance|crash-after-stock|commit-outcome-lost)$",
        description = "Only with SHOP_FAULTS=on (the document lists it only then): where the confirmation fails")),
    responses(
        (status = 201, description = "Confirmed", body = OrderView),
        (status = 400, description = "`INVALID_REQUEST`, `INVALID_QUANTITY`, `ORDER_AMOUNT_INVALID`, `SHIPPING_FEE_INVALID`, `MONEY_PAID_INVALID`, `PAY_AMOUNT_NEGATIVE`", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`, `GOODS_NOT_FOUND`, `COUPON_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`PRICE_MISMATCH`, `STOCK_NOT_ENOUGH`, `BALANCE_NOT_ENOUGH`, `COUPON_NOT_OWNED`, `COUPON_USED`, `ORDER_CANCELLED` (with `order_id`)", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`, or `ORDER_CANCELLED` (with `order_id`) when a step could not be reached", body = ErrorBody),
    )
)]
pub async fn confirm_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<ConfirmOrder>,
) -> Result<(StatusCode, Json<OrderView>), ApiError> {
    let fault = if state.faults_enabled {
        match headers.get(FAULT_HEADER) {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(Fault::parse)
                    .ok_or_else(|| InvalidRequest::field(FAULT_HEADER, "names no fault"))?,
            ),
        }
    } else {
        None
    };
    check_bounds(&request)?;
    let order = state.confirmer.confirm(&request, fault).await?;
    Ok((StatusCode::CREATED, Json(order)))
}

/// The bounds the OpenAPI document states, checked before anything is asked of the
/// other services: amounts not negative (`money_paid`: `MONEY_PAID_INVALID`),
/// quantity within 1 … 4294967295 (`INVALID_QUANTITY`), the address's length.
fn check_bounds(request: &ConfirmOrder) -> Result<(), ApiError> {
    for (field, amount) in [
        ("goods_price", request.goods_price),
        ("order_amount", request.order_amount),
        ("shipping_fee", request.shipping_fee),
    ] {
        validate::not_negative(field, amount)?;
    }
    if request.money_paid.is_negative() {
        return Err(Refusal::MoneyPaidInvalid.into());
    }
    if !(1..=i64::from(u32::MAX)).contains(&request.quantity) {
        return Err(Refusal::InvalidQuantity.into());
    }
    validate::bounded_text("address", &request.address, validate::MAX_ADDRESS_CHARS)?;
    Ok(())
}

/// Reads an order: amounts, status, pay status, cancel reason.
#[utoipa::path(
    get,
    path = "/orders/{order_id}",
    tag = "orders",
    params(("order_id" = String, Path, description = "Order id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "The order", body = OrderView),
        (status = 404, description = "`ORDER_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_order(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> Result<Json<OrderView>, ApiError> {
    let order_id = validate::id("order_id", &order_id)?;
    let pool = state.db.pool()?;
    let mut order = store::orders::find_order(pool, order_id)
        .await?
        .ok_or(ApiError::OrderNotFound)?;
    // A service (pay-svc creating the order's payment) is told the order's trace, so
    // that the payment continues it; a client's answer stays as documented.
    let authorization = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    if state.services.authorizes(authorization) {
        order.trace_context = store::orders::trace_context(pool, order_id).await?;
    }
    Ok(Json(order))
}

/// The query of `GET /orders`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct RecentQuery {
    /// How many orders, 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// The newest orders of every status (the console's list), newest first.
#[utoipa::path(
    get,
    path = "/orders",
    tag = "orders",
    params(RecentQuery),
    responses(
        (status = 200, description = "The newest orders", body = Vec<OrderView>),
        (status = 400, description = "`INVALID_REQUEST` naming `limit`", body = ErrorBody),
    )
)]
pub async fn recent_orders(
    State(state): State<AppState>,
    Query(query): Query<RecentQuery>,
) -> Result<Json<Vec<OrderView>>, ApiError> {
    let limit = match query.limit.as_deref() {
        None => 20,
        Some(text) => (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse::<u32>().ok())
            .flatten()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| InvalidRequest::field("limit", "an integer from 1 to 100"))?,
    };
    let orders = store::orders::recent_orders(state.db.pool()?, limit).await?;
    Ok(Json(orders))
}
