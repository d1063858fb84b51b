//! Whole-system scenarios and the consistency audit of Shop.
//!
//! A scenario drives the real system (the broker and the five services as
//! processes) through one flow — success, rollback at each fault point, pay, pay
//! timeout, abandoned order, duplicate deliveries, restarts, a Redis flush,
//! concurrent buyers, chaos — printing each check as it goes, and ends with the
//! [`audit`] of the global invariants, which must pass.
//!
//! The system is either [`managed`] (started here on free ports with its own
//! schemas, its own `redis-server` and short timeouts, so it can be crashed and
//! restarted) or one already running (`shop up`), reached through a [`Target`]. The
//! `shop` binary (`shop up | console | pay | seed | audit | scenario | timeline`) lives
//! in this crate, and so does the browser [`console`].

pub mod api;
pub mod audit;
pub mod chaos;
pub mod console;
pub mod launcher;
pub mod managed;
pub mod report;
pub mod scenario;
pub mod seed;
pub mod target;

pub use api::ShopApi;
pub use managed::Managed;
pub use report::Report;
pub use scenario::{Ctx, SCENARIOS};
pub use target::{Target, Timings};
