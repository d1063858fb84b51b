//! `/payments`: read a payment.

use axum::extract::{Path, State};
use services::{contracts::pay::PaymentView, error::ErrorBody, json::Json, validate};

use super::ApiError;
use crate::{app::AppState, store};

/// Reads a payment: its order, amount and status.
#[utoipa::path(
    get,
    path = "/payments/{pay_id}",
    tag = "payments",
    params(("pay_id" = String, Path, description = "Payment id")),
    responses(
        (status = 200, description = "The payment", body = PaymentView),
        (status = 404, description = "`PAYMENT_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_payment(
    State(state): State<AppState>,
    Path(pay_id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let pay_id = validate::id(&pay_id).ok_or(ApiError::PaymentNotFound)?;
    let payment = store::payments::find_payment(state.db.pool()?, pay_id).await?;
    payment.map(Json).ok_or(ApiError::PaymentNotFound)
}
