//! What every service's HTTP side shares: the request-observing middleware
//! (request id, span, metrics), the service credential of internal routes, and the `/health`, `/metrics` and `/openapi.json`
//! endpoints.

pub mod health;
pub mod internal;
pub mod metrics;
pub mod observe;
pub mod openapi;

pub use observe::{REQUEST_ID_HEADER, current_request_id};
