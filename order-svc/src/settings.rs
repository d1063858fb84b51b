//! order-svc reads the shared settings (docs/operations.md, "Settings"); its own are
//! `ORDER_PAY_TIMEOUT`, `ORDER_ABANDON_AFTER` and `SHOP_FAULTS`, parsed there too.

pub use shop_kit::settings::{Service, Settings};

/// This service.
pub const SERVICE: Service = Service::Order;
