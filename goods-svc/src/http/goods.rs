//! `/goods`: create goods, read them with their stock, read their stock journal.

use axum::{extract::State, http::StatusCode};
use shop_kit::{
    contracts::goods::{CreateGoods, GoodsView, StockLogView},
    error::{ErrorBody, Unavailable},
    extract::Path,
    json::Json,
    validate,
};

use super::ApiError;
use crate::{
    app::AppState,
    domain::NewGoods,
    stock::ReserveError,
    store::{self, stock_cache},
};

/// Creates goods with a price and a stock; seeds the Redis stock cache.
#[utoipa::path(
    post,
    path = "/goods",
    tag = "goods",
    request_body = CreateGoods,
    responses(
        (status = 201, description = "Created", body = GoodsView),
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`", body = ErrorBody),
    )
)]
pub async fn create_goods(
    State(state): State<AppState>,
    Json(body): Json<CreateGoods>,
) -> Result<(StatusCode, Json<GoodsView>), ApiError> {
    let goods = NewGoods::try_from(body)?;
    let goods_id = store::goods::insert_goods(state.db.pool()?, &goods).await?;
    // MySQL is the truth; a cache that missed this is rebuilt from it on read.
    if let Err(error) = stock_cache::seed(&state.cache, goods_id, goods.stock).await {
        tracing::warn!(%goods_id, %error, "goods created but the stock cache was not seeded");
    }
    tracing::info!(%goods_id, stock = goods.stock, "goods created");
    let view = GoodsView {
        goods_id,
        name: goods.name,
        price: goods.price,
        stock: goods.stock.into(),
        available: goods.stock.into(),
    };
    Ok((StatusCode::CREATED, Json(view)))
}

/// Reads goods: `stock` is the MySQL figure, `available` what can still be reserved.
#[utoipa::path(
    get,
    path = "/goods/{goods_id}",
    tag = "goods",
    params(("goods_id" = String, Path, description = "Goods id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "The goods", body = GoodsView),
        (status = 404, description = "`GOODS_NOT_FOUND`", body = ErrorBody),
        (status = 503, description = "`UNAVAILABLE`", body = ErrorBody),
    )
)]
pub async fn get_goods(
    State(state): State<AppState>,
    Path(goods_id): Path<String>,
) -> Result<Json<GoodsView>, ApiError> {
    let goods_id = validate::id("goods_id", &goods_id)?;
    let goods = store::goods::find_goods(state.db.pool()?, goods_id)
        .await?
        .ok_or(ApiError::GoodsNotFound)?;
    let available = match stock_cache::available(&state.cache, goods_id)
        .await
        .map_err(Unavailable::from)?
    {
        Some(available) => available,
        None => {
            // Redis lost it: rebuild from MySQL (stock minus unapplied journals).
            state
                .stock
                .ensure_cached(goods_id)
                .await
                .map_err(|e| match e {
                    ReserveError::GoodsNotFound => ApiError::GoodsNotFound,
                    ReserveError::Database(e) => e.into(),
                    ReserveError::Unavailable(e) => e.into(),
                    other => ApiError::Unexpected(other.into()),
                })?;
            stock_cache::available(&state.cache, goods_id)
                .await
                .map_err(Unavailable::from)?
                .ok_or_else(|| Unavailable::new("redis"))?
        }
    };
    Ok(Json(GoodsView {
        goods_id,
        name: goods.name,
        price: goods.price,
        stock: goods.stock.into(),
        available,
    }))
}

/// Lists the stock journal of the goods: one row per order, with its status.
#[utoipa::path(
    get,
    path = "/goods/{goods_id}/stock-logs",
    tag = "goods",
    params(("goods_id" = String, Path, description = "Goods id", pattern = r"^[1-9][0-9]{0,18}$", min_length = 1, max_length = 19)),
    responses(
        (status = 400, description = "`INVALID_REQUEST` naming the field", body = ErrorBody),
        (status = 200, description = "Oldest first", body = Vec<StockLogView>),
        (status = 404, description = "`GOODS_NOT_FOUND`", body = ErrorBody),
    )
)]
pub async fn stock_logs(
    State(state): State<AppState>,
    Path(goods_id): Path<String>,
) -> Result<Json<Vec<StockLogView>>, ApiError> {
    let goods_id = validate::id("goods_id", &goods_id)?;
    let db = state.db.pool()?;
    if !store::goods::goods_exist(db, goods_id).await? {
        return Err(ApiError::GoodsNotFound);
    }
    Ok(Json(store::stock_logs::stock_logs(db, goods_id).await?))
}
