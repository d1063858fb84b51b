//! pay-svc reads the shared settings (docs/operations.md, "Settings"); its own is
//! `PAY_CALLBACK_SECRET`, parsed there too.

pub use shop_kit::settings::{Service, Settings};

/// This service.
pub const SERVICE: Service = Service::Pay;
