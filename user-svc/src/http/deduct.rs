//! `POST /internal/users/{user_id}/deduct`: deduct from the balance for an order
//! (called by order-svc), idempotent by order id, refused after the order's cancel.

use axum::extract::State;
use shop_kit::{
    cancelled_orders,
    contracts::user::{DeductBalance, UserView},
    error::ErrorBody,
    extract::Path,
    http::current_request_id,
    json::Json,
    money::Money,
    validate,
};
use sqlx::Acquire;

use super::ApiError;
use crate::{
    app::AppState,
    store::{self, users::Deducted},
};

/// Deducts `amount` for `order_id`; a repeated call answers the same and changes
/// nothing.
#[utoipa::path(
    post,
    path = "/internal/users/{user_id}/deduct",
    tag = "internal",
    params(("user_id" = String, Path, description = "User id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    request_body = DeductBalance,
    responses(
        (status = 200, description = "Deducted (now or before)", body = UserView),
        (status = 400, description = "`INVALID_REQUEST`: amount not more than 0", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`BALANCE_NOT_ENOUGH`, `ORDER_CANCELLED`", body = ErrorBody),
    )
)]
pub async fn deduct_balance(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
    Json(body): Json<DeductBalance>,
) -> Result<Json<UserView>, ApiError> {
    let user_id = validate::id("user_id", &user_id)?;
    let amount = validate::positive("amount", body.amount)?;
    let pool = state.db.pool()?;
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    // The user row serializes this deduct with the order's cancel (cancelled_orders);
    // locked from here to the commit, it also gives the answer's balance exactly.
    let Some(mut user) = store::users::lock_and_read_user(&mut tx, user_id).await? else {
        return Err(ApiError::UserNotFound);
    };
    if cancelled_orders::is_cancelled(&mut tx, body.order_id).await? {
        return Err(ApiError::OrderCancelled);
    }
    let request_id = current_request_id();
    let deducted = store::users::deduct_balance(
        &mut tx,
        user_id,
        body.order_id,
        amount,
        request_id.as_deref(),
    )
    .await?;
    match deducted {
        Deducted::Now => {
            user.balance = Money::new(user.balance.decimal() - amount.decimal())
                .map_err(anyhow::Error::from)?;
        }
        Deducted::Already => {}
        Deducted::NotEnough => return Err(ApiError::BalanceNotEnough),
        Deducted::NoSuchUser => return Err(ApiError::UserNotFound),
    }
    tx.commit().await?;
    tracing::info!(%user_id, order_id = %body.order_id, %amount, ?deducted, "balance deducted");
    Ok(Json(user))
}
