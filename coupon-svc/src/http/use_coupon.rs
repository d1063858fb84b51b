//! `POST /internal/coupons/{coupon_id}/use`: use a coupon for an order (called by
//! order-svc), idempotent by order id, refused after the order's cancel.

use axum::extract::State;
use shop_kit::{
    cancelled_orders,
    contracts::coupon::{CouponView, UseCoupon},
    error::ErrorBody,
    extract::Path,
    json::Json,
    validate,
};
use sqlx::Acquire;

use super::ApiError;
use crate::{
    app::AppState,
    store::{self, coupons::Used},
};

/// Marks the coupon used by the order; a repeated call answers the same and changes
/// nothing.
#[utoipa::path(
    post,
    path = "/internal/coupons/{coupon_id}/use",
    tag = "internal",
    params(("coupon_id" = String, Path, description = "Coupon id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    request_body = UseCoupon,
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "Used by the order (now or before)", body = CouponView),
        (status = 404, description = "`COUPON_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`COUPON_NOT_OWNED`, `COUPON_USED`, `ORDER_HAS_COUPON`, `ORDER_CANCELLED`", body = ErrorBody),
    )
)]
pub async fn use_coupon(
    State(state): State<AppState>,
    Path(coupon_id): Path<String>,
    Json(body): Json<UseCoupon>,
) -> Result<Json<CouponView>, ApiError> {
    let coupon_id = validate::id("coupon_id", &coupon_id)?;
    let pool = state.db.pool()?;
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    // The coupon row serializes this use with the order's cancel (cancelled_orders).
    if !store::coupons::lock_coupon(&mut tx, coupon_id).await? {
        return Err(ApiError::CouponNotFound);
    }
    if cancelled_orders::is_cancelled(&mut tx, body.order_id).await? {
        return Err(ApiError::OrderCancelled);
    }
    let used = store::coupons::use_coupon(&mut tx, coupon_id, body.user_id, body.order_id).await?;
    match used {
        Used::Now | Used::Already => tx.commit().await?,
        Used::NoSuchCoupon => return Err(ApiError::CouponNotFound),
        Used::NotOwned => return Err(ApiError::CouponNotOwned),
        Used::UsedElsewhere => return Err(ApiError::CouponUsed),
        Used::OrderHasAnother => return Err(ApiError::OrderHasCoupon),
    }
    tracing::info!(%coupon_id, order_id = %body.order_id, ?used, "coupon used");
    // On the connection already held: a second one from the pool while holding this
    // one deadlocks the pool under load.
    let coupon = store::coupons::find_coupon(&mut *conn, coupon_id).await?;
    coupon.map(Json).ok_or(ApiError::CouponNotFound)
}
