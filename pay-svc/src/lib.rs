//! pay-svc: payments of confirmed orders, the signed payment-platform callback and
//! the `pay`/`paid` message through the local message table (docs/api.md, "pay-svc";
//! docs/architecture.md, "Payment").
//!
//! `POST /payments` takes the amount from order-svc; `POST /payments/callback`
//! checks the signature, then marks the payment paid and writes the `paid` message in
//! one transaction, answers, and sends the message after the commit (the relay
//! resends what was left behind). order-svc decides what a payment means for its
//! order; a payment for an order cancelled meanwhile comes back as `pay`/`refund`.

pub mod app;
pub mod consumers;
pub mod domain;
pub mod http;
pub mod platform;
pub mod settings;
pub mod store;

pub use app::App;
