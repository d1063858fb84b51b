//! Validated user-svc values, parsed from the request contracts.

mod user;

pub use user::NewUser;
