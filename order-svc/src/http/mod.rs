//! order-svc's HTTP API: routes, their OpenAPI description and the error answers.

mod error;
pub mod orders;
pub mod timeline;

pub use error::ApiError;

use axum::{
    Router,
    routing::{get, post},
};
use utoipa::OpenApi;

use crate::app::AppState;

/// The endpoints of docs/api.md ("order-svc") that order-svc serves.
#[derive(OpenApi)]
#[openapi(
    paths(
        orders::confirm_order,
        orders::recent_orders,
        orders::get_order,
        timeline::order_timeline
    ),
    tags((name = "orders", description = "Orders"))
)]
struct ApiDoc;

/// The OpenAPI document of [`router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The service's own routes (the shared ones are added by `shop_kit::server`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/orders",
            post(orders::confirm_order).get(orders::recent_orders),
        )
        .route("/orders/{order_id}", get(orders::get_order))
        .route("/orders/{order_id}/timeline", get(timeline::order_timeline))
        .with_state(state)
}
