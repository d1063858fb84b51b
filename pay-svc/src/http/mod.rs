//! pay-svc's HTTP API: routes, their OpenAPI description and the error answers.

mod error;
pub mod payments;

pub mod records;

pub use error::ApiError;

use axum::{
    Router,
    routing::{get, post},
};
use utoipa::OpenApi;

use crate::app::AppState;

/// The endpoints of docs/api.md ("pay-svc") that pay-svc serves.
#[derive(OpenApi)]
#[openapi(
    paths(
        records::order_records, payments::create_payment,
        payments::payment_callback,
        payments::get_payment
    ),
    tags((name = "payments", description = "Payments and the payment platform's callback"))
)]
struct ApiDoc;

/// The OpenAPI document of [`router`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The service's own routes (the shared ones are added by `shop_kit::server`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/payments", post(payments::create_payment))
        .route("/payments/callback", post(payments::payment_callback))
        .route("/payments/{pay_id}", get(payments::get_payment))
        .route(
            "/internal/orders/{order_id}/records",
            get(records::order_records),
        )
        .with_state(state)
}
