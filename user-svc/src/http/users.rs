//! `/users`: create a user, read it, read its money log.

use axum::{extract::State, http::StatusCode};
use shop_kit::{
    contracts::user::{CreateUser, MoneyLogView, UserView},
    error::ErrorBody,
    extract::Path,
    json::Json,
    validate,
};

use super::ApiError;
use crate::{app::AppState, domain::NewUser, store};

/// Creates a user with an opening balance.
#[utoipa::path(
    post,
    path = "/users",
    tag = "users",
    request_body = CreateUser,
    responses(
        (status = 201, description = "Created", body = UserView),
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`", body = ErrorBody),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    Json(body): Json<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let user = NewUser::try_from(body)?;
    let db = state.db.pool()?;
    let user_id = store::users::insert_user(db, &user).await?;
    tracing::info!(%user_id, "user created");
    let view = UserView {
        user_id,
        name: user.name,
        balance: user.balance,
        points: 0,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Reads a user: balance and points.
#[utoipa::path(
    get,
    path = "/users/{user_id}",
    tag = "users",
    params(("user_id" = String, Path, description = "User id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "The user", body = UserView),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn get_user(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user_id = validate::id("user_id", &user_id)?;
    let user = store::users::find_user(state.db.pool()?, user_id).await?;
    user.map(Json).ok_or(ApiError::UserNotFound)
}

/// Lists the user's balance movements (deductions for orders and refunds).
#[utoipa::path(
    get,
    path = "/users/{user_id}/money-logs",
    tag = "users",
    params(("user_id" = String, Path, description = "User id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "Oldest first", body = Vec<MoneyLogView>),
        (status = 404, description = "`USER_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn money_logs(
    State(state): State<AppState>,
    Path(user_id): Path<String>,
) -> Result<Json<Vec<MoneyLogView>>, ApiError> {
    let user_id = validate::id("user_id", &user_id)?;
    let db = state.db.pool()?;
    if store::users::find_user(db, user_id).await?.is_none() {
        return Err(ApiError::UserNotFound);
    }
    Ok(Json(store::users::money_logs(db, user_id).await?))
}
