//! goods-svc's HTTP API: routes, their OpenAPI description and the error answers.

mod error;
pub mod goods;
pub mod reservations;

pub mod records;

pub use error::ApiError;

use axum::{Router, routing::get, routing::post};
use utoipa::OpenApi;

use crate::app::AppState;

/// The endpoints of docs/api.md ("goods-svc") that goods-svc serves, and its internal ones.
#[derive(OpenApi)]
#[openapi(
    paths(
        records::order_records, goods::create_goods,
        goods::get_goods,
        goods::stock_logs,
        reservations::reserve_stock
    ),
    tags(
        (name = "goods", description = "Goods, stock and the stock journal"),
        (name = "internal", description = "Called by order-svc")
    )
)]
struct ApiDoc;

/// The OpenAPI document of [`router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The service's own routes (the shared ones are added by `shop_kit::server`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/goods", post(goods::create_goods))
        .route("/goods/{goods_id}", get(goods::get_goods))
        .route("/goods/{goods_id}/stock-logs", get(goods::stock_logs))
        .route(
            "/internal/stock/reservations",
            post(reservations::reserve_stock),
        )
        .route(
            "/internal/orders/{order_id}/records",
            get(records::order_records),
        )
        .with_state(state)
}
