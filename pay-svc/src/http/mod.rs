//! pay-svc's HTTP API: routes, their OpenAPI description and the error answers.

mod error;
pub mod payments;

pub use error::ApiError;

use axum::{Router, routing::get};
use utoipa::OpenApi;

use crate::app::AppState;

/// The endpoints of API.md that pay-svc serves so far.
#[derive(OpenApi)]
#[openapi(
    paths(payments::get_payment),
    tags((name = "payments", description = "Payments"))
)]
struct ApiDoc;

/// The OpenAPI document of [`router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The service's own routes (the shared ones are added by `services::server`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/payments/{pay_id}", get(payments::get_payment))
        .with_state(state)
}
