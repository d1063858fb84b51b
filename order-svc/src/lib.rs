//! order-svc: orders, confirmed across goods, coupon and user services with
//! compensation on failure (docs/api.md, "order-svc"; docs/architecture.md, "Confirm
//! order" and "Payment timeout").
//!
//! Serves `POST /orders` (confirm) and `GET /orders/{id}`; consumes its cancel and
//! payment-timeout messages; sweeps abandoned pre-orders.

pub mod app;
pub mod consumers;
pub mod domain;
pub mod http;
pub mod settings;
pub mod store;

pub use app::App;
