//! Validated goods-svc values, parsed from the request contracts.

mod goods;

pub use goods::NewGoods;
