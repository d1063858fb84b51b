//! What the five Shop services share: settings, HTTP contracts and typed clients,
//! and the runtime kit (database and Redis set-up, error body, tracing, health, metrics).
//!
//! A service is built from [`server::Runtime`] (database, Redis, shutdown) and
//! [`server::Server`] (listener, shared endpoints and middleware); its handlers use
//! [`json::Json`], [`money::Money`], [`ids::Id`], the error pieces of [`error`] and
//! the checks of [`validate`]; it calls other services through [`clients`]. Tests
//! start services through the `shop-testkit` crate (a dev-dependency only).

pub mod bus;
pub mod cache;
pub mod cancelled_orders;
pub mod clients;
pub mod consumer_log;
pub mod contracts;
pub mod db;
pub mod error;
pub mod extract;
pub mod http;
pub mod ids;
pub mod json;
pub mod money;
pub mod outbox;
pub mod records;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod validate;

pub use error::{Error, Result};
