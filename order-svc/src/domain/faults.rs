//! Fault injection (docs/api.md, "order-svc"): with `SHOP_FAULTS=on`, the header
//! `X-Shop-Fault` on `POST /orders` makes the confirmation fail, or the process
//! abort, right after a step, so the compensation paths can be shown for real.

/// The request header naming the fault.
pub const FAULT_HEADER: &str = "x-shop-fault";

/// Where to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    AfterStock,
    AfterCoupon,
    AfterBalance,
    /// Abort the process after reserving stock: the order is left `unconfirmed`
    /// for the abandon sweep of the next start.
    CrashAfterStock,
    /// The confirmation commits, then its outcome is lost: the commit call answers
    /// an error although the server committed (as when the connection drops after
    /// `COMMIT` was sent). The answer must still be the truth: confirmed.
    CommitOutcomeLost,
}

impl Fault {
    /// The fault a header value names; `None` for anything else.
    pub fn parse(value: &str) -> Option<Fault> {
        match value {
            "after-stock" => Some(Fault::AfterStock),
            "after-coupon" => Some(Fault::AfterCoupon),
            "after-balance" => Some(Fault::AfterBalance),
            "crash-after-stock" => Some(Fault::CrashAfterStock),
            "commit-outcome-lost" => Some(Fault::CommitOutcomeLost),
            _ => None,
        }
    }
}
