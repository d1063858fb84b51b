//! order-svc: orders, confirmed across goods, coupon and user services with
//! compensation on failure (API.md, "order-svc"; DESIGN.md §2.1, §2.4).
//!
//! So far it serves reading orders; confirming them comes with the confirm-order flow.

pub mod app;
pub mod consumers;
pub mod domain;
pub mod http;
pub mod settings;
pub mod store;

pub use app::App;
