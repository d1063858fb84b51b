//! The HTTP contracts of docs/api.md: request and response bodies of every service,
//! shared by the service that answers and the typed clients that call it.
//!
//! Requests take raw forms where the domain must answer a specific error (an id that
//! is not an id is an unknown id, 404; a negative price is 400 naming `price`); the
//! services' `domain/` modules turn them into validated values.

pub mod coupon;
pub mod goods;
pub mod order;
pub mod pay;
pub mod timeline;
pub mod user;
