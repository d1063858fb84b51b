//! `/coupons`: create a coupon for an existing user, read it.

use axum::{extract::State, http::StatusCode};
use shop_kit::{
    contracts::coupon::{CouponView, CreateCoupon},
    error::ErrorBody,
    extract::Path,
    json::Json,
    validate,
};

use super::ApiError;
use crate::{app::AppState, domain::NewCoupon, store};

/// Creates an unused coupon for a user that user-svc knows.
#[utoipa::path(
    post,
    path = "/coupons",
    tag = "coupons",
    request_body = CreateCoupon,
    responses(
        (status = 201, description = "Created", body = CouponView),
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE` (user-svc or the database)", body = ErrorBody),
    )
)]
pub async fn create_coupon(
    State(state): State<AppState>,
    Json(body): Json<CreateCoupon>,
) -> Result<(StatusCode, Json<CouponView>), ApiError> {
    let coupon = NewCoupon::try_from(body)?;
    let user_id = coupon.user_id;
    let db = state.db.pool()?;
    if state.users.get_user(user_id).await?.is_none() {
        return Err(ApiError::UserNotFound);
    }
    let coupon_id = store::coupons::insert_coupon(db, user_id, coupon.value).await?;
    tracing::info!(%coupon_id, %user_id, "coupon created");
    let view = CouponView {
        coupon_id,
        user_id,
        value: coupon.value,
        used: false,
        order_id: None,
        used_at: None,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Reads a coupon: its owner, value, and the order that used it.
#[utoipa::path(
    get,
    path = "/coupons/{coupon_id}",
    tag = "coupons",
    params(("coupon_id" = String, Path, description = "Coupon id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "The coupon", body = CouponView),
        (status = 404, description = "`COUPON_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_coupon(
    State(state): State<AppState>,
    Path(coupon_id): Path<String>,
) -> Result<Json<CouponView>, ApiError> {
    let coupon_id = validate::id("coupon_id", &coupon_id)?;
    let coupon = store::coupons::find_coupon(state.db.pool()?, coupon_id).await?;
    coupon.map(Json).ok_or(ApiError::CouponNotFound)
}
