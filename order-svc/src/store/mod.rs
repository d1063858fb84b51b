//! SQL of order-svc, as small functions taking a connection or transaction.

pub mod orders;
pub mod records;
pub mod steps;
