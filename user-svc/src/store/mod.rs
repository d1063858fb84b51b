//! SQL of user-svc, as small functions taking a connection or transaction.

pub mod users;
