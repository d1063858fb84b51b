//! user-svc's HTTP API: routes, their OpenAPI description and the error answers.

pub mod deduct;
mod error;
pub mod users;

pub mod records;

pub use error::ApiError;

use axum::{Router, routing::get, routing::post};
use utoipa::OpenApi;

use crate::app::AppState;

/// The endpoints of docs/api.md ("user-svc") that user-svc serves, and its internal ones.
#[derive(OpenApi)]
#[openapi(
    paths(records::order_records, users::create_user, users::get_user, users::money_logs, deduct::deduct_balance),
    tags(
        (name = "users", description = "Users, balances and the money log"),
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
        .route("/users", post(users::create_user))
        .route("/users/{user_id}", get(users::get_user))
        .route("/users/{user_id}/money-logs", get(users::money_logs))
        .route(
            "/internal/users/{user_id}/deduct",
            post(deduct::deduct_balance),
        )
        .route(
            "/internal/orders/{order_id}/records",
            get(records::order_records),
        )
        .with_state(state)
}
