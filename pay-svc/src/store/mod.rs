//! SQL of pay-svc, as small functions taking a connection or transaction.

pub mod payments;
