//! Validated coupon-svc values, parsed from the request contracts.

mod coupon;

pub use coupon::NewCoupon;
