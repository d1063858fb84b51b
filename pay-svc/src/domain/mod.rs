//! pay-svc's rules: creating a payment from order-svc's view of the order
//! ([`create`]), applying a verified callback with its `paid` message ([`callback`]),
//! sent right after the commit by the outbox's batching sender, refunds through the
//! payment-platform port ([`refund`]), and the fault points of `SHOP_FAULTS=on`
//! ([`faults`]).

pub mod callback;
pub mod create;
pub mod faults;
pub mod refund;
