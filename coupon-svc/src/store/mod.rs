//! SQL of coupon-svc, as small functions taking a connection or transaction.

pub mod coupons;
pub mod records;
