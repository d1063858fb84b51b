//! goods-svc: goods with their MySQL stock, the Redis cache of what can still be
//! reserved, and the stock journal (docs/api.md, "goods-svc"; docs/architecture.md,
//! "Stock reservation").

pub mod app;
pub mod consumers;
pub mod domain;
pub mod http;
pub mod settings;
pub mod stock;
pub mod store;

pub use app::App;
