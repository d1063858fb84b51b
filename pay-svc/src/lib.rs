//! pay-svc: payments of confirmed orders, the signed payment-platform callback and
//! the `pay`/`paid` message through the local message table (API.md, "pay-svc";
//! DESIGN.md §2.3).
//!
//! So far it serves reading payments; creating them and the callback come with the
//! payment flow.

pub mod app;
pub mod consumers;
pub mod domain;
pub mod http;
pub mod settings;
pub mod store;

pub use app::App;
