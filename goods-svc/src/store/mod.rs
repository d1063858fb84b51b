//! Storage of goods-svc: SQL functions taking a connection or transaction, and the
//! Redis stock cache.

pub mod goods;
pub mod records;
pub mod stock_cache;
pub mod stock_logs;
