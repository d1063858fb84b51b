//! `trade_goods`.

use rust_decimal::Decimal;
use shop_kit::{ids::Id, money::Money};
use sqlx::MySqlExecutor;

use crate::domain::NewGoods;

/// Goods as stored (MySQL stock only).
#[derive(Debug, Clone, PartialEq)]
pub struct GoodsRecord {
    pub goods_id: Id,
    pub name: String,
    pub price: Money,
    pub stock: u32,
}

#[derive(sqlx::FromRow)]
struct GoodsRow {
    goods_id: u64,
    goods_name: String,
    goods_price: Decimal,
    goods_number: u32,
}

/// Inserts goods; returns their id. `initial_number` keeps the opening stock for the
/// consistency audit.
pub async fn insert_goods(db: impl MySqlExecutor<'_>, goods: &NewGoods) -> sqlx::Result<Id> {
    let done = sqlx::query(
        r"insert into trade_goods (goods_name, goods_price, goods_number, initial_number) values (?, ?, ?, ?)",
    )
    .bind(&goods.name)
    .bind(goods.price.decimal())
    .bind(goods.stock)
    .bind(goods.stock)
    .execute(db)
    .await?;
    Ok(Id(done.last_insert_id()))
}

/// The goods, if they exist.
pub async fn find_goods(
    db: impl MySqlExecutor<'_>,
    goods_id: Id,
) -> anyhow::Result<Option<GoodsRecord>> {
    let row: Option<GoodsRow> = sqlx::query_as(
        r"select goods_id, goods_name, goods_price, goods_number from trade_goods where goods_id = ?",
    )
    .bind(goods_id.0)
    .fetch_optional(db)
    .await?;
    row.map(|row| {
        Ok(GoodsRecord {
            goods_id: Id(row.goods_id),
            name: row.goods_name,
            price: Money::new(row.goods_price)?,
            stock: row.goods_number,
        })
    })
    .transpose()
}

/// Whether the goods exist.
pub async fn goods_exist(db: impl MySqlExecutor<'_>, goods_id: Id) -> sqlx::Result<bool> {
    let found: Option<u64> =
        sqlx::query_scalar(r"select goods_id from trade_goods where goods_id = ?")
            .bind(goods_id.0)
            .fetch_optional(db)
            .await?;
    Ok(found.is_some())
}

/// Ids of goods from `after` on, a page at a time (the reconciler's walk).
pub async fn goods_ids_after(
    db: impl MySqlExecutor<'_>,
    after: u64,
    limit: u32,
) -> sqlx::Result<Vec<u64>> {
    sqlx::query_scalar(
        r"select goods_id from trade_goods where goods_id > ? order by goods_id limit ?",
    )
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}
