//! SQL of user-svc, as small functions taking a connection or transaction: users,
//! balances and the money log ([`users`]), the points of payments ([`points`]).

pub mod points;
pub mod records;
pub mod users;
