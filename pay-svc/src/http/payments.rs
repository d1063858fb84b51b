//! `/payments`: create the payment of an order, read a payment, and the payment
//! platform's signed callback.

use axum::{
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
};
use shop_kit::{
    contracts::pay::{
        CallbackAnswer, CreatePayment, PayCallback, PaymentView, SIGNATURE_HEADER,
        signature_is_valid,
    },
    error::{ErrorBody, InvalidRequest, Unavailable},
    extract::Path,
    json::{self, Json},
    validate,
};

use super::ApiError;
use crate::{
    app::AppState,
    domain::{
        callback::{self, Applied},
        create::{self, Created},
        faults::{FAULT_HEADER, Fault},
    },
    store,
};

/// Creates the payment of a confirmed, unpaid order; its amount is the order's
/// `pay_amount` at order-svc. A second create answers 200 with the same payment.
#[utoipa::path(
    post,
    path = "/payments",
    tag = "payments",
    request_body = CreatePayment,
    responses(
        (status = 201, description = "Created", body = PaymentView),
        (status = 200, description = "The order's existing payment", body = PaymentView),
        (status = 400, description = "`INVALID_REQUEST`", body = ErrorBody),
        (status = 404, description = "`ORDER_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`ORDER_ALREADY_PAID`, `ORDER_CANCELLED`, `ORDER_NOT_CONFIRMED`", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`: order-svc or the database cannot be reached", body = ErrorBody),
    )
)]
pub async fn create_payment(
    State(state): State<AppState>,
    Json(request): Json<CreatePayment>,
) -> Result<(StatusCode, Json<PaymentView>), ApiError> {
    match create::create_payment(&state.db, &state.orders, request.order_id).await? {
        Created::New(payment) => Ok((StatusCode::CREATED, Json(payment))),
        Created::Existing(payment) => Ok((StatusCode::OK, Json(payment))),
    }
}

/// The payment platform's callback, signed: `X-Pay-Signature` is the hex
/// HMAC-SHA256 of the raw body with `PAY_CALLBACK_SECRET`, checked before anything
/// else. `paid` marks the payment paid and writes the `pay`/`paid` message in one
/// transaction; the message is sent after the answer. A `paid` with another
/// `trade_no` for a settled payment is a second charge: recorded and refunded
/// (`duplicate_charge`), answered 200. Replays answer 200 and change nothing.
#[utoipa::path(
    post,
    path = "/payments/callback",
    tag = "payments",
    request_body = PayCallback,
    params(
        ("X-Pay-Signature" = String, Header, pattern = r"^[0-9a-fA-F]{64}$",
            description = "hex HMAC-SHA256(PAY_CALLBACK_SECRET, raw body)"),
        ("X-Shop-Fault" = Option<String>, Header, pattern = r"^crash-after-commit$",
            description = "Only with SHOP_FAULTS=on (the document lists it only then): crash-after-commit"),
    ),
    responses(
        (status = 200, description = "Accepted (also for a replay)", body = CallbackAnswer),
        (status = 400, description = "`INVALID_REQUEST`", body = ErrorBody),
        (status = 401, description = "`SIGNATURE_INVALID`", body = ErrorBody),
        (status = 404, description = "`PAYMENT_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`", body = ErrorBody),
    )
)]
pub async fn payment_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<CallbackAnswer>, ApiError> {
    let body = body.map_err(|rejection| InvalidRequest::body(rejection.body_text()))?;
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .ok_or(ApiError::SignatureInvalid)?;
    if !signature_is_valid(&state.callback_secret, &body, signature) {
        tracing::warn!("payment callback with an invalid signature refused");
        return Err(ApiError::SignatureInvalid);
    }
    json::check_content_type(&headers)?;
    let fault = fault(&state, &headers)?;
    let callback: PayCallback = json::parse(&body)?;
    if let Some(trade_no) = &callback.trade_no {
        validate::bounded_text("trade_no", trade_no, validate::MAX_TRADE_NO_CHARS)?;
    }
    let applied = callback::apply(&state.db, &state.outbox, &callback).await?;
    if let Applied::DuplicateCharge { refund_id } = applied {
        // Answered at once; the refund relay asks again if this does not finish.
        let refunds = state.refunds.clone();
        tokio::spawn(async move { refunds.execute(refund_id).await });
    }
    if let Applied::Paid { outbox_row } = applied {
        if fault == Some(Fault::CrashAfterCommit) {
            tracing::error!(pay_id = %callback.pay_id, outbox_row,
                "fault crash-after-commit: stopping before the paid message is sent");
            state.shutdown.cancel();
            return Err(Unavailable::new("pay-svc").into());
        }
        state.outbox.send_soon(vec![outbox_row]);
    }
    Ok(Json(CallbackAnswer::ok()))
}

/// The fault the request names, with `SHOP_FAULTS=on` (400 when it names none).
fn fault(state: &AppState, headers: &HeaderMap) -> Result<Option<Fault>, InvalidRequest> {
    if !state.faults_enabled {
        return Ok(None);
    }
    match headers.get(FAULT_HEADER) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(Fault::parse)
            .map(Some)
            .ok_or_else(|| InvalidRequest::field(FAULT_HEADER, "names no fault")),
    }
}

/// Reads a payment: its order, amount, status and refunds.
#[utoipa::path(
    get,
    path = "/payments/{pay_id}",
    tag = "payments",
    params(("pay_id" = String, Path, description = "Payment id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "The payment", body = PaymentView),
        (status = 404, description = "`PAYMENT_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_payment(
    State(state): State<AppState>,
    Path(pay_id): Path<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let pay_id = validate::id("pay_id", &pay_id)?;
    let payment = store::payments::find_payment(state.db.pool()?, pay_id).await?;
    payment.map(Json).ok_or(ApiError::PaymentNotFound)
}
