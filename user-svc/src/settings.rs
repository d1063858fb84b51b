//! user-svc reads the shared settings (docs/operations.md, "Settings"); nothing of its
//! own yet.

pub use shop_kit::settings::{Service, Settings};

/// This service.
pub const SERVICE: Service = Service::User;
