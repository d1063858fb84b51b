//! coupon-svc: coupons, each owned by a user and used by at most one order
//! (docs/api.md, "coupon-svc").

pub mod app;
pub mod consumers;
pub mod domain;
pub mod http;
pub mod settings;
pub mod store;

pub use app::App;
