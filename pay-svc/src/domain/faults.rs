//! Fault injection, only with `SHOP_FAULTS=on`: the header `X-Shop-Fault:
//! crash-after-commit` on `POST /payments/callback` makes pay-svc stop right after the
//! callback's transaction committed, before the `paid` message is sent. The message
//! then exists only as a row of the local message table, and only the relay of the
//! next start can deliver it: the crash between commit and send, shown for real.
//!
//! The stop is the service's shutdown (the server and every background task end, the
//! relay included), not `abort()`, so that in-process tests survive it; for the
//! local message table the effect is the same, since nothing after the commit runs.

/// The request header naming the fault.
pub const FAULT_HEADER: &str = "x-shop-fault";

/// Where to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Stop the service after the callback committed, without sending.
    CrashAfterCommit,
}

impl Fault {
    /// The fault a header value names; `None` for anything else.
    pub fn parse(value: &str) -> Option<Fault> {
        match value {
            "crash-after-commit" => Some(Fault::CrashAfterCommit),
            _ => None,
        }
    }
}
