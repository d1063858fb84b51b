//! user-svc: users with their balance and points, and the money log of every balance
//! movement (docs/api.md, "user-svc").

pub mod app;
pub mod consumers;
pub mod domain;
pub mod http;
pub mod settings;
pub mod store;

pub use app::App;
