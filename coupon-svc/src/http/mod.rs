//! coupon-svc's HTTP API: routes, their OpenAPI description and the error answers.

pub mod coupons;
mod error;
pub mod use_coupon;

pub mod records;

pub use error::ApiError;

use axum::{Router, routing::get, routing::post};
use utoipa::OpenApi;

use crate::app::AppState;

/// The endpoints of docs/api.md ("coupon-svc") that coupon-svc serves, and its internal
/// ones.
#[derive(OpenApi)]
#[openapi(
    paths(records::order_records, coupons::create_coupon, coupons::get_coupon, use_coupon::use_coupon),
    tags(
        (name = "coupons", description = "Coupons and their use"),
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
        .route("/coupons", post(coupons::create_coupon))
        .route("/coupons/{coupon_id}", get(coupons::get_coupon))
        .route(
            "/internal/coupons/{coupon_id}/use",
            post(use_coupon::use_coupon),
        )
        .route(
            "/internal/orders/{order_id}/records",
            get(records::order_records),
        )
        .with_state(state)
}
