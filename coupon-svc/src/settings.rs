//! coupon-svc reads the shared settings (docs/operations.md, "Settings"),
//! `USER_SVC_URL` among them; nothing of its own yet.

pub use shop_kit::settings::{Service, Settings};

/// This service.
pub const SERVICE: Service = Service::Coupon;
